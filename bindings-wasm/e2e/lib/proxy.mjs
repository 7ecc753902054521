// A fault-injecting TCP proxy between the browser and mosquitto's WebSocket
// listener. It forwards bytes unchanged and in order; `cut()` closes every
// open connection at once, `cutMidFrame()` forwards only the first half of
// the next chunk (so a WebSocket frame, and the MQTT packet in it, arrive
// truncated) and then closes. New connections pass normally, so the client
// can reconnect.
import net from 'node:net';

export async function startProxy(upstreamPort) {
  const pairs = new Set();
  let midFrame = null; // the pending cutMidFrame() promise's resolve

  const stats = { accepted: 0, cuts: 0, midFrameCuts: 0 };

  const server = net.createServer((client) => {
    stats.accepted += 1;
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    const pair = { client, upstream };
    pairs.add(pair);
    const close = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    const forward = (from, to) => from.on('data', (chunk) => {
      if (midFrame && chunk.length > 1) {
        const done = midFrame;
        midFrame = null;
        stats.midFrameCuts += 1;
        to.write(chunk.subarray(0, chunk.length >> 1), close);
        done();
        return;
      }
      to.write(chunk);
    });
    forward(client, upstream);
    forward(upstream, client);
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      s.on('error', close);
      s.on('close', close);
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();

  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    stats,
    /** Close every open connection now; returns how many. */
    cut() {
      const n = pairs.size;
      for (const { client, upstream } of [...pairs]) {
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
      stats.cuts += n;
      return n;
    },
    /**
     * Truncate the next chunk in either direction, then close that
     * connection; resolves once done.
     */
    cutMidFrame() {
      return new Promise((resolve) => { midFrame = resolve; });
    },
    async stop() {
      this.cut();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
