// The npm package in Node over TCP and TLS (mqtt://, mqtts://) against a
// real mosquitto: the JS layer owns a node:net / node:tls socket as it owns
// a WebSocket in the browser, and the core is the same.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMosquitto, freePort } from './lib/mosquitto.mjs';
import { connect, createClient } from '../npm/index.js';

let broker;
let certs;

/** A CA and a server certificate for 127.0.0.1 (openssl, in a temp dir). */
function makeCerts() {
  const dir = mkdtempSync(join(tmpdir(), 'midge-node-tls-'));
  const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=midge test CA',
    '-keyout', 'ca.key', '-out', 'ca.crt');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2',
    '-extfile', 'san.ext', '-out', 'server.crt');
  return { dir, ca: readFileSync(join(dir, 'ca.crt')) };
}

before(async () => {
  certs = makeCerts();
  broker = await startMosquitto({
    extra: [
      'listener {port:tls} 127.0.0.1',
      `cafile ${join(certs.dir, 'ca.crt')}`,
      `certfile ${join(certs.dir, 'server.crt')}`,
      `keyfile ${join(certs.dir, 'server.key')}`,
    ],
  });
});
after(async () => { await broker?.close(); });

async function roundTrip(url, options = {}) {
  const sub = await connect(url, options);
  const pub = await connect(url, options);
  await sub.subscribe('node/tcp/#', { qos: 1 });
  const got = (async () => {
    for await (const m of sub.messages()) return m;
  })();
  await pub.publish('node/tcp/x', 'over tcp', { qos: 1 });
  const m = await got;
  assert.equal(m.topic, 'node/tcp/x');
  assert.equal(m.text(), 'over tcp');
  assert.equal(m.qos, 1);
  await pub.end();
  await sub.end();
}

test('mqtt:// in Node: QoS 1 round trip over TCP, no WebSocket needed', { timeout: 30_000 }, async () => {
  await roundTrip(`mqtt://127.0.0.1:${broker.tcpPort}`);
});

test('mqtts:// in Node: the broker certificate checked against the `tls.ca` given', { timeout: 30_000 }, async () => {
  await roundTrip(`mqtts://127.0.0.1:${broker.ports.tls}`, { tls: { ca: certs.ca } });
});

test('mqtts:// without the CA: the connection fails and says it was the certificate', { timeout: 30_000 }, async () => {
  const url = `mqtts://127.0.0.1:${broker.ports.tls}`;
  await assert.rejects(connect(url, { reconnect: false }), (e) => {
    assert.equal(e.code, 'TRANSPORT_CLOSED');
    // Node's words for the refused chain, after what was being done.
    assert.match(e.message, new RegExp(`^connecting to ${url} failed: .*certificate`), e.message);
    return true;
  });
});

test('a refused port: the error names the URL and the cause, as the native driver does', { timeout: 30_000 }, async () => {
  const url = `mqtt://127.0.0.1:${await freePort()}`;
  await assert.rejects(connect(url, { reconnect: false }), (e) => {
    assert.equal(e.code, 'TRANSPORT_CLOSED');
    assert.match(e.message, new RegExp(`^connecting to ${url} failed: connect ECONNREFUSED 127\\.0\\.0\\.1:\\d+$`), e.message);
    return true;
  });
});

test('a graceful end() over TCP: the broker reads DISCONNECT (no will), not a reset', { timeout: 30_000 }, async () => {
  const url = `mqtt://127.0.0.1:${broker.tcpPort}`;
  const watcher = await connect(url);
  await watcher.subscribe('node/will', { qos: 1 });
  const wills = [];
  watcher.on('message', (m) => wills.push(m));
  for (let i = 0; i < 10; i++) {
    const c = await connect(url, { will: { topic: 'node/will', payload: `died ${i}`, qos: 1 } });
    await c.end();
  }
  // A publish after the ten ends: once it arrives, a will sent before it would have too.
  const pub = await connect(url);
  const marker = new Promise((resolve) => watcher.on('message', (m) => m.text() === 'marker' && resolve()));
  await pub.publish('node/will', 'marker', { qos: 1 });
  await marker;
  assert.deepEqual(wills.map((m) => m.text()), ['marker']);
  await pub.end();
  await watcher.end();
});

test('the broker restarts: the TCP client reconnects and resubscribes', { timeout: 60_000 }, async () => {
  const url = `mqtt://127.0.0.1:${broker.tcpPort}`;
  const c = await connect(url, { reconnect: { minDelay: 50, maxDelay: 200 } });
  await c.subscribe('node/again', { qos: 1 });
  const back = new Promise((resolve) => c.on('reconnect', resolve));
  await broker.stop();
  await broker.start();
  await back;
  const got = new Promise((resolve) => c.on('message', (m) => resolve(m.text())));
  const pub = await connect(url);
  // The restored subscription may still be on its way: publish until it arrives.
  let text;
  const timer = setInterval(() => pub.publish('node/again', 'after restart', { qos: 0 }).catch(() => {}), 50);
  try {
    text = await got;
  } finally {
    clearInterval(timer);
  }
  assert.equal(text, 'after restart');
  await pub.end();
  await c.end();
});

test('bad transport options are refused, naming the option', async () => {
  await assert.rejects(createClient(`mqtt://127.0.0.1:${await freePort()}`, { tls: 'yes' }),
    (e) => e.code === 'INVALID_ARGUMENT' && e.message.startsWith('invalid argument `tls`'));
  await assert.rejects(createClient('http://127.0.0.1:1883'),
    (e) => e.code === 'INVALID_ARGUMENT' && /mqtt:\/\/, mqtts:\/\/, ws:\/\/ or wss:\/\//.test(e.message));
  // Node 20 has no global WebSocket: a ws:// URL says what to pass.
  if (typeof globalThis.WebSocket !== 'function') {
    await assert.rejects(createClient('ws://127.0.0.1:1/mqtt'),
      (e) => e.code === 'INVALID_ARGUMENT' && /`WebSocket` option/.test(e.message));
  }
});
