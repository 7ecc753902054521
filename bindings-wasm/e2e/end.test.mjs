// end() in Node against a real mosquitto: it goes through the core in
// every state, and a bad argument leaves the client as it was.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { startMosquitto, freePort } from './lib/mosquitto.mjs';
import { connect, createClient } from '../npm/index.js';

let broker;

before(async () => { broker = await startMosquitto(); });
after(async () => { await broker?.stop(); });

test('end() with a bad reasonCode or property rejects and leaves the client connected', { timeout: 30_000 }, async () => {
  const c = await connect(broker.url, { WebSocket });
  await assert.rejects(c.end({ reasonCode: 0x05 }), (e) => e.code === 'INVALID_ARGUMENT' && /reasonCode/.test(e.message));
  await assert.rejects(c.end({ properties: { reasonString: 5 } }), (e) => e.code === 'INVALID_ARGUMENT' && /reasonString/.test(e.message));
  assert.equal(c.state, 'connected');
  assert.equal((await c.publish('end/t', 'still here', { qos: 1 })).reasonCode, 16); // no subscribers
  await c.end();
  assert.equal(c.state, 'disconnected');
});

test('end() on a client that never connected returns, and its queued publish ends INTERRUPTED', { timeout: 30_000 }, async () => {
  const c = await createClient(`ws://127.0.0.1:${await freePort()}`, { WebSocket });
  const publishing = c.publish('end/q', 'x', { qos: 1 }).then(() => 'ok', (e) => e.code);
  await c.end();
  assert.equal(await publishing, 'INTERRUPTED');
  await assert.rejects(c.publish('end/q', 'x'), (e) => e.code === 'CLIENT_CLOSED');
});
