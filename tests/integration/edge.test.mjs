// parley-edge against a real backend over the TLS stream, with the
// official @slack/web-api and @slack/rtm-api clients: messages across
// edge and backend, lazy loading and the slim boot from the cache,
// forwarding, refusal of peers without a good certificate, a backend
// SIGKILLed under an edge, an edge killed under its clients, and
// revocations and deactivations cut at the edge.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { connectRaw, makeTeam, RawClient, seqs, sleep, until } from
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
    // each closer is bounded: a client of a killed edge may not answer
    for (const c of closers.reverse()) {
      try {
        await Promise.race([c(), sleep(3000)]);
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
    await startRtm(bobRtm);

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
    // closed here: the SDK throws when its server is killed later
    await closeRtm(annRtm);
    await closeRtm(bobRtm);
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
    // well signed, for a team the backend does not have
    const [kid, hex] = fs.readFileSync(`${b.dir}/keys`, 'utf8').trim()
      .split(/\s+/);
    const body = `xoxp.${kid}.TGHOST00000.UGHOST00000.g1.0`;
    const mac = crypto.createHmac('sha256', Buffer.from(hex, 'hex'))
      .update(body).digest('base64url');
    const g = await e1.api('auth.test', `${body}.${mac}`);
    assert.equal(g.error, 'invalid_auth');
    assert.equal((await e1.health()).http, 200);
  });

  test('one subscription and one snapshot for many clients booting at once',
    async () => {
      const e3 = new Edge(b, certs, { name: 'e3',
        extra: 'team_idle = 1s' });
      await e3.start();
      closers.push(() => e3.stop());
      const boots = await Promise.all(Object.values(t.users).flatMap(
        (u) => [1, 2, 3, 4].map(() => e3.api('parley.boot', u.token))));
      assert.ok(boots.every((x) => x.ok));
      const m = await e3.metrics();
      assert.equal(m.parley_edge_snapshots_total, 1);
      assert.ok(m['parley_edge_team_memory_bytes{team="' + t.team + '"}'] >
        0);

      // idle for team_idle: unsubscribed and freed; the next call loads
      // it again
      await until(async () => (await e3.metrics())
        .parley_edge_evictions_total === 1, 15000, 'the eviction');
      assert.equal((await e3.metrics()).parley_edge_teams, 0);
      assert.equal((await e3.api('auth.test', t.users.ann.token)).ok, true);
      assert.equal((await e3.metrics()).parley_edge_snapshots_total, 2);
    });

  test('sign-in through an edge: throttled per client, not per edge',
    async () => {
      const e5 = new Edge(b, certs, { name: 'e5',
        extra: 'trusted_proxies = 127.0.0.1 ::1\nrtm_url = /rtm' });
      await e5.start();
      closers.push(() => e5.stop());
      const t5 = await makeTeam(b, 'signers', ['kim', 'lou']);
      await b.admin.op({ op: 'user.set_password', user: t5.users.kim.id,
        password: 'kim-pw' });
      const signin = async (user, password, xff) => {
        const r = await fetch(`${e5.url}/api/parley.signin`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded',
            'X-Forwarded-For': xff },
          body: new URLSearchParams({ team: 'signers', user, password }),
          signal: AbortSignal.timeout(15000) });
        return { status: r.status, json: await r.json() };
      };
      let n = 0;
      for (;;) {
        const r = await signin(`nobody${n}`, 'x', '192.0.2.7');
        if (r.status === 429)
          break;
        assert.equal(r.json.error, 'invalid_credentials');
        assert.ok(++n <= 20, 'the guessing client is throttled');
      }
      // a neighbour behind the same proxy and the same edge signs in
      const ok = await signin('kim', 'kim-pw', '192.0.2.8');
      assert.equal(ok.json.ok, true);
      assert.equal((await e5.api('auth.test', ok.json.token)).user_id,
        t5.users.kim.id);

      // a relative rtm_url takes the scheme and host the client used
      const plain = await e5.api('rtm.connect', ok.json.token);
      assert.ok(plain.url.startsWith(`ws://127.0.0.1:${e5.port}/rtm?`),
        plain.url);
      const r = await fetch(`${e5.url}/api/rtm.connect`, { method: 'POST',
        headers: { Authorization: `Bearer ${ok.json.token}`,
          'X-Forwarded-Proto': 'https' },
        signal: AbortSignal.timeout(10000) });
      const { url } = await r.json();
      assert.ok(url.startsWith(`wss://127.0.0.1:${e5.port}/rtm?ticket=`),
        url);
    });

  test('the token is read from the parley_token cookie too', async () => {
    const r = await fetch(`${e1.url}/api/auth.test`, { method: 'POST',
      headers: { Cookie: `theme=dark; parley_token=${t.users.cy.token}` },
      signal: AbortSignal.timeout(10000) });
    const body = await r.json();
    assert.equal(body.ok, true);
    assert.equal(body.user_id, t.users.cy.id);
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

  // The texts of the message events a raw client got, in order.
  function texts(c) {
    return c.msgs.filter((m) => m.type === 'message' && m.seq)
      .map((m) => m.text);
  }

  function assertIncreasing(list) {
    for (let i = 1; i < list.length; i++)
      assert.ok(list[i] > list[i - 1],
        `seq ${list[i]} after ${list[i - 1]}: a repeat or a disorder`);
  }

  test('a backend SIGKILLed and restarted: the edge resumes, its clients ' +
    'miss nothing and see nothing twice', async () => {
    const c = await connectRaw(e1, t.users.ann.token);
    closers.push(() => c.close());
    const bob = webClient(b, t.users.bob.token);
    for (const n of [1, 2, 3])
      await bob.chat.postMessage({ channel: t.general, text: `k${n}` });
    await c.waitFor((m) => m.text === 'k3', 10000, 'k3');

    await b.kill9();
    await until(async () => (await e1.health()).links.s1.state !== 'up',
      15000, 'the link to go down');
    // the cache still answers; what needs the backend fails at once
    const u = await e1.api('users.info', t.users.ann.token,
      { user: t.users.bob.id });
    assert.equal(u.ok, true);
    const w = await e1.call('chat.postMessage', t.users.ann.token,
      { channel: t.general, text: 'nowhere' });
    assert.equal(w.status, 503);
    assert.equal(w.body.error, 'service_unavailable');

    await b.start();
    await until(async () => (await e1.health()).links.s1.state === 'up',
      15000, 'the link to come back');
    const bob2 = webClient(b, t.users.bob.token);
    for (const n of [4, 5, 6])
      await bob2.chat.postMessage({ channel: t.general, text: `k${n}` });
    await c.waitFor((m) => m.text === 'k6', 15000, 'k6');
    assertIncreasing(seqs(c));
    const ks = texts(c).filter((x) => /^k\d$/.test(x));
    assert.deepEqual(ks, ['k1', 'k2', 'k3', 'k4', 'k5', 'k6']);
    assert.ok(!c.closed, 'the client stayed connected');
    const m = await e1.metrics();
    assert.ok(m.parley_edge_resumes_total >= 1, 'resumed, no snapshot');
  });

  test('an edge killed: its clients resume on the other edge without ' +
    'loss or repeat', async () => {
    // e2 serves the team already (an RTM client of it is there)
    const keep = await connectRaw(e2, t.users.bob.token);
    closers.push(() => keep.close());
    const c1 = await connectRaw(e1, t.users.cy.token);
    const hello = c1.msgs.find((m) => m.type === 'hello');
    const bob = webClient(b, t.users.bob.token);
    await bob.chat.postMessage({ channel: t.general, text: 'r1' });
    await c1.waitFor((m) => m.text === 'r1', 10000, 'r1');

    await e1.kill9();
    await c1.waitClosed(10000);
    for (const n of [2, 3, 4])
      await bob.chat.postMessage({ channel: t.general, text: `r${n}` });

    const last = Math.max(...seqs(c1));
    const c2 = await connectRaw(e2, t.users.cy.token, {
      parley_epoch: hello.epoch, parley_seq: String(last) });
    closers.push(() => c2.close());
    await c2.waitFor((m) => m.text === 'r4', 10000, 'the replay');
    await bob.chat.postMessage({ channel: t.general, text: 'r5' });
    await c2.waitFor((m) => m.text === 'r5', 10000, 'r5 live');
    assert.equal(c2.msgs.find((m) => m.type === 'resume_failed'), undefined);
    const all = [...seqs(c1), ...seqs(c2)];
    assertIncreasing(all);
    const rs = [...texts(c1), ...texts(c2)].filter((x) => /^r\d$/.test(x));
    assert.deepEqual(rs, ['r1', 'r2', 'r3', 'r4', 'r5']);
  });

  test('a resume on an edge that did not serve the team yet: from the ' +
    'events its snapshot carries', async () => {
    const c1 = await connectRaw(e2, t.users.ann.token);
    const hello = c1.msgs.find((m) => m.type === 'hello');
    const bob = webClient(b, t.users.bob.token);
    await bob.chat.postMessage({ channel: t.general, text: 'f1' });
    await c1.waitFor((m) => m.text === 'f1', 10000, 'f1');
    const last = Math.max(...seqs(c1));
    c1.close();
    for (const n of [2, 3])
      await bob.chat.postMessage({ channel: t.general, text: `f${n}` });

    const e4 = new Edge(b, certs, { name: 'e4' });
    await e4.start();
    closers.push(() => e4.stop());
    const c2 = await connectRaw(e4, t.users.ann.token, {
      parley_epoch: hello.epoch, parley_seq: String(last) });
    closers.push(() => c2.close());
    await c2.waitFor((m) => m.text === 'f3', 10000, 'the replay');
    assert.equal(c2.msgs.find((m) => m.type === 'resume_failed'), undefined);
    assertIncreasing([...seqs(c1), ...seqs(c2)]);
    const fs2 = [...texts(c1), ...texts(c2)].filter((x) => /^f\d$/.test(x));
    assert.deepEqual(fs2, ['f1', 'f2', 'f3']);
    // a seq older than what the snapshot carried is refused, not skipped
    const c3 = await connectRaw(e4, t.users.ann.token, {
      parley_epoch: hello.epoch, parley_seq: '0' });
    closers.push(() => c3.close());
    const rf = await c3.waitFor((m) => m.type === 'resume_failed' ||
      m.seq === 1, 10000, 'resume from 0');
    assert.ok(rf.type === 'resume_failed' || rf.seq === 1);
  });

  test('revoked tokens and deactivated users are cut at the edge',
    async () => {
      // a token revoked while the edge serves the team
      const { token, token_id } = await b.admin.op({ op: 'token.mint',
        user: t.users.eve.id });
      assert.equal((await e2.api('auth.test', token)).ok, true);
      const ce = await connectRaw(e2, token);
      closers.push(() => ce.close());
      await b.admin.op({ op: 'token.revoke', token_id });
      const bye = await ce.waitFor((m) => m.type === 'goodbye', 10000,
        'goodbye');
      assert.equal(bye.reason, 'token_revoked');
      assert.equal((await ce.waitClosed(10000)).code, 4001);
      assert.equal((await e2.api('auth.test', token)).error,
        'token_revoked');
      assert.equal((await e2.api('users.list', token)).error,
        'token_revoked');
      // eve's other token still works
      assert.equal((await e2.api('auth.test', t.users.eve.token)).ok, true);

      // a deactivated user
      const cd = await connectRaw(e2, t.users.dee.token);
      closers.push(() => cd.close());
      await b.admin.op({ op: 'user.deactivate', user: t.users.dee.id });
      const bye2 = await cd.waitFor((m) => m.type === 'goodbye', 10000,
        'goodbye');
      assert.equal(bye2.reason, 'account_inactive');
      await cd.waitClosed(10000);
      const r = await e2.api('users.info', t.users.dee.token,
        { user: t.users.ann.id });
      assert.ok(['account_inactive', 'token_revoked'].includes(r.error),
        r.error);
      const up = await e2.call('rtm.connect', t.users.dee.token);
      assert.equal(up.body.ok, false);

      // a token revoked before any edge subscribed to its team
      const t2 = await makeTeam(b, 'latecomers', ['fay', 'gus']);
      const old = await b.admin.op({ op: 'token.mint', user: t2.users.fay.id });
      await b.admin.op({ op: 'token.revoke', token_id: old.token_id });
      assert.equal((await e2.api('auth.test', old.token)).error,
        'token_revoked');
      assert.equal((await e2.api('parley.boot', t2.users.fay.token)).ok, true);
      // and a ticket of the revoked token is refused too
      const tk = b.ticket(t2.team, t2.users.fay.id, old.token_id,
        Math.floor(Date.now() / 1000) + 60);
      const raw = new RawClient(`${e2.url.replace('http', 'ws')}/rtm?` +
        `ticket=${tk}`);
      await assert.rejects(raw.opened, (e) => e.status === 401);
      raw.close();
    });

  test('typing and presence of edge clients reach the backend', async () => {
    const ann = await connectRaw(e2, t.users.ann.token);
    closers.push(() => ann.close());
    ann.send({ type: 'presence_sub', ids: [t.users.cy.id] });
    await ann.waitFor((m) => m.type === 'presence_change' &&
      (m.users ?? []).includes(t.users.cy.id), 10000, 'the batch at the edge');
    const bob = await connectRaw(b, t.users.bob.token);
    closers.push(() => bob.close());
    await bob.reply({ type: 'ping' });
    bob.send({ type: 'presence_sub', ids: [t.users.eve.id] });
    await bob.waitFor((m) => m.type === 'presence_change' &&
      (m.users ?? []).includes(t.users.eve.id), 10000, 'the batch');
    const eve = await connectRaw(e2, t.users.eve.token);
    closers.push(() => eve.close());
    await bob.waitFor((m) => m.type === 'presence_change' &&
      m.user === t.users.eve.id && m.presence === 'active', 10000,
    'eve active');
    // an edge client hears of the users it asked for, and only them
    const cyOnB = await connectRaw(b, t.users.cy.token);
    closers.push(() => cyOnB.close());
    await ann.waitFor((m) => m.type === 'presence_change' &&
      m.user === t.users.cy.id && m.presence === 'active', 10000,
    'cy active at the edge');
    assert.equal(ann.msgs.find((m) => m.type === 'presence_change' &&
      m.user === t.users.eve.id), undefined);
    ann.send({ type: 'typing', channel: t.general });
    const ty = await bob.waitFor((m) => m.type === 'user_typing', 10000,
      'typing from the edge');
    assert.equal(ty.user, t.users.ann.id);
    eve.close();
    await bob.waitFor((m) => m.type === 'presence_change' &&
      m.user === t.users.eve.id && m.presence === 'away', 10000,
    'eve away');
  });

  test('a message names its users before a slim client sees it',
    async () => {
      const t3 = await makeTeam(b, 'namers', ['hal', 'ida', 'jon']);
      const c = await connectRaw(e2, t3.users.hal.token);
      closers.push(() => c.close());
      await webClient(b, t3.users.ida.token).chat.postMessage({
        channel: t3.general, text: `hi <@${t3.users.jon.id}>` });
      await c.waitFor((m) => m.type === 'message', 10000, 'the message');
      const i = c.msgs.findIndex((m) => m.type === 'message');
      const before = c.msgs.slice(0, i).filter((m) =>
        m.type === 'user_change').map((m) => m.user.id).sort();
      assert.deepEqual(before, [t3.users.ida.id, t3.users.jon.id].sort());
      const ida = c.msgs.slice(0, i).find((m) => m.type === 'user_change' &&
        m.user.id === t3.users.ida.id);
      assert.equal(ida.user.name, 'ida');
      // the next message of the same people names nobody again
      await webClient(b, t3.users.ida.token).chat.postMessage({
        channel: t3.general, text: `again <@${t3.users.jon.id}>` });
      await c.waitFor((m) => m.text?.startsWith('again'), 10000, 'again');
      assert.equal(c.msgs.filter((m) => m.type === 'user_change').length,
        2);
    });
});
