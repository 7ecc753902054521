// Throughput of midge-mqtt against MQTT.js 5.16.0 (its browser bundle
// dist/mqtt.min.js) in the same headless Chromium, against the same mosquitto
// WebSocket listener: one publisher and one subscriber in the page, 64-byte
// payloads, N messages at QoS 0, 1 and 2, publisher at most WINDOW messages
// ahead of the subscriber. Prints msg/s (best of ROUNDS) and the ratio, and
// midge at QoS 1 and 2 with its IndexedDB session store against without.
//
//   node bindings-wasm/bench/throughput.mjs [N=20000] [WINDOW=100] [ROUNDS=3]
//
// Chromium is started directly, not through Playwright: a page driven over
// the DevTools protocol reports every WebSocket frame to the driver, and that
// reporting cost more than either client (the browser process was busier
// than the page). The page runs the whole plan itself and reports to this
// program over HTTP on loopback (bench/page.html, `?plan=`).
//
// Around each run this program reads, from /proc, the CPU time of mosquitto
// and of Chromium's processes by kind (the page's renderer, the network
// service, the browser process): per message, that shows where a run's time
// went and which process was the bottleneck (busy near 100% = one core).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMosquitto } from '../e2e/lib/mosquitto.mjs';
import { serve } from '../e2e/lib/server.mjs';
import { CHROMIUM_ARGS } from '../e2e/lib/browser.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const mqttDir = dirname(require.resolve('mqtt/package.json'));
const mqttVersion = require('mqtt/package.json').version;

const N = Number(process.argv[2] || 20000);
const WINDOW = Number(process.argv[3] || 100);
const ROUNDS = Number(process.argv[4] || 3);
for (const [name, v] of [['N', N], ['WINDOW', WINDOW], ['ROUNDS', ROUNDS]]) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a whole number >= 1, got ${v}`);
}
const TICK_MS = 1000 / 100; // /proc counts CPU time in USER_HZ (100) ticks
const KINDS = ['renderer', 'network', 'browser', 'mosquitto'];

/** CPU ms used so far by mosquitto and by the Chromium processes under `root`, by kind. */
function cpuByProcess(brokerPid, root) {
  const procs = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      procs.set(Number(entry), { ppid: Number(fields[1]), ms: (Number(fields[11]) + Number(fields[12])) * TICK_MS, cmdline });
    } catch { /* the process ended meanwhile */ }
  }
  const under = (pid) => {
    for (let p = pid, hops = 0; p > 1 && hops < 20; p = procs.get(p)?.ppid ?? 0, hops++) if (p === root) return true;
    return false;
  };
  const out = { mosquitto: procs.get(brokerPid)?.ms ?? 0 };
  for (const [pid, p] of procs) {
    if (!under(pid)) continue;
    const type = /--type=([a-z-]+)/.exec(p.cmdline)?.[1] ?? 'browser';
    const kind = type === 'utility' ? (p.cmdline.includes('NetworkService') ? 'network' : 'utility') : type;
    out[kind] = (out[kind] ?? 0) + p.ms;
  }
  return out;
}

// 3.1.1 has no Receive Maximum: lift mosquitto's default in-flight quota of 20
// (a 3.1.1 client above it is disconnected) so both clients run with the same window.
const broker = await startMosquitto({ extra: ['max_inflight_messages 0'] });
let chromium;
let finished;
const results = new Promise((resolve, reject) => { finished = { resolve, reject }; });
const marks = new Map(); // run id -> CPU snapshot at its start
const cpu = {}; // `${lib}/${qos}` -> the best run's { rate, seconds, used }
const body = (req) => new Promise((resolve) => {
  let text = '';
  req.on('data', (d) => { text += d; });
  req.on('end', () => resolve(JSON.parse(text)));
});
const server = await serve({
  '/midge/': join(here, '..', 'npm'),
  '/mqttjs/': join(mqttDir, 'dist'),
  '/bench/': here,
}, {
  // The page calls these around each run (outside the timed part).
  '/start': async (req, res) => {
    const { id } = await body(req);
    marks.set(id, cpuByProcess(broker.child.pid, chromium.pid));
    res.end('{}');
  },
  '/end': async (req, res) => {
    const { id, lib, qos, n, rate } = await body(req);
    const after = cpuByProcess(broker.child.pid, chromium.pid);
    const before = marks.get(id);
    const used = {};
    for (const k of Object.keys(after)) used[k] = after[k] - (before[k] ?? 0);
    const key = `${lib}/${qos}`;
    if (n === N && (!cpu[key] || rate > cpu[key].rate)) cpu[key] = { rate, seconds: n / rate, used };
    res.end('{}');
  },
  '/done': async (req, res) => { finished.resolve(await body(req)); res.end('{}'); },
  '/failed': async (req, res) => { finished.reject(new Error(`page: ${(await body(req)).error}`)); res.end('{}'); },
});
const profile = mkdtempSync(join(tmpdir(), 'midge-bench-chromium-'));
try {
  const plan = { url: broker.url, n: N, window: WINDOW, rounds: ROUNDS, warmup: 2000 };
  const page = `${server.url}/bench/page.html?plan=${encodeURIComponent(JSON.stringify(plan))}`;
  chromium = spawn(process.env.CHROMIUM || '/usr/bin/chromium',
    [...CHROMIUM_ARGS, `--user-data-dir=${profile}`, page], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  chromium.stderr.on('data', (d) => { log += d; });
  chromium.once('exit', (code) => finished.reject(new Error(`chromium exited (${code}) before the plan finished:\n${log.slice(-2000)}`)));
  const timeout = setTimeout(() => finished.reject(new Error('the page did not finish within 20 minutes')), 20 * 60_000);
  const { best, frames } = await results;
  clearTimeout(timeout);

  console.log(`midge-mqtt vs MQTT.js ${mqttVersion} (mqtt.min.js), headless Chromium, mosquitto WebSocket listener`);
  console.log(`${N} messages of 64 bytes per run, window ${WINDOW}, best of ${ROUNDS} rounds (alternating)`);
  console.log('QoS   midge msg/s   MQTT.js msg/s   ratio');
  for (const qos of [0, 1, 2]) {
    const [m, j] = [best[`midge/${qos}`], best[`mqttjs/${qos}`]];
    console.log(`${qos}     ${String(Math.round(m)).padStart(11)}   ${String(Math.round(j)).padStart(13)}   ${(m / j).toFixed(2)}x`);
  }
  console.log('IndexedDB session store (publisher durable, strict transactions) against the in-memory session:');
  for (const qos of [1, 2]) {
    const [d, m] = [best[`midge-idb/${qos}`], best[`midge/${qos}`]];
    console.log(`QoS ${qos}: ${Math.round(d)} msg/s with the store, ${Math.round(m)} without: ${(d / m).toFixed(2)}x`);
  }
  const floor = best['floor/0'];
  console.log(`QoS 0 floor: ${Math.round(floor)} msg/s with a bare WebSocket subscriber that only counts packets`);
  console.log(`  (midge publishing); a library at 1.5x MQTT.js would need ${Math.round(1.5 * best['mqttjs/0'])}.`);
  // The broker sends one frame per packet to both clients (QoS 0: N, 1: 2N,
  // 2: 4N); what differs is what the page sends.
  console.log(`WebSocket frames the page sent in the last round (${N} messages):`);
  for (const qos of [0, 1, 2]) console.log(`QoS ${qos}: midge ${frames[`midge/${qos}`]}, MQTT.js ${frames[`mqttjs/${qos}`]}`);
  console.log(`CPU per message in each best run, us, and (busy % of the run; 100% = one core), ${TICK_MS} ms ticks:`);
  for (const qos of [0, 1, 2]) {
    for (const lib of qos === 0 ? ['midge', 'mqttjs', 'floor'] : ['midge', 'midge-idb', 'mqttjs']) {
      const c = cpu[`${lib}/${qos}`];
      const cells = KINDS.map((k) => {
        const ms = c.used[k] ?? 0;
        return `${k} ${(ms * 1000 / N).toFixed(1)} (${Math.round(ms / 10 / c.seconds)}%)`;
      });
      console.log(`QoS ${qos} ${lib.padEnd(9)} ${cells.join(', ')}`);
    }
  }
} finally {
  if (chromium && chromium.exitCode === null) {
    const exited = new Promise((r) => chromium.once('exit', r));
    chromium.kill('SIGTERM');
    await exited;
  }
  // Chromium's helper processes can still be writing the profile as it exits.
  rmSync(profile, { recursive: true, force: true, maxRetries: 10 });
  await server.close();
  await broker.stop();
}
