// Faults between an edge and its shard, during traffic: the edge's link
// to the shard cut (a TCP relay in between drops every connection and
// refuses new ones for a while) and restored, and the shard SIGKILLed
// and started again, twice each.  Writers post to the shard with a
// client_msg_id, sending a post again until it is answered; RTM clients
// of the edge connect again with the epoch and seq they last saw
// whenever their connection closes.  In the end every acknowledged post
// is stored once, and every edge client saw each once and in order.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { makeTeam, sleep, until } from './rtm-lib.mjs';
import { makeCerts } from './stream-lib.mjs';
import { Listener } from './faults-lib.mjs';
import { call } from './security-lib.mjs';

// A TCP relay whose connections can be cut, and new ones refused.
class Relay {
  constructor(port) {
    this.target = port;
    this.socks = new Set();
    this.cut = false;
  }

  start() {
    this.server = net.createServer((down) => {
      if (this.cut) {
        down.destroy();
        return;
      }
      const up = net.connect(this.target, '127.0.0.1');
      for (const [a, b] of [[down, up], [up, down]]) {
        this.socks.add(a);
        a.on('error', () => b.destroy());
        a.on('close', () => {
          this.socks.delete(a);
          b.destroy();
        });
        a.pipe(b);
      }
    });
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1',
      () => {
        this.port = this.server.address().port;
        resolve();
      }));
  }

  cutAll() {
    this.cut = true;
    for (const s of this.socks)
      s.destroy();
  }

  restore() {
    this.cut = false;
  }

  close() {
    this.cutAll();
    this.server?.close();
  }
}

const bin = process.env.PARLEY_BIN || path.resolve(path.dirname(
  new URL(import.meta.url).pathname), '../../build/bin');
const skip = fs.existsSync(path.join(bin, 'parley-edge')) ? false :
  'parley-edge is not built';
let b, edge, relay, certs;

after(async () => {
  relay?.close();
  try {
    await edge?.stop();
  } finally {
    await b?.stop();
    if (certs)
      fs.rmSync(certs, { recursive: true, force: true });
  }
});

const title = 'link cut and restored, shard restarted: edge clients ' +
  'that resume miss nothing and see nothing twice';
test(title, { skip, timeout: 240000 }, async (ctx) => {
  const { Edge, streamBackend } = await import('./edge-lib.mjs');
  certs = makeCerts();
  b = await streamBackend(certs);
  const t = await makeTeam(b, 'edgefault', ['w0', 'w1', 'r0', 'r1']);
  relay = new Relay(b.streamPort);
  await relay.start();
  // The edge sees the relay as the shard's stream.
  edge = new Edge({ dir: b.dir, port: b.port, url: b.url,
    streamPort: relay.port }, certs);
  await edge.start();

  const listeners = ['r0', 'r1'].map((n) => new Listener(edge.url,
    t.users[n].token));
  for (const l of listeners)
    await l.connect();
  await until(() => listeners.every((l) => l.epoch), 10000, 'hello');

  const acked = new Map();
  let stop = false, resent = 0;
  const writer = async (w) => {
    for (let n = 0; !stop; n++) {
      const text = `w${w}-${n}`, cmid = crypto.randomUUID();
      for (let tries = 0; tries < 2000; tries++) {
        let r = null;
        try {
          r = await call(b.url, 'chat.postMessage', t.users[`w${w}`].token,
            { channel: t.general, text, client_msg_id: cmid });
        } catch { /* the shard is down */ }
        if (r?.json?.ok) {
          acked.set(text, r.json.ts);
          break;
        }
        resent++;
        await sleep(20);
      }
    }
  };
  const writers = [writer(0), writer(1)];
  const more = (k) => {
    const from = acked.size;
    return until(() => acked.size >= from + k, 60000, `${k} more posts`);
  };

  try {
    for (let round = 0; round < 2; round++) {
      await more(20);
      relay.cutAll();
      await until(async () => (await edge.health()).links?.s1?.state !==
        'up', 20000, 'the edge to see its link down');
      await more(20);
      relay.restore();
      await until(async () => (await edge.health()).links?.s1?.state ===
        'up', 20000, 'the link up again');
      await more(20);
      await b.kill9();
      await sleep(200);
      await b.start();
      await more(20);
      // The clients drop their connections and come back to the edge
      // with the seq they last saw.
      const before = listeners.map((l) => l.reconnects);
      for (const l of listeners)
        l.drop();
      await until(() => listeners.every((l, i) => l.reconnects > before[i]),
        10000, 'the clients to connect again');
      await more(20);
    }
  } finally {
    stop = true;
    await Promise.all(writers);
  }

  const h = await call(b.url, 'conversations.history', t.users.r0.token,
    { channel: t.general, limit: 1000 });
  assert.ok(h.json.ok, h.text);
  const stored = new Map();
  for (const m of h.json.messages) {
    assert.ok(!stored.has(m.text), `${m.text} stored twice`);
    stored.set(m.text, m.ts);
  }
  for (const [text, ts] of acked)
    assert.equal(stored.get(text), ts, `${text} acknowledged, then lost`);
  for (const l of listeners) {
    await until(() => l.events.length >= stored.size || l.failed, 60000,
      'the edge client to catch up');
    assert.equal(l.failed, undefined, l.failed);
    const seen = l.events.map((m) => m.text);
    assert.equal(new Set(seen).size, seen.length, 'an event seen twice');
    assert.deepEqual([...seen].sort(), [...stored.keys()].sort());
    const mine = (w) => seen.filter((x) => x.startsWith(`w${w}-`))
      .map((x) => Number(x.split('-')[1]));
    for (const w of [0, 1])
      assert.deepEqual(mine(w), [...mine(w)].sort((x, y) => x - y));
  }
  const m = await edge.metrics();
  ctx.diagnostic(`${acked.size} posts acknowledged, ${resent} sends ` +
    `repeated; edge client reconnects: ${listeners.map((l) =>
      l.reconnects).join(', ')}; edge resumes from the shard ` +
    `${m.parley_edge_resumes_total}, gaps ${m.parley_edge_gaps_total}`);
  for (const l of listeners)
    assert.equal(l.reconnects, 2);
  for (const l of listeners)
    l.close();
});
