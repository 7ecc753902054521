// The greenhouse dashboard: live sensor values from `greenhouse/#` and a
// roof command, over MQTT over WebSockets with midge-mqtt.
// Broker: ?broker=ws://host:port (default ws://127.0.0.1:8080).
import { connect } from 'midge-mqtt';

const broker = new URLSearchParams(location.search).get('broker') || 'ws://127.0.0.1:8080';
const $ = (id) => document.getElementById(id);
const status = (text) => { $('status').textContent = text; };

const client = await connect(broker, { clientId: 'greenhouse-dashboard-' + Math.random().toString(16).slice(2, 8), keepalive: 30 });
status(`connected to ${broker}`);
client.on('offline', (e) => status(`offline (${e.error.code}), retrying in ${Math.round(e.reconnectIn)} ms`));
client.on('reconnect', () => status(`connected to ${broker}`));

const show = {
  'greenhouse/temperature': (v) => { $('temperature').textContent = `${Number(v).toFixed(1)} °C`; },
  'greenhouse/humidity': (v) => { $('humidity').textContent = `${Math.round(Number(v))} %`; },
  'greenhouse/roof': (v) => { $('roof').textContent = v; },
};
client.on('message', (m) => show[m.topic]?.(m.text()));
await client.subscribe('greenhouse/#', { qos: 1 });

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
window.greenhouseReady = true;
