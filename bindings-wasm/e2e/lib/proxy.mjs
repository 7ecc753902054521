// The shared fault proxy (tests/src/bin/midge-testkit.rs, the one the Rust,
// Python and Kotlin suites use) between the browser and mosquitto's
// WebSocket listener. It forwards bytes unchanged and in order; `cut()`
// closes every open connection at once, `cutMidFrame()` arms every open
// connection to forward only part of its next chunk (so a WebSocket frame,
// and the MQTT packet in it, arrive truncated) and then close. New
// connections pass normally, so the client can reconnect.
import { testkit } from './testkit.mjs';

export async function startProxy(upstreamPort) {
  const kit = await testkit(['proxy', String(upstreamPort)]);
  const port = Number(kit.ready.port);
  const stats = { accepted: 0, cuts: 0, midFrameCuts: 0 };
  let waiters = [];
  kit.onStats((s) => {
    stats.accepted = Number(s.accepted);
    stats.cuts = Number(s.cuts);
    stats.midFrameCuts = Number(s.mid_packet_cuts);
    waiters = waiters.filter(([n, resolve]) => (stats.midFrameCuts >= n ? (resolve(), false) : true));
  });
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    stats,
    /** Close every open connection now; resolves with how many. */
    async cut() {
      const [n] = await kit.command('cut');
      return Number(n);
    },
    /**
     * Truncate the next chunk of every open connection, then close it;
     * resolves with how many, once each has been cut.
     */
    async cutMidFrame() {
      const before = stats.midFrameCuts;
      const [n] = await kit.command('cut-mid-packet');
      const armed = Number(n);
      await new Promise((resolve) => {
        if (stats.midFrameCuts >= before + armed) resolve();
        else waiters.push([before + armed, resolve]);
      });
      return armed;
    },
    async stop() { await kit.close(); },
  };
}
