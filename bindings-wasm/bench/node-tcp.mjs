// midge-mqtt against MQTT.js in Node over TCP (mqtt://), in the same run and
// against the same mosquitto: one publisher and one subscriber in this
// process, 64-byte payloads, N messages at QoS 0, 1 and 2, the publisher at
// most WINDOW messages ahead of the subscriber. Prints msg/s (best of
// ROUNDS), this process's CPU time per message (user + system, all threads)
// and mosquitto's, and the ratios midge / MQTT.js.
//
//   node bindings-wasm/bench/node-tcp.mjs [N=20000] [WINDOW=100] [ROUNDS=3]
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import mqtt from 'mqtt';
import { startMosquitto } from '../e2e/lib/mosquitto.mjs';
import { connect } from '../npm/index.js';

const require = createRequire(import.meta.url);
const mqttVersion = require('mqtt/package.json').version;
const N = Number(process.argv[2] || 20000);
const WINDOW = Number(process.argv[3] || 100);
const ROUNDS = Number(process.argv[4] || 3);
for (const [name, v] of [['N', N], ['WINDOW', WINDOW], ['ROUNDS', ROUNDS]]) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a whole number >= 1, got ${v}`);
}
const PAYLOAD = new Uint8Array(64).fill(120);

/** mosquitto's CPU time so far, in ms (/proc, USER_HZ ticks of 10 ms). */
function brokerMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

/** The two clients of one kind, behind the same four calls. */
const CLIENTS = {
  async midge(url, topic, qos) {
    const sub = await connect(url, { protocolVersion: 5 });
    const pub = await connect(url, { protocolVersion: 5 });
    await sub.subscribe(topic, { qos });
    return {
      onMessage: (fn) => sub.on('message', fn),
      publish: (i) => pub.publish(topic, PAYLOAD, { qos }).catch((e) => Promise.reject(new Error(`publish ${i}: ${e.message}`))),
      end: async () => { await pub.end(); await sub.end(); },
    };
  },
  async 'MQTT.js'(url, topic, qos) {
    const sub = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 });
    const pub = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 });
    await sub.subscribeAsync(topic, { qos });
    return {
      onMessage: (fn) => sub.on('message', fn),
      publish: (i) => new Promise((resolve, reject) => pub.publish(topic, Buffer.from(PAYLOAD), { qos },
        (e) => (e ? reject(new Error(`publish ${i}: ${e.message}`)) : resolve()))),
      end: async () => { await pub.endAsync(); await sub.endAsync(); },
    };
  },
};

async function run(kind, url, brokerPid, qos, round) {
  const c = await CLIENTS[kind](url, `bench/node/${kind}/${qos}/${round}`, qos);
  let sent = 0;
  let received = 0;
  const completions = [];
  let wake;
  let finish;
  const done = new Promise((resolve) => { finish = resolve; });
  c.onMessage(() => {
    received++;
    if (wake && sent - received < WINDOW) {
      const w = wake;
      wake = undefined;
      w();
    }
    if (received === N) finish();
  });
  const cpu0 = process.cpuUsage();
  const broker0 = brokerMs(brokerPid);
  const t0 = performance.now();
  while (sent < N) {
    if (sent - received >= WINDOW) await new Promise((resolve) => { wake = resolve; });
    completions.push(c.publish(sent));
    sent++;
  }
  await done;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const brokerCpuMs = brokerMs(brokerPid) - broker0;
  // Every publish acknowledged before the clients end (a QoS 1/2 ack may
  // still be on its way when the last message arrived).
  await Promise.all(completions);
  await c.end();
  return {
    rate: N / seconds,
    clientUs: (cpu.user + cpu.system) / N,
    brokerUs: (brokerCpuMs * 1000) / N,
  };
}

const broker = await startMosquitto({ extra: ['set_tcp_nodelay true', 'max_inflight_messages 0'] });
const url = `mqtt://127.0.0.1:${broker.tcpPort}`;
console.log(`Node ${process.version}, mosquitto over TCP, ${N} messages of 64 B, window ${WINDOW}, best of ${ROUNDS}`);
console.log('client     QoS  msg/s     client CPU µs/msg  mosquitto CPU µs/msg');
try {
  for (const qos of [0, 1, 2]) {
    const best = {};
    for (let round = 0; round < ROUNDS; round++) {
      for (const kind of ['midge', 'MQTT.js']) {
        const r = await run(kind, url, broker.child.pid, qos, round);
        if (!best[kind] || r.rate > best[kind].rate) best[kind] = r;
      }
    }
    for (const kind of ['midge', 'MQTT.js']) {
      const r = best[kind];
      console.log(`${kind.padEnd(10)} ${qos}    ${Math.round(r.rate).toString().padEnd(9)} ${r.clientUs.toFixed(1).padEnd(18)} ${r.brokerUs.toFixed(1)}`);
    }
    const m = best.midge;
    const j = best['MQTT.js'];
    console.log(`ratio QoS ${qos}: midge/MQTT.js msg/s ${(m.rate / j.rate).toFixed(2)}x, MQTT.js/midge client CPU ${(j.clientUs / m.clientUs).toFixed(2)}x (MQTT.js ${mqttVersion})`);
  }
} finally {
  await broker.close();
}
