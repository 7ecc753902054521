// A `messages()` iterator whose loop falls behind, in Node against a real
// mosquitto. Before `messageBuffer`, a slow reader buffered every message
// (188,752 of them, +159 MiB); now a full iterator drops QoS 0 messages
// (counted) and keeps QoS 1 acks back, so the broker stops at our Receive
// Maximum and queues the rest until the loop catches up.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { startMosquitto } from './lib/mosquitto.mjs';
import { connect } from '../npm/index.js';

let broker;

before(async () => { broker = await startMosquitto(); });
after(async () => { await broker?.stop(); });

/** Messages seen by a `message` listener; `until(n)` resolves once n have come. */
function counter(client) {
  const c = { n: 0, waiting: [] };
  client.on('message', () => {
    c.n++;
    c.waiting = c.waiting.filter(([n, resolve]) => (c.n >= n ? (resolve(), false) : true));
  });
  c.until = (n) => new Promise((resolve) => { if (c.n >= n) resolve(); else c.waiting.push([n, resolve]); });
  return c;
}

test('a full iterator drops QoS 0 messages beyond messageBuffer and counts them', { timeout: 60_000 }, async () => {
  const sub = await connect(broker.url, { WebSocket, messageBuffer: 100 });
  const pub = await connect(broker.url, { WebSocket });
  await sub.subscribe('slow/0', { qos: 1 });
  const seen = counter(sub);
  const it = sub.messages();
  const first = it.next(); // the loop has started and waits
  const total = 20_000;
  for (let i = 0; i < total; i++) pub.publish('slow/0', String(i));
  await pub.publish('slow/0', 'end', { qos: 1 }); // after every QoS 0 one, in order
  assert.equal((await first).value.text(), '0');
  await seen.until(total + 1); // the loop body is still "busy": nothing else read
  assert.equal(sub.droppedMessages, total - 1 - 100);
  const rest = [];
  for (let i = 0; i < 101; i++) rest.push((await it.next()).value.text());
  assert.deepEqual(rest, [...Array.from({ length: 100 }, (_, i) => String(i + 1)), 'end']);
  await it.return();
  await pub.end();
  await sub.end();
});

test('a full iterator holds QoS 1 acks back: the broker stops at our Receive Maximum', { timeout: 60_000 }, async () => {
  const sub = await connect(broker.url, { WebSocket, messageBuffer: 100, clientId: 'slow-qos1' });
  const pub = await connect(broker.url, { WebSocket });
  await sub.subscribe('slow/1', { qos: 1 });
  const seen = counter(sub);
  const it = sub.messages();
  const first = it.next();
  const total = 2_000;
  await Promise.all(Array.from({ length: total }, (_, i) => pub.publish('slow/1', String(i), { qos: 1 })));
  assert.equal((await first).value.text(), '0');
  // Every publish reached the broker; a round trip of our own comes back
  // after whatever the broker was willing to send us.
  await sub.subscribe('slow/sync');
  const arrived = seen.n;
  console.log(`QoS 1: ${arrived} of ${total} arrived while the loop was busy, ${sub.receiveMaximumOverruns} overruns`);
  assert.ok(arrived > 100, `the iterator filled (${arrived} arrived)`);
  assert.ok(arrived <= 1 + 100 + 100 + sub.receiveMaximumOverruns,
    `the broker stopped at the Receive Maximum: ${arrived} arrived, ${sub.receiveMaximumOverruns} overruns`);
  assert.ok(arrived < total / 2, `${arrived} of ${total} arrived while the loop was busy`);
  const rest = [];
  while (rest.length < total - 1) rest.push((await it.next()).value.text());
  assert.deepEqual(rest, Array.from({ length: total - 1 }, (_, i) => String(i + 1)));
  assert.equal(sub.droppedMessages, 0);
  assert.equal(seen.n, total);
  await it.return();
  await pub.end();
  await sub.end();
});

test('an iterator that is never read holds nothing back', { timeout: 60_000 }, async () => {
  const sub = await connect(broker.url, { WebSocket, messageBuffer: 10 });
  const pub = await connect(broker.url, { WebSocket });
  await sub.subscribe('slow/idle', { qos: 1 });
  const seen = counter(sub);
  const idle = sub.messages(); // made, never read
  const total = 500;
  await Promise.all(Array.from({ length: total }, (_, i) => pub.publish('slow/idle', String(i), { qos: 1 })));
  await seen.until(total);
  assert.equal(sub.droppedMessages, total - 10);
  const kept = [];
  for (let i = 0; i < 10; i++) kept.push((await idle.next()).value.text());
  assert.deepEqual(kept, Array.from({ length: 10 }, (_, i) => String(i)));
  await idle.return();
  await pub.end();
  await sub.end();
});

test('the client ends: an iterator still hands out what it holds, then ends', { timeout: 30_000 }, async () => {
  const sub = await connect(broker.url, { WebSocket });
  await sub.subscribe('slow/end', { qos: 1 });
  const seen = counter(sub);
  const it = sub.messages();
  for (let i = 0; i < 3; i++) await sub.publish('slow/end', String(i), { qos: 1 });
  await seen.until(3);
  await sub.end();
  const got = [];
  for await (const m of it) got.push(m.text());
  assert.deepEqual(got, ['0', '1', '2']);
  const late = await sub.messages().next();
  assert.equal(late.done, true);
});

test('messageBuffer and strictReceiveMaximum are checked', async () => {
  await assert.rejects(connect(broker.url, { WebSocket, messageBuffer: 0 }),
    (e) => e.code === 'INVALID_ARGUMENT' && /messageBuffer/.test(e.message));
  await assert.rejects(connect(broker.url, { WebSocket, strictReceiveMaximum: 'yes' }),
    (e) => e.code === 'INVALID_ARGUMENT' && /strictReceiveMaximum/.test(e.message));
  await assert.rejects(connect(broker.url, { WebSocket, manualAcks: 1 }),
    (e) => e.code === 'INVALID_ARGUMENT' && /manualAcks/.test(e.message));
});
