// `RawClient.poll` leaves its records in the module's memory and index.js
// reads them in place. A listener may call into the module while records
// are still unread (here: a 4 MB publish that makes the memory grow, which
// detaches every view of it); the records after it must still read right.
// Node only: a scripted WebSocket, no broker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../npm/index.js';

const utf8 = (s) => [...Buffer.from(s, 'utf8')];
const varint = (n) => { const out = []; do { let d = n % 128; n = Math.floor(n / 128); if (n) d |= 128; out.push(d); } while (n); return out; };
const packet = (first, body) => [first, ...varint(body.length), ...body];
const publish = (topic, text) => { const t = utf8(topic); return packet(0x30, [t.length >> 8, t.length & 255, ...t, ...utf8(text)]); };

class ScriptedSocket {
  static last;
  constructor() {
    ScriptedSocket.last = this;
    this.readyState = 0;
    this.sent = 0;
    setImmediate(() => { this.readyState = 1; this.onopen?.({}); });
  }
  send(data) {
    this.sent += data.length;
    const b = data instanceof Uint8Array ? data : new Uint8Array(data);
    for (let i = 0; i < b.length;) {
      const type = b[i] >> 4;
      let len = 0, mul = 1, j = i + 1, d;
      do { d = b[j++]; len += (d & 127) * mul; mul *= 128; } while (d & 128);
      if (type === 1) this.deliver([0x20, 2, 0, 0]); // CONNACK
      if (type === 8) this.deliver([0x90, 3, b[j], b[j + 1], 0]); // SUBACK, QoS 0
      i = j + len;
    }
  }
  deliver(bytes) {
    const ab = new Uint8Array(bytes).buffer;
    setImmediate(() => this.onmessage?.({ data: ab }));
  }
  close() {}
}

test('records after a listener that grew the module memory read intact', { timeout: 10_000 }, async () => {
  const client = await connect('ws://scripted.invalid/mqtt', { protocolVersion: 4, reconnect: false, WebSocket: ScriptedSocket });
  await client.subscribe('t/#');
  const got = [];
  const all = new Promise((resolve) => client.on('message', (m) => {
    got.push([m.topic, m.text()]);
    if (got.length === 1) client.publish('big', new Uint8Array(4 * 1024 * 1024)); // grows the memory
    if (got.length === 3) resolve();
  }));
  // Three PUBLISHes in one frame: one poll, three MESSAGE records.
  ScriptedSocket.last.deliver([...publish('t/1', 'one'), ...publish('t/22', 'two'), ...publish('t/333', 'three')]);
  await all;
  assert.deepEqual(got, [['t/1', 'one'], ['t/22', 'two'], ['t/333', 'three']]);
  await new Promise((r) => setImmediate(r));
  assert.ok(ScriptedSocket.last.sent > 4 * 1024 * 1024, 'the big publish went out');
  await client.end();
});
