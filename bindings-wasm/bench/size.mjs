// Browser bundle size: midge's shipped wasm + JS (glue and API layer),
// gzip -9, against MQTT.js 5.16.0's dist/mqtt.min.js, gzip -9.
// Run after bindings-wasm/build.sh:  node bindings-wasm/bench/size.mjs
import { existsSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = dirname(fileURLToPath(import.meta.url));
const npm = join(here, '..', 'npm');
const gz = (file) => gzipSync(readFileSync(file), { level: 9 }).length;
const raw = (file) => readFileSync(file).length;

const parts = {
  'pkg/midge_wasm_bg.wasm': join(npm, 'pkg', 'midge_wasm_bg.wasm'),
  'pkg/midge_wasm.js (wasm-bindgen glue)': join(npm, 'pkg', 'midge_wasm.js'),
  'index.js (API layer)': join(npm, 'index.js'),
};
let midge = 0;
let midgeWasmGlue = 0;
for (const [name, file] of Object.entries(parts)) {
  const g = gz(file);
  midge += g;
  if (!name.startsWith('index.js')) midgeWasmGlue += g;
  console.log(`midge  ${name.padEnd(40)} ${String(raw(file)).padStart(8)} bytes, gzip -9 ${String(g).padStart(7)}`);
}
const require = createRequire(import.meta.url);
const mqttDir = dirname(require.resolve('mqtt/package.json'));
const mqttVersion = JSON.parse(readFileSync(join(mqttDir, 'package.json'))).version;
const mqttFile = join(mqttDir, 'dist', 'mqtt.min.js');
const mqtt = gz(mqttFile);
console.log(`MQTT.js ${mqttVersion} dist/mqtt.min.js ${' '.repeat(20)} ${String(raw(mqttFile)).padStart(8)} bytes, gzip -9 ${String(mqtt).padStart(7)}`);
console.log('');
console.log(`midge wasm + glue, gzip -9:        ${midgeWasmGlue} bytes (budget 40960: ${midgeWasmGlue <= 40960 ? 'within' : 'OVER'})`);
console.log(`midge wasm + glue + API, gzip -9:  ${midge} bytes`);
console.log(`MQTT.js mqtt.min.js, gzip -9:      ${mqtt} bytes`);
console.log(`ratio MQTT.js / midge (all parts): ${(mqtt / midge).toFixed(2)}x smaller`);

// For comparison with MQTT.js's minified bundle: the JS as a bundler would
// ship it (esbuild --minify, from the Vite test app's dependencies).
const esbuild = join(here, '..', 'e2e', 'vite-app', 'node_modules', '.bin', 'esbuild');
if (existsSync(esbuild)) {
  const min = (file) => gzipSync(execFileSync(esbuild, ['--minify', '--format=esm', file]), { level: 9 }).length;
  const glueMin = min(parts['pkg/midge_wasm.js (wasm-bindgen glue)']);
  const apiMin = min(parts['index.js (API layer)']);
  const wasmGz = gz(parts['pkg/midge_wasm_bg.wasm']);
  console.log(`minified JS (esbuild --minify), gzip -9: glue ${glueMin} bytes, index.js ${apiMin} bytes`);
  console.log(`midge all parts, JS minified, gzip -9: ${wasmGz + glueMin + apiMin} bytes (MQTT.js ${mqtt})`);
}
