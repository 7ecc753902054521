// The console example, driven like a user: connect, subscribe, publish, see
// the message in the list, a bad password as a typed error, disconnect.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMosquitto } from './lib/mosquitto.mjs';
import { setup, root } from './lib/harness.mjs';

let broker;
let env;

before(async () => {
  broker = await startMosquitto({ users: { alice: 'secret' } });
  env = await setup({ '/repo/': root });
});

after(async () => {
  await env?.close();
  await broker?.stop();
});

test('console: connect, subscribe, publish, message list, disconnect', async () => {
  const page = await env.browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${env.server.url}/repo/examples/console/index.html`);
  await page.waitForFunction(() => window.consoleReady === true);
  await page.fill('#url', broker.url);
  await page.fill('#username', 'alice');
  await page.fill('#password', 'wrong');
  await page.click('#connect');
  await page.waitForFunction(() => document.getElementById('state').textContent.startsWith('failed'));
  assert.match(await page.textContent('#state'), /CONNECTION_REFUSED \(reason 13[45]\)/);

  await page.fill('#password', 'secret');
  await page.fill('#willTopic', 'midge/will');
  await page.fill('#willPayload', 'console gone');
  await page.click('#connect');
  await page.waitForFunction(() => document.getElementById('state').textContent === 'connected');
  await page.selectOption('#subQos', '1');
  await page.click('#doSubscribe');
  await page.waitForFunction(() => document.getElementById('subResult').textContent.includes('granted QoS 1'));
  await page.fill('#pubTopic', 'midge/console/test');
  await page.fill('#pubPayload', 'hello from the console');
  await page.selectOption('#pubQos', '2');
  await page.click('#doPublish');
  await page.waitForFunction(() => document.querySelector('#messages li')?.textContent.includes('hello from the console'));
  assert.equal(await page.textContent('#messages li'), 'midge/console/test [QoS 1] hello from the console');
  assert.match(await page.textContent('#pubResult'), /published/);
  await page.click('#disconnect');
  await page.waitForFunction(() => document.getElementById('state').textContent === 'disconnected');
  assert.deepEqual(errors, []);
});
