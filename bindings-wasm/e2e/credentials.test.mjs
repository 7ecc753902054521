// A credentials provider called before every connection attempt, in Node
// against a real mosquitto whose password changes between reconnects.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { WebSocket } from 'ws';
import { startMosquitto, freePort } from './lib/mosquitto.mjs';
import { connect, createClient } from '../npm/index.js';

let broker;

before(async () => { broker = await startMosquitto({ users: { meter: 'first-secret' } }); });
after(async () => { await broker?.close(); });

test('the password changes between reconnects: the provider gives the new one', { timeout: 60_000 }, async () => {
  let password = 'first-secret';
  const asked = [];
  const c = await connect(broker.url, {
    WebSocket,
    reconnect: { minDelay: 50, maxDelay: 200 },
    credentials: async (url) => {
      asked.push(url);
      await new Promise((resolve) => setImmediate(resolve));
      return { username: 'meter', password };
    },
  });
  assert.deepEqual(asked, [`${broker.url}/`]);
  await broker.stop();
  execFileSync('mosquitto_passwd', ['-b', broker.passwordFile, 'meter', 'rotated-secret']);
  password = 'rotated-secret';
  const back = new Promise((resolve) => c.on('reconnect', resolve));
  await broker.start();
  await back;
  assert.ok(asked.length >= 2, `${asked.length} calls`);
  await c.publish('cred/x', 'after rotation', { qos: 1 });
  await c.end();
  // The first password alone is refused now.
  await assert.rejects(connect(broker.url, { WebSocket, username: 'meter', password: 'first-secret', reconnect: false }),
    (e) => e.code === 'CONNECTION_REFUSED');
});

test('the provider gives the URL of this attempt (a presigned WebSocket URL)', { timeout: 30_000 }, async () => {
  const nothingThere = `ws://127.0.0.1:${await freePort()}`;
  const c = await connect(nothingThere, {
    WebSocket, reconnect: false,
    credentials: () => ({ username: 'meter', password: 'rotated-secret', url: `${broker.url}/?signature=abc` }),
  });
  assert.equal(c.state, 'connected');
  await c.end();
});

test('a provider that throws fails the attempt with CREDENTIALS_FAILED', { timeout: 30_000 }, async () => {
  const c = await createClient(broker.url, { WebSocket, reconnect: false, credentials: () => { throw new Error('token service down'); } });
  const errors = [];
  c.on('error', (e) => errors.push(e));
  await assert.rejects(c.connect(), (e) => e.code === 'TRANSPORT_CLOSED');
  assert.equal(errors[0].code, 'CREDENTIALS_FAILED');
  assert.match(errors[0].message, /token service down/);
  await assert.rejects(createClient(broker.url, { WebSocket, credentials: 'token' }),
    (e) => e.code === 'INVALID_ARGUMENT' && e.message.startsWith('invalid argument `credentials`'));
  const bad = await createClient(broker.url, { WebSocket, reconnect: false, credentials: () => ({ passwd: 'x' }) });
  const badErrors = [];
  bad.on('error', (e) => badErrors.push(e));
  await assert.rejects(bad.connect());
  assert.match(badErrors[0].message, /unknown key `passwd`/);
});
