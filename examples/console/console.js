// An MQTT console in the spirit of the Paho GUI tool, through midge-mqtt:
// connect / disconnect, subscribe and publish, a live message list, every
// connection event and error (with its typed code) in one pane, and midge's
// own log lines (the `logger` option; packet lines at debug) in another.
// Broker: ?broker=ws://host:port fills in the URL (default ws://127.0.0.1:8080).
import { createClient } from 'midge-mqtt';

const $ = (id) => document.getElementById(id);
const MAX_ROWS = { messages: 500, events: 500, log: 2000 };

const broker = new URLSearchParams(location.search).get('broker');
if (broker) $('url').value = broker;

/** The client from Connect until its `end` event; undefined otherwise. */
let client;
/** Protocol version of the current client (the 5.0 publish fields follow it). */
let version = 5;
/** The pending "connecting again" timer of a reconnect. */
let retryTimer;
/** Topic filter -> granted QoS, as the broker answered. */
const subscriptions = new Map();

// ---- small helpers -------------------------------------------------------

const clock = (d = new Date()) => {
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
};
const el = (tag, props = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k in e) e[k] = v;
    else e.setAttribute(k, v);
  }
  e.append(...children.filter((c) => c !== undefined && c !== null));
  return e;
};
const stamp = (d = new Date()) => el('time', { dateTime: d.toISOString(), textContent: clock(d) });
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
const reason = (rc) => `0x${rc.toString(16).padStart(2, '0').toUpperCase()}`;

/** An MqttError (or anything thrown) as code, reason code and message. */
const describe = (e) => ({
  code: e?.code || e?.name || 'Error',
  reasonCode: typeof e?.reasonCode === 'number' ? e.reasonCode : undefined,
  message: e?.message || String(e),
});
/** `CODE (reason 0x87): message` as nodes, the code in its own element. */
const errorNodes = (e) => {
  const d = describe(e);
  return [
    el('code', { className: 'err-code', textContent: d.code }),
    d.reasonCode !== undefined ? ` (reason ${reason(d.reasonCode)})` : '',
    `: ${d.message}`,
  ];
};
const errorText = (e) => {
  const d = describe(e);
  return `${d.code}${d.reasonCode !== undefined ? ` (reason ${reason(d.reasonCode)})` : ''}: ${d.message}`;
};

/** Add a row to a pane, keeping at most `max` rows (the oldest go). */
const addRow = (list, li, { max, newestFirst }) => {
  if (newestFirst) {
    list.prepend(li);
    while (list.children.length > max) list.lastElementChild.remove();
  } else {
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 24;
    list.append(li);
    while (list.children.length > max) list.firstElementChild.remove();
    if (atBottom) list.scrollTop = list.scrollHeight;
  }
};

// ---- the panes ------------------------------------------------------------

/** One row of the events pane: `kind` (connected, disconnected, reconnecting, error, ...). */
const event = (kind, ...text) => {
  addRow($('events'), el('li', { className: 'event', dataset: { kind } },
    stamp(), el('span', { className: 'chip', textContent: kind }), el('span', { className: 'text' }, ...text)),
  { max: MAX_ROWS.events, newestFirst: true });
};
const errorEvent = (what, e) => event('error', `${what}: `, ...errorNodes(e));

/** midge's own lines (the `logger` option). */
const log = (level, line) => {
  addRow($('log'), el('li', { dataset: { level } },
    stamp(), el('span', { className: 'level', textContent: level }), el('span', { className: 'line', textContent: line })),
  { max: MAX_ROWS.log, newestFirst: false });
};

const propertyRows = (p) => {
  const rows = [];
  if (!p) return rows;
  if (p.contentType !== undefined) rows.push(['content type', p.contentType]);
  if (p.payloadFormatIndicator !== undefined) rows.push(['payload format', p.payloadFormatIndicator ? 'UTF-8' : 'bytes']);
  if (p.messageExpiryInterval !== undefined) rows.push(['expiry', `${p.messageExpiryInterval} s`]);
  if (p.responseTopic !== undefined) rows.push(['response topic', p.responseTopic]);
  if (p.correlationData !== undefined) rows.push(['correlation data', hex(p.correlationData)]);
  if (p.topicAlias !== undefined) rows.push(['topic alias', String(p.topicAlias)]);
  if (p.subscriptionIdentifiers?.length) rows.push(['subscription ids', p.subscriptionIdentifiers.join(', ')]);
  for (const [k, v] of p.userProperties || []) rows.push(['user property', `${k}=${v}`]);
  return rows;
};

const utf8 = new TextDecoder('utf-8', { fatal: true });
const payloadNode = (m) => {
  const shown = m.payload.subarray(0, 4096);
  const more = m.payload.length > shown.length ? ` … (${m.payload.length} bytes)` : '';
  try {
    const text = utf8.decode(shown);
    return el('pre', { className: 'payload', textContent: (text === '' ? '(empty)' : text) + more });
  } catch {
    return el('pre', { className: 'payload binary', textContent: `${hex(shown)}${more} (${m.payload.length} bytes, binary)` });
  }
};

let received = 0;
const showMessage = (m) => {
  received += 1;
  $('messageCount').textContent = String(received);
  const props = propertyRows(m.properties);
  const li = el('li', { className: 'message' },
    el('div', { className: 'meta' },
      stamp(),
      el('span', { className: 'topic', textContent: m.topic }),
      el('span', { className: 'chip qos', textContent: `QoS ${m.qos}` }),
      m.retain ? el('span', { className: 'chip retain', textContent: 'retained' }) : undefined),
    payloadNode(m),
    props.length ? el('dl', { className: 'props', 'aria-label': 'MQTT 5.0 properties' },
      ...props.map(([k, v]) => el('div', {}, el('dt', { textContent: `${k}:` }), el('dd', { textContent: v })))) : undefined);
  addRow($('messages'), li, { max: MAX_ROWS.messages, newestFirst: true });
};

const showSubscriptions = () => {
  const list = $('subscriptions');
  list.replaceChildren(...[...subscriptions].map(([filter, qos]) => el('li', {},
    el('span', { className: 'filter', textContent: filter }),
    el('span', { className: 'chip', textContent: `QoS ${qos}` }),
    el('button', { type: 'button', className: 'secondary small', textContent: 'Unsubscribe',
      'aria-label': `Unsubscribe from ${filter}`, onclick: () => unsubscribe(filter) }))));
};

// ---- state ----------------------------------------------------------------

/**
 * The badge: connecting | connected | reconnecting | disconnected | failed,
 * its text, and a line of detail under the title.
 */
const setState = (state, text, detail = '') => {
  $('state').dataset.state = state;
  $('state').textContent = text;
  $('stateDetail').textContent = detail;
};

/** What may be used: the connection options without a client, the rest with one. */
const setControls = () => {
  const active = !!client;
  $('connection').disabled = active;
  $('connect').disabled = active;
  $('disconnect').disabled = !active;
  $('subscribe').disabled = !active;
  $('publish').disabled = !active;
  $('pubV5').disabled = (active ? version : Number($('version').value)) !== 5;
};

$('version').addEventListener('change', setControls);

// ---- connect / disconnect -------------------------------------------------

const connectOptions = () => {
  const options = {
    protocolVersion: Number($('version').value),
    clean: $('clean').checked,
    keepalive: Number($('keepalive').value),
    reconnect: $('reconnect').checked ? { minDelay: 500, maxDelay: 5000 } : false,
    logger: log,
    logLevel: $('packetLog').checked ? 'debug' : 'info',
    logPayloads: $('logPayloads').checked,
  };
  if ($('clientId').value) options.clientId = $('clientId').value;
  if ($('username').value) options.username = $('username').value;
  if ($('password').value) options.password = $('password').value;
  if ($('willTopic').value) {
    options.will = { topic: $('willTopic').value, payload: $('willPayload').value,
      qos: Number($('willQos').value), retain: $('willRetain').checked };
  }
  return options;
};

/** Every connection event of `c` into the events pane and the badge. */
const listen = (c, url) => {
  const mine = (fn) => (v) => { if (client === c) fn(v); };
  c.on('connect', mine((info) => {
    clearTimeout(retryTimer);
    $('clientId').value = info.clientId;
    const props = Object.entries(info.properties || {}).map(([k, v]) => `${k}=${Array.isArray(v) ? JSON.stringify(v) : v}`);
    event('connected', `${info.reconnected ? 'connected again' : 'connected'} to ${url} as "${info.clientId}", `
      + `session present: ${info.sessionPresent ? 'yes' : 'no'}${props.length ? `; CONNACK ${props.join(', ')}` : ''}`);
    setState('connected', 'connected', `to ${url} as ${info.clientId} (session present: ${info.sessionPresent ? 'yes' : 'no'})`);
  }));
  // `reconnect` comes with every `connect` that has `reconnected: true`:
  // that row says it already.
  c.on('close', mine((e) => {
    if (e.code === 'CLIENT_DISCONNECT') event('disconnected', 'disconnected by the client');
    else event('disconnected', 'disconnected: ', ...errorNodes(e));
  }));
  c.on('offline', mine(({ error, reconnectIn, attempt }) => {
    event('reconnecting', `reconnecting in ${reconnectIn} ms (attempt ${attempt}) after ${describe(error).code}`);
    setState('reconnecting', `reconnecting in ${reconnectIn} ms, attempt ${attempt}`, `lost: ${errorText(error)}`);
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => {
      if (client === c && !c.connected) setState('connecting', `connecting, attempt ${attempt}…`, `to ${url}`);
    }, reconnectIn);
  }));
  c.on('redirect', mine((r) => {
    event('redirect', `broker redirected (reason ${reason(r.reasonCode)}) to "${r.serverReference}"`
      + `${r.target ? `: ${r.target}` : ': no usable reference'}${r.followed ? ', following it' : ', not followed'}`);
  }));
  c.on('subscriptionsRestored', mine((restored) => {
    for (const s of restored) if (s.qos !== undefined) subscriptions.set(s.topic, s.qos); else subscriptions.delete(s.topic);
    showSubscriptions();
    event('resubscribed', `the broker had lost the session; subscribed again: ${restored.map((s) =>
      `${s.topic} ${s.qos !== undefined ? `QoS ${s.qos}` : `refused (${reason(s.reasonCode)})`}`).join(', ')}`);
  }));
  c.on('auth', mine(({ reasonCode }) => event('auth', `AUTH from the broker (reason ${reason(reasonCode)})`)));
  c.on('error', mine((e) => errorEvent('client error', e)));
  c.on('message', mine(showMessage));
  c.on('end', mine((e) => {
    clearTimeout(retryTimer);
    client = undefined;
    subscriptions.clear();
    showSubscriptions();
    if (e.code === 'CLIENT_DISCONNECT') {
      event('stopped', 'client ended by the user');
      setState('disconnected', 'disconnected', 'ended by the user');
    } else {
      event('stopped', 'client stopped (no more attempts): ', ...errorNodes(e));
      setState('failed', `disconnected: ${describe(e).code}`, errorText(e));
    }
    setControls();
  }));
};

$('connectionForm').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  if (client) return;
  const url = $('url').value.trim();
  const options = connectOptions();
  $('logLevel').textContent = `level: ${options.logLevel}`;
  $('connect').disabled = true;
  setState('connecting', 'connecting…', `to ${url}`);
  event('connecting', `connecting to ${url} (MQTT ${options.protocolVersion === 5 ? '5.0' : '3.1.1'}`
    + `${options.username ? `, user ${options.username}` : ''})`);
  let c;
  try {
    c = await createClient(url, options);
  } catch (e) {
    // A bad URL or option: no client was made.
    errorEvent('could not start', e);
    setState('failed', `disconnected: ${describe(e).code}`, errorText(e));
    setControls();
    return;
  }
  client = c;
  version = options.protocolVersion;
  listen(c, url);
  setControls();
  try {
    await c.connect();
  } catch (e) {
    // The `end` event has set the badge; the error gets its own row.
    if (e.code !== 'CLIENT_DISCONNECT') errorEvent('connect failed', e);
  }
});

$('disconnect').addEventListener('click', async () => {
  const c = client;
  if (!c) return;
  $('disconnect').disabled = true;
  try {
    await c.end();
  } catch (e) {
    errorEvent('disconnect failed', e);
  }
});

// ---- subscribe / publish --------------------------------------------------

const result = (id, text, bad = false) => {
  $(id).textContent = text;
  $(id).classList.toggle('bad', bad);
};

$('subscribeForm').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const c = client;
  const filter = $('subFilter').value;
  const qos = Number($('subQos').value);
  result('subResult', `subscribing to ${filter}…`);
  try {
    const r = await c.subscribe(filter, { qos });
    const parts = [];
    for (const g of r.granted) {
      if (g.qos !== undefined) {
        subscriptions.set(g.topic, g.qos);
        parts.push(`${g.topic}: granted QoS ${g.qos}`);
      } else {
        parts.push(`${g.topic}: refused (reason ${reason(g.reasonCode)})`);
        event('error', `subscription to ${g.topic} refused: `, el('code', { className: 'err-code', textContent: reason(g.reasonCode) }));
      }
    }
    showSubscriptions();
    result('subResult', parts.join(', '), r.granted.some((g) => g.qos === undefined));
  } catch (e) {
    result('subResult', errorText(e), true);
    errorEvent(`subscribe to ${filter} failed`, e);
  }
});

async function unsubscribe(filter) {
  const c = client;
  if (!c) return;
  result('subResult', `unsubscribing from ${filter}…`);
  try {
    await c.unsubscribe(filter);
    subscriptions.delete(filter);
    showSubscriptions();
    result('subResult', `unsubscribed from ${filter}`);
  } catch (e) {
    result('subResult', errorText(e), true);
    errorEvent(`unsubscribe from ${filter} failed`, e);
  }
}

/** `key=value` lines into user property pairs. */
const userProperties = (text) => text.split('\n').map((l) => l.trim()).filter(Boolean).map((line) => {
  const at = line.indexOf('=');
  if (at <= 0) throw Object.assign(new Error(`user property "${line}" is not key=value`), { code: 'INVALID_ARGUMENT' });
  return [line.slice(0, at).trim(), line.slice(at + 1).trim()];
});

$('publishForm').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const c = client;
  const topic = $('pubTopic').value;
  const options = { qos: Number($('pubQos').value), retain: $('pubRetain').checked };
  try {
    if (version === 5) {
      const properties = {};
      if ($('pubContentType').value) properties.contentType = $('pubContentType').value;
      const pairs = userProperties($('pubUserProps').value);
      if (pairs.length) properties.userProperties = pairs;
      if (Object.keys(properties).length) options.properties = properties;
    }
  } catch (e) {
    result('pubResult', errorText(e), true);
    return;
  }
  result('pubResult', c.connected ? `publishing to ${topic}…` : `queued for ${topic} until connected…`);
  try {
    const r = await c.publish(topic, $('pubPayload').value, options);
    const note = r.reasonCode === 0x10 ? ', no matching subscribers' : '';
    result('pubResult', `published to ${topic} at QoS ${options.qos} (reason ${reason(r.reasonCode)}${note})`);
  } catch (e) {
    result('pubResult', errorText(e), true);
    errorEvent(`publish to ${topic} failed`, e);
  }
});

// ---- clear buttons ----------------------------------------------------------

$('clearMessages').addEventListener('click', () => {
  $('messages').replaceChildren();
  received = 0;
  $('messageCount').textContent = '0';
});
$('clearEvents').addEventListener('click', () => $('events').replaceChildren());
$('clearLog').addEventListener('click', () => $('log').replaceChildren());

setControls();
window.consoleReady = true;
