// midge-mqtt: the idiomatic JS API over the wasm side (RawClient).
// Everything protocol-related (packets, QoS, keep-alive, reconnect, offline
// queue, which acks are valid) happens in the Rust core. This file owns the
// WebSocket and the timer, encodes arguments into the byte format of
// bindings-wasm/src/wire.rs (checking their types), and turns what
// `RawClient.poll` hands out into socket writes, store writes, Promises and
// events.
import init, { RawClient } from './pkg/midge_wasm.js';

let ready;
/** The module's memory, where `RawClient.poll` leaves its records. */
let memory;

/** Load the wasm module once (a URL, bytes or a compiled module may be given). */
export function initialize(wasm) {
  if (!ready) {
    ready = (async () => {
      const exports = await load(wasm);
      memory = exports.memory;
      return exports;
    })();
    ready.catch(() => { ready = undefined; });
  }
  return ready;
}

const isNode = typeof process !== 'undefined' && !!process.versions && !!process.versions.node
  && typeof window === 'undefined';

/** Instantiate the module: from `wasm` if given, else the file next to this one. */
async function load(wasm) {
  if (wasm) return init({ module_or_path: wasm });
  if (isNode) {
    // Node's fetch cannot read file: URLs; read the file instead.
    const fsName = 'node:fs/promises';
    const { readFile } = await import(/* @vite-ignore */ fsName);
    return init({ module_or_path: await readFile(new URL('./pkg/midge_wasm_bg.wasm', import.meta.url)) });
  }
  return init({ module_or_path: new URL('./pkg/midge_wasm_bg.wasm', import.meta.url) });
}

/** An error from midge: `code` says what kind, `reasonCode` is the MQTT 5.0 reason code when there is one. */
export class MqttError extends Error {
  constructor(message, code, reasonCode) {
    super(message);
    this.name = 'MqttError';
    this.code = code;
    if (reasonCode !== undefined) this.reasonCode = reasonCode;
  }
}

/**
 * The core names its own option fields (`connect_properties.user_properties`);
 * name the option as this package spells it (`properties.userProperties`).
 */
function optionNames(message) {
  return message.replace(/^invalid argument `([^`]+)`/, (_, name) => {
    const js = name.replace(/^connect_properties\./, 'properties.').replace(/_([a-z])/g, (_, c) => c.toUpperCase());
    return `invalid argument \`${js}\``;
  });
}

function toMqttError(e) {
  if (e instanceof MqttError) return e;
  // Errors from the wasm side are `CODE|message`.
  if (typeof e === 'string' && /^[A-Z_]+\|/.test(e)) {
    const i = e.indexOf('|');
    return new MqttError(optionNames(e.slice(i + 1)), e.slice(0, i));
  }
  if (e && typeof e === 'object' && typeof e.code === 'string') {
    return new MqttError(e.message, e.code, e.reasonCode);
  }
  return new MqttError(String(e && e.message ? e.message : e), 'UNKNOWN');
}

const invalid = (argument, rule) =>
  new MqttError(`invalid argument \`${argument}\`: ${rule}`, 'INVALID_ARGUMENT');

// After end() the wasm side is freed; the same code the core gives a closed client.
const closedError = () =>
  new MqttError('the client is closed (end() was called); make a new one with connect()', 'CLIENT_CLOSED');

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// The most bytes an MQTT packet's remaining length can count: a payload
// above it is refused before it is copied into the module's memory.
const MAX_REMAINING_LENGTH = 268_435_455;

/**
 * MQTT strings are UTF-8: a lone surrogate would be sent as U+FFFD, a topic
 * other than the one given.
 */
function wellFormed(argument, text) {
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text)) {
    throw invalid(argument, 'must be valid Unicode text (it contains a lone surrogate)');
  }
}

function toBytes(value, argument) {
  const size = typeof value === 'string' ? value.length : value?.byteLength;
  if (size > MAX_REMAINING_LENGTH) {
    throw invalid(argument, `is ${size} bytes; an MQTT packet holds at most 268,435,455`);
  }
  if (typeof value === 'string') return encoder.encode(value);
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value === undefined || value === null) return new Uint8Array(0);
  throw invalid(argument, 'must be a string, Uint8Array, ArrayBuffer or typed array');
}

// ---------------------------------------------------------------------------
// The byte format shared with the wasm side (bindings-wasm/src/wire.rs): a
// field list is `tag, kind, value` entries (kind 0: f64, 1: u32 length and
// bytes, 2: two of those). Tags below 0x40 are MQTT 5.0 property ids.
// Argument types and ranges are checked here (the error names the argument);
// the core checks the rules of MQTT.

const U32 = 0xffffffff;
const U16 = 0xffff;
const FOREVER = 9e15;
// name: [tag, kind, max]; kinds: n whole number, f number, b boolean,
// s string, x bytes, S string array, u user properties, o nested fields.
const PROPS = {
  payloadFormatIndicator: [0x01, 'b'],
  messageExpiryInterval: [0x02, 'n', U32],
  contentType: [0x03, 's'],
  responseTopic: [0x08, 's'],
  correlationData: [0x09, 'x'],
  subscriptionIdentifier: [0x0b, 'n', 268435455],
  sessionExpiryInterval: [0x11, 'n', U32],
  assignedClientIdentifier: [0x12, 's'],
  serverKeepAlive: [0x13, 'n', U16],
  authenticationMethod: [0x15, 's'],
  authenticationData: [0x16, 'x'],
  requestProblemInformation: [0x17, 'b'],
  willDelayInterval: [0x18, 'n', U32],
  requestResponseInformation: [0x19, 'b'],
  responseInformation: [0x1a, 's'],
  serverReference: [0x1c, 's'],
  reasonString: [0x1f, 's'],
  receiveMaximum: [0x21, 'n', U16],
  topicAliasMaximum: [0x22, 'n', U16],
  topicAlias: [0x23, 'n', U16],
  maximumQoS: [0x24, 'n', 2],
  retainAvailable: [0x25, 'b'],
  userProperties: [0x26, 'u'],
  maximumPacketSize: [0x27, 'n', U32],
  wildcardSubscriptionAvailable: [0x28, 'b'],
  subscriptionIdentifiersAvailable: [0x29, 'b'],
  sharedSubscriptionAvailable: [0x2a, 'b'],
};
const BY_TAG = [];
for (const [name, [tag, kind]] of Object.entries(PROPS)) BY_TAG[tag] = [name, kind];
const WILL = {
  topic: [0x55, 's'], payload: [0x56, 'x'], qos: [0x57, 'n', 2], retain: [0x58, 'b'],
  properties: [0x54, 'o', PROPS],
};
const RECONNECT = {
  minDelay: [0x4d, 'n', FOREVER], maxDelay: [0x4e, 'n', FOREVER], factor: [0x4f, 'f'],
  stableAfter: [0x50, 'n', FOREVER], onInitialFailure: [0x51, 'b'],
};
const OPTIONS = {
  clientId: [0x40, 's'], clean: [0x42, 'b'], keepalive: [0x43, 'n', U16],
  username: [0x44, 's'], password: [0x45, 'x'], servers: [0x46, 'S'],
  maxQueuedMessages: [0x47, 'n', 1e9], maxInflight: [0x48, 'n', U16],
  connectTimeout: [0x49, 'n', FOREVER], pingTimeout: [0x4a, 'n', FOREVER],
  will: [0x53, 'o', WILL], properties: [0x54, 'o', PROPS],
  strictReceiveMaximum: [0x5d, 'b'], followRedirects: [0x5e, 'b'],
};
const FILTER = {
  topic: [0x60, 's'], qos: [0x61, 'n', 2], noLocal: [0x62, 'b'],
  retainAsPublished: [0x63, 'b'], retainHandling: [0x64, 'n', 2],
};
const EMPTY = new Uint8Array(0);

class Writer {
  constructor() { this.b = new Uint8Array(64); this.n = 0; }
  room(k) {
    if (this.n + k <= this.b.length) return;
    const b = new Uint8Array(2 * (this.n + k));
    b.set(this.b);
    this.b = b;
  }
  u8(v) { this.room(1); this.b[this.n++] = v; }
  num(tag, v) {
    this.room(10);
    this.b[this.n++] = tag;
    this.b[this.n++] = 0;
    new DataView(this.b.buffer).setFloat64(this.n, v, true);
    this.n += 8;
  }
  raw(v) {
    this.room(4 + v.length);
    new DataView(this.b.buffer).setUint32(this.n, v.length, true);
    this.b.set(v, this.n + 4);
    this.n += 4 + v.length;
  }
  bytes(tag, v) { this.u8(tag); this.u8(1); this.raw(v); }
  done() { return this.b.subarray(0, this.n); }
}

/** Encode `obj` by `spec`; `prefix` goes before the names in errors. */
function fields(obj, spec, prefix = '', w = new Writer()) {
  if (obj === undefined || obj === null) return w.done();
  if (typeof obj !== 'object') throw invalid(prefix.slice(0, -1) || 'properties', 'must be an object');
  for (const key in spec) {
    const v = obj[key];
    if (v === undefined || v === null) continue;
    const [tag, kind, max] = spec[key];
    const name = prefix + key;
    if (kind === 'n') {
      if (typeof v !== 'number' || !(v >= 0 && v <= max) || v % 1 !== 0) {
        throw invalid(name, `must be a whole number from 0 to ${max}`);
      }
      w.num(tag, v);
    } else if (kind === 'f') {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(name, 'must be a finite number');
      w.num(tag, v);
    } else if (kind === 'b') {
      if (typeof v !== 'boolean') throw invalid(name, 'must be a boolean');
      w.num(tag, v ? 1 : 0);
    } else if (kind === 's') {
      if (typeof v !== 'string') throw invalid(name, 'must be a string');
      w.bytes(tag, encoder.encode(v));
    } else if (kind === 'S') {
      if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw invalid(name, 'must be an array of URL strings');
      for (const s of v) w.bytes(tag, server(name, s));
    } else if (kind === 'x') {
      w.bytes(tag, toBytes(v, name));
    } else if (kind === 'u') {
      const rule = 'must be an object of strings or an array of [key, value] string pairs';
      if (typeof v !== 'object') throw invalid(name, rule);
      const pairs = Array.isArray(v) ? v : Object.entries(v).flatMap(([k, x]) => (Array.isArray(x) ? x.map((y) => [k, y]) : [[k, x]]));
      for (const p of pairs) {
        if (!Array.isArray(p) || typeof p[0] !== 'string' || typeof p[1] !== 'string') throw invalid(name, rule);
        w.u8(tag);
        w.u8(2);
        w.raw(encoder.encode(p[0]));
        w.raw(encoder.encode(p[1]));
      }
    } else {
      w.bytes(tag, fields(v, max, name + '.'));
    }
  }
  return w.done();
}

/**
 * A broker URL split by the platform's `URL` class (the wasm side takes the
 * parts): a field list of host, port (when not the scheme's default), path
 * (with the query) and TLS.
 */
function server(name, url) {
  let u;
  try {
    u = new URL(url);
  } catch {
    // Reported below.
  }
  const tcp = u && (u.protocol === 'mqtt:' || u.protocol === 'mqtts:');
  if (tcp && !isNode) {
    throw invalid(name, 'must be ws:// or wss:// in a browser (it can only open WebSockets); mqtt:// and mqtts:// work in Node');
  }
  if (u && !tcp && u.protocol !== 'ws:' && u.protocol !== 'wss:') {
    throw invalid(name, isNode ? 'must be mqtt://, mqtts://, ws:// or wss://' : 'must be ws:// or wss:// (a browser can only open WebSockets)');
  }
  if (!u || !u.hostname || u.port === '0') {
    throw invalid(name, 'must be a URL with a host (and a port from 1 to 65535), e.g. ws://host:8080/mqtt');
  }
  if (u.hash) throw invalid(name, 'must not have a #fragment (WebSocket URLs take none)');
  if (u.username || u.password) {
    throw invalid(name, 'credentials in the URL are not accepted (they would leak into logs): pass username and password as options');
  }
  const w = new Writer();
  // IPv6 without its brackets, as the core keeps hosts.
  w.bytes(0x59, encoder.encode(u.hostname.replace(/^\[(.*)\]$/, '$1')));
  // No port (or the scheme's own, which `URL` drops): the core's default.
  if (u.port) w.num(0x5a, +u.port);
  w.bytes(0x5b, encoder.encode(u.pathname + u.search));
  w.num(0x5c, u.protocol === 'wss:' || u.protocol === 'mqtts:' ? 1 : 0);
  if (tcp) w.num(0x5f, 1);
  return w.done();
}

/** The broker URLs a client may open: `url` and the `servers` option. */
function brokerUrls(url, options) {
  return [url, ...(Array.isArray(options.servers) ? options.servers : [])].filter((u) => typeof u === 'string');
}

/** The URL and options of `connect` as the wasm side reads them. */
// Options read by this file rather than encoded for the core.
const JS_OPTIONS = ['protocolVersion', 'reconnect', 'store', 'onAuth', 'wasm', 'WebSocket', 'signal',
  'manualAcks', 'messageBuffer', 'logger', 'logLevel', 'logPayloads', 'tls', 'credentials'];
// Names other clients (and older midge) use, and what to write instead.
const RENAMED = {
  offlineQueueLimit: 'maxQueuedMessages', reconnectPeriod: 'reconnect: { minDelay }', clientID: 'clientId',
  keepAlive: 'keepalive', connectTimeoutMs: 'connectTimeout', protocolId: 'protocolVersion',
};

function encodeOptions(url, o) {
  for (const key of Object.keys(o)) {
    if (key in OPTIONS || JS_OPTIONS.includes(key)) continue;
    const hint = RENAMED[key] ? `; use \`${RENAMED[key]}\`` : '';
    throw invalid(key, `is not an option of midge-mqtt${hint} (see ConnectOptions in index.d.ts)`);
  }
  const w = new Writer();
  w.bytes(0x46, server('url', url));
  if (o.protocolVersion !== undefined && o.protocolVersion !== 4 && o.protocolVersion !== 5) {
    throw invalid('protocolVersion', 'must be 4 (3.1.1) or 5 (5.0)');
  }
  if (o.protocolVersion === 4) w.num(0x41, 4);
  if (o.reconnect === false) w.num(0x4c, 0);
  else if (o.reconnect !== undefined && o.reconnect !== true) fields(o.reconnect, RECONNECT, 'reconnect.', w);
  if (o.will !== undefined && (o.will === null || typeof o.will !== 'object' || typeof o.will.topic !== 'string')) {
    throw invalid('will.topic', 'is required (a string)');
  }
  if (o.manualAcks !== undefined && typeof o.manualAcks !== 'boolean') throw invalid('manualAcks', 'must be a boolean');
  if (o.messageBuffer !== undefined && !(Number.isInteger(o.messageBuffer) && o.messageBuffer >= 1 && o.messageBuffer <= 1e9)) {
    throw invalid('messageBuffer', 'must be a whole number from 1 to 1000000000');
  }
  const logger = o.logger;
  if (logger !== undefined && typeof logger !== 'function'
    && !(logger && typeof logger === 'object' && ['debug', 'info', 'warn'].some((m) => typeof logger[m] === 'function'))) {
    throw invalid('logger', 'must be a function (level, line) or an object with debug/info/warn methods, such as `console`');
  }
  if (o.logLevel !== undefined && !(o.logLevel in LOG_LEVELS)) throw invalid('logLevel', "must be 'debug', 'info' or 'warn'");
  if (o.logPayloads !== undefined && typeof o.logPayloads !== 'boolean') throw invalid('logPayloads', 'must be a boolean');
  if (o.credentials !== undefined && typeof o.credentials !== 'function') {
    throw invalid('credentials', 'must be a function (serverUrl) => ({ username, password, authenticationData, url }), or an async one');
  }
  if (o.tls !== undefined && (o.tls === null || typeof o.tls !== 'object')) {
    throw invalid('tls', 'must be an object of node:tls connect options (ca, cert, key, servername, rejectUnauthorized, ALPNProtocols)');
  }
  // The core always holds QoS 1/2 acks for this file: without `manualAcks`
  // it acks a message once every reader took it (see #deliver).
  w.num(0x4b, 1);
  w.num(0x52, Math.floor(Math.random() * 2 ** 53));
  return fields(o, OPTIONS, '', w);
}

let lastTopic = { bytes: new Uint8Array(0), text: '' };

// Views of the module's memory, made again when it grows (growing detaches them).
let memU8 = new Uint8Array(0);
let memDV = new DataView(memU8.buffer);
function memoryViews() {
  if (memU8.buffer !== memory.buffer) {
    memU8 = new Uint8Array(memory.buffer);
    memDV = new DataView(memory.buffer);
  }
}

/**
 * Reads what `RawClient.poll` hands out, in place in the module's memory:
 * views it returns (`bytes()`) are only valid until the next call into the
 * module, so whatever is kept is copied.
 */
class Reader {
  constructor(b, d, start, end) {
    this.b = b;
    this.d = d;
    this.i = start;
    this.end = end;
  }
  /** The records of a `poll` at `at`. */
  static polled(at) {
    memoryViews();
    return new Reader(memU8, memDV, at + 4, at + 4 + memDV.getUint32(at, true));
  }
  /** Records in a byte array of their own. */
  static of(b) {
    return new Reader(b, new DataView(b.buffer, b.byteOffset, b.byteLength), 0, b.length);
  }
  /** After a listener ran (it may have called into the module and grown its memory). */
  fresh() {
    if (this.b === memU8 && memU8.buffer !== memory.buffer) {
      memoryViews();
      this.b = memU8;
      this.d = memDV;
    }
  }
  u8() { return this.b[this.i++]; }
  num() { const v = this.d.getFloat64(this.i, true); this.i += 8; return v; }
  bytes() {
    const n = this.d.getUint32(this.i, true);
    const s = this.b.subarray(this.i + 4, this.i + 4 + n);
    this.i += 4 + n;
    return s;
  }
  str() { return decoder.decode(this.bytes()); }
  /**
   * A topic: the last one decoded is kept, since a subscription's messages
   * mostly repeat a few topics and comparing bytes is cheaper than decoding.
   */
  topic() {
    const b = this.bytes();
    const last = lastTopic;
    if (b.length === last.bytes.length) {
      let i = 0;
      while (i < b.length && b[i] === last.bytes[i]) i++;
      if (i === b.length) return last.text;
    }
    const text = decoder.decode(b);
    lastTopic = { bytes: b.slice(), text };
    return text;
  }
  error() {
    const code = this.str();
    const message = this.str();
    const rc = this.num();
    return new MqttError(message, code, rc < 0 ? undefined : rc);
  }
  /** A field list; `undefined` when empty. */
  props() {
    let o;
    for (let tag; (tag = this.u8()) !== 0;) {
      const kind = this.u8();
      const v = kind === 0 ? this.num() : kind === 1 ? this.bytes() : [this.str(), this.str()];
      const [name, type] = BY_TAG[tag];
      o ??= {};
      if (tag === 0x26) (o.userProperties ??= []).push(v);
      else if (tag === 0x0b) (o.subscriptionIdentifiers ??= []).push(v);
      else o[name] = type === 'b' ? v !== 0 : type === 's' ? decoder.decode(v) : type === 'x' ? v.slice() : v;
    }
    return o;
  }
}

/** An inbound application message. */
export class Message {
  #ack;
  constructor(topic, payload, qos, retain, properties, ack) {
    this.topic = topic;
    this.payload = payload;
    this.qos = qos;
    this.retain = retain;
    if (properties !== undefined) this.properties = properties;
    this.#ack = ack;
  }
  /** The payload decoded as UTF-8. */
  text() { return decoder.decode(this.payload); }
  /** The payload parsed as JSON. */
  json() { return JSON.parse(this.text()); }
  /**
   * With `manualAcks`: acknowledge this QoS 1/2 message (PUBACK / PUBREC);
   * until then the broker counts it against our Receive Maximum. A no-op
   * for QoS 0, without `manualAcks`, and the second time.
   */
  ack() {
    const ack = this.#ack;
    this.#ack = undefined;
    if (ack) ack();
  }
}

/**
 * A session store in IndexedDB: QoS 1/2 publishes not yet acknowledged and the
 * offline queue survive a page reload. One record per client id.
 */
export function indexedDBStore(databaseName = 'midge-mqtt') {
  let dbPromise;
  const open = () => {
    if (!dbPromise) {
      dbPromise = new Promise((resolve, reject) => {
        const req = indexedDB.open(databaseName, 1);
        req.onupgradeneeded = () => req.result.createObjectStore('sessions');
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
    }
    return dbPromise;
  };
  const request = async (mode, fn) => {
    const db = await open();
    return new Promise((resolve, reject) => {
      // 'strict': `complete` only once the write is flushed to disk (the
      // core releases the bytes that depend on it then).
      const tx = db.transaction('sessions', mode, { durability: 'strict' });
      const req = fn(tx.objectStore('sessions'));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  };
  return {
    async load(clientId) {
      const value = await request('readonly', (s) => s.get(clientId));
      return value ? new Uint8Array(value) : undefined;
    },
    // Transactions on one store run in the order they were created, so the
    // last snapshot written wins.
    save(clientId, bytes) {
      return request('readwrite', (s) => s.put(bytes, clientId));
    },
    clear(clientId) {
      return request('readwrite', (s) => s.delete(clientId));
    },
  };
}

const EVENTS = ['connect', 'reconnect', 'offline', 'close', 'error', 'message', 'end',
  'subscriptionsRestored', 'auth', 'publishComplete', 'redirect', 'packetsend', 'packetreceive'];
// The core's trace levels (`RawClient.trace`; Python's logging numbers).
const LOG_LEVELS = { debug: 10, info: 20, warn: 30 };
const LOG_NAMES = { 10: 'debug', 20: 'info', 30: 'warn' };
const STATES = ['disconnected', 'waiting', 'connecting', 'connected', 'closing'];
// `RawClient.signal` kinds.
const OPENED = 0, CLOSED = 1, TIMEOUT = 2, ONLINE = 3;

// The core's `TransportFailureKind` for a socket error's `code` (Node's
// errno and TLS codes; `ws` passes the same), as the native driver maps the
// operating system's errors.
const FAILURE_KINDS = [
  [/^ECONNREFUSED$/, 1],
  [/^(ECONNRESET|EPIPE|ECONNABORTED)$/, 2],
  [/^(ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|EADDRNOTAVAIL)$/, 3],
  [/^ETIMEDOUT$/, 4],
  [/^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|ERR_OSSL_)/, 5],
];

/** `{ kind, text }` for an error that carries words, else undefined (a browser's bare Event). */
function socketFailure(error) {
  const text = error && typeof error.message === 'string' ? error.message : '';
  if (!text) return undefined;
  const code = typeof error.code === 'string' ? error.code : '';
  const found = FAILURE_KINDS.find(([pattern]) => pattern.test(code));
  return { kind: found ? found[1] : 7, text };
}

/** A WebSocket close that says more than "closed": an abnormal code, or a reason. */
function closeCode(ev) {
  const code = ev?.code;
  if (typeof code !== 'number' || code === 1000 || code === 1005) return undefined;
  const reason = ev.reason ? `: ${ev.reason}` : '';
  return { kind: 0, text: `the WebSocket closed with code ${code}${reason}` };
}
const CONTINUE_AUTHENTICATION = 0x18;
const now = () => performance.now();

/**
 * Run `fn` in a task of its own, after the tasks already queued (e.g. other
 * WebSocket messages), without setTimeout's clamping: setImmediate in Node,
 * a MessageChannel in browsers.
 */
const later = (() => {
  if (typeof setImmediate === 'function') return setImmediate;
  if (typeof MessageChannel !== 'function') return (fn) => setTimeout(fn, 0);
  const channel = new MessageChannel();
  const queue = [];
  channel.port1.onmessage = () => { for (const fn of queue.splice(0)) fn(); };
  return (fn) => { if (queue.push(fn) === 1) channel.port2.postMessage(0); };
})();

// What a reader did with a message it was offered.
const KEPT = 0;
const HELD = 1; // kept, and the ack waits until it is read
const DROPPED = 2;

/** The async iterator of {@link MqttClient.messages}. */
class MessageIterator {
  #limit;
  #detach;
  #queue = []; // [message, release] pairs
  #waiters = []; // next() calls waiting for a message
  #started = false;
  #done = false;

  constructor(limit, detach) {
    this.#limit = limit;
    this.#detach = detach;
  }

  [Symbol.asyncIterator]() { return this; }

  /** Take a message; `release` (QoS 1/2, automatic acks) is called once it is read. */
  offer(message, release) {
    if (this.#done) return KEPT;
    if (this.#waiters.length > 0) {
      this.#waiters.shift()({ value: message, done: false });
      return KEPT;
    }
    const full = this.#queue.length >= this.#limit;
    if (!this.#started) {
      // Not read yet: it may never be, so it holds nothing back.
      if (full) return DROPPED;
      this.#queue.push([message, undefined]);
      return KEPT;
    }
    if (full && !release) return DROPPED;
    this.#queue.push([message, full ? release : undefined]);
    return full ? HELD : KEPT;
  }

  next() {
    this.#started = true;
    if (this.#queue.length > 0) {
      const [message, release] = this.#queue.shift();
      if (release) release();
      return Promise.resolve({ value: message, done: false });
    }
    if (this.#done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** The loop was left: what was not read is given up (its acks go out). */
  async return() {
    this.end();
    for (const [, release] of this.#queue.splice(0)) if (release) release();
    return { value: undefined, done: true };
  }

  /** No more messages: what is queued can still be read. */
  end() {
    if (this.#done) return;
    this.#done = true;
    this.#detach();
    for (const w of this.#waiters.splice(0)) w({ value: undefined, done: true });
  }
}

/** A connected MQTT client; get one from {@link connect}. */
export class MqttClient {
  #raw;
  #Socket;
  #TcpSocket;
  #socket;
  #timer;
  #timerAt = Infinity;
  #scheduled = false;
  #outbox = [];
  #listeners = new Map();
  #publishes = new Map();
  #requests = new Map();
  #restored = new Map();
  #store;
  #storeSaving = Promise.resolve();
  #ended = false;
  #endWaiters = [];
  #onOnline;
  #connectWaiter;
  #connecting;
  #aborted;
  #manualAcks;
  #messageBuffer;
  #readers = new Set();
  #dropped = 0;
  #credentials;
  #attempt = 0;
  #logger;
  #logLevel;
  #logPayloads;
  clientId = '';
  /**
   * Publishes restored from the store (made before a page reload), still
   * owned by the session: `{ token, topic, qos }`. Their completion is the
   * `publishComplete` event.
   */
  restoredPublishes = [];

  constructor(url, options, session, TcpSocket) {
    this.#store = options.store;
    this.#manualAcks = options.manualAcks === true;
    this.#messageBuffer = options.messageBuffer ?? 10_000;
    this.#Socket = options.WebSocket || globalThis.WebSocket;
    this.#TcpSocket = TcpSocket;
    if (typeof this.#Socket !== 'function' && brokerUrls(url, options).some((u) => /^wss?:/i.test(u))) {
      throw invalid('WebSocket', 'no WebSocket implementation for a ws:// URL: pass one as the `WebSocket` option (e.g. from the `ws` package), or use mqtt:// in Node');
    }
    const encoded = encodeOptions(url, options);
    try {
      this.#raw = new RawClient(encoded, session, !!this.#store);
    } catch (e) {
      throw toMqttError(e);
    }
    this.#credentials = options.credentials;
    this.#logger = options.logger;
    this.#logLevel = LOG_LEVELS[options.logLevel ?? 'info'];
    this.#logPayloads = options.logPayloads === true;
    this.#retrace();
    this.clientId = this.#raw.clientId();
    const r = Reader.of(this.#raw.pending());
    while (r.i < r.end) {
      const p = { token: r.num(), qos: r.u8(), topic: r.str() };
      this.restoredPublishes.push(p);
      this.#restored.set(p.token, p);
    }
    if (typeof addEventListener === 'function' && typeof removeEventListener === 'function') {
      this.#onOnline = () => this.#call((raw) => raw.signal(ONLINE, now()));
      addEventListener('online', this.#onOnline);
    }
  }

  /** Run a command on the wasm side; what it produced goes out in one batch after this turn. */
  #call(fn) {
    if (!this.#raw) throw closedError();
    let result;
    try {
      result = fn(this.#raw);
    } catch (e) {
      throw toMqttError(e);
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => {
        this.#scheduled = false;
        this.#flush();
      });
    }
    return result;
  }

  /** Carry out everything the core asked for since the last call. */
  #flush() {
    const raw = this.#raw;
    if (!raw) return;
    const r = Reader.polled(raw.poll(now()));
    while (r.i < r.end) {
      r.fresh();
      const kind = r.u8();
      switch (kind) {
        case 1: { // OPEN
          const scheme = r.str();
          const host = r.str();
          const port = r.num();
          const url = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}${r.str()}`;
          const attempt = ++this.#attempt;
          if (this.#credentials) this.#openWithCredentials(url, attempt);
          else this.#open(url);
          break;
        }
        case 2: { // CLOSE (the core already counts the socket as closed)
          this.#attempt++; // a provider still running answers for nothing
          this.#send();
          const s = this.#socket;
          this.#socket = undefined;
          if (s) {
            s.onopen = s.onmessage = s.onclose = null;
            s.close();
          }
          break;
        }
        case 3: // SEND
          // Batched: what the core transmits until the tasks queued now have
          // run goes out as one WebSocket frame (MQTT over WebSockets allows
          // several packets per frame). Frames, not bytes, cost in a browser.
          if (this.#outbox.push(r.bytes().slice()) === 1) later(() => this.#send());
          break;
        case 4: { // PERSIST: a batch of session changes, as the whole session
          // The core holds back every byte and event that depends on it
          // until the store's write completed (IndexedDB: the transaction's
          // `complete`); a failed write sends nothing dependent.
          const seq = r.num();
          const bytes = r.bytes().slice();
          const id = this.clientId;
          const done = (ok, e) => {
            if (!this.#raw) return;
            raw.persisted(seq, ok, now());
            if (!ok) this.#emit('error', new MqttError(`session store failed: ${e}`, 'STORE_FAILED'));
            this.#flush();
          };
          this.#storeSaving = Promise.resolve()
            .then(() => this.#store.save(id, bytes))
            .then(() => done(true), (e) => done(false, e));
          break;
        }
        case 5: this.#arm(r.num()); break; // TIMER
        case 21: { // TRACE: a line the core wrote (the same text in every runtime)
          const severity = r.u8();
          const line = r.str();
          const direction = r.u8();
          if (direction !== 0) {
            const type = r.str();
            const id = r.num();
            const qos = r.num();
            const topic = r.str();
            const packet = { type, id, size: r.num(), line };
            if (qos >= 0) packet.qos = qos;
            if (type === 'PUBLISH') packet.topic = topic;
            this.#emit(direction === 1 ? 'packetsend' : 'packetreceive', packet);
          }
          this.#log(severity, line);
          break;
        }
        case 10: { // CONNECTED
          const sessionPresent = r.u8() === 1;
          const reconnected = r.u8() === 1;
          const clientId = r.str();
          const properties = r.props() || {};
          this.clientId = clientId;
          const info = { sessionPresent, reconnected, clientId, properties };
          this.#emit('connect', info);
          if (reconnected) this.#emit('reconnect', info);
          const w = this.#connectWaiter;
          this.#connectWaiter = undefined;
          if (w) w.resolve(info);
          break;
        }
        case 11: { // DISCONNECTED
          const err = r.error();
          const reconnectIn = r.num();
          const attempt = r.num();
          this.#emit('close', err);
          if (reconnectIn >= 0) {
            this.#emit('offline', { error: err, reconnectIn, attempt });
            break;
          }
          // The client stopped (end(), an abort, or reconnecting is off or
          // impossible); an abort's own reason wins over the local close.
          const reason = this.#aborted ?? err;
          const w = this.#connectWaiter;
          this.#connectWaiter = undefined;
          if (w) w.reject(reason);
          else if (reason.code !== 'CLIENT_DISCONNECT') this.#emit('error', reason);
          this.#finish(reason);
          break;
        }
        case 12: { // MESSAGE
          const topic = r.topic();
          const payload = r.bytes().slice();
          const qos = r.u8();
          const retain = r.u8() === 1;
          const key = r.num();
          const properties = r.props();
          this.#deliver(new Message(topic, payload, qos, retain, properties, key && this.#manualAcks ? this.#ackFn(key) : undefined), key);
          break;
        }
        case 13: { // PUBLISHED
          const token = r.num();
          const ok = r.u8() === 1;
          let result;
          let error;
          if (ok) {
            const reasonCode = r.num();
            const properties = r.props();
            // Built whole rather than with `delete` (which slows the object down).
            result = properties === undefined ? { reasonCode } : { reasonCode, properties };
          } else {
            error = r.error();
          }
          const p = this.#publishes.get(token);
          if (p) {
            this.#publishes.delete(token);
            if (error) p.reject(error);
            else p.resolve(result);
          } else if (this.#restored.has(token)) {
            const { topic, qos } = this.#restored.get(token);
            this.#restored.delete(token);
            this.#emit('publishComplete', { token, topic, qos, ...(error ? { error } : result) });
          }
          break;
        }
        case 14: // SUBACK
        case 15: { // UNSUBACK
          const token = r.num();
          const codes = Array.from(r.bytes());
          const properties = r.props();
          const q = this.#requests.get(token);
          if (!q) break;
          this.#requests.delete(token);
          if (kind === 14) {
            q.resolve({
              granted: codes.map((code, i) => ({ topic: q.topics[i], qos: code < 0x80 ? code : undefined, reasonCode: code })),
              properties,
            });
          } else {
            q.resolve({ reasonCodes: codes, properties });
          }
          break;
        }
        case 16: { // SUBSCRIPTIONS RESTORED
          const list = [];
          for (let n = r.num(); n > 0; n--) {
            const topic = r.str();
            const code = r.u8();
            list.push({ topic, qos: code < 0x80 ? code : undefined, reasonCode: code });
          }
          this.#emit('subscriptionsRestored', list);
          break;
        }
        case 17: { // AUTH
          const reasonCode = r.num();
          this.#emit('auth', { reasonCode, properties: r.props() || {} });
          break;
        }
        case 18: this.#emit('error', r.error()); break; // STORE FAILED
        case 20: { // REDIRECTED (the `close` of that connection follows)
          const reasonCode = r.num();
          const serverReference = r.str();
          const followed = r.u8() === 1;
          const scheme = r.str();
          let target;
          if (scheme) {
            const host = r.str();
            target = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${r.num()}${r.str()}`;
          }
          this.#emit('redirect', { reasonCode, serverReference, target, followed });
          break;
        }
        case 19: { // REQUEST INTERRUPTED: the core dropped it (the client stopped)
          const token = r.num();
          const err = r.error();
          const q = this.#requests.get(token);
          if (!q) break;
          this.#requests.delete(token);
          q.reject(err);
          break;
        }
        default: return; // unknown: a newer wasm than this file
      }
    }
  }

  /** Acknowledge the QoS 1/2 message with ack key `key` (once). */
  #ackFn(key) {
    return () => this.#call((c) => c.ack(now(), key));
  }

  /**
   * Hand a message to every reader and listener. Without `manualAcks` a
   * QoS 1/2 message is acknowledged at once, unless a reader that is full
   * keeps it: then when the last such reader takes it, so a slow reader
   * throttles the broker through its Receive Maximum, as the native
   * drivers do by no longer reading the socket. A WebSocket cannot stop
   * reading, so a full reader drops QoS 0 messages instead (counted in
   * `droppedMessages`).
   */
  #deliver(message, key) {
    let holds = 0;
    const auto = key && !this.#manualAcks;
    const release = auto ? () => { if (--holds === 0) this.#ackQuietly(key); } : undefined;
    for (const reader of this.#readers) {
      const kept = reader.offer(message, release);
      if (kept === HELD) holds++;
      else if (kept === DROPPED) this.#dropped++;
    }
    if (auto && holds === 0) this.#ackQuietly(key);
    this.#emit('message', message);
  }

  /**
   * An automatic ack: if the connection the message came on is gone, the
   * broker sends it again; if the client ended, nobody waits for it.
   */
  #ackQuietly(key) {
    try {
      this.#ackFn(key)();
    } catch {
      // ACK_NOT_PENDING or CLIENT_CLOSED: nothing to do.
    }
  }

  /** Write the outbox to the socket, one frame. */
  #send() {
    const out = this.#outbox;
    if (out.length === 0) return;
    this.#outbox = [];
    const s = this.#socket;
    if (!s || s.readyState !== 1) return; // closed meanwhile: the core knows
    if (out.length === 1) {
      s.send(out[0]);
      return;
    }
    let n = 0;
    for (const b of out) n += b.length;
    const frame = new Uint8Array(n);
    n = 0;
    for (const b of out) {
      frame.set(b, n);
      n += b.length;
    }
    s.send(frame);
  }

  /**
   * Ask the `credentials` provider, give the core what it returned (the
   * next CONNECT carries it), then open its URL or the core's. A provider
   * that fails (or gives a bad value) fails this attempt; the reconnect
   * policy goes on and asks again.
   */
  async #openWithCredentials(url, attempt) {
    let fresh;
    try {
      fresh = await this.#credentials(url);
      if (fresh === null || typeof fresh !== 'object') throw new Error('it must return an object (or a Promise of one)');
      const w = new Writer();
      for (const key of Object.keys(fresh)) {
        if (!['username', 'password', 'authenticationData', 'url'].includes(key)) {
          throw new Error(`it returned an unknown key \`${key}\` (username, password, authenticationData, url)`);
        }
      }
      if (fresh.username !== undefined) {
        if (typeof fresh.username !== 'string') throw new Error('`username` must be a string');
        w.bytes(0x44, encoder.encode(fresh.username));
      }
      if (fresh.password !== undefined) w.bytes(0x45, toBytes(fresh.password, 'password'));
      if (fresh.authenticationData !== undefined) w.bytes(0x16, toBytes(fresh.authenticationData, 'authenticationData'));
      if (fresh.url !== undefined) server('url', fresh.url);
      if (attempt !== this.#attempt || !this.#raw) return; // closed meanwhile
      this.#raw.credentials(w.done());
    } catch (e) {
      if (attempt !== this.#attempt || !this.#raw) return;
      const reason = e instanceof MqttError ? e.message : (e && e.message) || String(e);
      this.#emit('error', new MqttError(`the credentials provider failed: ${reason}`, 'CREDENTIALS_FAILED'));
      this.#call((raw) => raw.signal(CLOSED, now()));
      return;
    }
    this.#open(fresh.url ?? url);
  }

  #open(url) {
    let s;
    try {
      const tcp = url.startsWith('mqtt');
      if (tcp && !this.#TcpSocket) throw new MqttError(`cannot open ${url}: mqtt:// and mqtts:// need Node`, 'INVALID_ARGUMENT');
      if (!tcp && typeof this.#Socket !== 'function') throw new MqttError(`cannot open ${url}: no WebSocket implementation (the \`WebSocket\` option)`, 'INVALID_ARGUMENT');
      s = tcp ? new this.#TcpSocket(url) : new this.#Socket(url, 'mqtt');
    } catch (e) {
      // e.g. a SyntaxError for a URL the browser refuses.
      this.#emit('error', toMqttError(e));
      this.#call((raw) => raw.signal(CLOSED, now()));
      return;
    }
    s.binaryType = 'arraybuffer';
    const mine = (fn) => (ev) => {
      if (this.#socket !== s || !this.#raw) return;
      fn(this.#raw, ev);
      this.#flush();
    };
    s.onmessage = mine((raw, ev) => {
      if (typeof ev.data !== 'string') raw.received(now(), new Uint8Array(ev.data)); // text frames are not MQTT
    });
    // Why the socket failed, when the runtime says (Node does, browsers do
    // not): the core makes it the disconnect's message, as the native
    // driver does with the operating system's error.
    let opened = false;
    let failure;
    s.onopen = mine((raw) => {
      opened = true;
      raw.signal(OPENED, now());
    });
    s.onclose = mine((raw, ev) => {
      this.#socket = undefined;
      const why = failure ?? closeCode(ev);
      if (!why) return raw.signal(CLOSED, now());
      const detail = opened ? `the connection failed: ${why.text}` : `connecting to ${url} failed: ${why.text}`;
      raw.failed(now(), why.kind, detail);
    });
    // Always listen: Node's `ws` throws on an unheard 'error'.
    s.onerror = (ev) => {
      failure ??= socketFailure(ev?.error ?? ev);
    };
    this.#socket = s;
  }

  /** One timer to the core's deadline; an earlier one is kept (firing early is harmless). */
  #arm(at) {
    if (at < 0 || at >= this.#timerAt || this.#ended) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      if (!this.#raw) return;
      this.#raw.signal(TIMEOUT, now());
      this.#flush();
    }, Math.max(0, at - now()));
  }

  /**
   * Start connecting a client made with {@link createClient}. Resolves with
   * the first CONNACK's {@link ConnectInfo}, across the retries that
   * `reconnect.onInitialFailure` allows (watch them with the `offline`
   * event). Rejects when the client stops first: with the last attempt's
   * error, `CLIENT_DISCONNECT` after `end()`, or `ABORTED` when `signal`
   * aborts (which ends the client). Called again, returns the same Promise.
   */
  connect({ signal } = {}) {
    if (!this.#raw) return Promise.reject(closedError());
    if (this.#connecting) return this.#connecting;
    if (signal !== undefined && !(signal && typeof signal.aborted === 'boolean' && typeof signal.addEventListener === 'function')) {
      return Promise.reject(invalid('signal', 'must be an AbortSignal'));
    }
    if (signal?.aborted) {
      const error = new MqttError('connecting was aborted by the AbortSignal', 'ABORTED');
      this.#aborted = error;
      this.end().catch(() => {});
      return Promise.reject(error);
    }
    this.#connecting = new Promise((resolve, reject) => {
      this.#connectWaiter = { resolve, reject };
      try {
        this.#call((raw) => raw.connect(now()));
      } catch (e) {
        this.#connectWaiter = undefined;
        reject(e);
      }
    });
    if (signal) {
      // Aborting goes through end(), so the core closes the attempt as it
      // closes any other; only the connect Promise's reason differs.
      const onAbort = () => {
        if (!this.#connectWaiter) return;
        this.#aborted = new MqttError('connecting was aborted by the AbortSignal', 'ABORTED');
        this.end().catch(() => {});
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const drop = () => signal.removeEventListener('abort', onAbort);
      this.#connecting.then(drop, drop);
    }
    return this.#connecting;
  }

  /**
   * Internal: give up before or on a connection (an `onAuth` callback
   * failed). Through end(), like an abort: the core settles pending work;
   * only the connect Promise's reason is `error`.
   */
  _abort(error) {
    this.#aborted ??= error;
    this.end().catch(() => {});
  }

  /** `'connected' | 'connecting' | 'waiting' | 'closing' | 'disconnected'`. */
  get state() { return this.#raw ? STATES[this.#raw.state()] : 'disconnected'; }
  /** Publishes waiting for the connection or for room in the in-flight window. */
  get queueLength() { return this.#raw ? this.#raw.queuedLength() : 0; }
  /** True between a CONNACK and the end of that connection. */
  get connected() { return this.state === 'connected'; }

  /**
   * Publish; resolves when the broker acknowledged it (QoS 1: PUBACK, QoS 2:
   * PUBCOMP) or, at QoS 0, once it is handed to the client.
   */
  publish(topic, payload, options = {}) {
    try {
      if (typeof topic !== 'string') throw invalid('topic', 'must be a string');
      wellFormed('topic', topic);
      const qos = options.qos ?? 0;
      if (qos !== 0 && qos !== 1 && qos !== 2) throw invalid('qos', 'must be 0, 1 or 2');
      const props = options.properties === undefined ? EMPTY : fields(options.properties, PROPS);
      const bytes = toBytes(payload, 'payload');
      const token = this.#call((raw) => raw.publish(now(), topic, bytes, qos, !!options.retain, props));
      if (qos === 0) return Promise.resolve({ reasonCode: 0 });
      return new Promise((resolve, reject) => this.#publishes.set(token, { resolve, reject }));
    } catch (e) {
      return Promise.reject(toMqttError(e));
    }
  }

  /** Subscribe to one filter or several; resolves with the broker's answer per filter. */
  subscribe(filters, options = {}) {
    try {
      const w = new Writer();
      const topics = (Array.isArray(filters) ? filters : [filters]).map((f) => {
        if (typeof f === 'string') f = { ...options, topic: f };
        else if (f && typeof f === 'object' && typeof f.topic === 'string') f = { ...options, ...f };
        else throw invalid('filters', 'must be a topic filter string, an object with `topic`, or an array of them');
        wellFormed('filters', f.topic);
        fields(f, FILTER, '', w);
        return f.topic;
      });
      const props = fields(options.properties, PROPS);
      const token = this.#call((raw) => raw.subscribe(now(), w.done(), props));
      return new Promise((resolve, reject) => this.#requests.set(token, { resolve, reject, topics }));
    } catch (e) {
      return Promise.reject(toMqttError(e));
    }
  }

  /** Unsubscribe from one filter or several; resolves with the broker's reason codes. */
  unsubscribe(filters, options = {}) {
    try {
      const list = Array.isArray(filters) ? filters : [filters];
      if (!list.every((f) => typeof f === 'string')) throw invalid('filters', 'must be a string or an array of strings');
      for (const f of list) wellFormed('filters', f);
      const w = new Writer();
      for (const f of list) w.bytes(0x60, encoder.encode(f));
      const props = fields(options.properties, PROPS);
      const token = this.#call((raw) => raw.unsubscribe(now(), w.done(), props));
      return new Promise((resolve, reject) => this.#requests.set(token, { resolve, reject }));
    } catch (e) {
      return Promise.reject(toMqttError(e));
    }
  }

  /**
   * MQTT 5.0 enhanced authentication: answer an `auth` event (reason 0x18,
   * continue) with the next step, or start re-authentication on the live
   * connection with `{ reauthenticate: true }`.
   */
  auth(properties, options = {}) {
    const props = fields(properties, PROPS);
    this.#call((raw) => raw.auth(now(), props, !!options.reauthenticate));
  }

  /** Add a listener (see {@link EVENTS}). */
  on(event, listener) {
    if (!EVENTS.includes(event)) throw invalid('event', `must be one of ${EVENTS.join(', ')}`);
    if (typeof listener !== 'function') throw invalid('listener', 'must be a function');
    if (!this.#listeners.has(event)) this.#listeners.set(event, new Set());
    this.#listeners.get(event).add(listener);
    if (event.startsWith('packet')) this.#retrace();
    return this;
  }

  /** Remove a listener added with {@link on}. */
  off(event, listener) {
    const set = this.#listeners.get(event);
    if (set) set.delete(listener);
    if (event.startsWith('packet')) this.#retrace();
    return this;
  }

  /** Which lines the core writes: the logger's level, or every packet while packet listeners exist. */
  #retrace() {
    let level = this.#logger ? this.#logLevel : 0;
    if (this.#listeners.get('packetsend')?.size || this.#listeners.get('packetreceive')?.size) level = 10;
    if (this.#raw) this.#raw.trace(level, this.#logPayloads);
  }

  #log(severity, line) {
    const logger = this.#logger;
    if (!logger || severity < this.#logLevel) return;
    const level = LOG_NAMES[severity];
    try {
      if (typeof logger === 'function') logger(level, line);
      else if (typeof logger[level] === 'function') logger[level](`[midge] ${line}`);
    } catch (e) {
      this.#emit('error', toMqttError(e));
    }
  }

  #emit(event, value) {
    const set = this.#listeners.get(event);
    if (!set || set.size === 0) return;
    for (const fn of set.size === 1 ? set : [...set]) {
      try {
        fn(value);
      } catch (e) {
        if (event !== 'error') this.#emit('error', toMqttError(e));
        else setTimeout(() => { throw e; });
      }
    }
  }

  /**
   * Messages as an async iterator; ends when the client ends. It holds at
   * most `messageBuffer` unread messages. Until its first `next()` it holds
   * nothing back: it keeps the first `messageBuffer` messages and later
   * ones pass it by. Once read, a full iterator keeps QoS 1/2 messages
   * unacknowledged (the broker stops at its Receive Maximum) and drops QoS
   * 0 ones (`droppedMessages`). Leaving the loop (`break`, `return()`)
   * gives up what it did not read.
   */
  messages() {
    const reader = new MessageIterator(this.#messageBuffer, () => this.#readers.delete(reader));
    if (this.#ended) reader.end();
    else this.#readers.add(reader);
    return reader;
  }

  /**
   * Messages that an iterator of {@link messages} could not keep because it
   * was full: QoS 0 messages once it has been read, any message before.
   */
  get droppedMessages() { return this.#dropped; }

  /**
   * QoS 1/2 publishes the broker sent beyond our Receive Maximum, accepted
   * (see `strictReceiveMaximum`); counted by the core.
   */
  get receiveMaximumOverruns() { return this.#raw ? this.#raw.receiveMaximumOverruns() : 0; }

  /**
   * PUBACK, PUBREC and PUBCOMP the broker sent for packet ids with no
   * publish waiting for them (e.g. resent after a reconnect): ignored, the
   * connection kept; counted by the core.
   */
  get unknownAcks() { return this.#raw ? this.#raw.unknownAcks() : 0; }

  /**
   * Disconnect (DISCONNECT with reason 0, or `reasonCode`) and stop
   * reconnecting; resolves once the connection is closed and the session
   * snapshot (if a store is used) is written.
   */
  async end(options = {}) {
    if (!this.#raw) return;
    // A bad reason code or property rejects here and leaves the client as it was.
    const props = fields(options.properties, PROPS);
    this.#call((raw) => raw.disconnect(now(), options.reasonCode ?? 0, props));
    const closed = new Promise((resolve) => this.#endWaiters.push(resolve));
    if (this.#raw && STATES[this.#raw.state()] === 'disconnected') {
      // Never connected: the core closed no link, so no event follows. Its
      // outcomes (pending work Interrupted) go out first, then the end.
      this.#flush();
      const error = new MqttError('disconnected by the client', 'CLIENT_DISCONNECT');
      const w = this.#connectWaiter;
      this.#connectWaiter = undefined;
      this.#finish(error);
      if (w) w.reject(this.#aborted ?? error);
    }
    await closed;
    await this.#storeSaving;
  }

  #finish(error) {
    if (this.#ended) return;
    this.#ended = true;
    const raw = this.#raw;
    this.#raw = undefined;
    clearTimeout(this.#timer);
    const s = this.#socket;
    this.#socket = undefined;
    if (s) {
      s.onopen = s.onmessage = s.onclose = null;
      s.close();
    }
    if (this.#onOnline) removeEventListener('online', this.#onOnline);
    for (const p of this.#publishes.values()) p.reject(error);
    for (const r of this.#requests.values()) r.reject(error);
    this.#publishes.clear();
    this.#requests.clear();
    // Free the wasm side after the current call into it has returned.
    queueMicrotask(() => raw.free());
    this.#emit('end', error);
    for (const reader of this.#readers) reader.end();
    this.#readers.clear();
    for (const w of this.#endWaiters.splice(0)) w();
  }
}

/**
 * Make a client without connecting it: add listeners (`offline` says when
 * the next attempt comes and its number), then call
 * {@link MqttClient.connect}. Use it when the page must show the first
 * connection too, or cancel it with `end()` while the broker is down.
 * Takes the same options as {@link connect}.
 *
 * @example
 * const client = await createClient('ws://localhost:8080', { reconnect: { onInitialFailure: true } });
 * client.on('offline', (e) => console.log(`retrying in ${e.reconnectIn} ms, attempt ${e.attempt}`));
 * await client.connect();
 */
export async function createClient(url, options = {}) {
  if (typeof url !== 'string') throw invalid('url', 'must be a string such as ws://host:port/path');
  if (options === null || typeof options !== 'object') throw invalid('options', 'must be an object');
  await initialize(options.wasm);
  options = { ...options };
  if (options.clientId === undefined) {
    options.clientId = 'midge-' + Math.random().toString(16).slice(2, 10);
  }
  let session;
  if (options.store) {
    if (typeof options.store.load !== 'function' || typeof options.store.save !== 'function') {
      throw invalid('store', 'must have load(clientId) and save(clientId, bytes), e.g. indexedDBStore()');
    }
    session = await options.store.load(options.clientId);
  }
  const onAuth = options.onAuth;
  if (onAuth !== undefined && typeof onAuth !== 'function') {
    throw invalid('onAuth', 'must be a function that answers an AUTH challenge');
  }
  // `node:net`/`node:tls` are imported only for mqtt:// URLs (a variable
  // specifier: bundlers for the browser leave it alone).
  let TcpSocket;
  if (isNode && brokerUrls(url, options).some((u) => /^mqtts?:/i.test(u))) {
    const name = './node-socket.js';
    TcpSocket = (await import(/* @vite-ignore */ name)).tcpSocketClass(options.tls || {});
  }
  const client = new MqttClient(url, options, session, TcpSocket);
  if (onAuth) {
    // Registered before CONNECT goes out: a challenge can come before CONNACK.
    client.on('auth', (event) => {
      if (event.reasonCode !== CONTINUE_AUTHENTICATION) return;
      Promise.resolve()
        .then(() => onAuth(event))
        .then((answer) => {
          if (answer === undefined || answer === null) throw new Error('onAuth gave no answer to the challenge');
          client.auth(answer);
        })
        .catch((e) => client._abort(new MqttError(`enhanced authentication failed: ${e && e.message || e}`, 'AUTH_FAILED')));
    });
  }
  return client;
}

/**
 * Connect to a broker over WebSockets; resolves once CONNACK accepted the
 * connection, rejects with an {@link MqttError} (`code`, `reasonCode`).
 * `options.signal` (an `AbortSignal`) cancels the attempt (`ABORTED`).
 * To watch the first connection, use {@link createClient}.
 *
 * @example
 * const client = await connect('ws://localhost:8080', { clientId: 'dashboard' });
 * client.on('message', (m) => console.log(m.topic, m.text()));
 * await client.subscribe('greenhouse/#', { qos: 1 });
 * await client.publish('greenhouse/roof', 'open', { qos: 1 });
 */
export async function connect(url, options = {}) {
  const client = await createClient(url, options);
  await client.connect({ signal: options.signal });
  return client;
}
