// The package's types: the hand-checked index.d.ts and the generated
// pkg/midge_wasm.d.ts compile under `tsc --strict` with a typical use
// (types/check.ts), and each misuse in types/misuse.ts is an error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { here } from './lib/harness.mjs';

test('index.d.ts and the generated .d.ts type-check (tsc --strict)', () => {
  const tsc = join(here, '..', 'node_modules', '.bin', 'tsc');
  let out = '';
  try {
    execFileSync(tsc, ['-p', join(here, '..', 'types', 'tsconfig.json')], { stdio: 'pipe' });
  } catch (e) {
    out = String(e.stdout) + String(e.stderr);
  }
  assert.equal(out, '');
});
