// An MQTT console in the spirit of the Paho GUI tool: connect/disconnect,
// publish, subscribe with a live message list; all through midge-mqtt.
import { connect } from 'midge-mqtt';

const $ = (id) => document.getElementById(id);
let client;

const setState = (text) => {
  $('state').textContent = text;
  const on = text === 'connected';
  $('connect').disabled = !!client;
  for (const id of ['disconnect', 'doPublish', 'doSubscribe', 'doUnsubscribe']) $(id).disabled = !on;
};

$('connect').addEventListener('click', async () => {
  const options = {
    keepalive: Number($('keepalive').value),
    clean: $('clean').checked,
    protocolVersion: Number($('version').value),
    reconnect: { minDelay: 500, maxDelay: 5000 },
  };
  if ($('clientId').value) options.clientId = $('clientId').value;
  if ($('username').value) options.username = $('username').value;
  if ($('password').value) options.password = $('password').value;
  if ($('willTopic').value) {
    options.will = { topic: $('willTopic').value, payload: $('willPayload').value, qos: Number($('willQos').value), retain: $('willRetain').checked };
  }
  setState('connecting');
  $('connect').disabled = true;
  try {
    client = await connect($('url').value, options);
  } catch (e) {
    client = undefined;
    setState(`failed: ${e.code}${e.reasonCode !== undefined ? ` (reason ${e.reasonCode})` : ''}: ${e.message}`);
    return;
  }
  $('clientId').value = client.clientId;
  client.on('offline', (e) => setState(`offline (${e.error.code}), retrying`));
  client.on('reconnect', () => setState('connected'));
  client.on('end', () => { client = undefined; setState('disconnected'); });
  client.on('message', (m) => {
    const li = document.createElement('li');
    li.textContent = `${m.topic} [QoS ${m.qos}${m.retain ? ', retained' : ''}] ${m.text()}`;
    $('messages').prepend(li);
  });
  setState('connected');
});

$('disconnect').addEventListener('click', async () => {
  await client?.end();
});

$('doPublish').addEventListener('click', async () => {
  try {
    const r = await client.publish($('pubTopic').value, $('pubPayload').value, { qos: Number($('pubQos').value), retain: $('pubRetain').checked });
    $('pubResult').textContent = `published (reason ${r.reasonCode})`;
  } catch (e) {
    $('pubResult').textContent = `${e.code}: ${e.message}`;
  }
});

$('doSubscribe').addEventListener('click', async () => {
  try {
    const r = await client.subscribe($('subFilter').value, { qos: Number($('subQos').value) });
    $('subResult').textContent = r.granted.map((g) => `${g.topic}: ${g.qos !== undefined ? `granted QoS ${g.qos}` : `refused (${g.reasonCode})`}`).join(', ');
  } catch (e) {
    $('subResult').textContent = `${e.code}: ${e.message}`;
  }
});

$('doUnsubscribe').addEventListener('click', async () => {
  try {
    await client.unsubscribe($('subFilter').value);
    $('subResult').textContent = `unsubscribed from ${$('subFilter').value}`;
  } catch (e) {
    $('subResult').textContent = `${e.code}: ${e.message}`;
  }
});
window.consoleReady = true;
