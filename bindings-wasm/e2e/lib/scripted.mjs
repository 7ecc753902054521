// The shared scripted broker (`midge-testkit scripted`, tests/src/scripted.rs:
// `expect` and `send` steps over midge-core's codec; the Python and Kotlin
// suites run the same kind of script) behind a WebSocket endpoint, for
// clients in the browser: each WebSocket connection is relayed to it over
// TCP, bytes unchanged.
import net from 'node:net';
import { createRequire } from 'node:module';
import { testkit } from './testkit.mjs';

const require = createRequire(import.meta.url);
const { WebSocketServer } = require('ws');

/**
 * Start a scripted broker for one connection; resolves with its `url`
 * (ws://), `seen` (the packets the client sent: `got` lines) and `join()`,
 * which resolves once the script ran to its end and rejects with the step
 * that did not hold.
 */
export async function startScripted(script) {
  const kit = await testkit(['scripted', script]);
  const seen = [];
  let settle;
  const ended = new Promise((resolve, reject) => { settle = { resolve, reject }; });
  ended.catch(() => {}); // reported by join()
  kit.onLine((line) => {
    if (line.startsWith('got ')) seen.push(line.slice(4));
    else if (line === 'done') settle.resolve();
    else if (line.startsWith('failed ')) settle.reject(new Error(`the scripted broker ${line}`));
  });
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => 'mqtt' });
  await new Promise((r) => server.once('listening', r));
  server.on('connection', (ws) => {
    const tcp = net.connect(Number(kit.ready.port), '127.0.0.1');
    ws.on('message', (frame) => tcp.write(frame));
    tcp.on('data', (chunk) => ws.send(chunk));
    ws.on('close', () => tcp.end());
    tcp.on('close', () => ws.close());
    tcp.on('error', () => ws.close());
  });
  return {
    url: `ws://127.0.0.1:${server.address().port}`,
    seen,
    async join() {
      try {
        await ended;
      } finally {
        await new Promise((r) => server.close(r));
        await kit.close();
      }
    },
  };
}
