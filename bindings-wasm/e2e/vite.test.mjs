// `npm pack` of the package, installed into a small Vite app, bundled, served
// and run in Chromium against mosquitto: proof that `npm install midge-mqtt`
// works in a real web app build.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMosquitto } from './lib/mosquitto.mjs';
import { setup, here } from './lib/harness.mjs';

let broker;
let env;
let app;

before(async () => {
  broker = await startMosquitto();
  const work = mkdtempSync(join(tmpdir(), 'midge-vite-'));
  // The tarball exactly as `npm publish` would upload it.
  const tgz = execFileSync('npm', ['pack', '--silent', '--pack-destination', work], {
    cwd: join(here, '..', '..', 'npm'),
  }).toString().trim().split('\n').pop();
  app = join(work, 'app');
  cpSync(join(here, '..', 'vite-app'), app, {
    recursive: true,
    filter: (src) => !src.includes('node_modules') && !src.includes('dist'),
  });
  // Vite itself comes from the committed lock (npm ci in setup-wasm.sh).
  cpSync(join(here, '..', 'vite-app', 'node_modules'), join(app, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--offline', join(work, tgz)], { cwd: app, stdio: 'pipe' });
  execFileSync(join(app, 'node_modules', '.bin', 'vite'), ['build'], { cwd: app, stdio: 'pipe' });
  env = await setup({ '/app/': join(app, 'dist') });
});

after(async () => {
  await env?.close();
  await broker?.stop();
});

test('the packed tarball installs, bundles with Vite and runs', async () => {
  const assets = readdirSync(join(app, 'dist', 'assets'));
  assert.ok(assets.some((f) => f.endsWith('.wasm')), `no .wasm among ${assets}`);
  const page = await env.browser.newPage();
  await page.goto(`${env.server.url}/app/index.html?broker=${encodeURIComponent(broker.url)}`);
  await page.waitForFunction(() => document.getElementById('out').textContent !== 'loading…');
  assert.equal(await page.textContent('#out'), 'echo: bundled');
});
