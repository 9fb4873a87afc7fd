// A reconnect storm against parley-edge: 500 and then 5,000 clients of
// one team open rtm.connect and the WebSocket on a freshly started edge
// at once, each resuming from the epoch and sequence number it had.
// Every client must be served (hello, then the next message), and the
// backend must see the same small number of requests for the team
// whatever the number of clients: one subscription and one snapshot,
// no forwarded call, no Web API request.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { makeTeam, sleep, until } from './rtm-lib.mjs';
import { makeCerts } from './stream-lib.mjs';
import { Edge, streamBackend } from './edge-lib.mjs';

const USERS = 50;

// The backend's counters that a request about the team moves.
async function backendLoad(b) {
  const r = await fetch(`${b.url}/metrics`,
    { signal: AbortSignal.timeout(5000) });
  const text = await r.text();
  const get = (name) => {
    let sum = 0;
    for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ` +
      '(\\d+)$', 'gm')))
      sum += Number(m[1]);
    return sum;
  };
  return {
    subscribes: get('parley_stream_subscribes_total'),
    snapshots: get('parley_stream_snapshots_total'),
    forwards: get('parley_stream_forwards_total'),
    api: get('parley_api_requests_total'),
    rtm: get('parley_rtm_connections_total'),
  };
}

function delta(a, b) {
  const d = {};
  for (const k of Object.keys(a))
    d[k] = b[k] - a[k];
  return d;
}

// One client: rtm.connect on the edge with the resume point, then the
// WebSocket; resolves once its hello is in.  Messages are kept in msgs.
async function connectClient(e, token, epoch, seq) {
  let res;
  for (let i = 0; ; i++) {
    const r = await fetch(`${e.url}/api/rtm.connect`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`,
        'Content-Type': 'application/x-www-form-urlencoded' },
      body: `parley_epoch=${epoch}&parley_seq=${seq}`,
      signal: AbortSignal.timeout(60000),
    });
    res = await r.json();
    if (res.ok || i >= 20 || r.status !== 503)
      break;
    // the edge's team is still loading: come back as an SDK would
    await sleep(Number(r.headers.get('Retry-After') || 1) * 1000);
  }
  if (!res.ok)
    throw new Error(`rtm.connect: ${res.error}`);
  const c = { msgs: [], ws: new WebSocket(res.url,
    { perMessageDeflate: false, handshakeTimeout: 60000 }) };
  c.ws.on('message', (d) => c.msgs.push(JSON.parse(d.toString())));
  await new Promise((resolve, reject) => {
    c.ws.once('error', reject);
    c.ws.on('message', function hello() {
      if (c.msgs.some((m) => m.type === 'hello')) {
        c.ws.off('message', hello);
        resolve();
      }
    });
  });
  return c;
}

describe('edge reconnect storm', { timeout: 600000 }, () => {
  let b, certs, t, epoch, seq;
  const edges = [];

  before(async () => {
    certs = makeCerts();
    b = await streamBackend(certs);
    const names = Array.from({ length: USERS }, (_, i) => `u${i}`);
    t = await makeTeam(b, 'stormers', names);
    const r = await b.api('rtm.connect', t.users.u0.token);
    assert.equal(r.ok, true);
    epoch = r.epoch;
    seq = r.last_seq;
  });

  after(async () => {
    for (const e of edges)
      await e.stop().catch(() => {});
    await b?.stop();
    if (certs)
      fs.rmSync(certs, { recursive: true, force: true });
  });

  // Starts a cold edge, storms it with n clients, checks that all are
  // served, and returns what the backend saw meanwhile.
  async function storm(n) {
    const e = new Edge(b, certs, { name: `storm${n}`,
      extra: 'max_conns = 20000\nrtm_max_conns = 20000\n' });
    edges.push(e);
    await e.start();
    const before = await backendLoad(b);
    const clients = await Promise.all(Array.from({ length: n }, (_, i) =>
      connectClient(e, t.users[`u${i % USERS}`].token, epoch, seq)));
    const during = delta(before, await backendLoad(b));

    // every client is live: the next message reaches each one
    const text = `after the storm of ${n}`;
    const p = await b.api('chat.postMessage', t.users.u1.token,
      { channel: t.general, text });
    assert.equal(p.ok, true);
    await until(() => clients.every((c) => c.msgs.some((m) =>
      m.type === 'message' && m.text === text)), 120000,
    `the message at all ${n} clients`);
    for (const c of clients)
      c.ws.terminate();
    await e.stop();
    edges.pop();
    return during;
  }

  test('500 and 5,000 clients cost the backend the same few requests',
    async (tc) => {
      const small = await storm(500);
      const large = await storm(5000);
      tc.diagnostic(`backend saw for 500: ${JSON.stringify(small)}, ` +
        `for 5000: ${JSON.stringify(large)}`);
      // One subscription and one snapshot (or resume) per storm; the
      // clients' rtm.connect, tokens and boots are answered by the edge.
      for (const d of [small, large]) {
        assert.ok(d.subscribes >= 1 && d.subscribes <= 2,
          `subscribes ${JSON.stringify(d)}`);
        assert.ok(d.snapshots <= 1, `snapshots ${JSON.stringify(d)}`);
        assert.equal(d.forwards, 0, `forwards ${JSON.stringify(d)}`);
        assert.equal(d.api, 0, `Web API ${JSON.stringify(d)}`);
        assert.equal(d.rtm, 0, `RTM ${JSON.stringify(d)}`);
      }
      assert.deepEqual(large, small);
    });
});
