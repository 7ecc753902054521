// A CPU profile of one library's runs on the throughput page, taken through
// the DevTools protocol's Profiler only: the Network domain stays off, so
// WebSocket frames are not reported (that reporting is what made the
// Playwright-driven bench slow). Prints the top functions by self time and
// writes /tmp/page.cpuprofile (open it in Chromium's DevTools).
//
//   ONLY=midge QOS=1 node bindings-wasm/bench/profile.mjs
//   (ONLY: midge | mqttjs | floor; NPM_DIR: another build of the package)
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMosquitto } from '../e2e/lib/mosquitto.mjs';
import { serve } from '../e2e/lib/server.mjs';
import { CHROMIUM_ARGS } from '../e2e/lib/browser.mjs';
const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const WebSocket = require('../e2e/node_modules/ws');
const mqttDir = dirname(require.resolve('mqtt/package.json'));
const npmDir = process.env.NPM_DIR || join(here, '..', 'npm');
const PORT = 9333;
const broker = await startMosquitto({ extra: ['max_inflight_messages 0'] });
let finished; const results = new Promise((r) => { finished = r; });
const ok = (req, res) => { req.resume(); req.on('end', () => res.end('{}')); };
const server = await serve({ '/midge/': npmDir, '/mqttjs/': join(mqttDir, 'dist'), '/bench/': here },
  { '/start': ok, '/end': ok, '/done': (req, res) => { let t = ''; req.on('data', (d) => { t += d; }); req.on('end', () => { res.end('{}'); finished(JSON.parse(t)); }); },
    '/failed': (req, res) => { let t = ''; req.on('data', (d) => { t += d; }); req.on('end', () => { res.end('{}'); console.log(t); process.exit(1); }); } });
const plan = { url: broker.url, n: 20000, window: 100, rounds: 1, warmup: 2000, only: process.env.ONLY, qos: [Number(process.env.QOS || 0)] };
const page = `${server.url}/bench/page.html?plan=${encodeURIComponent(JSON.stringify(plan))}`;
const chromium = spawn('/usr/bin/chromium', [...CHROMIUM_ARGS, `--remote-debugging-port=${PORT}`, `--user-data-dir=${mkdtempSync(join(tmpdir(), 'prof-'))}`, 'about:blank'], { stdio: 'ignore' });
let targets;
for (let i = 0; i < 100; i++) { try { targets = await (await fetch(`http://127.0.0.1:${PORT}/json/list`)).json(); if (targets.length) break; } catch {} await new Promise((r) => setTimeout(r, 100)); }
const ws = new WebSocket(targets.find((t) => t.type === 'page').webSocketDebuggerUrl);
await new Promise((r) => ws.once('open', r));
let id = 0; const pending = new Map();
ws.on('message', (m) => { const msg = JSON.parse(m); if (msg.id && pending.has(msg.id)) { pending.get(msg.id)(msg.result); pending.delete(msg.id); } });
const send = (method, params = {}) => new Promise((r) => { id += 1; pending.set(id, r); ws.send(JSON.stringify({ id, method, params })); });
await send('Profiler.enable');
await send('Profiler.setSamplingInterval', { interval: 200 });
await send('Profiler.start');
await send('Page.navigate', { url: page });
const res = await results;
const { profile } = await send('Profiler.stop');
writeFileSync('/tmp/page.cpuprofile', JSON.stringify(profile));
console.log(JSON.stringify(res.best));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
const dt = profile.timeDeltas; let total = 0;
profile.samples.forEach((s, i) => { const n = byId.get(s); const k = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').pop()}:${n.callFrame.lineNumber}`; self.set(k, (self.get(k) || 0) + (dt[i] || 0)); total += dt[i] || 0; });
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(`${(v / 1000).toFixed(0).padStart(7)} ms ${(100 * v / total).toFixed(1).padStart(5)}%  ${k}`);
chromium.kill(); await server.close(); await broker.stop(); ws.close();
