// Start a private mosquitto on free loopback ports (TCP + WebSocket), wait
// until it accepts connections (by connecting, never by sleeping), stop it.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, child, log, timeoutMs = 10_000) {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}: ${log()}`);
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`mosquitto did not listen on ${port} within ${timeoutMs} ms`);
}

/**
 * Options: `users` ({ name: password }) turns on a password file and
 * refuses anonymous clients; `extra` lines go at the end of the config.
 */
export async function startMosquitto({ users, extra = [] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'midge-mosq-'));
  const tcpPort = await freePort();
  const wsPort = await freePort();
  const lines = [
    'per_listener_settings false',
    'persistence false',
    'log_dest stderr',
    // As root, mosquitto would switch to the 'mosquitto' user, which cannot read our 0700 temp dir.
    ...(process.getuid && process.getuid() === 0 ? ['user root'] : []),
    'log_type error',
    'max_queued_messages 0',
    // Without it, Nagle + delayed ACKs cap a request/response flow at ~25 round trips/s.
    'set_tcp_nodelay true',
    `listener ${tcpPort} 127.0.0.1`,
    `listener ${wsPort} 127.0.0.1`,
    'protocol websockets',
  ];
  if (users) {
    const pwfile = join(dir, 'passwd');
    let first = true;
    for (const [name, pw] of Object.entries(users)) {
      execFileSync('mosquitto_passwd', first ? ['-b', '-c', pwfile, name, pw] : ['-b', pwfile, name, pw]);
      first = false;
    }
    lines.push('allow_anonymous false', `password_file ${pwfile}`);
  } else {
    lines.push('allow_anonymous true');
  }
  lines.push(...extra);
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, lines.join('\n') + '\n');

  const broker = {
    tcpPort,
    wsPort,
    url: `ws://127.0.0.1:${wsPort}`,
    child: undefined,
    log: '',
    async start() {
      const child = spawn('/usr/sbin/mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr.on('data', (d) => { broker.log += d; });
      broker.child = child;
      await waitForPort(tcpPort, child, () => broker.log);
      await waitForPort(wsPort, child, () => broker.log);
    },
    async stop() {
      const child = broker.child;
      if (!child || child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
  await broker.start();
  return broker;
}
