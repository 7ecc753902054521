// midge's own lines in Node against a real mosquitto: the `logger` option
// gets the connection story written by the core (the same text as Python's
// `midge` logger), `packetsend`/`packetreceive` give one event per packet,
// and no secret is in any of it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { startMosquitto, freePort } from './lib/mosquitto.mjs';
import { connect, createClient } from '../npm/index.js';

let broker;

before(async () => { broker = await startMosquitto({ users: { meter: 'hunter2-password' } }); });
after(async () => { await broker?.close(); });

/** A logger function that resolves `until(prefix)` once a line starting with it came. */
function collector() {
  const lines = [];
  const waiters = [];
  const log = (level, line) => {
    lines.push([level, line]);
    for (const w of waiters.splice(0)) if (!w()) waiters.push(w);
  };
  const until = (prefix) => new Promise((resolve) => {
    const check = () => {
      const found = lines.find(([, line]) => line.startsWith(prefix));
      if (found) resolve(found);
      return !!found;
    };
    if (!check()) waiters.push(check);
  });
  return { lines, log, until };
}

const auth = { username: 'meter', password: 'hunter2-password' };

test('the logger gets the connection story at info, the lost connection at warn', { timeout: 60_000 }, async () => {
  const { lines, log, until } = collector();
  const c = await connect(broker.url, { WebSocket, ...auth, clientId: 'log-story', logger: log,
    reconnect: { minDelay: 50, maxDelay: 200 } });
  assert.deepEqual(lines[0], ['info', `connecting to ${broker.url}/`]);
  assert.deepEqual(lines[1], ['info', `connected to ${broker.url}/ (client id "log-story", new session, keep alive 60 s)`]);
  await broker.stop();
  const [level, lost] = await until('disconnected: ');
  assert.equal(level, 'warn');
  assert.match(lost, /^disconnected: .+; reconnecting in \d+ ms \(attempt 1\)$/);
  await until(`connecting to ${broker.url}/ (reconnect attempt `);
  await broker.start();
  await new Promise((resolve) => c.on('reconnect', resolve));
  await c.end();
  assert.deepEqual(lines.at(-1), ['info', 'disconnected by the application']);
  // No packet lines below the default level.
  assert.ok(lines.every(([l]) => l !== 'debug'));
});

test('packetsend and packetreceive: one event per packet, no password or payload in them', { timeout: 30_000 }, async () => {
  const sent = [];
  const received = [];
  const { lines, log } = collector();
  const c = await createClient(broker.url, { WebSocket, ...auth, logger: log, logLevel: 'debug' });
  c.on('packetsend', (p) => sent.push(p));
  c.on('packetreceive', (p) => received.push(p));
  await c.connect();
  await c.subscribe('log/pk', { qos: 1 });
  await c.publish('log/pk', 'payload-not-for-logs', { qos: 1 });
  await c.end();
  const connect = sent.find((p) => p.type === 'CONNECT');
  assert.match(connect.line, /username="meter" password=<hidden>/);
  const publish = sent.find((p) => p.type === 'PUBLISH');
  assert.deepEqual({ ...publish, line: undefined }, { type: 'PUBLISH', id: publish.id, qos: 1, topic: 'log/pk', size: publish.size, line: undefined });
  assert.ok(publish.id > 0 && publish.size > 20);
  assert.equal(publish.line, `sent PUBLISH id=${publish.id} qos=1 topic="log/pk" payload=20B size=${publish.size}B`);
  assert.ok(received.some((p) => p.type === 'PUBACK' && p.id === publish.id), JSON.stringify(received));
  assert.ok(received.some((p) => p.type === 'SUBACK' && /granted=1/.test(p.line)));
  assert.ok(received.some((p) => p.type === 'PUBLISH' && p.topic === 'log/pk'));
  // The logger got the same packet lines at debug, and nothing secret anywhere.
  assert.ok(lines.some(([l, line]) => l === 'debug' && line === publish.line));
  for (const [, line] of lines) assert.doesNotMatch(line, /hunter2|payload-not-for-logs/);
});

test('payload bytes only with logPayloads; a console-like logger gets a prefix', { timeout: 30_000 }, async () => {
  const debug = [];
  const c = await connect(broker.url, { WebSocket, ...auth, logger: { debug: (l) => debug.push(l) }, logLevel: 'debug', logPayloads: true });
  await c.publish('log/pl', '21.5', { qos: 1 });
  await c.end();
  assert.ok(debug.includes('[midge] sent PUBLISH id=1 qos=1 topic="log/pl" payload=4B "21.5" size=17B'), debug.join('\n'));
});

test('a bad logger, logLevel or logPayloads is refused, naming the option', async () => {
  const url = `ws://127.0.0.1:${await freePort()}`;
  for (const [options, name] of [[{ logger: 5 }, 'logger'], [{ logger: {} }, 'logger'],
    [{ logLevel: 'trace' }, 'logLevel'], [{ logPayloads: 1 }, 'logPayloads']]) {
    await assert.rejects(createClient(url, { WebSocket, ...options }),
      (e) => e.code === 'INVALID_ARGUMENT' && e.message.startsWith(`invalid argument \`${name}\``), name);
  }
});
