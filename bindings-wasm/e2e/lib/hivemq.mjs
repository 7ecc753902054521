// HiveMQ CE (embedded, tests/brokers/hivemq), the second real broker of the
// browser suite, started by the shared launcher (`midge-testkit broker
// hivemq`) on free loopback ports: TCP and a WebSocket listener at /mqtt,
// in-memory, anonymous usage statistics off. Ready once both ports accept
// connections and the broker logged that it started (observed by the
// launcher); close() kills it. Needs scripts/setup-system-tests.sh
// (scripts/setup.sh runs it before any test).
import { testkit } from './testkit.mjs';

export async function startHiveMq() {
  const started = performance.now();
  const kit = await testkit(['broker', 'hivemq']);
  const { tcp, ws, version } = kit.ready;
  return {
    version,
    tcpPort: Number(tcp),
    wsPort: Number(ws),
    url: `ws://127.0.0.1:${ws}/mqtt`,
    /** How long starting it took, in ms. */
    startMs: Math.round(performance.now() - started),
    async close() { await kit.close(); },
  };
}
