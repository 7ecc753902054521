// MQTT 5.0 enhanced authentication in headless Chromium. Debian's mosquitto
// has no enhanced-auth plugin, so the broker here is the shared scripted one
// (`midge-testkit scripted`, the Python and Kotlin suites run the same kind
// of script) behind a WebSocket relay: a challenge before CONNACK,
// re-authentication, and a refusal.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup } from './lib/harness.mjs';
import { startScripted } from './lib/scripted.mjs';

const METHOD = 'SCRAM-SHA-256';
const M = `authentication_method=${METHOD}`;

let env;
let page;

before(async () => {
  env = await setup();
  page = await env.openPage();
});

after(async () => {
  await env?.close();
});

test('a challenge before CONNACK is answered through onAuth, then re-authentication succeeds', { timeout: 30_000 }, async () => {
  const broker = await startScripted(`
    expect CONNECT ${M} authentication_data=client-first
    send AUTH reason=0x18 ${M} authentication_data=server-first
    expect AUTH reason=0x18 ${M} authentication_data=client-final
    send CONNACK reason=0 ${M} authentication_data=server-final
    expect AUTH reason=0x19 ${M} authentication_data=again
    send AUTH reason=0 ${M} authentication_data=reauth-ok
    expect DISCONNECT
  `);
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
    // A broker that hangs up instead (a step of its script failed) ends the wait too.
    const closed = new Promise((resolve) => client.on('close', () => resolve('closed')));
    const success = await Promise.race([reauth, closed]);
    await client.end();
    return { challenges, connected, success };
  }, [broker.url, METHOD]);
  await broker.join(); // every step held: what the client sent, in order
  assert.deepEqual(result.challenges, [[0x18, METHOD, 'server-first']]);
  assert.equal(result.connected, true);
  assert.deepEqual(result.success, [0, 'reauth-ok']);
  assert.deepEqual(broker.seen.map((l) => l.split(' ')[0]), ['CONNECT', 'AUTH', 'AUTH', 'DISCONNECT']);
});

test('a refused authentication rejects connect with the reason code; a failing onAuth rejects with AUTH_FAILED', { timeout: 30_000 }, async () => {
  const refusing = await startScripted(`
    expect CONNECT ${M}
    send AUTH reason=0x18 ${M} authentication_data=prove-it
    expect AUTH reason=0x18 authentication_data=wrong
    send CONNACK reason=0x87
  `);
  const challenging = await startScripted(`
    expect CONNECT ${M}
    send AUTH reason=0x18 ${M} authentication_data=prove-it
  `);
  const result = await page.evaluate(async ([refusingUrl, challengingUrl, method]) => {
    const { connect } = window.midge;
    const attempt = async (url, onAuth) => {
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
    const refused = await attempt(refusingUrl, () => ({ authenticationMethod: method, authenticationData: 'wrong' }));
    const failing = await attempt(challengingUrl, () => { throw new Error('no key for this server'); });
    let badOption;
    try { await connect(refusingUrl, { onAuth: 'yes' }); } catch (e) { badOption = { code: e.code, message: e.message }; }
    return { refused, failing, badOption };
  }, [refusing.url, challenging.url, METHOD]);
  await refusing.join();
  await challenging.join();
  assert.equal(result.refused.code, 'CONNECTION_REFUSED');
  assert.equal(result.refused.reasonCode, 0x87);
  assert.equal(result.failing.code, 'AUTH_FAILED');
  assert.match(result.failing.message, /no key for this server/);
  assert.equal(result.badOption.code, 'INVALID_ARGUMENT');
  assert.match(result.badOption.message, /onAuth/);
  assert.deepEqual(env.errors, []);
});
