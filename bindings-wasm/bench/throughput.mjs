// Throughput of midge-mqtt against MQTT.js 5.16.0 (its browser bundle
// dist/mqtt.min.js) in the same headless Chromium, against the same mosquitto
// WebSocket listener: one publisher and one subscriber in the page, 64-byte
// payloads, N messages at QoS 0, 1 and 2, publisher at most WINDOW messages
// ahead of the subscriber. Prints msg/s (best of ROUNDS) and the ratio.
//
//   node bindings-wasm/bench/throughput.mjs [N=20000] [WINDOW=100] [ROUNDS=3]
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMosquitto } from '../e2e/lib/mosquitto.mjs';
import { serve } from '../e2e/lib/server.mjs';
import { CHROMIUM_ARGS } from '../e2e/lib/browser.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');
const mqttDir = dirname(require.resolve('mqtt/package.json'));
const mqttVersion = require('mqtt/package.json').version;

const N = Number(process.argv[2] || 20000);
const WINDOW = Number(process.argv[3] || 100);
const ROUNDS = Number(process.argv[4] || 3);

// 3.1.1 has no Receive Maximum: lift mosquitto's default in-flight quota of 20
// (a 3.1.1 client above it is disconnected) so both clients run with the same window.
const broker = await startMosquitto({ extra: ['max_inflight_messages 0'] });
const server = await serve({
  '/midge/': join(here, '..', 'npm'),
  '/mqttjs/': join(mqttDir, 'dist'),
  '/bench/': here,
});
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
try {
  const page = await browser.newPage();
  // Count the WebSocket frames the page sends (both clients, same hook).
  await page.addInitScript(() => {
    window.framesSent = 0;
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) { window.framesSent += 1; return send.call(this, data); };
  });
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(`${server.url}/bench/page.html`);
  await page.waitForFunction(() => window.benchReady === true);
  const frames = {};
  const run = async (lib, qos, n) => {
    await page.evaluate(() => { window.framesSent = 0; });
    const rate = await page.evaluate(([l, u, q, c, w]) => window.bench(l, u, q, c, w), [lib, broker.url, qos, n, WINDOW]);
    frames[`${lib}/${qos}`] = await page.evaluate(() => window.framesSent);
    return rate;
  };
  // Warm up both (JIT, wasm compile).
  for (const lib of ['midge', 'mqttjs']) for (const qos of [0, 1, 2]) await run(lib, qos, 2000);

  console.log(`midge-mqtt vs MQTT.js ${mqttVersion} (mqtt.min.js), headless Chromium, mosquitto WebSocket listener`);
  console.log(`${N} messages of 64 bytes per run, window ${WINDOW}, best of ${ROUNDS} rounds (alternating)`);
  console.log('QoS   midge msg/s   MQTT.js msg/s   ratio');
  for (const qos of [0, 1, 2]) {
    let best = { midge: 0, mqttjs: 0 };
    for (let r = 0; r < ROUNDS; r++) {
      for (const lib of ['midge', 'mqttjs']) best[lib] = Math.max(best[lib], await run(lib, qos, N));
    }
    console.log(`${qos}     ${String(Math.round(best.midge)).padStart(11)}   ${String(Math.round(best.mqttjs)).padStart(13)}   ${(best.midge / best.mqttjs).toFixed(2)}x`);
  }
  // The broker sends one frame per packet to both clients (QoS 0: N, 1: 2N,
  // 2: 4N); what differs is what the page sends.
  console.log(`WebSocket frames the page sent in the last round (${N} messages):`);
  for (const qos of [0, 1, 2]) console.log(`QoS ${qos}: midge ${frames[`midge/${qos}`]}, MQTT.js ${frames[`mqttjs/${qos}`]}`);
} finally {
  await browser.close();
  await server.close();
  await broker.stop();
}
