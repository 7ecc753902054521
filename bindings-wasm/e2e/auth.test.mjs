// MQTT 5.0 enhanced authentication in headless Chromium. Debian's mosquitto
// has no enhanced-auth plugin, so the broker here is a scripted one on a Node
// WebSocket server, speaking the spec's bytes (MQTT 5.0 sections 3.1, 3.2, 3.15
// and 4.12): a challenge before CONNACK, re-authentication, and a refusal.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { setup } from './lib/harness.mjs';

const require = createRequire(import.meta.url);
const { WebSocketServer } = require('ws');

const METHOD = 'SCRAM-SHA-256';
const utf8 = (s) => [...Buffer.from(s, 'utf8')];
const str = (s) => { const b = utf8(s); return [b.length >> 8, b.length & 255, ...b]; };
const varint = (n) => { const out = []; do { let d = n % 128; n = Math.floor(n / 128); if (n) d |= 128; out.push(d); } while (n); return out; };
const packet = (first, body) => Buffer.from([first, ...varint(body.length), ...body]);
const authProps = (data) => [0x15, ...str(METHOD), 0x16, ...str(data)];
const withProps = (props) => [...varint(props.length), ...props];
const AUTH = (reason, data) => packet(0xf0, [reason, ...withProps(authProps(data))]);
const CONNACK = (reason, props = []) => packet(0x20, [0, reason, ...withProps(props)]);

/** Reads the properties this test looks at: method (0x15) and data (0x16). */
function readProps(b, i) {
  let len = 0, mul = 1, d;
  do { d = b[i++]; len += (d & 127) * mul; mul *= 128; } while (d & 128);
  const end = i + len;
  const props = {};
  const u16 = () => { const v = (b[i] << 8) | b[i + 1]; i += 2; return v; };
  const bytes = () => { const n = u16(); const v = b.subarray(i, i + n); i += n; return v; };
  while (i < end) {
    const id = b[i++];
    if (id === 0x15) props.method = bytes().toString('utf8');
    else if (id === 0x16) props.data = bytes().toString('utf8');
    else if (id === 0x1f) bytes();
    else if (id === 0x26) { bytes(); bytes(); }
    else if (id === 0x11 || id === 0x27) i += 4;
    else if (id === 0x21 || id === 0x22) i += 2;
    else if (id === 0x17 || id === 0x19) i += 1;
    else throw new Error(`unexpected property 0x${id.toString(16)}`);
  }
  return { props, next: end };
}

/** Splits a frame into { type, flags, body } packets. */
function packets(frame) {
  const out = [];
  for (let i = 0; i < frame.length;) {
    const first = frame[i++];
    let len = 0, mul = 1, d;
    do { d = frame[i++]; len += (d & 127) * mul; mul *= 128; } while (d & 128);
    out.push({ type: first >> 4, body: frame.subarray(i, i + len) });
    i += len;
  }
  return out;
}

/** CONNECT's properties: after protocol name (6), level, flags, keep-alive. */
const connectProps = (body) => readProps(body, 10).props;
/** AUTH: reason code, then properties. */
const authOf = (body) => ({ reason: body.length ? body[0] : 0, ...readProps(body, 1).props });

let server;
let env;
let page;
const seen = []; // what the broker received, in order: for the assertions
let script; // (ws, packet) => void: the broker's behaviour for the current test

before(async () => {
  server = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => 'mqtt' });
  await new Promise((r) => server.once('listening', r));
  server.on('connection', (ws) => {
    ws.on('message', (frame) => {
      for (const p of packets(frame)) script(ws, p);
    });
  });
  env = await setup();
  page = await env.openPage();
});

after(async () => {
  await env?.close();
  await new Promise((r) => server.close(r));
});

const url = () => `ws://127.0.0.1:${server.address().port}`;

test('a challenge before CONNACK is answered through onAuth, then re-authentication succeeds', async () => {
  seen.length = 0;
  script = (ws, p) => {
    if (p.type === 1) {
      const props = connectProps(p.body);
      seen.push(['CONNECT', props.method, props.data]);
      ws.send(AUTH(0x18, 'server-first'));
    } else if (p.type === 15) {
      const a = authOf(p.body);
      seen.push(['AUTH', a.reason, a.method, a.data]);
      if (a.reason === 0x18 && a.data === 'client-final') {
        ws.send(CONNACK(0, authProps('server-final')));
      } else if (a.reason === 0x19) {
        ws.send(AUTH(0x00, 'reauth-ok'));
      }
    } else if (p.type === 14) {
      seen.push(['DISCONNECT']);
      ws.close();
    }
  };
  const result = await page.evaluate(async ([url, method]) => {
    const { connect } = window.midge;
    const challenges = [];
    const client = await connect(url, {
      clientId: 'e2e-auth',
      protocolVersion: 5,
      reconnect: false,
      properties: { authenticationMethod: method, authenticationData: 'client-first' },
      onAuth: async ({ reasonCode, properties }) => {
        challenges.push([reasonCode, properties.authenticationMethod, new TextDecoder().decode(properties.authenticationData)]);
        await new Promise((r) => setTimeout(r, 5)); // an answer that takes a while (e.g. Web Crypto)
        return { authenticationMethod: method, authenticationData: 'client-final' };
      },
    });
    const connected = client.connected;
    const reauth = new Promise((resolve) => client.on('auth', (e) => {
      if (e.reasonCode === 0) resolve([e.reasonCode, new TextDecoder().decode(e.properties.authenticationData)]);
    }));
    client.auth({ authenticationMethod: method, authenticationData: 'again' }, { reauthenticate: true });
    const success = await reauth;
    await client.end();
    return { challenges, connected, success };
  }, [url(), METHOD]);
  assert.deepEqual(result.challenges, [[0x18, METHOD, 'server-first']]);
  assert.equal(result.connected, true);
  assert.deepEqual(result.success, [0, 'reauth-ok']);
  assert.deepEqual(seen, [
    ['CONNECT', METHOD, 'client-first'],
    ['AUTH', 0x18, METHOD, 'client-final'],
    ['AUTH', 0x19, METHOD, 'again'],
    ['DISCONNECT'],
  ]);
});

test('a refused authentication rejects connect with the reason code; a failing onAuth rejects with AUTH_FAILED', async () => {
  script = (ws, p) => {
    if (p.type === 1) ws.send(AUTH(0x18, 'prove it'));
    else if (p.type === 15 && authOf(p.body).data === 'wrong') {
      ws.send(CONNACK(0x87)); // Not authorized
      ws.close();
    }
  };
  const result = await page.evaluate(async ([url, method]) => {
    const { connect } = window.midge;
    const attempt = async (onAuth) => {
      try {
        await connect(url, {
          protocolVersion: 5,
          reconnect: false,
          properties: { authenticationMethod: method },
          onAuth,
        });
        return 'connected';
      } catch (e) {
        return { name: e.name, code: e.code, reasonCode: e.reasonCode, message: e.message };
      }
    };
    const refused = await attempt(() => ({ authenticationMethod: method, authenticationData: 'wrong' }));
    const failing = await attempt(() => { throw new Error('no key for this server'); });
    let badOption;
    try { await connect(url, { onAuth: 'yes' }); } catch (e) { badOption = { code: e.code, message: e.message }; }
    return { refused, failing, badOption };
  }, [url(), METHOD]);
  assert.equal(result.refused.code, 'CONNECTION_REFUSED');
  assert.equal(result.refused.reasonCode, 0x87);
  assert.equal(result.failing.code, 'AUTH_FAILED');
  assert.match(result.failing.message, /no key for this server/);
  assert.equal(result.badOption.code, 'INVALID_ARGUMENT');
  assert.match(result.badOption.message, /onAuth/);
  assert.deepEqual(env.errors, []);
});
