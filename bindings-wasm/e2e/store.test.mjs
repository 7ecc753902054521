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

// Issue 15: reloads at random points of a QoS 2 stream. Each page queues
// what is left of the stream with the IndexedDB store; the client sends no
// byte that depends on a change before IndexedDB's `complete`, so a reload
// at any moment loses nothing and duplicates nothing at the subscriber.
test('reloads in the middle of a QoS 2 stream lose nothing and duplicate nothing (IndexedDB store)', { timeout: 120_000 }, async () => {
  const TOTAL = 300;
  const RELOADS = 3;
  const watcher = await connect(broker.url, { WebSocket });
  try {
  const seen = new Map();
  let arrived;
  let wanted = 0;
  watcher.on('message', (m) => {
    const seq = Number(m.text());
    seen.set(seq, (seen.get(seq) ?? 0) + 1);
    if (arrived && seen.size >= wanted) arrived();
  });
  await watcher.subscribe('e2e/stream2', { qos: 2 });
  const until = (n) => new Promise((resolve) => {
    wanted = n;
    arrived = resolve;
    if (seen.size >= n) resolve();
  });
  const o = { ...options(broker.url), connect: { ...options(broker.url).connect, clientId: 'e2e-stream2' } };
  const page = await env.openPage();
  await page.evaluate(async ({ o, total }) => {
    const { connect, indexedDBStore } = window.midge;
    const c = await connect(o.url, { ...o.connect, store: indexedDBStore() });
    for (let seq = 0; seq < total; seq++) c.publish('e2e/stream2', String(seq), { qos: 2 }).catch(() => {});
  }, { o, total: TOTAL });
  let restored = [];
  for (let reload = 1; reload <= RELOADS; reload++) {
    // A point between this reload's share of the stream and the next.
    const at = Math.floor((TOTAL * reload) / (RELOADS + 1)) - Math.floor(Math.random() * 20);
    await until(at);
    await page.reload();
    await page.waitForFunction(() => window.midgeReady);
    restored.push(await page.evaluate(async (o) => {
      const { connect, indexedDBStore } = window.midge;
      window.durable = await connect(o.url, { ...o.connect, store: indexedDBStore() });
      return window.durable.restoredPublishes.length;
    }, o));
  }
  let timer;
  await Promise.race([
    until(TOTAL),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`only ${seen.size} of ${TOTAL} arrived`)), 60_000);
    }),
  ]).finally(() => clearTimeout(timer));
  const lost = [];
  for (let seq = 0; seq < TOTAL; seq++) if (!seen.has(seq)) lost.push(seq);
  const duplicates = [...seen.values()].reduce((n, c) => n + c - 1, 0);
  console.log(`fault report (browser reloads x${RELOADS} in a QoS 2 stream of ${TOTAL}, IndexedDB): restored after each reload ${restored.join('/')}, lost ${lost.length}, QoS 2 duplicates ${duplicates}`);
  assert.deepEqual(lost, []);
  assert.equal(duplicates, 0);
  assert.ok(restored[0] > 0, `the first reload cut the stream: ${restored}`);
  await page.evaluate(() => window.durable.end());
  assert.deepEqual(env.errors.map(String), []);
  } finally {
    // A failure above must not leave a connection that keeps node alive.
    await watcher.end();
  }
});
