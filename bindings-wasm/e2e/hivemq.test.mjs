// The core round trip from headless Chromium against HiveMQ CE's WebSocket
// listener, the second real broker of this suite (the rest runs against
// mosquitto): connect, subscribe, publish at QoS 0, 1 and 2 and receive
// each, a retained message reaching a later subscriber, disconnect; at MQTT
// 5.0 and 3.1.1. One HiveMQ for the file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHiveMq } from './lib/hivemq.mjs';
import { setup } from './lib/harness.mjs';

let broker;
let env;
let page;

before(async () => {
  broker = await startHiveMq();
  console.log(`HiveMQ CE ${broker.version} ready in ${broker.startMs} ms`);
  env = await setup();
  page = await env.openPage();
});

after(async () => {
  await env?.close();
  await broker?.close();
});

for (const [name, protocolVersion] of [['5.0', 5], ['3.1.1', 4]]) {
  test(`core round trip against HiveMQ CE over WebSocket (MQTT ${name})`, async () => {
    const topic = `e2e-hivemq/${protocolVersion}/${Date.now()}`;
    const r = await page.evaluate(async ({ url, protocolVersion, topic }) => {
      const { connect } = window.midge;
      const c = await connect(url, { protocolVersion });
      const connected = c.state;
      const granted = await c.subscribe(`${topic}/+`, { qos: 2 });
      const got = [];
      let arrived;
      c.on('message', (m) => { got.push({ topic: m.topic, text: m.text(), qos: m.qos, retain: m.retain }); arrived?.(); });
      const next = () => new Promise((resolve) => { arrived = resolve; });
      for (const qos of [0, 1, 2]) {
        const arrival = next();
        await c.publish(`${topic}/q${qos}`, `at qos ${qos}`, { qos });
        await arrival;
      }
      // Retained: set here, delivered to a later subscriber with RETAIN set.
      const live = next();
      await c.publish(`${topic}/retained`, 'last value', { qos: 1, retain: true });
      await live;
      await c.end();
      const later = await connect(url, { protocolVersion });
      // The iterator exists before SUBACK: the retained message may come with it.
      const messages = later.messages();
      await later.subscribe(`${topic}/retained`, { qos: 1 });
      let first;
      for await (const m of messages) {
        first = { topic: m.topic, text: m.text(), qos: m.qos, retain: m.retain };
        break;
      }
      await later.publish(`${topic}/retained`, '', { qos: 1, retain: true }); // clear it
      await later.end();
      return { connected, granted: granted.granted, got, first, states: [c.state, later.state] };
    }, { url: broker.url, protocolVersion, topic });
    assert.equal(r.connected, 'connected');
    assert.deepEqual(r.granted, [{ topic: `${topic}/+`, qos: 2, reasonCode: 2 }]);
    assert.deepEqual(r.got, [
      { topic: `${topic}/q0`, text: 'at qos 0', qos: 0, retain: false },
      { topic: `${topic}/q1`, text: 'at qos 1', qos: 1, retain: false },
      { topic: `${topic}/q2`, text: 'at qos 2', qos: 2, retain: false },
      { topic: `${topic}/retained`, text: 'last value', qos: 1, retain: false },
    ]);
    assert.deepEqual(r.first, { topic: `${topic}/retained`, text: 'last value', qos: 1, retain: true });
    assert.deepEqual(r.states, ['disconnected', 'disconnected']);
  });
}
