// The shared lifecycle scenarios (tests/scenarios/lifecycle.tsv) through the
// npm API. One module for Node (with the `ws` package) and Chromium (loaded
// by the page), so both run the same code. `midge` is the package module,
// `env` = { url, deadUrl, base } (base: options every client gets).

const RETRY = { minDelay: 20, maxDelay: 40, onInitialFailure: true };

/** The scenario vocabulary for what the application saw. */
function outcomeOf(e) {
  switch (e && e.code) {
    case 'CLIENT_CLOSED': return 'closed';
    case 'INTERRUPTED': return 'interrupted';
    case 'CLIENT_DISCONNECT': return 'stopped';
    case 'TRANSPORT_CLOSED': return 'transport';
    default: return `unexpected ${e && e.code}: ${e && e.message}`;
  }
}

async function outcome(fn) {
  try {
    await fn();
    return 'ok';
  } catch (e) {
    return outcomeOf(e);
  }
}

let ids = 0;
const uniqueId = (prefix) => `${prefix}-${Date.now().toString(36)}-${ids++}`;

async function closedClient(midge, env) {
  const c = await midge.connect(env.url, env.base);
  await c.end();
  return c;
}

const offlineClient = (midge, env) => midge.createClient(env.deadUrl, { ...env.base, reconnect: RETRY });

export const runners = {
  'publish-qos0-after-disconnect': async (midge, env) => {
    const c = await closedClient(midge, env);
    return outcome(() => c.publish('scn/t', 'x', { qos: 0 }));
  },
  'publish-qos1-after-disconnect': async (midge, env) => {
    const c = await closedClient(midge, env);
    return outcome(() => c.publish('scn/t', 'x', { qos: 1 }));
  },
  'subscribe-after-disconnect': async (midge, env) => {
    const c = await closedClient(midge, env);
    return outcome(() => c.subscribe('scn/#', { qos: 1 }));
  },
  'queued-qos1-publish-at-disconnect': async (midge, env) => {
    const c = await offlineClient(midge, env);
    const connecting = outcome(() => c.connect());
    const publishing = outcome(() => c.publish('scn/q', 'x', { qos: 1 }));
    await c.end();
    await connecting;
    return publishing;
  },
  'queued-qos1-publish-before-connect': async (midge, env) => {
    const c = await offlineClient(midge, env);
    const publishing = outcome(() => c.publish('scn/q', 'x', { qos: 1 }));
    await c.end();
    return publishing;
  },
  'queued-subscribe-at-disconnect': async (midge, env) => {
    const c = await offlineClient(midge, env);
    const connecting = outcome(() => c.connect());
    const subscribing = outcome(() => c.subscribe('scn/#', { qos: 1 }));
    await c.end();
    await connecting;
    return subscribing;
  },
  'disconnect-while-retrying-first-connection': async (midge, env) => {
    const c = await offlineClient(midge, env);
    const connecting = outcome(() => c.connect());
    await c.end();
    return connecting;
  },
  'first-connection-refused': (midge, env) => outcome(() => midge.connect(env.deadUrl, env.base)),
  'retries-are-numbered': async (midge, env) => {
    const c = await offlineClient(midge, env);
    const attempts = [];
    const three = new Promise((resolve) => c.on('offline', (e) => {
      if (attempts.push(e.attempt) === 3) resolve();
    }));
    const connecting = outcome(() => c.connect());
    await three;
    await c.end();
    await connecting;
    return `attempts:${attempts.slice(0, 3).join(',')}`;
  },
  'graceful-disconnect': async (midge, env) => {
    const watcher = await midge.connect(env.url, env.base);
    const id = uniqueId('scn-graceful');
    let delivered = 0;
    let will = 0;
    const marker = new Promise((resolve) => watcher.on('message', (m) => {
      if (m.topic === `scn/graceful/data/${id}`) delivered++;
      if (m.topic === `scn/graceful/will/${id}`) will++;
      if (m.topic === `scn/graceful/marker/${id}`) resolve();
    }));
    await watcher.subscribe('scn/graceful/#', { qos: 1 });
    const c = await midge.connect(env.url, { ...env.base, clientId: id, will: { topic: `scn/graceful/will/${id}`, payload: 'gone', qos: 1 } });
    await c.subscribe(`scn/graceful/data/${id}`, { qos: 0 });
    for (let i = 0; i < 4; i++) c.publish(`scn/graceful/data/${id}`, `d${i}`, { qos: 0 });
    await c.end();
    await watcher.publish(`scn/graceful/marker/${id}`, 'end', { qos: 1 });
    await marker;
    await watcher.end();
    return `delivered:${delivered},will:${will}`;
  },
};

/** Parse the TSV: [{ id, expected, description }]. */
export function parseScenarios(text) {
  return text.split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const [id, expected, description] = line.split('\t');
      return { id, expected, description };
    });
}
