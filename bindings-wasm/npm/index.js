// midge-mqtt: the idiomatic JS API over the wasm driver (RawClient).
// Everything protocol-related (packets, QoS, keep-alive, reconnect, offline
// queue) happens in the Rust core; this file only maps tokens to Promises,
// events to listeners, and bytes to a store.
import init, { RawClient } from './pkg/midge_wasm.js';

let ready;

/** Load the wasm module once (a URL, bytes or a compiled module may be given). */
export function initialize(wasm) {
  if (!ready) {
    ready = (async () => {
      if (wasm) return init({ module_or_path: wasm });
      const isNode = typeof process !== 'undefined' && process.versions && process.versions.node
        && typeof window === 'undefined';
      if (isNode) {
        // Node's fetch cannot read file: URLs; read the file instead.
        const fsName = 'node:fs/promises';
        const { readFile } = await import(/* @vite-ignore */ fsName);
        return init({ module_or_path: await readFile(new URL('./pkg/midge_wasm_bg.wasm', import.meta.url)) });
      }
      return init({ module_or_path: new URL('./pkg/midge_wasm_bg.wasm', import.meta.url) });
    })();
    ready.catch(() => { ready = undefined; });
  }
  return ready;
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

function toMqttError(e) {
  if (e instanceof MqttError) return e;
  if (e && typeof e === 'object' && typeof e.code === 'string') {
    return new MqttError(e.message, e.code, e.reasonCode);
  }
  return new MqttError(String(e && e.message ? e.message : e), 'UNKNOWN');
}

const invalid = (argument, rule) =>
  new MqttError(`invalid argument \`${argument}\`: ${rule}`, 'INVALID_ARGUMENT');

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function toBytes(value, argument) {
  if (typeof value === 'string') return encoder.encode(value);
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value === undefined || value === null) return new Uint8Array(0);
  throw invalid(argument, 'must be a string, Uint8Array, ArrayBuffer or typed array');
}

/** An inbound application message. */
export class Message {
  constructor(topic, payload, qos, retain, properties) {
    this.topic = topic;
    this.payload = payload;
    this.qos = qos;
    this.retain = retain;
    if (properties !== undefined) this.properties = properties;
  }
  /** The payload decoded as UTF-8. */
  text() { return decoder.decode(this.payload); }
  /** The payload parsed as JSON. */
  json() { return JSON.parse(this.text()); }
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
      const tx = db.transaction('sessions', mode);
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

const EVENTS = ['connect', 'reconnect', 'offline', 'close', 'error', 'message', 'end'];

/** A connected MQTT client; get one from {@link connect}. */
export class MqttClient {
  #raw;
  #listeners = new Map();
  #publishes = new Map();
  #requests = new Map();
  #store;
  #storeSaving = Promise.resolve();
  #ended = false;
  #endWaiters = [];
  #onOnline;
  #connectWaiter;
  clientId = '';

  constructor(url, options, session) {
    this.#store = options.store;
    const Socket = options.WebSocket || globalThis.WebSocket;
    const host = {
      onConnected: (sessionPresent, reconnected, clientId, properties) => {
        this.clientId = clientId;
        const info = { sessionPresent, reconnected, clientId, properties };
        this.#emit('connect', info);
        if (reconnected) this.#emit('reconnect', info);
        const w = this.#connectWaiter;
        this.#connectWaiter = undefined;
        if (w) w.resolve(this);
      },
      onClosed: (error, reconnectIn) => {
        const err = toMqttError(error);
        this.#emit('close', err);
        if (reconnectIn !== undefined) {
          this.#emit('offline', { error: err, reconnectIn });
          return;
        }
        // The client stopped (end(), or reconnecting is off or impossible).
        const w = this.#connectWaiter;
        this.#connectWaiter = undefined;
        if (w) w.reject(err);
        else if (err.code !== 'CLIENT_DISCONNECT') this.#emit('error', err);
        this.#finish(err);
      },
      onMessage: (topic, payload, qos, retain, properties) => {
        this.#emit('message', new Message(topic, payload, qos, retain, properties));
      },
      onPublished: (token, error, reasonCode, properties) => {
        const p = this.#publishes.get(token);
        if (!p) return;
        this.#publishes.delete(token);
        if (error) p.reject(toMqttError(error));
        else p.resolve({ reasonCode, properties });
      },
      onAcked: (kind, token, results, properties) => {
        const r = this.#requests.get(token);
        if (!r) return;
        this.#requests.delete(token);
        const codes = Array.from(results);
        if (kind === 1) {
          r.resolve({
            granted: codes.map((code, i) => ({
              topic: r.topics[i],
              qos: code < 0x80 ? code : undefined,
              reasonCode: code,
            })),
            properties,
          });
        } else {
          r.resolve({ reasonCodes: codes, properties });
        }
      },
      onPersist: (bytes) => {
        const store = this.#store;
        const id = this.clientId;
        this.#storeSaving = Promise.resolve(store.save(id, bytes)).catch((e) =>
          this.#emit('error', new MqttError(`session store failed: ${e}`, 'STORE_FAILED')));
      },
      onError: (error) => this.#emit('error', toMqttError(error)),
    };
    try {
      this.#raw = new RawClient(url, options, host, Socket, session, !!this.#store);
    } catch (e) {
      throw toMqttError(e);
    }
    this.clientId = this.#raw.clientId();
    if (typeof addEventListener === 'function' && typeof removeEventListener === 'function') {
      this.#onOnline = () => this.#raw && this.#raw.networkChanged();
      addEventListener('online', this.#onOnline);
    }
  }

  /** Internal: start connecting; resolves on the first CONNACK. */
  _start() {
    return new Promise((resolve, reject) => {
      this.#connectWaiter = { resolve, reject };
      try {
        this.#raw.connect();
      } catch (e) {
        this.#connectWaiter = undefined;
        reject(toMqttError(e));
      }
    });
  }

  /** `'connected' | 'connecting' | 'waiting' | 'closing' | 'disconnected'`. */
  get state() { return this.#raw ? this.#raw.state() : 'disconnected'; }
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
      if (!this.#raw) throw new MqttError('the client has ended', 'CLIENT_DISCONNECT');
      if (typeof topic !== 'string') throw invalid('topic', 'must be a string');
      const qos = options.qos ?? 0;
      if (qos !== 0 && qos !== 1 && qos !== 2) throw invalid('qos', 'must be 0, 1 or 2');
      const token = this.#raw.publish(topic, toBytes(payload, 'payload'), qos, !!options.retain, options.properties);
      if (qos === 0) return Promise.resolve({ reasonCode: 0 });
      return new Promise((resolve, reject) => this.#publishes.set(token, { resolve, reject }));
    } catch (e) {
      return Promise.reject(toMqttError(e));
    }
  }

  /** Subscribe to one filter or several; resolves with the broker's answer per filter. */
  subscribe(filters, options = {}) {
    try {
      if (!this.#raw) throw new MqttError('the client has ended', 'CLIENT_DISCONNECT');
      const list = (Array.isArray(filters) ? filters : [filters]).map((f) => {
        if (typeof f === 'string') return { ...options, topic: f };
        if (f && typeof f === 'object' && typeof f.topic === 'string') return { ...options, ...f };
        throw invalid('filters', 'must be a topic filter string, an object with `topic`, or an array of them');
      });
      const token = this.#raw.subscribe(list, options.properties);
      return new Promise((resolve, reject) =>
        this.#requests.set(token, { resolve, reject, topics: list.map((f) => f.topic) }));
    } catch (e) {
      return Promise.reject(toMqttError(e));
    }
  }

  /** Unsubscribe from one filter or several; resolves with the broker's reason codes. */
  unsubscribe(filters, options = {}) {
    try {
      if (!this.#raw) throw new MqttError('the client has ended', 'CLIENT_DISCONNECT');
      const list = Array.isArray(filters) ? filters : [filters];
      if (!list.every((f) => typeof f === 'string')) throw invalid('filters', 'must be a string or an array of strings');
      const token = this.#raw.unsubscribe(list, options.properties);
      return new Promise((resolve, reject) => this.#requests.set(token, { resolve, reject }));
    } catch (e) {
      return Promise.reject(toMqttError(e));
    }
  }

  /** Add a listener: 'connect', 'reconnect', 'offline', 'close', 'error', 'message', 'end'. */
  on(event, listener) {
    if (!EVENTS.includes(event)) throw invalid('event', `must be one of ${EVENTS.join(', ')}`);
    if (typeof listener !== 'function') throw invalid('listener', 'must be a function');
    if (!this.#listeners.has(event)) this.#listeners.set(event, new Set());
    this.#listeners.get(event).add(listener);
    return this;
  }

  /** Remove a listener added with {@link on}. */
  off(event, listener) {
    const set = this.#listeners.get(event);
    if (set) set.delete(listener);
    return this;
  }

  #emit(event, value) {
    const set = this.#listeners.get(event);
    if (!set || set.size === 0) return;
    for (const fn of [...set]) {
      try {
        fn(value);
      } catch (e) {
        if (event !== 'error') this.#emit('error', toMqttError(e));
        else setTimeout(() => { throw e; });
      }
    }
  }

  /**
   * Messages as an async iterator; ends when the client ends. Messages that
   * arrive while the loop body runs are buffered.
   */
  messages() {
    const buffer = [];
    let wake;
    let done = this.#ended;
    const onMessage = (m) => {
      buffer.push(m);
      if (wake) { wake(); wake = undefined; }
    };
    const onEnd = () => {
      done = true;
      if (wake) { wake(); wake = undefined; }
    };
    this.on('message', onMessage);
    this.on('end', onEnd);
    const stop = () => { this.off('message', onMessage); this.off('end', onEnd); done = true; };
    return {
      [Symbol.asyncIterator]() { return this; },
      next: async () => {
        while (buffer.length === 0 && !done) await new Promise((r) => { wake = r; });
        if (buffer.length > 0) return { value: buffer.shift(), done: false };
        stop();
        return { value: undefined, done: true };
      },
      return: async () => { stop(); return { value: undefined, done: true }; },
    };
  }

  /**
   * Disconnect (DISCONNECT with reason 0, or `reasonCode`) and stop
   * reconnecting; resolves once the connection is closed and the session
   * snapshot (if a store is used) is written.
   */
  async end(options = {}) {
    if (!this.#raw) return;
    const closed = new Promise((resolve) => this.#endWaiters.push(resolve));
    try {
      this.#raw.disconnect(options.reasonCode ?? 0, options.properties);
    } catch {
      // Not connected: nothing to say to the broker.
      this.#finish(new MqttError('disconnected by the client', 'CLIENT_DISCONNECT'));
    }
    await closed;
    await this.#storeSaving;
  }

  #finish(error) {
    if (this.#ended) return;
    this.#ended = true;
    const raw = this.#raw;
    this.#raw = undefined;
    if (this.#onOnline) removeEventListener('online', this.#onOnline);
    for (const p of this.#publishes.values()) p.reject(error);
    for (const r of this.#requests.values()) r.reject(error);
    this.#publishes.clear();
    this.#requests.clear();
    // Free the wasm side after the current call into it has returned.
    queueMicrotask(() => { raw.shutdown(); raw.free(); });
    this.#emit('end', error);
    for (const w of this.#endWaiters.splice(0)) w();
  }
}

/**
 * Connect to a broker over WebSockets; resolves once CONNACK accepted the
 * connection, rejects with an {@link MqttError} (`code`, `reasonCode`).
 *
 * @example
 * const client = await connect('ws://localhost:8080', { clientId: 'dashboard' });
 * client.on('message', (m) => console.log(m.topic, m.text()));
 * await client.subscribe('greenhouse/#', { qos: 1 });
 * await client.publish('greenhouse/roof', 'open', { qos: 1 });
 */
export async function connect(url, options = {}) {
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
  const client = new MqttClient(url, options, session);
  await client._start();
  return client;
}
