// midge-mqtt in Node over TCP and TLS (`mqtt://`, `mqtts://`). Loaded by
// index.js only when such a URL is given, so browsers and bundles never see
// `node:net`. The class looks like the part of a WebSocket index.js uses
// (onopen, onmessage with ArrayBuffer data, onclose, readyState, send,
// close), so one socket path serves both transports; the MQTT byte stream
// goes to the core as it arrives, in chunks of any size (the core frames it).
import net from 'node:net';
import tls from 'node:tls';

// How long close() waits for the broker to close its side after our FIN
// (the core's CLOSE_LINGER_MS): closing with unread input would send a TCP
// reset, and a broker that sees the reset first drops our DISCONNECT.
const LINGER_MS = 2000;

/** A WebSocket-shaped TCP or TLS connection; `tlsOptions` go to `tls.connect`. */
export function tcpSocketClass(tlsOptions) {
  return class TcpSocket {
    constructor(url) {
      const u = new URL(url);
      const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
      const port = Number(u.port);
      this.readyState = 0;
      this.binaryType = 'arraybuffer';
      this.onopen = this.onmessage = this.onclose = this.onerror = null;
      const secure = u.protocol === 'mqtts:';
      const options = { host, port, noDelay: true };
      const socket = secure
        ? tls.connect({ ...options, servername: net.isIP(host) ? undefined : host, ...tlsOptions })
        : net.connect(options);
      socket.setNoDelay(true);
      this.socket = socket;
      socket.once(secure ? 'secureConnect' : 'connect', () => {
        this.readyState = 1;
        this.onopen?.({});
      });
      socket.on('data', (chunk) => {
        // A copy that owns its memory (the chunk may view a shared pool).
        const data = chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength);
        this.onmessage?.({ data });
      });
      socket.on('error', (error) => this.onerror?.({ error }));
      socket.once('close', () => {
        clearTimeout(this.linger);
        this.readyState = 3;
        this.onclose?.({});
      });
    }

    send(bytes) {
      if (this.readyState === 1) this.socket.write(bytes);
    }

    /** Half-close after what was written, then wait for the broker's side (at most LINGER_MS). */
    close() {
      if (this.readyState >= 2) return;
      this.readyState = 2;
      this.socket.end();
      // Read and drop until the broker closes, so no reset is sent.
      this.socket.resume();
      this.linger = setTimeout(() => this.socket.destroy(), LINGER_MS);
      this.linger.unref?.();
    }
  };
}
