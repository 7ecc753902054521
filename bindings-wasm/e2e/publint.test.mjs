// The packed tarball, exactly as `npm publish` would upload it, passes
// publint (package.json exports, types and files agree) with nothing to
// report and @arethetypeswrong/cli (TypeScript finds the types under every
// ESM resolution mode), and loads from Node ESM and, on a Node with
// require(esm) (20.19+, 22.12+), from CommonJS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { here } from './lib/harness.mjs';

const attw = join(here, '..', 'node_modules', '.bin', 'attw');

const npmDir = join(here, '..', '..', 'npm');

test('publint finds nothing in the packed tarball', async () => {
  const work = mkdtempSync(join(tmpdir(), 'midge-publint-'));
  execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: npmDir });
  const unpacked = join(work, 'unpacked');
  mkdirSync(unpacked);
  execFileSync('tar', ['-xzf', join(work, 'midge-mqtt-0.1.0.tgz'), '-C', unpacked]);
  const pkgDir = join(unpacked, 'package');
  const { messages, pkg } = await publint({ pkgDir, level: 'suggestion', strict: true });
  assert.deepEqual(messages.map((m) => `${m.type}: ${formatMessage(m, pkg)}`), []);

  // Node ESM from an installed copy, and CommonJS through require(esm).
  const app = join(work, 'app');
  mkdirSync(join(app, 'node_modules'), { recursive: true });
  execFileSync('cp', ['-r', pkgDir, join(app, 'node_modules', 'midge-mqtt')]);
  writeFileSync(join(app, 'esm.mjs'), "import { connect, MqttError } from 'midge-mqtt'; console.log(typeof connect, typeof MqttError);");
  assert.equal(execFileSync('node', ['esm.mjs'], { cwd: app }).toString().trim(), 'function function');
  writeFileSync(join(app, 'cjs.cjs'), "const { connect } = require('midge-mqtt'); console.log(typeof connect);");
  const cjs = spawnSync('node', ['cjs.cjs'], { cwd: app });
  assert.equal(cjs.stdout.toString().trim(), 'function', cjs.stderr.toString());
});

test('arethetypeswrong: the types resolve under node16 ESM and bundlers; CommonJS is require(esm) only', async () => {
  const work = mkdtempSync(join(tmpdir(), 'midge-attw-'));
  execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: npmDir });
  const tarball = join(work, 'midge-mqtt-0.1.0.tgz');
  // The esm-only profile: the package is an ES module on purpose (README,
  // "CommonJS"), so attw's node10 and node16-from-CJS columns do not apply.
  const run = spawnSync(attw, ['--profile', 'esm-only', '--format', 'json', tarball]);
  const report = JSON.parse(run.stdout.toString());
  assert.equal(run.status, 0, JSON.stringify(report.problems));
  // The one problem it lists, ignored by that profile, is that require()
  // meets an ES module, which is what the CommonJS check above runs.
  assert.deepEqual(Object.keys(report.problems), ['CJSResolvesToESM']);
  assert.deepEqual(report.problems.CJSResolvesToESM.map((p) => p.resolutionKind), ['node16-cjs']);
  const ok = report.analysis.entrypoints['.'].resolutions;
  for (const mode of ['node16-esm', 'bundler']) {
    assert.equal(ok[mode].resolution.fileName, '/node_modules/midge-mqtt/index.d.ts', mode);
  }
});
