// midge-mqtt in headless Chromium against a real mosquitto WebSocket listener.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMosquitto } from './lib/mosquitto.mjs';
import { setup } from './lib/harness.mjs';

let broker;
let env;
let page;

before(async () => {
  broker = await startMosquitto();
  env = await setup();
  page = await env.openPage();
});

after(async () => {
  await env?.close();
  await broker?.stop();
});

test('publish and subscribe at QoS 0, 1 and 2', async () => {
  const result = await page.evaluate(async (url) => {
    const { connect } = window.midge;
    const sub = await connect(url, { clientId: 'e2e-sub' });
    const pub = await connect(url, { clientId: 'e2e-pub', protocolVersion: 4 });
    const granted = await sub.subscribe('e2e/qos/#', { qos: 2 });
    const got = [];
    const all = new Promise((resolve) => sub.on('message', (m) => {
      got.push({ topic: m.topic, text: m.text(), qos: m.qos });
      if (got.length === 3) resolve();
    }));
    const acks = [];
    for (const qos of [0, 1, 2]) acks.push(await pub.publish(`e2e/qos/${qos}`, `hello ${qos}`, { qos }));
    await all;
    await pub.end();
    await sub.end();
    return { granted, got, acks };
  }, broker.url);
  assert.deepEqual(result.granted.granted, [{ topic: 'e2e/qos/#', qos: 2, reasonCode: 2 }]);
  assert.deepEqual(result.got.sort((a, b) => a.qos - b.qos), [
    { topic: 'e2e/qos/0', text: 'hello 0', qos: 0 },
    { topic: 'e2e/qos/1', text: 'hello 1', qos: 1 },
    { topic: 'e2e/qos/2', text: 'hello 2', qos: 2 },
  ]);
  assert.equal(result.acks.length, 3);
});

test('async iterator, retained message and unsubscribe', async () => {
  const result = await page.evaluate(async (url) => {
    const { connect } = window.midge;
    const a = await connect(url);
    await a.publish('e2e/retained', new Uint8Array([1, 2, 3]), { qos: 1, retain: true });
    const b = await connect(url);
    await b.subscribe({ topic: 'e2e/retained', qos: 1 });
    let first;
    for await (const m of b.messages()) {
      first = { topic: m.topic, payload: Array.from(m.payload), retain: m.retain };
      break;
    }
    const unsub = await b.unsubscribe('e2e/retained');
    await a.publish('e2e/retained', '', { qos: 1, retain: true }); // clear it
    await a.end();
    await b.end();
    return { first, unsub: unsub.reasonCodes, state: b.state };
  }, broker.url);
  assert.deepEqual(result.first, { topic: 'e2e/retained', payload: [1, 2, 3], retain: true });
  assert.deepEqual(result.unsub, [0]);
  assert.equal(result.state, 'disconnected');
});

test('MQTT 5.0 properties travel both ways', async () => {
  const m = await page.evaluate(async (url) => {
    const { connect } = window.midge;
    const c = await connect(url, { properties: { sessionExpiryInterval: 0, userProperties: { app: 'e2e' } } });
    await c.subscribe('e2e/props', { qos: 1 });
    const got = new Promise((resolve) => c.on('message', resolve));
    await c.publish('e2e/props', '{"t":21.5}', {
      qos: 1,
      properties: {
        contentType: 'application/json',
        responseTopic: 'e2e/reply',
        correlationData: new Uint8Array([9, 8]),
        messageExpiryInterval: 60,
        payloadFormatIndicator: true,
        userProperties: [['k', 'v1'], ['k', 'v2']],
      },
    });
    const msg = await got;
    await c.end();
    const p = msg.properties;
    return { json: msg.json(), ...p, correlationData: Array.from(p.correlationData) };
  }, broker.url);
  assert.deepEqual(m.json, { t: 21.5 });
  assert.equal(m.contentType, 'application/json');
  assert.equal(m.responseTopic, 'e2e/reply');
  assert.deepEqual(m.correlationData, [9, 8]);
  assert.equal(m.payloadFormatIndicator, true);
  assert.ok(m.messageExpiryInterval > 0 && m.messageExpiryInterval <= 60);
  assert.deepEqual(m.userProperties, [['k', 'v1'], ['k', 'v2']]);
});

test('Last Will reaches a subscriber', async () => {
  const will = await page.evaluate(async (url) => {
    const { connect } = window.midge;
    const watcher = await connect(url);
    await watcher.subscribe('e2e/will', { qos: 1 });
    const got = new Promise((resolve) => watcher.on('message', resolve));
    const dying = await connect(url, { will: { topic: 'e2e/will', payload: 'gone', qos: 1 } });
    // Reason 0x04: "disconnect with Will message", so the broker sends it now.
    await dying.end({ reasonCode: 4 });
    const m = await got;
    await watcher.end();
    return m.text();
  }, broker.url);
  assert.equal(will, 'gone');
});

test('manual acks: the broker holds the next message until ack()', async () => {
  const r = await page.evaluate(async (url) => {
    const { connect } = window.midge;
    // Receive Maximum 1: the broker sends one unacknowledged QoS 1/2 message at a time.
    const sub = await connect(url, { manualAcks: true, properties: { receiveMaximum: 1 } });
    const pub = await connect(url);
    await sub.subscribe('e2e/manual/#', { qos: 2 });
    const got = [];
    let next;
    sub.on('message', (m) => { got.push(m); if (next) next(); });
    const arrival = () => new Promise((resolve) => { next = resolve; });
    let first = arrival();
    await pub.publish('e2e/manual/1', 'one', { qos: 1 });
    await pub.publish('e2e/manual/2', 'two', { qos: 2 });
    await first;
    // A round trip on the subscriber's connection: the broker has had its
    // chance to send the second message and held it back.
    await sub.subscribe('e2e/manual-other', { qos: 0 });
    const beforeAck = got.map((m) => m.text());
    const second = arrival();
    got[0].ack();
    got[0].ack(); // a second ack is a no-op
    await second;
    got[1].ack();
    // The QoS 2 flow completes: a round trip after the ack.
    await sub.unsubscribe('e2e/manual-other');
    const afterAck = got.map((m) => m.text());
    await pub.end();
    await sub.end();
    return { beforeAck, afterAck };
  }, broker.url);
  assert.deepEqual(r.beforeAck, ['one']);
  assert.deepEqual(r.afterAck, ['one', 'two']);
});

test('errors are typed: bad URL, refused connection, bad argument', async () => {
  const r = await page.evaluate(async (url) => {
    const { connect, MqttError } = window.midge;
    const out = {};
    const grab = async (key, p) => {
      try { await p; out[key] = 'resolved'; } catch (e) {
        out[key] = { isMqttError: e instanceof MqttError, isError: e instanceof Error, code: e.code, reasonCode: e.reasonCode, message: e.message };
      }
    };
    await grab('badUrl', connect('http://127.0.0.1:1'));
    await grab('noHost', connect('ws://:1883/'));
    await grab('fragment', connect('ws://127.0.0.1:1/#x'));
    await grab('credentials', connect('ws://u:p@127.0.0.1:1/'));
    await grab('badServer', connect(url, { servers: ['mqtt://127.0.0.1:1883'] }));
    await grab('refused', connect('ws://127.0.0.1:1', { reconnect: false }));
    await grab('badQos', (async () => { const c = await connect(url); try { await c.publish('a', 'b', { qos: 3 }); } finally { await c.end(); } })());
    await grab('badTopic', (async () => { const c = await connect(url); try { await c.publish('a/#', 'b'); } finally { await c.end(); } })());
    await grab('badOption', connect(url, { keepalive: -1 }));
    await grab('badProperty', (async () => { const c = await connect(url); try { await c.publish('a', 'b', { properties: { contentType: 7 } }); } finally { await c.end(); } })());
    return out;
  }, broker.url);
  assert.equal(r.badUrl.code, 'INVALID_ARGUMENT');
  assert.ok(r.badUrl.isMqttError && r.badUrl.isError);
  assert.match(r.badUrl.message, /url.*ws:\/\/ or wss:\/\//);
  assert.match(r.noHost.message, /url.*with a host/);
  assert.match(r.fragment.message, /url.*fragment/);
  assert.match(r.credentials.message, /url.*credentials/);
  assert.match(r.badServer.message, /servers.*ws:\/\/ or wss:\/\//);
  for (const k of ['noHost', 'fragment', 'credentials', 'badServer']) assert.equal(r[k].code, 'INVALID_ARGUMENT', k);
  assert.equal(r.refused.code, 'TRANSPORT_CLOSED');
  // A browser hides why a WebSocket failed; the close code is all it gives.
  assert.equal(r.refused.message, 'connecting to ws://127.0.0.1:1/ failed: the WebSocket closed with code 1006');
  assert.equal(r.badQos.code, 'INVALID_ARGUMENT');
  assert.match(r.badQos.message, /qos/);
  assert.equal(r.badTopic.code, 'INVALID_ARGUMENT');
  assert.match(r.badOption.message, /keepalive/);
  assert.equal(r.badProperty.code, 'INVALID_ARGUMENT');
  assert.match(r.badProperty.message, /contentType.*string/);
});

test('bad credentials: CONNECTION_REFUSED with the reason code (5.0 and 3.1.1)', async () => {
  const secured = await startMosquitto({ users: { alice: 'secret' } });
  try {
    const r = await page.evaluate(async (url) => {
      const { connect, MqttError } = window.midge;
      const out = [];
      for (const protocolVersion of [5, 4]) {
        try {
          await connect(url, { protocolVersion, username: 'alice', password: 'wrong', reconnect: false });
          out.push('resolved');
        } catch (e) {
          out.push({ mqtt: e instanceof MqttError, code: e.code, reasonCode: e.reasonCode });
        }
      }
      const ok = await connect(url, { username: 'alice', password: 'secret' });
      out.push(ok.state);
      await ok.end();
      return out;
    }, secured.url);
    // mosquitto 2.0 answers a wrong password with 0x87 Not authorized (5.0)
    // or return code 5 (3.1.1, mapped to 0x87); 0x86 is the other valid answer.
    for (const e of r.slice(0, 2)) {
      assert.equal(e.mqtt, true);
      assert.equal(e.code, 'CONNECTION_REFUSED');
      assert.ok([0x86, 0x87].includes(e.reasonCode), String(e.reasonCode));
    }
    assert.equal(r[2], 'connected');
  } finally {
    await secured.stop();
  }
});

test('reconnects after the broker restarts', async () => {
  await page.evaluate(async (url) => {
    const { connect } = window.midge;
    const c = await connect(url, { clientId: 'e2e-reconnect', reconnect: { minDelay: 50, maxDelay: 200 } });
    window.events = [];
    c.on('offline', (e) => window.events.push('offline:' + e.error.code));
    c.on('reconnect', () => window.events.push('reconnect'));
    c.on('subscriptionsRestored', (list) => window.events.push(
      'restored:' + list.map((s) => `${s.topic}=${s.qos}`).join(',')));
    await c.subscribe('e2e/after', { qos: 1 });
    window.reconnectClient = c;
  }, broker.url);
  await broker.stop();
  await page.waitForFunction(() => window.events.some((e) => e.startsWith('offline')));
  await broker.start();
  await page.waitForFunction(() => window.events.includes('reconnect'), null, { timeout: 15_000 });
  // The broker lost the session (no persistence): the core subscribes again
  // and reports the broker's answer.
  await page.waitForFunction(() => window.events.some((e) => e.startsWith('restored:')));
  const r = await page.evaluate(async () => {
    const c = window.reconnectClient;
    // The broker lost the session (no persistence): the core re-subscribes.
    const got = new Promise((resolve) => c.on('message', (m) => resolve(m.text())));
    await c.publish('e2e/after', 'back', { qos: 1 });
    const text = await got;
    await c.end();
    return { text, events: window.events };
  });
  assert.equal(r.text, 'back');
  assert.equal(r.events[0], 'offline:TRANSPORT_CLOSED');
  assert.ok(r.events.includes('reconnect'));
  assert.ok(r.events.includes('restored:e2e/after=1'), r.events.join(' '));
});

test('the first connection can be watched and cancelled: createClient, attempt numbers, end() and AbortSignal', async () => {
  const down = await startMosquitto();
  await down.stop();
  try {
    const r = await page.evaluate(async (url) => {
      const { createClient, connect } = window.midge;
      const out = {};
      const retry = { minDelay: 20, maxDelay: 40, onInitialFailure: true };
      // Watch three failed attempts, then end() while waiting.
      const c = await createClient(url, { reconnect: retry });
      out.before = c.state;
      const offline = [];
      const three = new Promise((resolve) => c.on('offline', (e) => {
        offline.push({ code: e.error.code, attempt: e.attempt, delayed: e.reconnectIn >= 0 });
        if (offline.length === 3) resolve();
      }));
      const first = c.connect();
      out.same = c.connect() === first;
      await three;
      out.offline = offline;
      out.waiting = c.state;
      await c.end();
      try { await first; out.first = 'resolved'; } catch (e) { out.first = e.code; }
      out.after = c.state;
      try { await c.publish('a', 'b', { qos: 1 }); out.publishAfterEnd = 'resolved'; } catch (e) { out.publishAfterEnd = e.code; }
      try { await c.connect(); } catch (e) { out.connectAfterEnd = e.code; }
      // An AbortSignal cancels connect() while the broker is down.
      const ctl = new AbortController();
      const p = connect(url, { reconnect: retry, signal: ctl.signal });
      setTimeout(() => ctl.abort(), 100);
      try { await p; out.aborted = 'resolved'; } catch (e) { out.aborted = e.code; }
      try { await connect(url, { signal: AbortSignal.abort() }); } catch (e) { out.abortedBefore = e.code; }
      // Unknown options are refused, with the midge name for MQTT.js's.
      try { await connect(url, { reconnectPeriod: 1000 }); } catch (e) { out.unknown = e.message; }
      try { await connect(url, { offlineQueueLimit: 5 }); } catch (e) { out.renamed = e.message; }
      return out;
    }, down.url);
    assert.equal(r.before, 'disconnected');
    assert.equal(r.same, true);
    assert.deepEqual(r.offline, [1, 2, 3].map((attempt) => ({ code: 'TRANSPORT_CLOSED', attempt, delayed: true })));
    assert.equal(r.waiting, 'waiting');
    assert.equal(r.first, 'CLIENT_DISCONNECT');
    assert.equal(r.after, 'disconnected');
    assert.equal(r.publishAfterEnd, 'CLIENT_CLOSED');
    assert.equal(r.connectAfterEnd, 'CLIENT_CLOSED');
    assert.equal(r.aborted, 'ABORTED');
    assert.equal(r.abortedBefore, 'ABORTED');
    assert.match(r.unknown, /`reconnectPeriod`: is not an option of midge-mqtt; use `reconnect: \{ minDelay \}`/);
    assert.match(r.renamed, /`offlineQueueLimit`.*use `maxQueuedMessages`/);
  } finally {
    await down.stop();
  }
});

test('the README quick start runs', async () => {
  const qs = await env.browser.newPage();
  await qs.goto(`${env.server.url}/test/quickstart.html?broker=${encodeURIComponent(broker.url)}`);
  await qs.waitForFunction(() => window.quickstartDone !== undefined);
  assert.deepEqual(await qs.evaluate(() => window.log), ['greenhouse/roof/set open', 'true INVALID_ARGUMENT']);
  await qs.close();
});

test('no uncaught page errors', () => {
  assert.deepEqual(env.errors.map(String), []);
});
