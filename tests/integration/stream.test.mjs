// The backend's stream listener for edges, over real TLS 1.3 with client
// certificates from tests/certs.sh: snapshot then live events, exact
// resume, snapshot on a stale epoch or a too-old seq, forwarded Web API
// calls, refusal of peers without a valid certificate, bad frames, and
// a SIGKILLed backend resumed without loss.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WebClient } from '@slack/web-api';
import { Backend, connectRaw, freePort, makeTeam, until } from
  './rtm-lib.mjs';
import { StreamClient, frame, makeCerts } from './stream-lib.mjs';

function web(b, token) {
  return new WebClient(token, {
    slackApiUrl: `${b.url}/api/`,
    retryConfig: { retries: 0 },
    timeout: 5000,
    logLevel: 'error',
  });
}

async function subscribed(b, port, certs, team, epoch = '', seq = 0) {
  const c = new StreamClient(port, certs);
  await c.hello();
  c.send({ t: 'subscribe', team, epoch, seq });
  return c;
}

describe('edge stream', () => {
  let b, certs, port, t;
  const clients = [];

  before(async () => {
    certs = makeCerts();
    port = await freePort();
    b = new Backend(`stream_listen = 127.0.0.1:${port}\n` +
      `stream_tls_cert = ${path.join(certs, 'server.pem')}\n` +
      `stream_tls_key = ${path.join(certs, 'server.key')}\n` +
      `stream_tls_ca = ${path.join(certs, 'ca.pem')}\n` +
      'stream_keepalive = 1s\nstream_timeout = 5s\n' +
      'stream_max_frame = 64K\n');
    await b.start();
    t = await makeTeam(b, 'streamers', ['ann', 'bob']);
    await web(b, t.users.ann.token).chat.postMessage({
      channel: t.general, text: 'before any edge' });
  });

  after(async () => {
    for (const c of clients)
      c.close();
    await b?.stop();
    if (certs)
      fs.rmSync(certs, { recursive: true, force: true });
  });

  test('a new edge gets a snapshot, then live events', async () => {
    const c = await subscribed(b, port, certs, t.team);
    clients.push(c);
    await c.waitFor((f) => f.t === 'snapshot_end', 5000, 'snapshot_end');
    const s = c.snapshot(t.team);
    assert.equal(JSON.parse(s.head.json).id, t.team);
    assert.match(s.head.epoch, /^[0-9a-f]{16}$/);
    assert.equal(s.end.seq, s.head.seq);
    const users = s.parts[1].map((u) => u.name).sort();
    assert.deepEqual(users, ['ann', 'bob']);
    assert.ok(s.parts[2].some((ch) => ch.id === t.general));
    const mem = s.parts[3].find((m) => m.channel === t.general);
    assert.deepEqual(mem.members.map((m) => m.user ?? m).sort(),
      [t.users.ann.id, t.users.bob.id].sort());
    const msgs = s.parts[5].find((m) => m.channel === t.general).messages;
    assert.equal(msgs.at(-1).text, 'before any edge');

    const r = await web(b, t.users.bob.token).chat.postMessage({
      channel: t.general, text: 'live one' });
    const ev = await c.waitFor((f) => f.t === 'event' &&
      JSON.parse(f.json).text === 'live one', 5000, 'live event');
    assert.equal(ev.seq, s.end.seq + 1);
    assert.equal(JSON.parse(ev.json).ts, r.ts);
    assert.ok(c.frames.every((f) => f.t !== 'error'));
  });

  test('resume from a held seq gives exactly the missed events', async () => {
    const a = await subscribed(b, port, certs, t.team);
    clients.push(a);
    const end = await a.waitFor((f) => f.t === 'snapshot_end');
    const epoch = a.snapshot(t.team).head.epoch;
    a.close();
    const w = web(b, t.users.ann.token);
    for (let i = 0; i < 5; i++)
      await w.chat.postMessage({ channel: t.general, text: `missed ${i}` });

    const c = await subscribed(b, port, certs, t.team, epoch, end.seq);
    clients.push(c);
    const res = await c.waitFor((f) => f.t === 'resume');
    assert.equal(res.seq, end.seq);
    await until(() => c.events(t.team).length >= 5, 5000, 'missed events');
    await w.chat.postMessage({ channel: t.general, text: 'after resume' });
    await until(() => c.events(t.team).some((e) =>
      e.text === 'after resume'), 5000, 'live after resume');
    const evs = c.events(t.team);
    assert.deepEqual(evs.map((e) => e.seq),
      evs.map((_, i) => end.seq + 1 + i));
    assert.deepEqual(evs.filter((e) => e.type === 'message')
      .map((e) => e.text).slice(0, 6),
    ['missed 0', 'missed 1', 'missed 2', 'missed 3', 'missed 4',
      'after resume']);
    assert.ok(!c.frames.some((f) => f.t === 'snapshot'));
  });

  test('a stale epoch or an unknown seq gets a snapshot', async () => {
    const c = await subscribed(b, port, certs, t.team, '0123456789abcdef',
      1);
    clients.push(c);
    await c.waitFor((f) => f.t === 'snapshot_end');
    assert.ok(!c.frames.some((f) => f.t === 'resume'));
    const d = await subscribed(b, port, certs, t.team,
      c.snapshot(t.team).head.epoch, 1e9);
    clients.push(d);
    await d.waitFor((f) => f.t === 'snapshot_end');
    const e = await subscribed(b, port, certs, 'T0000000000');
    clients.push(e);
    const err = await e.waitFor((f) => f.t === 'error');
    assert.equal(err.code, 'unknown_team');
  });

  test('a forwarded chat.postMessage is answered after its event',
    async () => {
      const c = await subscribed(b, port, certs, t.team);
      clients.push(c);
      await c.waitFor((f) => f.t === 'snapshot_end');
      c.send({ t: 'forward', id: 7, team: t.team,
        method: 'chat.postMessage',
        args: JSON.stringify({ channel: t.general, text: 'via edge' }),
        token: t.users.ann.token });
      const r = await c.waitFor((f) => f.t === 'result' && f.id === 7);
      assert.equal(r.status, 200);
      const body = JSON.parse(r.body);
      assert.equal(body.ok, true);
      const iev = c.frames.findIndex((f) => f.t === 'event' &&
        JSON.parse(f.json).ts === body.ts);
      assert.ok(iev >= 0 && iev < c.frames.indexOf(r),
        'event before result');

      c.send({ t: 'forward', id: 8, team: t.team,
        method: 'chat.postMessage',
        args: JSON.stringify({ channel: t.general, text: 'x' }),
        token: 'xoxp-not-a-token' });
      const bad = await c.waitFor((f) => f.t === 'result' && f.id === 8);
      assert.equal(JSON.parse(bad.body).error, 'invalid_auth');
      c.send({ t: 'forward', id: 9, team: t.team, method: 'no.such',
        args: '{}', token: t.users.ann.token });
      const none = await c.waitFor((f) => f.t === 'result' && f.id === 9);
      assert.equal(JSON.parse(none.body).error, 'unknown_method');
    });

  test('the event of a new channel carries its members', async () => {
    const c = await subscribed(b, port, certs, t.team);
    clients.push(c);
    await c.waitFor((f) => f.t === 'snapshot_end');
    c.send({ t: 'forward', id: 11, team: t.team,
      method: 'conversations.create',
      args: JSON.stringify({ name: 'secret', is_private: true }),
      token: t.users.bob.token });
    const r = await c.waitFor((f) => f.t === 'result' && f.id === 11);
    const id = JSON.parse(r.body).channel.id;
    const ev = JSON.parse((await c.waitFor((f) => f.t === 'event' &&
      JSON.parse(f.json).channel?.id === id)).json);
    assert.equal(ev.type, 'group_joined');
    assert.deepEqual(ev.channel.members, [t.users.bob.id]);
  });

  test('a revoked token reaches the edge as a revoke frame', async () => {
    const c = await subscribed(b, port, certs, t.team);
    clients.push(c);
    await c.waitFor((f) => f.t === 'snapshot_end');
    const { token_id: tid, token } = await b.admin.op({ op: 'token.mint',
      user: t.users.bob.id });
    assert.ok(token);
    await b.admin.op({ op: 'token.revoke', token_id: tid });
    const r = await c.waitFor((f) => f.t === 'revoke');
    assert.equal(r.token, tid);
  });

  test('typing and presence go out as ephemeral frames', async () => {
    const c = await subscribed(b, port, certs, t.team);
    clients.push(c);
    await c.waitFor((f) => f.t === 'snapshot_end');
    const pres = c.snapshot(t.team).parts[4];
    assert.deepEqual(pres.map((p) => p.user).sort(),
      [t.users.ann.id, t.users.bob.id].sort());
    assert.ok(pres.every((p) => p.presence === 'away'));

    const rtm = await connectRaw(b, t.users.bob.token);
    const on = await c.waitFor((f) => f.t === 'ephemeral' &&
      JSON.parse(f.json).type === 'presence_change', 5000, 'presence');
    assert.deepEqual(JSON.parse(on.json), { type: 'presence_change',
      user: t.users.bob.id, presence: 'active' });
    rtm.send({ type: 'typing', channel: t.general });
    const ty = await c.waitFor((f) => f.t === 'ephemeral' &&
      JSON.parse(f.json).type === 'user_typing', 5000, 'typing');
    assert.equal(ty.seq, undefined);
    assert.equal(JSON.parse(ty.json).user, t.users.bob.id);

    const d = await subscribed(b, port, certs, t.team);
    clients.push(d);
    await d.waitFor((f) => f.t === 'snapshot_end');
    assert.equal(d.snapshot(t.team).parts[4].find((p) =>
      p.user === t.users.bob.id).presence, 'active');
    rtm.close();
    await c.waitFor((f) => f.t === 'ephemeral' &&
      JSON.parse(f.json).presence === 'away', 5000, 'away');
  });

  test('peers without a valid certificate are refused and logged',
    async () => {
      const other = new StreamClient(port, certs, { cert: 'other-client' });
      await assert.rejects(async () => {
        await other.opened;
        other.send({ t: 'hello', v: 1, vmin: 1, name: 'other' });
        await other.waitClosed(5000);
        throw new Error('closed');
      });
      assert.ok(!other.frames.some((f) => f.t === 'hello'));
      other.close();

      const none = new StreamClient(port, certs, { cert: '' });
      await none.opened.catch(() => {});
      await until(() => none.closed, 5000, 'no-cert close');
      assert.equal(none.frames.length, 0);

      const plain = net.createConnection({ host: '127.0.0.1', port });
      let got = 0;
      plain.on('data', (d) => { got += d.length; });
      plain.on('error', () => {});
      await new Promise((r) => plain.once('connect', r));
      plain.write(frame({ t: 'hello', v: 1, vmin: 1, name: 'plain' }));
      await new Promise((r) => plain.once('close', r));
      assert.ok(got < 100, 'only a TLS alert, no frame');
      await until(() => (b.log().match(/stream: .* refused/g) ?? [])
        .length >= 3, 5000, 'three refusals in the log');
    });

  test('bad and oversized frames close the connection', async () => {
    const c = new StreamClient(port, certs);
    clients.push(c);
    await c.hello();
    // announces 1 GiB: refused on the length alone
    const h = Buffer.alloc(4);
    h.writeUInt32BE(1 << 30);
    c.sock.write(h);
    const err = await c.waitFor((f) => f.t === 'error');
    assert.equal(err.code, 'bad_frame');
    await c.waitClosed();

    const d = new StreamClient(port, certs);
    clients.push(d);
    await d.opened;
    d.send({ t: 'subscribe', team: t.team, epoch: '', seq: 0 });
    assert.equal((await d.waitFor((f) => f.t === 'error')).code,
      'bad_frame');
    await d.waitClosed();
    assert.ok(!d.frames.some((f) => f.t === 'snapshot'));
    const res = await fetch(`${b.url}/healthz`);
    assert.equal(res.status, 200);
  });

  test('a silent edge is closed; keepalives flow', async () => {
    const c = new StreamClient(port, certs);
    clients.push(c);
    await c.hello();
    await c.waitFor((f) => f.t === 'keepalive', 5000, 'keepalive');
    await c.waitClosed(10000);
  });

  test('SIGKILL and restart: the edge resumes and misses nothing',
    async () => {
      const c = await subscribed(b, port, certs, t.team);
      await c.waitFor((f) => f.t === 'snapshot_end');
      const epoch = c.snapshot(t.team).head.epoch;
      const w = web(b, t.users.ann.token);
      await w.chat.postMessage({ channel: t.general, text: 'k1' });
      await until(() => c.events(t.team).some((e) => e.text === 'k1'),
        5000, 'k1');
      const last = c.events(t.team).at(-1).seq;
      await b.kill9();
      await c.waitClosed();
      await b.start();
      await w.chat.postMessage({ channel: t.general, text: 'k2' });
      const d = await subscribed(b, port, certs, t.team, epoch, last);
      clients.push(d);
      await d.waitFor((f) => f.t === 'resume');
      await until(() => d.events(t.team).some((e) => e.text === 'k2'),
        5000, 'k2 after restart');
      assert.equal(d.events(t.team)[0].seq, last + 1);
      assert.ok(!d.events(t.team).some((e) => e.text === 'k1'));
    });
});
