// The IndexedDB session store: a QoS 1 publish made while offline survives a
// page reload and is delivered once the broker is back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { startMosquitto } from './lib/mosquitto.mjs';
import { setup } from './lib/harness.mjs';
import { connect } from '../npm/index.js';

let broker;
let env;

before(async () => {
  broker = await startMosquitto();
  env = await setup();
});

after(async () => {
  await env?.close();
  await broker?.stop();
});

const options = (url) => ({
  url,
  connect: {
    clientId: 'e2e-durable',
    clean: false,
    properties: { sessionExpiryInterval: 3600 },
    reconnect: { minDelay: 50, maxDelay: 200, onInitialFailure: true },
  },
});

test('queued QoS 1 publish survives a reload (IndexedDB store)', async () => {
  const page = await env.openPage();
  await page.evaluate(async (o) => {
    const { connect, indexedDBStore } = window.midge;
    window.offline = false;
    const c = await connect(o.url, { ...o.connect, store: indexedDBStore() });
    c.on('offline', () => { window.offline = true; });
    window.durable = c;
  }, options(broker.url));
  await broker.stop();
  await page.waitForFunction(() => window.offline);
  const queued = await page.evaluate(async () => {
    const c = window.durable;
    c.publish('e2e/durable', 'kept across reload', { qos: 1 }).catch(() => {});
    // A read issued after the write sees it: the snapshot is on disk.
    const bytes = await window.midge.indexedDBStore().load('e2e-durable');
    return { queue: c.queueLength, stored: bytes ? bytes.length : 0 };
  });
  assert.equal(queued.queue, 1);
  assert.ok(queued.stored > 0);

  await page.reload();
  await page.waitForFunction(() => window.midgeReady);
  await broker.start();
  const watcher = await connect(broker.url, { WebSocket });
  await watcher.subscribe('e2e/durable', { qos: 1 });
  const got = new Promise((resolve) => watcher.on('message', (m) => resolve(m.text())));

  const after = await page.evaluate(async (o) => {
    const { connect, indexedDBStore } = window.midge;
    const c = await connect(o.url, { ...o.connect, store: indexedDBStore() });
    window.durable = c;
    // The publish's Promise died with the old page; its completion is an event.
    window.restoredDone = new Promise((resolve) => c.on('publishComplete', resolve));
    return { queue: c.queueLength, restored: c.restoredPublishes };
  }, options(broker.url));
  assert.equal(await got, 'kept across reload');
  assert.ok(after.queue <= 1);
  assert.equal(after.restored.length, 1);
  assert.equal(after.restored[0].topic, 'e2e/durable');
  assert.equal(after.restored[0].qos, 1);
  const done = await page.evaluate(() => window.restoredDone);
  assert.equal(done.token, after.restored[0].token);
  assert.equal(done.topic, 'e2e/durable');
  assert.equal(done.reasonCode, 0);
  assert.equal(done.error, undefined);
  await page.evaluate(() => window.durable.end());
  await watcher.end();
  assert.deepEqual(env.errors.map(String), []);
});
