// The greenhouse dashboard: live sensor values from `greenhouse/#` and a
// roof command, over MQTT over WebSockets with midge-mqtt.
// Broker: ?broker=ws://host:port (default ws://127.0.0.1:8080).
import { createClient } from 'midge-mqtt';

const broker = new URLSearchParams(location.search).get('broker') || 'ws://127.0.0.1:8080';
const $ = (id) => document.getElementById(id);
const status = (text) => { $('status').textContent = text; };
// The roof buttons work only while a command can reach the broker.
const online = (yes) => { for (const id of ['open', 'close']) $(id).disabled = !yes; };

// The client exists before the first CONNACK, so the page can say that the
// broker is down and when the next attempt comes, instead of "connecting…".
const client = await createClient(broker, {
  clientId: 'greenhouse-dashboard-' + Math.random().toString(16).slice(2, 8),
  keepalive: 30,
  reconnect: { minDelay: 1000, maxDelay: 10000, onInitialFailure: true },
});
client.on('connect', () => { status(`connected to ${broker}`); online(true); });
client.on('offline', (e) => {
  online(false);
  status(`broker unreachable (${e.error.code}), attempt ${e.attempt} in ${Math.ceil(e.reconnectIn / 1000)} s`);
});
client.on('end', (e) => { online(false); status(`stopped: ${e.message}`); });

const show = {
  'greenhouse/temperature': (v) => { $('temperature').textContent = `${Number(v).toFixed(1)} °C`; },
  'greenhouse/humidity': (v) => { $('humidity').textContent = `${Math.round(Number(v))} %`; },
  'greenhouse/roof': (v) => { $('roof').textContent = v; },
};
client.on('message', (m) => show[m.topic]?.(m.text()));

const command = async (action) => {
  try {
    await client.publish('greenhouse/roof/set', action, { qos: 1 });
    status(`sent: ${action}`);
  } catch (e) {
    status(`could not send ${action}: ${e.message}`);
  }
};
$('open').addEventListener('click', () => command('open'));
$('close').addEventListener('click', () => command('close'));
window.greenhouseClient = client;
window.greenhouseReady = true;

try {
  // The SUBSCRIBE waits for the first CONNACK; after a reconnect that lost
  // the session, the core subscribes again by itself.
  await Promise.all([client.connect(), client.subscribe('greenhouse/#', { qos: 1 })]);
} catch (e) {
  online(false);
  status(`could not connect to ${broker}: ${e.message}`);
}
