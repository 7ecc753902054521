// `npm install midge-mqtt` as a real app does it: bare import, bundled by Vite.
import { connect } from 'midge-mqtt';

const out = document.getElementById('out');
const broker = new URLSearchParams(location.search).get('broker');
try {
  const client = await connect(broker);
  await client.subscribe('vite/echo', { qos: 1 });
  const got = new Promise((resolve) => client.on('message', (m) => resolve(m.text())));
  await client.publish('vite/echo', 'bundled', { qos: 1 });
  out.textContent = 'echo: ' + (await got);
  await client.end();
} catch (e) {
  out.textContent = 'error: ' + e.code + ' ' + e.message;
}
