// A private mosquitto on free loopback ports (TCP + WebSocket), started by
// the shared launcher (lib/testkit.mjs): ready once every port accepts
// connections (observed, never assumed after a sleep).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { testkit, fields } from './testkit.mjs';

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

/**
 * Options: `users` ({ name: password }) turns on a password file and
 * refuses anonymous clients; `extra` lines go at the end of the config.
 */
export async function startMosquitto({ users, extra = [] } = {}) {
  const lines = [
    'per_listener_settings false',
    'persistence false',
    'log_dest stderr',
    'log_type error',
    'max_queued_messages 0',
    // Without it, Nagle + delayed ACKs cap a request/response flow at ~25 round trips/s.
    'set_tcp_nodelay true',
    'listener {port:tcp} 127.0.0.1',
    'listener {port:ws} 127.0.0.1',
    'protocol websockets',
  ];
  let pwfile;
  if (users) {
    pwfile = join(mkdtempSync(join(tmpdir(), 'midge-passwd-')), 'passwd');
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
  const kit = await testkit(['mosquitto', lines.join('\n')]);
  const { tcp, ws, log, pid } = kit.ready;
  const broker = {
    tcpPort: Number(tcp),
    wsPort: Number(ws),
    url: `ws://127.0.0.1:${ws}`,
    /** The password file of `users` (change it with mosquitto_passwd, then stop() and start()). */
    passwordFile: pwfile,
    /** Every port of the config's `{port:NAME}` placeholders, by name. */
    ports: Object.fromEntries(Object.entries(kit.ready).filter(([, v]) => /^\d+$/.test(v)).map(([k, v]) => [k, Number(v)])),
    /** mosquitto's process (for the benches' CPU accounting). */
    child: { pid: Number(pid) },
    /** What mosquitto logged so far. */
    get log() { return readFileSync(log, 'utf8'); },
    async start() {
      const words = await kit.command('start');
      broker.child = { pid: Number(fields(words).pid) };
    },
    /** SIGTERM, and wait for it to exit; `start()` brings it back on the same ports. */
    async stop() {
      await kit.command('stop');
    },
    /** Stop it for good (the launcher exits). */
    async close() { await kit.close(); },
  };
  return broker;
}
