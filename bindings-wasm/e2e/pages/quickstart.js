// The README's browser quick start, verbatim except for the broker URL
// (the test's mosquitto listens on a free port, passed as ?broker=).
const brokerUrl = new URLSearchParams(location.search).get('broker');
window.log = [];
console.log = (...args) => window.log.push(args.join(' '));

// --- README quick start ---
import { connect, MqttError } from 'midge-mqtt';

const client = await connect(brokerUrl /* 'ws://localhost:8080' */, { clientId: 'dashboard-1', keepalive: 30 });
client.on('message', (m) => console.log(m.topic, m.text()));
await client.subscribe('greenhouse/#', { qos: 1 });
const messages = client.messages(); // buffers from now on
const { reasonCode } = await client.publish('greenhouse/roof/set', 'open', { qos: 1 });
for await (const m of messages) {
  if (m.topic === 'greenhouse/roof/set') break; // our own command came back
}
try {
  await client.publish('greenhouse/#', 'x');
} catch (e) {
  console.log(e instanceof MqttError, e.code); // true INVALID_ARGUMENT
}
await client.end();
// --- end ---

window.quickstartDone = reasonCode;
