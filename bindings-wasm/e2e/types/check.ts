// Compiled with `tsc --noEmit` by types.test.mjs: the hand-written index.d.ts
// must describe the API as the README and the tests use it.
import { connect, createClient, indexedDBStore, initialize, MqttError, Message, MqttClient, ConnectInfo } from '../../npm/index.js';

async function main(): Promise<void> {
  await initialize();
  const client: MqttClient = await connect('ws://localhost:8080', {
    clientId: 'dash',
    protocolVersion: 5,
    clean: false,
    keepalive: 30,
    username: 'u',
    password: new Uint8Array([1]),
    will: { topic: 'w', payload: 'bye', qos: 1, retain: true, properties: { willDelayInterval: 5 } },
    reconnect: { minDelay: 100, maxDelay: 5000, onInitialFailure: true },
    servers: ['wss://backup.example/mqtt'],
    maxQueuedMessages: 1000,
    properties: { sessionExpiryInterval: 3600, userProperties: { app: 'x' } },
    store: indexedDBStore(),
    manualAcks: true,
    onAuth: async ({ reasonCode, properties }) => ({
      authenticationMethod: properties.authenticationMethod,
      authenticationData: reasonCode === 0x18 ? 'next step' : new Uint8Array(0),
    }),
  });
  client.on('subscriptionsRestored', (list) => console.log(list[0]?.topic, list[0]?.reasonCode));
  client.on('publishComplete', (p) => console.log(p.token, p.topic, p.reasonCode, p.error?.code));
  client.on('auth', ({ reasonCode, properties }) => {
    if (reasonCode === 0x18) client.auth({ authenticationMethod: properties.authenticationMethod, authenticationData: 'step' });
  });
  const restored: number = client.restoredPublishes.length;
  console.log(restored);
  client.on('message', (m: Message) => console.log(m.topic, m.text(), m.properties?.contentType));
  client.on('offline', ({ error, reconnectIn, attempt }) => console.log(error.code, reconnectIn, attempt));
  const early: MqttClient = await createClient('ws://localhost:8080', { signal: AbortSignal.timeout(1000) });
  const info: ConnectInfo = await early.connect({ signal: new AbortController().signal });
  console.log(info.sessionPresent, early.state === 'waiting');
  client.on('error', (e: MqttError) => console.log(e.reasonCode));
  const { granted } = await client.subscribe(['a/#', { topic: 'b', qos: 2, noLocal: true }], { qos: 1 });
  const q: 0 | 1 | 2 | undefined = granted[0].qos;
  const r = await client.publish('a/b', 'x', { qos: 2, retain: false, properties: { contentType: 'text/plain', userProperties: [['k', 'v']] } });
  const n: number = r.reasonCode;
  await client.unsubscribe('a/#');
  for await (const m of client.messages()) {
    const bytes: Uint8Array = m.payload;
    m.ack();
    console.log(bytes.length, q, n);
    break;
  }
  try {
    await client.end({ reasonCode: 4 });
  } catch (e) {
    if (e instanceof MqttError) console.log(e.code === 'INVALID_ARGUMENT');
  }
}
void main;
