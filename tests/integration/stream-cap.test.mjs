// The output cap of an edge connection: a snapshot larger than
// stream_out_cap is not queued whole; the edge gets error output_full
// and is closed, and the backend keeps serving other edges.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Backend, freePort, makeTeam } from './rtm-lib.mjs';
import { StreamClient, makeCerts } from './stream-lib.mjs';

describe('edge stream output cap', () => {
  let b, certs, port, t;
  const clients = [];

  before(async () => {
    certs = makeCerts();
    port = await freePort();
    b = new Backend(`stream_listen = 127.0.0.1:${port}\n` +
      `stream_tls_cert = ${path.join(certs, 'server.pem')}\n` +
      `stream_tls_key = ${path.join(certs, 'server.key')}\n` +
      `stream_tls_ca = ${path.join(certs, 'ca.pem')}\n` +
      'stream_out_cap = 64K\nstream_snapshot_messages = 0\n');
    await b.start();
    t = await makeTeam(b, 'bigteam', ['ann']);
    // some 120 KB of users: more than the cap in one snapshot
    for (let i = 0; i < 40; i++)
      await b.admin.op({ op: 'user.create', team: t.team,
        name: `user${i}`, real_name: 'R'.repeat(3000) });
  });

  after(async () => {
    for (const c of clients)
      c.close();
    await b?.stop();
    if (certs)
      fs.rmSync(certs, { recursive: true, force: true });
  });

  test('a snapshot past the cap closes with output_full', async () => {
    const c = new StreamClient(port, certs);
    clients.push(c);
    await c.hello();
    c.send({ t: 'subscribe', team: t.team, epoch: '', seq: 0 });
    const e = await c.waitFor((f) => f.t === 'error', 5000, 'error');
    assert.equal(e.code, 'output_full');
    await c.waitClosed();
    assert.ok(!c.frames.some((f) => f.t === 'snapshot_end'));
    assert.match(b.log(), /over its output cap of 65536 bytes, closed/);

    // another edge that asks for nothing big is served
    const d = new StreamClient(port, certs);
    clients.push(d);
    const h = await d.hello();
    assert.equal(h.v, 1);
  });
});
