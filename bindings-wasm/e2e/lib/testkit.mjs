// The shared broker launcher and fault proxy (tests/src/bin/midge-testkit.rs),
// run as a child process: the same program starts the brokers and makes the
// faults of the Python, Kotlin and Rust suites. One line per command on its
// stdin, one answer line (`ok ...` or `error ...`) each on its stdout, plus
// `stats ...` lines from the proxy whenever a count changes, and the
// scripted broker's `got`/`done`/`failed` reports.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const TESTKIT = process.env.MIDGE_TESTKIT || join(root, 'target', 'debug', 'midge-testkit');

/** `a=1 b=x` into `{ a: '1', b: 'x' }`. */
export function fields(words) {
  return Object.fromEntries(words.map((w) => w.split('=')).map(([k, ...v]) => [k, v.join('=')]));
}

/**
 * Start `midge-testkit ...args`; resolves once it printed `ready`, with
 * `ready` (its fields), `command(line)` (resolves with the answer's words,
 * rejects on `error`), `onStats(fn)` and `close()`.
 */
export async function testkit(args) {
  if (!existsSync(TESTKIT)) {
    throw new Error(`${TESTKIT} is missing: cargo build -p midge-system-tests --bin midge-testkit (the test scripts do)`);
  }
  const child = spawn(TESTKIT, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const answers = [];
  const statsListeners = new Set();
  const lineListeners = new Set();
  let onReady;
  const ready = new Promise((resolve, reject) => {
    onReady = resolve;
    child.once('exit', (code) => reject(new Error(`midge-testkit ${args[0]} exited with ${code}: ${stderr}`)));
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    const [kind, ...words] = line.split(' ');
    if (kind === 'ready') onReady(fields(words));
    else if (kind === 'stats') for (const fn of statsListeners) fn(fields(words));
    else if (kind === 'ok') answers.shift()?.resolve(words);
    else if (kind === 'error') answers.shift()?.reject(new Error(`midge-testkit: ${line}`));
    else for (const fn of lineListeners) fn(line); // the scripted broker's reports
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  // A launcher that dies answers nothing more: fail what waits for it.
  exited.then((code) => {
    for (const a of answers.splice(0)) a.reject(new Error(`midge-testkit exited with ${code}: ${stderr}`));
  });
  const info = await ready;
  // Idle, it keeps nothing alive: a test file ends without closing it (its
  // stdin closes with us, and it stops what it runs). A pending command
  // keeps the process waiting for the answer.
  const idle = (yes) => {
    for (const h of [child, child.stdin, child.stdout, child.stderr]) if (yes) h.unref(); else h.ref();
  };
  idle(true);
  const settle = (fn) => (v) => { if (answers.length === 0) idle(true); fn(v); };
  return {
    ready: info,
    command(line) {
      return new Promise((resolve, reject) => {
        if (answers.length === 0) idle(false);
        answers.push({ resolve: settle(resolve), reject: settle(reject) });
        child.stdin.write(`${line}\n`);
      });
    },
    onStats(fn) { statsListeners.add(fn); },
    /** Lines that are no answer nor stats (`got`, `done`, `failed` of the scripted broker). */
    onLine(fn) { lineListeners.add(fn); },
    /** Close its stdin: it stops what it runs and exits. */
    async close() {
      if (child.exitCode === null) {
        idle(false);
        child.stdin.end();
        await exited;
      }
    },
  };
}
