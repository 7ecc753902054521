// A greenhouse that publishes temperature, humidity and roof state and
// obeys `greenhouse/roof/set` (open | close), with midge-mqtt in Node.
//
//   node examples/greenhouse/simulator.mjs ws://127.0.0.1:8080
//
// Node 22+ has a global WebSocket; on Node 20 install the `ws` package.
import { connect } from '../../bindings-wasm/npm/index.js';

export async function startSimulator(url, { WebSocket, intervalMs = 1000 } = {}) {
  const Socket = WebSocket || globalThis.WebSocket || (await import('ws')).WebSocket;
  const client = await connect(url, { clientId: 'greenhouse-simulator', WebSocket: Socket });
  let roof = 'closed';
  let t = 0;
  await client.publish('greenhouse/roof', roof, { qos: 1, retain: true });
  client.on('message', async (m) => {
    const action = m.text();
    if (action !== 'open' && action !== 'close') return;
    roof = action === 'open' ? 'open' : 'closed';
    await client.publish('greenhouse/roof', roof, { qos: 1, retain: true });
  });
  await client.subscribe('greenhouse/roof/set', { qos: 1 });
  const tick = () => {
    t += 1;
    const temperature = 22 + 3 * Math.sin(t / 10) - (roof === 'open' ? 1.5 : 0);
    const humidity = 60 + 8 * Math.cos(t / 7);
    client.publish('greenhouse/temperature', temperature.toFixed(2), { retain: true }).catch(() => {});
    client.publish('greenhouse/humidity', humidity.toFixed(1), { retain: true }).catch(() => {});
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  return {
    client,
    async stop() {
      clearInterval(timer);
      await client.end();
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const url = process.argv[2] || 'ws://127.0.0.1:8080';
  await startSimulator(url);
  console.log(`greenhouse simulator publishing to ${url} (Ctrl-C to stop)`);
}
