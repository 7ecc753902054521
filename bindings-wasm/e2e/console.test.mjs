// The console example (examples/console), driven like a user against a real
// mosquitto: a bad password as a typed error in the events pane, connect,
// subscribe, publish with 5.0 properties, the message list, the packet log
// (no password in it), the broker going away and coming back (disconnected
// with its cause, reconnect attempts, connected again), disconnect. Every
// wait is on something the page shows; nothing leaves loopback.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startMosquitto } from './lib/mosquitto.mjs';
import { setup, root, here } from './lib/harness.mjs';

let broker;
let env;

before(async () => {
  broker = await startMosquitto({ users: { alice: 'secret-pw-42' } });
  env = await setup({ '/repo/': root });
});

after(async () => {
  await env?.close();
  await broker?.close();
});

/** A fresh page on the console, with its page errors and every URL it asked for. */
async function openConsole(viewport = { width: 1280, height: 900 }) {
  const page = await env.browser.newPage();
  await page.setViewportSize(viewport);
  const errors = [];
  const urls = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('request', (r) => urls.push(r.url()));
  page.on('websocket', (ws) => urls.push(ws.url()));
  await page.goto(`${env.server.url}/repo/examples/console/index.html`);
  await page.waitForFunction(() => window.consoleReady === true);
  return { page, errors, urls };
}

const badge = (page) => page.evaluate(() => {
  const s = document.getElementById('state');
  return { state: s.dataset.state, text: s.textContent };
});
/** Wait until the badge is in `state` (and its text matches `text`, if given). */
const waitBadge = (page, state, text) => page.waitForFunction(([st, src]) => {
  const s = document.getElementById('state');
  return s.dataset.state === st && (!src || new RegExp(src).test(s.textContent));
}, [state, text?.source], { timeout: 20_000 });
/** Wait for a row of the events pane of `kind` whose text matches `re`; its text. */
const waitEvent = async (page, kind, re) => {
  const handle = await page.waitForFunction(([k, src]) => [...document.querySelectorAll(`#events li[data-kind="${k}"]`)]
    .map((li) => li.textContent).find((t) => new RegExp(src).test(t)), [kind, re.source], { timeout: 20_000 });
  return handle.jsonValue();
};
const loopbackOnly = (urls) => {
  for (const u of urls) assert.ok(u.startsWith(env.server.url) || u.startsWith('ws://127.0.0.1:'), `left loopback: ${u}`);
};

test('console: typed errors, connect, subscribe, publish, packet log, broker restart, disconnect', { timeout: 90_000 }, async () => {
  const { page, errors, urls } = await openConsole();
  assert.deepEqual(await badge(page), { state: 'disconnected', text: 'disconnected' });
  assert.equal(await page.isDisabled('#doPublish'), true);

  // A wrong password: the events pane shows the typed error.
  await page.fill('#url', broker.url);
  await page.fill('#username', 'alice');
  await page.fill('#password', 'wrong-pw-17');
  await page.click('#connect');
  const refused = await waitEvent(page, 'error', /^.*connect failed: CONNECTION_REFUSED/);
  assert.match(refused, /connect failed: CONNECTION_REFUSED \(reason 0x8[67]\): /);
  assert.equal(await page.textContent('#events li[data-kind="error"] .err-code'), 'CONNECTION_REFUSED');
  await waitBadge(page, 'failed', /^disconnected: CONNECTION_REFUSED$/);
  await waitEvent(page, 'disconnected', /disconnected: CONNECTION_REFUSED/);
  assert.equal(await page.isEnabled('#connect'), true);

  // The right password, 5.0, the packet log on, a Last Will.
  await page.fill('#password', 'secret-pw-42');
  await page.fill('#clientId', 'console-e2e');
  await page.check('#packetLog');
  await page.click('summary');
  await page.fill('#willTopic', 'midge/will');
  await page.fill('#willPayload', 'console gone');
  await page.click('#connect');
  await waitBadge(page, 'connected', /^connected$/);
  assert.match(await waitEvent(page, 'connected', /connected to/),
    new RegExp(`connected to ${broker.url} as "console-e2e", session present: no`));
  assert.equal(await page.isDisabled('#url'), true);
  assert.equal(await page.isEnabled('#doPublish'), true);

  // Subscribe: the subscription is listed with its granted QoS.
  await page.fill('#subFilter', 'midge/#');
  await page.selectOption('#subQos', '1');
  await page.click('#doSubscribe');
  await page.waitForFunction(() => document.getElementById('subResult').textContent.includes('midge/#: granted QoS 1'));
  assert.equal(await page.textContent('#subscriptions li .filter'), 'midge/#');

  // Publish (QoS 2, retained, 5.0 content type and user properties): the
  // message list shows it with its QoS (the subscription's 1) and properties.
  await page.fill('#pubTopic', 'midge/console/test');
  await page.fill('#pubPayload', 'hello from the console');
  await page.selectOption('#pubQos', '2');
  await page.check('#pubRetain');
  await page.fill('#pubContentType', 'text/plain');
  await page.fill('#pubUserProps', 'colour=green\nunit = none');
  await page.click('#doPublish');
  await page.waitForFunction(() => document.querySelector('#messages li .payload')?.textContent === 'hello from the console');
  await page.waitForFunction(() => /published to midge\/console\/test at QoS 2 \(reason 0x00\)/.test(document.getElementById('pubResult').textContent));
  const first = await page.evaluate(() => {
    const li = document.querySelector('#messages li');
    return {
      topic: li.querySelector('.topic').textContent,
      qos: li.querySelector('.qos').textContent,
      retained: !!li.querySelector('.retain'),
      time: li.querySelector('time').textContent,
      props: [...li.querySelectorAll('.props div')].map((d) => d.textContent),
    };
  });
  assert.equal(first.topic, 'midge/console/test');
  assert.equal(first.qos, 'QoS 1');
  assert.equal(first.retained, false);
  assert.match(first.time, /^\d\d:\d\d:\d\d\.\d{3}$/);
  assert.ok(first.props.includes('content type:text/plain'), first.props.join(' | '));
  assert.ok(first.props.includes('user property:colour=green'), first.props.join(' | '));
  assert.ok(first.props.includes('user property:unit=none'), first.props.join(' | '));
  // A second subscription gets the retained copy, flagged as such.
  await page.fill('#subFilter', 'midge/console/test');
  await page.selectOption('#subQos', '0');
  await page.click('#doSubscribe');
  await page.waitForFunction(() => document.querySelectorAll('#messages li').length === 2);
  assert.equal(await page.textContent('#messages li .qos'), 'QoS 0');
  assert.equal(await page.textContent('#messages li .retain'), 'retained');
  assert.equal(await page.textContent('#messageCount'), '2');
  assert.deepEqual(await page.$$eval('#subscriptions li .filter', (l) => l.map((e) => e.textContent)), ['midge/#', 'midge/console/test']);
  // Unsubscribe from the second one with its button.
  await page.click('button[aria-label="Unsubscribe from midge/console/test"]');
  await page.waitForFunction(() => document.querySelectorAll('#subscriptions li').length === 1);

  // The log pane: the connection story at info, packet lines at debug; no
  // password and (without "payloads") no payload in any of it.
  await page.waitForFunction(() => [...document.querySelectorAll('#log li[data-level="debug"] .line')]
    .some((l) => /^sent PUBLISH id=\d+ qos=2 retain=1 topic="midge\/console\/test" payload=22B /.test(l.textContent)));
  const log = await page.$$eval('#log li', (l) => l.map((li) => [li.dataset.level, li.querySelector('.line').textContent]));
  assert.ok(log.some(([l, line]) => l === 'info' && line.startsWith(`connected to ${broker.url}/ (client id "console-e2e"`)), JSON.stringify(log));
  assert.ok(log.some(([l, line]) => l === 'debug' && /^sent CONNECT .*username="alice" password=<hidden>/.test(line)), JSON.stringify(log));
  assert.ok(log.some(([l, line]) => l === 'debug' && /^received SUBACK /.test(line)), JSON.stringify(log));
  assert.equal(await page.textContent('#logLevel'), 'level: debug');
  const shown = await page.evaluate(() => document.body.innerText);
  assert.doesNotMatch(shown, /secret-pw-42|wrong-pw-17/);
  for (const [, line] of log) assert.doesNotMatch(line, /hello from the console/);

  // The broker goes away: disconnected with its cause, reconnect attempts
  // with their delay; back: connected again, the subscription still works.
  await page.click('#clearEvents');
  await broker.stop();
  await waitEvent(page, 'disconnected', /disconnected: TRANSPORT_CLOSED/);
  await waitEvent(page, 'reconnecting', /reconnecting in \d+ ms \(attempt 1\) after TRANSPORT_CLOSED/);
  await page.waitForFunction(() => /^(reconnecting in \d+ ms, attempt \d+|connecting, attempt \d+…)$/
    .test(document.getElementById('state').textContent));
  await page.waitForFunction(() => [...document.querySelectorAll('#log li[data-level="warn"] .line')]
    .some((l) => /^disconnected: .+; reconnecting in \d+ ms \(attempt 1\)$/.test(l.textContent)));
  await broker.start();
  await waitBadge(page, 'connected', /^connected$/);
  await waitEvent(page, 'connected', /^.*connected again to /);
  await page.fill('#pubTopic', 'midge/console/after');
  await page.fill('#pubPayload', 'back again');
  await page.uncheck('#pubRetain');
  await page.click('#doPublish');
  await page.waitForFunction(() => document.querySelector('#messages li .payload')?.textContent === 'back again');
  const dir = join(here, '..', 'screenshots');
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, 'console.png'), fullPage: true });

  // Disconnect: the badge says so, the options are editable again.
  await page.click('#disconnect');
  await waitBadge(page, 'disconnected', /^disconnected$/);
  await waitEvent(page, 'stopped', /client ended by the user/);
  assert.equal(await page.isEnabled('#url'), true);
  assert.equal(await page.isDisabled('#doPublish'), true);
  assert.equal(await page.$$eval('#subscriptions li', (l) => l.length), 0);
  // 3.1.1 has no properties: their fields are off.
  await page.selectOption('#version', '4');
  assert.equal(await page.isDisabled('#pubContentType'), true);

  assert.deepEqual(errors, []);
  loopbackOnly(urls);
  await page.close();
});

test('console: a bad URL is a typed error; fits a phone-width screen; every field has a label', async () => {
  const { page, errors, urls } = await openConsole({ width: 390, height: 800 });
  await page.fill('#url', 'http://127.0.0.1:1');
  await page.click('#connect');
  const row = await waitEvent(page, 'error', /could not start: INVALID_ARGUMENT/);
  assert.match(row, /invalid argument `url`/);
  await waitBadge(page, 'failed', /^disconnected: INVALID_ARGUMENT$/);
  assert.equal(await page.isEnabled('#connect'), true);
  assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth), true);
  const unlabelled = await page.$$eval('input, select, textarea', (l) => l.filter((e) => e.labels.length === 0).map((e) => e.id));
  assert.deepEqual(unlabelled, []);
  assert.deepEqual(errors, []);
  loopbackOnly(urls);
  await page.close();
});
