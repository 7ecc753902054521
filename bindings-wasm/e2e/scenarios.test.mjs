// The shared lifecycle scenarios (tests/scenarios/lifecycle.tsv) in Node
// (midge-mqtt over the `ws` package) and in headless Chromium, against a
// real mosquitto. Python and Kotlin run the same list.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { startMosquitto, freePort } from './lib/mosquitto.mjs';
import { setup, root } from './lib/harness.mjs';
import { runners, parseScenarios } from './lib/scenarios.mjs';
import * as midge from '../npm/index.js';

const scenarios = parseScenarios(readFileSync(join(root, 'tests', 'scenarios', 'lifecycle.tsv'), 'utf8'));

let broker;
let env;
let page;
let deadUrl;

before(async () => {
  broker = await startMosquitto();
  env = await setup({ '/repo/': root });
  page = await env.openPage();
  await page.evaluate(async () => {
    window.scenarios = await import('/repo/bindings-wasm/e2e/lib/scenarios.mjs');
  });
  deadUrl = `ws://127.0.0.1:${await freePort()}`;
});

after(async () => {
  await env?.close();
  await broker?.stop();
});

test('every scenario of the list has an npm implementation, and only those', () => {
  assert.ok(scenarios.length > 0);
  assert.deepEqual(Object.keys(runners).sort(), scenarios.map((s) => s.id).sort());
});

for (const { id, expected, description } of scenarios) {
  test(`Node: ${id}`, async () => {
    assert.ok(runners[id], `no npm implementation of scenario ${id}: ${description}`);
    const got = await runners[id](midge, { url: broker.url, deadUrl, base: { WebSocket } });
    assert.equal(got, expected, description);
  });
  test(`Chromium: ${id}`, async () => {
    const got = await page.evaluate(
      ({ id, url, deadUrl }) => window.scenarios.runners[id](window.midge, { url, deadUrl, base: {} }),
      { id, url: broker.url, deadUrl },
    );
    assert.equal(got, expected, description);
  });
}

test('no uncaught page errors', () => {
  assert.deepEqual(env.errors.map(String), []);
});
