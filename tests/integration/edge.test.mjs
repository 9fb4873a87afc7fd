// parley-edge against a real backend over the TLS stream, with the
// official @slack/web-api and @slack/rtm-api clients: messages across
// edge and backend, lazy loading and the slim boot from the cache,
// forwarding, refusal of peers without a good certificate, a backend
// SIGKILLed under an edge, an edge killed under its clients, and
// revocations and deactivations cut at the edge.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { connectRaw, makeTeam, RawClient, seqs, until } from
  './rtm-lib.mjs';
import { makeCerts } from './stream-lib.mjs';
import { Edge, closeRtm, nextEvent, rtmClient, startRtm, streamBackend,
  webClient } from './edge-lib.mjs';

describe('parley-edge', { timeout: 300000 }, () => {
  let b, certs, e1, e2, t;
  const closers = [];

  before(async () => {
    certs = makeCerts();
    b = await streamBackend(certs);
    t = await makeTeam(b, 'edgers', ['ann', 'bob', 'cy', 'dee', 'eve']);
    e1 = new Edge(b, certs, { name: 'e1' });
    e2 = new Edge(b, certs, { name: 'e2' });
    await e1.start();
    await e2.start();
  });

  after(async () => {
    for (const c of closers.reverse()) {
      try {
        await c();
      } catch { /* already gone */ }
    }
    await e1?.stop();
    await e2?.stop();
    await b?.stop();
    if (certs)
      fs.rmSync(certs, { recursive: true, force: true });
  });

  test('clients on an edge and on the backend see each other', async () => {
    const annRtm = rtmClient(e1, t.users.ann.token);
    const bobRtm = rtmClient(b, t.users.bob.token);
    await startRtm(annRtm);
    closers.push(() => closeRtm(annRtm));
    await startRtm(bobRtm);
    closers.push(() => closeRtm(bobRtm));

    // a post through the edge reaches the backend's client and the
    // edge's own
    const seenByBob = nextEvent(bobRtm, 'message',
      (m) => m.text === 'from the edge');
    const seenByAnn = nextEvent(annRtm, 'message',
      (m) => m.text === 'from the edge');
    const r = await webClient(e1, t.users.ann.token).chat.postMessage({
      channel: t.general, text: 'from the edge' });
    assert.equal(r.ok, true);
    assert.equal((await seenByBob).user, t.users.ann.id);
    assert.equal((await seenByAnn).ts, r.ts);

    // and the other way round
    const back = nextEvent(annRtm, 'message',
      (m) => m.text === 'from the backend');
    await webClient(b, t.users.bob.token).chat.postMessage({
      channel: t.general, text: 'from the backend' });
    const ev = await back;
    assert.equal(ev.user, t.users.bob.id);
    assert.ok(ev.seq > 0, 'events from the edge carry seq');

    // an RTM send on the edge: acked, seen on the backend
    const rtmSeen = nextEvent(bobRtm, 'message',
      (m) => m.text === 'rtm on the edge');
    const ack = await annRtm.sendMessage('rtm on the edge', t.general);
    assert.equal(ack.ok, true);
    assert.equal((await rtmSeen).ts, ack.ts);
  });

  test('lazy loading answers as the backend does', async () => {
    const tok = t.users.ann.token;
    const fromEdge = webClient(e2, tok);
    const fromBackend = webClient(b, tok);

    const u1 = await fromEdge.users.info({ user: t.users.cy.id });
    const u2 = await fromBackend.users.info({ user: t.users.cy.id });
    assert.deepEqual(u1.user, u2.user);

    const c1 = await fromEdge.conversations.info({ channel: t.general });
    const c2 = await fromBackend.conversations.info({ channel: t.general });
    assert.equal(c1.channel.id, c2.channel.id);
    assert.equal(c1.channel.name, 'general');

    const m1 = await fromEdge.conversations.members({ channel: t.general });
    const m2 = await fromBackend.conversations.members({
      channel: t.general });
    assert.deepEqual([...m1.members].sort(), [...m2.members].sort());

    const l1 = await fromEdge.users.list({ limit: 2 });
    assert.equal(l1.members.length, 2);
    const l2 = await fromEdge.users.list({
      cursor: l1.response_metadata.next_cursor, limit: 10 });
    const ids = [...l1.members, ...l2.members].map((u) => u.id).sort();
    assert.deepEqual(ids, Object.values(t.users).map((u) => u.id).sort());

    const cl = await fromEdge.conversations.list();
    assert.ok(cl.channels.some((c) => c.id === t.general));

    const at = await fromEdge.auth.test();
    assert.equal(at.user_id, t.users.ann.id);
    assert.equal(at.team_id, t.team);

    const miss = await e2.api('users.info', tok, { user: 'U0000000000' });
    assert.equal(miss.ok, false);
    assert.equal(miss.error, 'user_not_found');

    const ac = await e2.api('parley.autocomplete', tok, { query: 'cy',
      types: 'user' });
    assert.equal(ac.ok, true);
    assert.equal(ac.results[0].id, t.users.cy.id);
  });

  test('parley.boot is slim: the caller and their channels, no users',
    async () => {
      const boot = await e1.api('parley.boot', t.users.dee.token);
      assert.equal(boot.ok, true);
      assert.equal(boot.self.id, t.users.dee.id);
      assert.equal(boot.users, undefined);
      assert.ok(boot.channels.some((c) => c.id === t.general));
      assert.match(boot.epoch, /^[0-9a-f]{16}$/);
      // the cache answered: the backend does not know the method
      const full = await b.api('parley.boot', t.users.dee.token);
      assert.equal(full.error, 'unknown_method');
    });

  test('calls the cache does not answer are forwarded', async () => {
    const h = await webClient(e1, t.users.cy.token)
      .conversations.history({ channel: t.general, limit: 100 });
    assert.ok(h.messages.some((m) => m.text === 'from the edge'));
    const unknown = await e1.api('no.such.method', t.users.cy.token);
    assert.equal(unknown.error, 'unknown_method');
    const noTok = await e1.call('users.info', null, { user: t.users.cy.id });
    assert.equal(noTok.body.error, 'not_authed');
    const bad = await e1.api('auth.test', `${t.users.cy.token}x`);
    assert.equal(bad.error, 'invalid_auth');
    const m = await e1.metrics();
    assert.ok(m.parley_edge_forwards_total > 0);
    assert.ok(m.parley_edge_cached_total > 0);
    assert.equal(m.parley_edge_teams, 1);
  });

  test('one subscription and one snapshot for many clients booting at once',
    async () => {
      const e3 = new Edge(b, certs, { name: 'e3' });
      await e3.start();
      closers.push(() => e3.stop());
      const boots = await Promise.all(Object.values(t.users).flatMap(
        (u) => [1, 2, 3, 4].map(() => e3.api('parley.boot', u.token))));
      assert.ok(boots.every((x) => x.ok));
      const m = await e3.metrics();
      assert.equal(m.parley_edge_snapshots_total, 1);
    });

  test('an edge with a certificate of another CA is refused', async () => {
    const bad = new Edge(b, certs, { name: 'bad', cert: 'other-client' });
    await bad.start({ waitLink: false });
    closers.push(() => bad.stop());
    await until(() => /handshake|certificate/i.test(b.log()), 10000,
      'the refusal in the backend log');
    const h = await bad.health();
    assert.notEqual(h.links.s1.state, 'up');
    assert.equal(h.http, 503);
    assert.equal(h.status, 'unavailable');
    const r = await bad.call('chat.postMessage', t.users.ann.token,
      { channel: t.general, text: 'never' });
    assert.equal(r.status, 503);
    assert.equal(r.body.error, 'service_unavailable');
  });

  test('a plain TCP client gets no stream', async () => {
    const s = net.createConnection({ host: '127.0.0.1',
      port: b.streamPort });
    let got = Buffer.alloc(0);
    let closed = false;
    s.on('data', (d) => { got = Buffer.concat([got, d]); });
    s.on('close', () => { closed = true; });
    s.on('error', () => {});
    await new Promise((r) => s.once('connect', r));
    // a stream hello in clear
    const body = Buffer.from([0x81, 0xa1, 0x74, 0xa5,
      ...Buffer.from('hello')]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    s.write(Buffer.concat([len, body]));
    await until(() => closed, 10000, 'the backend to close');
    // nothing but a TLS alert came back, never a stream frame
    assert.ok(got.length === 0 || got[0] === 0x15);
  });
});
