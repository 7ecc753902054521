// The greenhouse example end to end: simulator (midge-mqtt in Node over the
// `ws` package) -> mosquitto -> dashboard page in Chromium; a click on
// "Open roof" must reach an MQTT subscriber. Saves a screenshot.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { startMosquitto } from './lib/mosquitto.mjs';
import { setup, root, here } from './lib/harness.mjs';
import { connect } from '../npm/index.js';
import { startSimulator } from '../../examples/greenhouse/simulator.mjs';

let broker;
let env;
let simulator;

before(async () => {
  broker = await startMosquitto();
  env = await setup({ '/repo/': root });
  simulator = await startSimulator(broker.url, { WebSocket, intervalMs: 200 });
});

after(async () => {
  await simulator?.stop();
  await env?.close();
  await broker?.stop();
});

test('dashboard shows live data and the roof button publishes the command', async () => {
  // A subscriber in Node (midge-mqtt with the `ws` package).
  const watcher = await connect(broker.url, { WebSocket });
  await watcher.subscribe('greenhouse/roof/set', { qos: 1 });
  const command = new Promise((resolve) => watcher.on('message', (m) => resolve(m.text())));

  const page = await env.browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${env.server.url}/repo/examples/greenhouse/index.html?broker=${encodeURIComponent(broker.url)}`);
  await page.waitForFunction(() => window.greenhouseReady === true);
  await page.waitForFunction(() => document.getElementById('temperature').textContent.includes('°C'));
  await page.waitForFunction(() => document.getElementById('humidity').textContent.includes('%'));
  await page.waitForFunction(() => document.getElementById('roof').textContent === 'closed');

  await page.click('#open');
  assert.equal(await command, 'open');
  // The simulator obeys and the dashboard shows the new roof state.
  await page.waitForFunction(() => document.getElementById('roof').textContent === 'open');

  const dir = join(here, '..', 'screenshots');
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, 'greenhouse.png') });
  await watcher.end();
  assert.deepEqual(errors, []);
});

test('dashboard shows a broker that is down, then connects when it comes up', async () => {
  const down = await startMosquitto();
  await down.stop();
  const page = await env.browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  try {
    await page.goto(`${env.server.url}/repo/examples/greenhouse/index.html?broker=${encodeURIComponent(down.url)}`);
    await page.waitForFunction(() => window.greenhouseReady === true);
    // The first attempt failed: the page says so, with the core's attempt
    // count and delay, and the roof buttons are off.
    await page.waitForFunction(() => /^broker unreachable \(TRANSPORT_CLOSED\), attempt \d+ in \d+ s$/
      .test(document.getElementById('status').textContent));
    assert.equal(await page.evaluate(() => window.greenhouseClient.state), 'waiting');
    assert.deepEqual(await page.evaluate(() => [document.getElementById('open').disabled, document.getElementById('close').disabled]), [true, true]);
    await down.start();
    await page.waitForFunction((url) => document.getElementById('status').textContent === `connected to ${url}`, down.url, { timeout: 20_000 });
    assert.equal(await page.evaluate(() => document.getElementById('open').disabled), false);
    // end() while connected stops it for good, and the page says so.
    await page.evaluate(() => window.greenhouseClient.end());
    assert.match(await page.evaluate(() => document.getElementById('status').textContent), /^stopped: /);
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
    await down.stop();
  }
});
