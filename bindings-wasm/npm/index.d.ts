// Hand-checked types of midge-mqtt (the wasm-bindgen output's own types are
// in ./pkg/midge_wasm.d.ts; this file is the public API).

/** Bytes accepted wherever a payload or binary property is given. */
export type BinaryLike = string | Uint8Array | ArrayBuffer | ArrayBufferView;

/** MQTT 5.0 user properties: an object (a value may repeat as an array) or `[key, value]` pairs. */
export type UserPropertiesInput = Record<string, string | string[]> | Array<[string, string]>;

/** What `code` of an {@link MqttError} can be. */
export type MqttErrorCode =
  | 'INVALID_ARGUMENT' | 'QUEUE_FULL' | 'QOS_NOT_SUPPORTED' | 'RETAIN_NOT_SUPPORTED'
  | 'PACKET_TOO_LARGE' | 'INVALID_STATE' | 'ACK_NOT_PENDING' | 'STORE_FAILED'
  | 'CONNECTION_REFUSED' | 'SERVER_DISCONNECT' | 'PROTOCOL_ERROR' | 'CONNECT_TIMEOUT'
  | 'KEEPALIVE_TIMEOUT' | 'TRANSPORT_CLOSED' | 'CLIENT_DISCONNECT'
  | 'CLIENT_CLOSED' | 'INTERRUPTED' | 'ABORTED'
  | 'PUBLISH_REJECTED' | 'PUBLISH_NOT_ALLOWED' | 'AUTH_FAILED' | 'CREDENTIALS_FAILED' | 'UNKNOWN';

/**
 * Every failure of midge: a bad argument (rejected at once, naming the
 * argument and the rule), a refused or lost connection, a rejected publish.
 *
 * @example
 * try { await connect('ws://broker:8080', { username: 'u', password: 'wrong' }); }
 * catch (e) { if (e instanceof MqttError && e.reasonCode === 0x86) showLogin(); }
 */
export class MqttError extends Error {
  /** Always `'MqttError'`. */
  readonly name: 'MqttError';
  /** What went wrong, as a stable code to branch on. */
  readonly code: MqttErrorCode;
  /** The MQTT 5.0 reason code (3.1.1 return codes are mapped onto them), when there is one. */
  readonly reasonCode?: number;
}

/** MQTT 5.0 properties of an outbound publish. */
export interface PublishProperties {
  /** `true`: the payload is UTF-8 text. */
  payloadFormatIndicator?: boolean;
  /** Seconds after which the broker drops the message if undelivered. */
  messageExpiryInterval?: number;
  /** Number that stands for the topic on this connection. */
  topicAlias?: number;
  /** Topic a request/response receiver publishes its answer to. */
  responseTopic?: string;
  /** Bytes the requester uses to match the answer to its request. */
  correlationData?: BinaryLike;
  /** Name/value pairs for the application; MQTT gives them no meaning. */
  userProperties?: UserPropertiesInput;
  /** MIME type of the payload. */
  contentType?: string;
}

/** Properties of an inbound message (MQTT 5.0). */
export interface MessageProperties {
  /** `true`: the payload is UTF-8 text. */
  payloadFormatIndicator?: boolean;
  /** Seconds after which the broker drops the message if undelivered. */
  messageExpiryInterval?: number;
  /** Number that stands for the topic on this connection. */
  topicAlias?: number;
  /** Topic a request/response receiver publishes its answer to. */
  responseTopic?: string;
  /** Bytes the requester uses to match the answer to its request. */
  correlationData?: Uint8Array;
  /** Name/value pairs for the application; MQTT gives them no meaning. */
  userProperties?: Array<[string, string]>;
  /** Identifiers of the subscriptions the message matched. */
  subscriptionIdentifiers?: number[];
  /** MIME type of the payload. */
  contentType?: string;
}

/** The Last Will: published by the broker when the connection drops without a DISCONNECT. */
export interface LastWill {
  /** Topic the will is published to. */
  topic: string;
  /** The will's payload (a string is sent as UTF-8). */
  payload?: BinaryLike;
  /** QoS the will is published with (default 0). */
  qos?: 0 | 1 | 2;
  /** Whether the broker retains the will (default false). */
  retain?: boolean;
  /** MQTT 5.0 will properties. */
  properties?: {
    /** Seconds the broker waits before publishing the will. */
    willDelayInterval?: number;
    /** `true`: the payload is UTF-8 text. */
    payloadFormatIndicator?: boolean;
    /** Seconds after which the broker drops the message if undelivered. */
    messageExpiryInterval?: number;
    /** MIME type of the payload. */
    contentType?: string;
    /** Topic a request/response receiver publishes its answer to. */
    responseTopic?: string;
    /** Bytes the requester uses to match the answer to its request. */
    correlationData?: BinaryLike;
    /** Name/value pairs for the application; MQTT gives them no meaning. */
    userProperties?: UserPropertiesInput;
  };
}

/** Reconnect policy: exponential backoff with full jitter (in the core). */
export interface ReconnectPolicy {
  /** First and shortest wait, ms (default 1000). */
  minDelay?: number;
  /** Longest wait, ms (default 60000). */
  maxDelay?: number;
  /** Growth per attempt, at least 1 (default 2). */
  factor?: number;
  /** A connection up this long resets the backoff, ms (default 30000). */
  stableAfter?: number;
  /** Also retry when the very first attempt fails (then `connect` waits). */
  onInitialFailure?: boolean;
}

/**
 * Where a durable session lives; {@link indexedDBStore} is the browser's.
 * `save` gets the whole session after each batch of changes; the client
 * sends no byte (and reports no event) that depends on the batch until the
 * returned Promise resolves, so resolve it only once the bytes are durable.
 * A rejection means nothing dependent is sent: the client reports
 * `STORE_FAILED`, closes the connection, and writes the session again on the
 * next attempt.
 */
export interface SessionStore {
  /** Returns the session saved for `clientId`, or `undefined` if there is none. */
  load(clientId: string): Promise<Uint8Array | undefined> | Uint8Array | undefined;
  /** Saves the whole session of `clientId`; resolve once the bytes are durable. */
  save(clientId: string, session: Uint8Array): Promise<unknown> | void;
}

/** Options of {@link connect} and {@link MqttClient}. */
export interface ConnectOptions {
  /** Default: `midge-` and 8 random hex digits. A durable session needs a fixed one. */
  clientId?: string;
  /** 4 (MQTT 3.1.1) or 5 (MQTT 5.0, the default). */
  protocolVersion?: 4 | 5;
  /** Clean Start / Clean Session of the first connection (default true). */
  clean?: boolean;
  /** Keep-alive in seconds, 0 to disable (default 60). */
  keepalive?: number;
  /** User name sent in CONNECT. */
  username?: string;
  /** Password sent in CONNECT (binary allowed). */
  password?: BinaryLike;
  /** The Last Will the broker publishes if the connection drops. */
  will?: LastWill;
  /** `false` disables reconnecting; default: 1 s doubling to 60 s. */
  reconnect?: boolean | ReconnectPolicy;
  /** More broker URLs, tried in turn after `url` when reconnecting. */
  servers?: string[];
  /**
   * Bound of the publish queue (default 10000): publishes that wait for the
   * connection or, while connected, for room in the in-flight window
   * (`maxInflight`). Beyond it `publish` rejects with QUEUE_FULL. Python:
   * `max_queued_messages`; Kotlin: `maxQueuedMessages`.
   */
  maxQueuedMessages?: number;
  /** Our cap on QoS 1/2 publishes in flight (default 100). */
  maxInflight?: number;
  /** ms to wait for the socket and CONNACK (default 10000). */
  connectTimeout?: number;
  /** ms to wait for PINGRESP (default 10000). */
  pingTimeout?: number;
  /**
   * Acknowledge inbound QoS 1/2 messages yourself with {@link Message.ack}
   * (default false: acknowledged on arrival). Until acknowledged, a message
   * counts against `properties.receiveMaximum`, so the broker holds back more.
   */
  manualAcks?: boolean;
  /**
   * Most unread messages one {@link MqttClient.messages} iterator holds
   * (default 10000, at least 1). A full iterator that is being read keeps
   * QoS 1/2 messages unacknowledged, so the broker stops at our Receive
   * Maximum, and drops QoS 0 ones (a WebSocket cannot stop reading);
   * see {@link MqttClient.droppedMessages}. `message` listeners get every
   * message. Python: `message_buffer`; Kotlin: `messageBuffer`.
   */
  messageBuffer?: number;
  /**
   * Disconnect with reason 0x93 when the broker sends more unacknowledged
   * QoS 1/2 publishes than our Receive Maximum (default false: accepted and
   * counted in {@link MqttClient.receiveMaximumOverruns}; mosquitto 2.0
   * overruns it). Python: `strict_receive_maximum`; Kotlin: `strictReceiveMaximum`.
   */
  strictReceiveMaximum?: boolean;
  /**
   * Follow a 5.0 broker's redirection (CONNACK or DISCONNECT with Use Another
   * Server 0x9C or Server Moved 0x9D and a Server Reference): the next attempt
   * goes there at once, also after a refused first connection (0x9C: for
   * that connection; 0x9D: in place of the configured server). Default
   * false: the `redirect` event reports it and the configured servers are
   * tried as usual. Never from `wss://` to `ws://`. Python: `follow_redirects`;
   * Kotlin: `followRedirects`.
   */
  followRedirects?: boolean;
  /**
   * Where midge's own lines go: connecting, connected, each disconnect with
   * its cause and the next attempt's delay and number, subscriptions
   * restored (`info`/`warn`), and with `logLevel: 'debug'` one line per
   * packet (type, id, QoS, topic, sizes; never a password or authentication
   * data, payload bytes only with `logPayloads`). The core writes the lines,
   * so they read the same as Python's `midge` logger and Kotlin's
   * `logger`. `console` works as is (lines get a `[midge] ` prefix); a
   * function gets the level and the bare line. Default: no logging (MQTT.js
   * is silent too unless its `debug` is on).
   *
   * @example
   * const client = await connect(url, { logger: console, logLevel: 'debug' });
   */
  logger?: MidgeLogger | ((level: LogLevel, line: string) => void);
  /**
   * Called before every connection attempt, reconnects included, with the
   * broker URL the attempt goes to: for credentials that expire (a signed
   * password, a token) and presigned WebSocket URLs. What it returns (or
   * its Promise gives) goes into that attempt's CONNECT; `url` is opened
   * instead of the configured one. A key left out keeps the configured
   * value. If it throws, the attempt fails (an `error` event with code
   * `CREDENTIALS_FAILED`) and the reconnect policy goes on. Python:
   * `credentials`; Kotlin: `setCredentialsProvider`.
   *
   * @example
   * const client = await connect('wss://broker.example/mqtt', {
   *   credentials: async () => ({ username: 'device-7', password: await fetchToken() }),
   * });
   */
  credentials?: (serverUrl: string) => FreshCredentials | Promise<FreshCredentials>;
  /** Lowest level given to `logger` (default `'info'`). */
  logLevel?: LogLevel;
  /** Show payload bytes in the per-packet lines (text, else hex; at most 256 bytes). Default false. */
  logPayloads?: boolean;
  /** MQTT 5.0 CONNECT properties. */
  properties?: {
    /** Seconds the broker keeps the session after the connection closes. */
    sessionExpiryInterval?: number;
    /** How many QoS 1/2 publishes the broker may have in flight to us. */
    receiveMaximum?: number;
    /** Largest packet we accept, in bytes. */
    maximumPacketSize?: number;
    /** Highest topic alias the broker may use towards us (0: none). */
    topicAliasMaximum?: number;
    /** Ask the broker for Response Information in CONNACK. */
    requestResponseInformation?: boolean;
    /** `false`: the broker sends no reason strings on failures. */
    requestProblemInformation?: boolean;
    /** Name/value pairs for the application; MQTT gives them no meaning. */
    userProperties?: UserPropertiesInput;
    /** Enhanced authentication method, e.g. `SCRAM-SHA-256`. */
    authenticationMethod?: string;
    /** Data of the enhanced authentication exchange; its meaning is the method's. */
    authenticationData?: BinaryLike;
  };
  /** Keep the session (unacknowledged QoS 1/2 publishes, offline queue) across reloads. */
  store?: SessionStore;
  /**
   * MQTT 5.0 enhanced authentication (with `properties.authenticationMethod`):
   * called for every AUTH challenge (reason 0x18), including those before the
   * CONNACK, which no `on('auth')` listener could hear. Its answer (or the
   * Promise's) is sent as the next AUTH. If it throws or gives no answer,
   * `connect` rejects with code `AUTH_FAILED`.
   *
   * @example
   * const client = await connect(url, {
   *   protocolVersion: 5,
   *   properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: clientFirst },
   *   onAuth: async ({ properties }) => ({
   *     authenticationMethod: 'SCRAM-SHA-256',
   *     authenticationData: await clientFinal(properties.authenticationData),
   *   }),
   * });
   */
  onAuth?: (challenge: { reasonCode: number; properties: AuthProperties }) =>
    AuthAnswer | Promise<AuthAnswer>;
  /** A WebSocket constructor, e.g. `WebSocket` from the `ws` package in Node. */
  WebSocket?: unknown;
  /**
   * Node, `mqtts://` only: options for `tls.connect` (`ca`, `cert`, `key`,
   * `servername`, `rejectUnauthorized`, `ALPNProtocols`, ...). The server
   * name defaults to the URL's host name.
   *
   * @example
   * const client = await connect('mqtts://broker.local:8883', { tls: { ca: readFileSync('ca.crt') } });
   */
  tls?: {
    /** CA certificates (PEM) that verify the broker (Node). */
    ca?: string | Uint8Array | Array<string | Uint8Array>;
    /** Client certificate chain (PEM) for mutual TLS (Node). */
    cert?: string | Uint8Array;
    /** Private key (PEM) of `cert` (Node). */
    key?: string | Uint8Array;
    /** Name to verify the certificate against and send in SNI, instead of the URL host (Node). */
    servername?: string;
    /** `false` skips verifying the broker's certificate (testing only; Node). */
    rejectUnauthorized?: boolean;
    /** ALPN protocols offered in the TLS handshake (Node). */
    ALPNProtocols?: string[];
    [option: string]: unknown;
  };
  /** Where to load the wasm from (URL, bytes or module); default: next to this file. */
  wasm?: string | URL | BufferSource | WebAssembly.Module;
  /**
   * {@link connect} only: aborting it while the first connection is being
   * made ends the client and rejects with code `ABORTED`; later it has no effect.
   */
  signal?: AbortSignal;
}

/** The broker's answer to CONNECT (CONNACK), as `connect` resolves it. */
export interface ConnectInfo {
  /** The broker resumed a session it kept for this client id. */
  sessionPresent: boolean;
  /** True for an automatic reconnect after a lost connection (then `reconnect` fires too). */
  reconnected: boolean;
  /** The client id in use (assigned by a 5.0 broker when none was given). */
  clientId: string;
  /** CONNACK properties (MQTT 5.0). */
  properties: Record<string, unknown>;
}

/** Completion of a publish: the PUBACK/PUBCOMP for QoS 1/2, acceptance for QoS 0. */
export interface PublishResult {
  /** 0 (success) or 16 (no matching subscribers, 5.0). */
  reasonCode: number;
  /** MQTT 5.0 properties of the acknowledgement. */
  properties?: {
    /** Human-readable reason from the broker, for diagnostics only. */
    reasonString?: string;
    /** The broker's user properties as `[name, value]` pairs. */
    userProperties?: Array<[string, string]>;
  };
}

/** One topic filter of a subscribe, with its options. */
export interface SubscribeFilter {
  /** The topic filter; wildcards `+` and `#` allowed. */
  topic: string;
  /** The highest QoS the broker may deliver with (default 0). */
  qos?: 0 | 1 | 2;
  /** MQTT 5.0: do not receive our own publications. */
  noLocal?: boolean;
  /** MQTT 5.0: keep the RETAIN flag as the publisher set it. */
  retainAsPublished?: boolean;
  /** 0: send retained, 1: only for a new subscription, 2: never. */
  retainHandling?: 0 | 1 | 2;
}

/** Options of {@link MqttClient.subscribe}: the filter options for every filter, and SUBSCRIBE properties. */
export interface SubscribeOptions extends Omit<SubscribeFilter, 'topic'> {
  /** MQTT 5.0 SUBSCRIBE properties. */
  properties?: {
    /** Identifier (1 to 268435455) the broker puts in each message this subscription delivers. */
    subscriptionIdentifier?: number;
    /** Name/value pairs for the application. */
    userProperties?: UserPropertiesInput;
  };
}

/** The broker's answer to a subscribe (SUBACK). */
export interface SubscribeResult {
  /** Per filter: the granted QoS, or `undefined` and a failure `reasonCode` (>= 0x80). */
  granted: Array<{
    /** The filter. */
    topic: string;
    /** The granted QoS; `undefined` when refused. */
    qos?: 0 | 1 | 2;
    /** The SUBACK reason code: the granted QoS, or a failure code (>= 0x80). */
    reasonCode: number;
  }>;
  /** MQTT 5.0 properties of the acknowledgement. */
  properties?: {
    /** Human-readable reason from the broker, for diagnostics only. */
    reasonString?: string;
    /** The broker's user properties as `[name, value]` pairs. */
    userProperties?: Array<[string, string]>;
  };
}

/** The broker's answer to an unsubscribe (UNSUBACK). */
export interface UnsubscribeResult {
  /** One reason code per filter (MQTT 3.1.1: all 0). */
  reasonCodes: number[];
  /** MQTT 5.0 properties of the acknowledgement. */
  properties?: {
    /** Human-readable reason from the broker, for diagnostics only. */
    reasonString?: string;
    /** The broker's user properties as `[name, value]` pairs. */
    userProperties?: Array<[string, string]>;
  };
}

/** An inbound application message. */
export class Message {
  /** The topic it was published to. */
  readonly topic: string;
  /** The payload bytes. */
  readonly payload: Uint8Array;
  /** The QoS it was delivered with. */
  readonly qos: 0 | 1 | 2;
  /** True when it is the topic's retained message, sent on subscribe. */
  readonly retain: boolean;
  /** MQTT 5.0 properties, when the publisher set any. */
  readonly properties?: MessageProperties;
  /** The payload as UTF-8 text. */
  text(): string;
  /** The payload parsed as JSON. */
  json(): unknown;
  /**
   * With `manualAcks`: acknowledge this message (QoS 1 PUBACK, QoS 2
   * PUBREC). A no-op for QoS 0, without `manualAcks`, and when called again.
   * Throws an {@link MqttError}: `ACK_NOT_PENDING` when the connection a QoS 1
   * message arrived on is gone (the broker sends it again),
   * `CLIENT_CLOSED` after `end()`.
   */
  ack(): void;
}

/** One filter the client subscribed to again after the broker lost the session. */
export interface RestoredSubscription {
  /** The filter. */
  topic: string;
  /** The granted QoS, or `undefined` and a failure `reasonCode` (>= 0x80). */
  qos?: 0 | 1 | 2;
  /** The SUBACK reason code: the granted QoS, or a failure code (>= 0x80). */
  reasonCode: number;
}

/** A publish restored from the session store (made before a page reload). */
export interface RestoredPublish {
  /** The token `publish` gave it before the reload. */
  token: number;
  /** The topic it is published to. */
  topic: string;
  /** Its QoS (1 or 2). */
  qos: 0 | 1 | 2;
}

/** The end of a restored publish: `reasonCode` (and `properties`), or `error`. */
export interface RestoredPublishComplete extends RestoredPublish {
  /** The PUBACK/PUBCOMP reason code, when the broker acknowledged it. */
  reasonCode?: number;
  /** MQTT 5.0 properties of the acknowledgement. */
  properties?: {
    /** Human-readable reason from the broker, for diagnostics only. */
    reasonString?: string;
    /** The broker's user properties as `[name, value]` pairs. */
    userProperties?: Array<[string, string]>;
  };
  /** Why it failed, when it failed. */
  error?: MqttError;
}

/** MQTT 5.0 AUTH properties (enhanced authentication). */
export interface AuthProperties {
  /** Enhanced authentication method, e.g. `SCRAM-SHA-256`. */
  authenticationMethod?: string;
  /** Data of the enhanced authentication exchange; its meaning is the method's. */
  authenticationData?: Uint8Array;
  /** Human-readable reason, for diagnostics only. */
  reasonString?: string;
  /** Name/value pairs for the application; MQTT gives them no meaning. */
  userProperties?: Array<[string, string]>;
}

/** The next step of an enhanced authentication, from {@link ConnectOptions.onAuth}. */
export interface AuthAnswer {
  /** Enhanced authentication method, e.g. `SCRAM-SHA-256`. */
  authenticationMethod?: string;
  /** Data of the enhanced authentication exchange; its meaning is the method's. */
  authenticationData?: BinaryLike;
  /** Human-readable reason, for diagnostics only. */
  reasonString?: string;
  /** Name/value pairs for the application; MQTT gives them no meaning. */
  userProperties?: UserPropertiesInput;
}

/** Levels of midge's log lines, lowest first. */
export type LogLevel = 'debug' | 'info' | 'warn';

/** What a {@link ConnectOptions.credentials} provider returns. */
export interface FreshCredentials {
  /** A user name for this attempt. */
  username?: string;
  /** A password for this attempt (a signed token, say). */
  password?: BinaryLike;
  /** 5.0 enhanced authentication data (the method stays `properties.authenticationMethod`). */
  authenticationData?: BinaryLike;
  /** A URL to open for this attempt instead of the configured one (a presigned WebSocket URL). */
  url?: string;
}

/** What `console` offers; any of the three methods may be left out. */
export interface MidgeLogger {
  /** Gets the `debug` lines. */
  debug?(line: string): void;
  /** Gets the `info` lines. */
  info?(line: string): void;
  /** Gets the `warn` lines. */
  warn?(line: string): void;
}

/** The `packetsend` and `packetreceive` events (MQTT.js has events of these names). */
export interface PacketInfo {
  /** `'PUBLISH'`, `'PUBACK'`, `'CONNECT'`, ... */
  type: string;
  /** The packet identifier (0 for packets without one). */
  id: number;
  /** PUBLISH only. */
  qos?: 0 | 1 | 2;
  /** PUBLISH only ('' when only a topic alias was sent). */
  topic?: string;
  /** Bytes on the wire. */
  size: number;
  /** The trace line, as the `logger` gets it at `'debug'`. */
  line: string;
}

/** The events of {@link MqttClient.on}: each event's name and the value its listeners get. */
export interface MqttEvents {
  /** Every CONNACK. */
  connect: ConnectInfo;
  /** A CONNACK after the connection had been lost. */
  reconnect: ConnectInfo;
  /**
   * A connection (or an attempt, the first one included with
   * `reconnect.onInitialFailure`) failed; the client tries again in
   * `reconnectIn` ms. `attempt` numbers that try (1 for the first retry),
   * counted by the core the same way in every runtime.
   */
  offline: {
    /** Why the connection or attempt failed. */
    error: MqttError;
    /** Milliseconds until the next attempt. */
    reconnectIn: number;
    /** The number of that attempt (1 for the first retry). */
    attempt: number;
  };
  /** A connection ended (whatever happens next). */
  close: MqttError;
  /** The client stopped for good on an error, or a store/listener failed. */
  error: MqttError;
  /** An application message arrived (every message, whatever the iterators hold). */
  message: Message;
  /** The client has ended; no more events. */
  end: MqttError;
  /** The broker had lost the session: the client subscribed again; its answer per filter. */
  subscriptionsRestored: RestoredSubscription[];
  /**
   * MQTT 5.0 AUTH from the server: reason 0x18 (continue; answer with
   * {@link MqttClient.auth}) or 0x00 (re-authentication succeeded).
   */
  auth: {
    /** 0x18 (continue authentication) or 0x00 (success). */
    reasonCode: number;
    /** The AUTH packet's properties. */
    properties: AuthProperties;
  };
  /**
   * A QoS 1/2 publish restored from the store (see
   * {@link MqttClient.restoredPublishes}) completed: its Promise belonged to
   * the page before the reload.
   */
  publishComplete: RestoredPublishComplete;
  /**
   * A 5.0 broker redirected the client (see {@link ConnectOptions.followRedirects});
   * the `close` of that connection follows.
   */
  redirect: RedirectInfo;
  /** A packet was handed to the socket (listening turns the per-packet trace on). */
  packetsend: PacketInfo;
  /** A packet arrived and was decoded. */
  packetreceive: PacketInfo;
}

/** The `redirect` event. */
export interface RedirectInfo {
  /** 0x9C Use Another Server (temporary) or 0x9D Server Moved (permanent). */
  reasonCode: number;
  /** The Server Reference as the broker sent it. */
  serverReference: string;
  /**
   * The URL of the first usable reference (a bare `host[:port]` keeps the
   * scheme, port and path), or undefined if none is usable.
   */
  target?: string;
  /** True when the next attempt goes to `target` at once. */
  followed: boolean;
}

/** An MQTT client: one connection to a broker, reconnected automatically; made by {@link connect}. */
export class MqttClient {
  /** The client id in use (the server-assigned one once known). */
  readonly clientId: string;
  /** Where the connection stands. */
  readonly state: 'connected' | 'connecting' | 'waiting' | 'closing' | 'disconnected';
  /** True while the connection is up (`state === 'connected'`). */
  readonly connected: boolean;
  /** Publishes waiting for the connection or for room in the in-flight window. */
  readonly queueLength: number;
  /**
   * Messages an iterator of {@link messages} could not keep because it was
   * full (`messageBuffer`): QoS 0 ones once it is being read, any before its
   * first `next()`. Listeners of `message` still got them.
   */
  readonly droppedMessages: number;
  /**
   * QoS 1/2 publishes the broker sent beyond our Receive Maximum, accepted
   * because `strictReceiveMaximum` is off.
   */
  readonly receiveMaximumOverruns: number;
  /**
   * PUBACK, PUBREC and PUBCOMP the broker sent for packet ids with no publish
   * waiting for them (e.g. resent after a reconnect): ignored, the
   * connection kept.
   */
  readonly unknownAcks: number;
  /**
   * Publishes the session store still held when the client was made (after
   * a reload): resent on connect; each QoS 1/2 one ends in a `publishComplete` event.
   */
  readonly restoredPublishes: RestoredPublish[];
  /**
   * Start connecting a client from {@link createClient}. Resolves with the
   * first CONNACK, across the retries `reconnect.onInitialFailure` allows;
   * rejects when the client stops first (the last attempt's error,
   * `CLIENT_DISCONNECT` after `end()`, `ABORTED` when `signal` aborts).
   * Called again, returns the same Promise.
   *
   * @example
   * const client = await createClient('ws://localhost:8080', { reconnect: { onInitialFailure: true } });
   * client.on('offline', (e) => status(`retrying in ${e.reconnectIn} ms (attempt ${e.attempt})`));
   * await client.connect({ signal: AbortSignal.timeout(60_000) });
   */
  connect(options?: { signal?: AbortSignal }): Promise<ConnectInfo>;
  /**
   * Publish a message. Resolves when acknowledged (QoS 1: PUBACK, QoS 2:
   * PUBCOMP; QoS 0: once accepted). While offline it waits in the queue.
   *
   * @example
   * await client.publish('greenhouse/roof/set', 'open', { qos: 1 });
   */
  publish(topic: string, payload: BinaryLike, options?: { qos?: 0 | 1 | 2; retain?: boolean; properties?: PublishProperties }): Promise<PublishResult>;
  /**
   * @example
   * const { granted } = await client.subscribe('greenhouse/#', { qos: 1 });
   */
  subscribe(filters: string | SubscribeFilter | Array<string | SubscribeFilter>, options?: SubscribeOptions): Promise<SubscribeResult>;
  /** Removes subscriptions; resolves with the broker's UNSUBACK. */
  unsubscribe(filters: string | string[], options?: { properties?: { userProperties?: UserPropertiesInput } }): Promise<UnsubscribeResult>;
  /**
   * MQTT 5.0 enhanced authentication: answer an `auth` event (reason 0x18)
   * with the next step, or with `{ reauthenticate: true }` start
   * re-authentication on the live connection.
   */
  auth(properties: { authenticationMethod?: string; authenticationData?: BinaryLike; reasonString?: string; userProperties?: UserPropertiesInput }, options?: { reauthenticate?: boolean }): void;
  /** Adds a listener for `event`. */
  on<K extends keyof MqttEvents>(event: K, listener: (value: MqttEvents[K]) => void): this;
  /** Removes a listener added with `on`. */
  off<K extends keyof MqttEvents>(event: K, listener: (value: MqttEvents[K]) => void): this;
  /**
   * Inbound messages as an async iterator; it ends with the client, after
   * the messages it holds. Each iterator gets every message, up to
   * `messageBuffer` unread ones. Until its first `next()` it holds nothing
   * back: it keeps the first `messageBuffer` messages and later ones pass it
   * by. Once read, a full iterator keeps QoS 1/2 messages unacknowledged (the
   * broker pauses at our Receive Maximum) and drops QoS 0 ones. Leaving the
   * loop gives up what it did not read.
   *
   * @example
   * for await (const m of client.messages()) console.log(m.topic, m.text());
   */
  messages(): AsyncIterableIterator<Message>;
  /**
   * DISCONNECT, stop reconnecting, release the socket and timer. Works
   * while the first connection is still being made (the `connect` Promise
   * rejects with `CLIENT_DISCONNECT`). Every call after it fails with
   * `CLIENT_CLOSED`.
   */
  end(options?: { reasonCode?: number; properties?: { sessionExpiryInterval?: number; reasonString?: string; userProperties?: UserPropertiesInput } }): Promise<void>;
}

/**
 * Connect over WebSockets (`ws://` or `wss://`, subprotocol `mqtt`), or in
 * Node also over TCP and TLS (`mqtt://`, `mqtts://`; `node:net`/`node:tls`,
 * loaded only for such URLs). Resolves once CONNACK accepted the connection. The URL (and each of
 * `servers`) needs a host, and takes no credentials (use `username` and
 * `password`) and no `#fragment`; a bad one rejects with `INVALID_ARGUMENT`.
 *
 * @example
 * import { connect } from 'midge-mqtt';
 * const client = await connect('ws://localhost:8080', { clientId: 'dashboard', keepalive: 30 });
 * client.on('message', (m) => console.log(m.topic, m.text()));
 * await client.subscribe('greenhouse/#', { qos: 1 });
 */
export function connect(url: string, options?: ConnectOptions): Promise<MqttClient>;

/**
 * Make a client without connecting: the page can listen (`offline` gives
 * the delay and attempt number) and call `end()` before the first CONNACK.
 * Same options as {@link connect}; start with {@link MqttClient.connect}.
 *
 * @example
 * import { createClient } from 'midge-mqtt';
 * const client = await createClient('ws://localhost:8080', { reconnect: { onInitialFailure: true } });
 * client.on('offline', (e) => console.log(`broker down, attempt ${e.attempt} in ${e.reconnectIn} ms`));
 * await client.connect();
 */
export function createClient(url: string, options?: ConnectOptions): Promise<MqttClient>;

/** A session store in IndexedDB (one record per client id). */
export function indexedDBStore(databaseName?: string): SessionStore & {
  /** Deletes the session saved for `clientId`. */
  clear(clientId: string): Promise<unknown>;
};

/** Load the wasm module ahead of `connect` (optional). */
export function initialize(wasm?: ConnectOptions['wasm']): Promise<unknown>;
