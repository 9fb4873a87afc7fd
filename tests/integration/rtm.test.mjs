// RTM with the official @slack/rtm-api RTMClient (unmodified) and with a
// raw WebSocket client: hello, acks, events, typing, keepalive, tickets,
// visibility, presence, revocation, deactivation and goodbye.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RTMClient } from '@slack/rtm-api';
import { WebClient } from '@slack/web-api';
import { Backend, RawClient, connectRaw, makeTeam, sleep, until } from
  './rtm-lib.mjs';

// An RTMClient that never retries or reconnects by itself, so a failure
// ends the test instead of hanging it.
function rtmClient(b, token) {
  const webClient = new WebClient(token, {
    slackApiUrl: `${b.url}/api/`,
    retryConfig: { retries: 0 },
    timeout: 5000,
    logLevel: 'error',
  });
  return new RTMClient(token, {
    slackApiUrl: `${b.url}/api/`,
    webClient,
    autoReconnect: false,
    replyAckOnReconnectTimeout: 200,
    logLevel: 'error',
  });
}

// @slack/rtm-api 7.0.4 walks its sparse list of sends awaiting a reply
// with for...of when it disconnects, and throws on the holes (message ids
// start at 2); the list is compacted first so that disconnect() works.
async function closeRtm(rtm) {
  rtm.awaitingReplyList = rtm.awaitingReplyList.filter((p) => p);
  await rtm.disconnect();
}

function readyOf(rtm) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('RTMClient not ready')),
      10000);
    rtm.once('ready', () => { clearTimeout(t); resolve(); });
  });
}

function nextEvent(rtm, type, pred = () => true, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      rtm.off(type, h);
      reject(new Error(`no ${type} event`));
    }, ms);
    const h = (ev) => {
      if (!pred(ev))
        return;
      clearTimeout(t);
      rtm.off(type, h);
      resolve(ev);
    };
    rtm.on(type, h);
  });
}

describe('RTM with @slack/rtm-api', { timeout: 120000 }, () => {
  let b, t;

  before(async () => {
    b = new Backend();
    await b.start();
    t = await makeTeam(b, 'acme', ['alice', 'bob', 'carol']);
  });
  after(async () => { await b.stop(); });

  test('hello, acked message, second client, typing, 30 s idle',
    { timeout: 90000 }, async () => {
      const a = rtmClient(b, t.users.alice.token);
      const c = rtmClient(b, t.users.bob.token);
      let hellos = 0;
      a.on('hello', () => { hellos++; });
      const ra = readyOf(a), rc = readyOf(c);
      const start = await a.start();
      assert.equal(start.ok, true);
      assert.equal(start.self.id, t.users.alice.id);
      assert.equal(start.team.id, t.team);
      assert.match(start.url, /^ws:\/\/127\.0\.0\.1:\d+\/rtm\?ticket=ptk\./);
      await c.start();
      await Promise.all([ra, rc]);
      assert.equal(hellos, 1);

      try {
        // A message: acked with its ts after the commit, seen by bob.
        const seen = nextEvent(c, 'message',
          (ev) => ev.text === 'hello from alice');
        const ack = await a.sendMessage('hello from alice', t.general);
        assert.equal(ack.ok, true);
        assert.match(ack.ts, /^\d+\.\d{6}$/);
        const ev = await seen;
        assert.equal(ev.ts, ack.ts);
        assert.equal(ev.user, t.users.alice.id);
        assert.equal(ev.channel, t.general);
        assert.equal(typeof ev.seq, 'number');

        // The error ack: alice is not in a channel she cannot see.
        await assert.rejects(a.sendMessage('x', 'C0000000000'), (e) =>
          e.code === 'slack_rtmapi_send_message_platform_error' &&
          e.data.error.msg === 'channel_not_found');

        // Typing is relayed to the other members, not to the typist.
        const typing = nextEvent(c, 'user_typing');
        await a.sendTyping(t.general);
        const ty = await typing;
        assert.equal(ty.user, t.users.alice.id);
        assert.equal(ty.channel, t.general);
        assert.equal(ty.seq, undefined);

        // 30 s with nothing to say: the client's own keepalive pings
        // are answered and the connection stays up.
        let pongs = 0;
        a.on('pong', (p) => {
          assert.equal(typeof p.reply_to, 'number');
          pongs++;
        });
        await sleep(30000);
        assert.equal(a.connected, true);
        assert.equal(c.connected, true);
        assert.ok(pongs >= 2, `only ${pongs} pongs in 30 s`);
        const again = nextEvent(c, 'message', (e) => e.text === 'still here');
        await a.sendMessage('still here', t.general);
        await again;
      } finally {
        await closeRtm(a);
        await closeRtm(c);
      }
    });
});

describe('RTM raw protocol', { timeout: 120000 }, () => {
  let b, t, priv;

  before(async () => {
    b = new Backend('rtm_heartbeat = 3s\n');
    await b.start();
    t = await makeTeam(b, 'raw', ['alice', 'bob', 'carol', 'dave']);
    ({ channel_id: priv } = await b.admin.op({ op: 'channel.create',
      team: t.team, name: 'secret', private: true,
      creator: t.users.alice.id }));
    await b.admin.op({ op: 'channel.join', channel: priv,
      user: t.users.bob.id });
  });
  after(async () => { await b.stop(); });

  test('tickets: missing, forged, expired or a user token are refused',
    async () => {
      const res = await b.api('rtm.connect', t.users.alice.token);
      const base = res.url.split('?')[0];
      const bad = async (q) => {
        const c = new RawClient(`${base}${q}`);
        await assert.rejects(c.opened, (e) => e.status === 401);
        c.close();
      };
      await bad('');
      await bad('?ticket=' + res.url.split('ticket=')[1].slice(0, -2) +
        'AA');
      await bad(`?ticket=${t.users.alice.token}`);
      // A well signed ticket: fine until it expires.
      const now = Math.floor(Date.now() / 1000);
      const alice = t.users.alice;
      const good = new RawClient(`${base}?ticket=${b.ticket(t.team, alice.id,
        alice.token_id, now + 60)}`);
      await good.opened;
      good.close();
      await bad(`?ticket=${b.ticket(t.team, alice.id, alice.token_id,
        now - 1)}`);
      assert.match(b.log(), /upgrade from .* refused: ticket_expired/);
      // A ticket holds the token's id: a revoked token's tickets fail.
      const { token, token_id } = await b.admin.op({ op: 'token.mint',
        user: t.users.dave.id });
      const r2 = await b.api('rtm.connect', token);
      await b.admin.op({ op: 'token.revoke', token_id });
      const c = new RawClient(r2.url);
      await assert.rejects(c.opened, (e) => e.status === 401);
      c.close();
      // Not a WebSocket at all.
      const plain = await fetch(`${b.url}/rtm?ticket=x`,
        { signal: AbortSignal.timeout(5000) });
      assert.equal(plain.status, 426);
      // Bad resume arguments.
      const r3 = await b.api('rtm.connect', t.users.alice.token,
        { parley_seq: '5' });
      assert.equal(r3.error, 'invalid_resume');
      const r4 = await b.api('rtm.connect', t.users.alice.token,
        { parley_seq: 'x', parley_epoch: '0123456789abcdef' });
      assert.equal(r4.error, 'invalid_resume');
      const r5 = await b.api('rtm.connect', t.users.alice.token,
        { slim: true, parley_seq: '3', parley_epoch: res.epoch });
      assert.match(r5.url, /&epoch=[0-9a-f]{16}&seq=3&slim=1$/);
    });

  test('private channels and DMs reach members only', async () => {
    const a = await connectRaw(b, t.users.alice.token);
    const bo = await connectRaw(b, t.users.bob.token);
    const ca = await connectRaw(b, t.users.carol.token);
    try {
      const r = await a.reply({ type: 'message', channel: priv,
        text: 'private words' });
      assert.equal(r.ok, true);
      await bo.waitFor((m) => m.text === 'private words');
      const dm = await b.api('conversations.open', t.users.alice.token,
        { users: t.users.bob.id });
      assert.equal(dm.ok, true);
      await a.reply({ type: 'message', channel: dm.channel.id,
        text: 'just for bob' });
      await bo.waitFor((m) => m.text === 'just for bob');
      // A public message after both: once carol has it, she would have
      // had the others before it.
      await a.reply({ type: 'message', channel: t.general, text: 'public' });
      await ca.waitFor((m) => m.text === 'public');
      assert.equal(ca.msgs.filter((m) => m.channel === priv ||
        m.text === 'private words' || m.text === 'just for bob').length, 0);
      // Carol cannot post there, and typing there is not relayed.
      const e = await ca.reply({ type: 'message', channel: priv, text: 'x' });
      assert.equal(e.ok, false);
      assert.equal(e.error.msg, 'channel_not_found');
    } finally {
      a.close(); bo.close(); ca.close();
    }
  });

  test('malformed messages get error acks and the connection lives',
    async () => {
      const a = await connectRaw(b, t.users.alice.token);
      try {
        a.ws.send('{not json');
        await a.waitFor((m) => m.ok === false &&
          m.error.msg === 'invalid_json');
        a.ws.send('[1,2]');
        await a.waitFor((m) => m.ok === false &&
          m.error.msg === 'not_an_object');
        let e = await a.reply({ type: 'message', channel: t.general });
        assert.deepEqual(e.error, { code: 2, msg: 'no_text' });
        e = await a.reply({ type: 'message', channel: t.general,
          text: 'x'.repeat(40001) });
        assert.deepEqual(e.error, { code: 3, msg: 'msg_too_long' });
        e = await a.reply({ type: 'message', channel: t.general,
          text: 'x', thread_ts: 'yesterday' });
        assert.equal(e.error.msg, 'bad_thread_ts');
        e = await a.reply({ type: 'presence_sub', ids: 'U1' });
        assert.equal(e.error.msg, 'bad_ids');
        e = await a.reply({ type: 'launch_rockets' });
        assert.deepEqual(e.error, { code: 4, msg: 'unknown_type' });
        const p = await a.reply({ type: 'ping', time: 42 });
        assert.deepEqual(p, { type: 'pong', time: 42, reply_to: p.reply_to });
        // The ack of a message: its id back as given (a string here),
        // and the text as stored, whatever characters it holds.
        const text = 'quote " backslash \\ tab\t nl\n \u0001 caf\u00e9 \u{1f600}';
        a.ws.send(JSON.stringify({ id: 'my-id "1"', type: 'message',
          channel: t.general, text }));
        const ok = await a.waitFor((m) => m.reply_to === 'my-id "1"', 5000,
          'ack of the string id');
        assert.deepEqual(Object.keys(ok),
          ['ok', 'reply_to', 'channel', 'ts', 'text']);
        assert.equal(ok.ok, true);
        assert.equal(ok.channel, t.general);
        assert.match(ok.ts, /^\d+\.\d{6}$/);
        assert.equal(ok.text, text);
        // A binary frame is refused with 1003.
        a.ws.send(Buffer.from([1, 2, 3]));
        const cl = await a.waitClosed();
        assert.equal(cl.code, 1003);
      } finally {
        a.close();
      }
    });

  test('presence_sub: active on connect, away on the last close',
    async () => {
      const a = await connectRaw(b, t.users.alice.token);
      try {
        a.send({ type: 'presence_sub', ids: [t.users.carol.id] });
        await a.waitFor((m) => m.type === 'presence_change' &&
          m.presence === 'away' && m.users?.includes(t.users.carol.id));
        const ca = await connectRaw(b, t.users.carol.token);
        await a.waitFor((m) => m.type === 'presence_change' &&
          m.user === t.users.carol.id && m.presence === 'active');
        ca.close();
        await a.waitFor((m) => m.type === 'presence_change' &&
          m.user === t.users.carol.id && m.presence === 'away');
        assert.ok(a.msgs.every((m) => m.type !== 'presence_change' ||
          m.seq === undefined));
      } finally {
        a.close();
      }
    });

  test('a silent client is pinged, an answering one stays', async () => {
    const a = await connectRaw(b, t.users.alice.token);
    let pings = 0;
    a.ws.on('ping', () => { pings++; });
    try {
      await sleep(4500);
      assert.ok(pings >= 1, 'no WebSocket ping from the server');
      assert.equal(a.closed, null);
    } finally {
      a.close();
    }
  });

  test('auth.revoke closes that token\'s connection at once', async () => {
    const { token } = await b.admin.op({ op: 'token.mint',
      user: t.users.carol.id });
    const one = await connectRaw(b, token);
    const other = await connectRaw(b, t.users.carol.token);
    try {
      const r = await b.api('auth.revoke', token);
      assert.equal(r.revoked, true);
      await one.waitFor((m) => m.type === 'goodbye' &&
        m.reason === 'token_revoked');
      await one.waitClosed();
      await other.reply({ type: 'ping' });
      assert.equal(other.closed, null);
    } finally {
      one.close(); other.close();
    }
  });

  test('deactivating a user closes every connection of theirs',
    async () => {
      const { user_id: id } = await b.admin.op({ op: 'user.create',
        team: t.team, name: 'erin', real_name: 'Erin' });
      const { token } = await b.admin.op({ op: 'token.mint', user: id });
      const c1 = await connectRaw(b, token);
      const c2 = await connectRaw(b, token);
      const a = await connectRaw(b, t.users.alice.token);
      try {
        await b.admin.op({ op: 'user.deactivate', user: id });
        for (const c of [c1, c2]) {
          await c.waitFor((m) => m.type === 'goodbye' &&
            m.reason === 'account_inactive');
          await c.waitClosed();
        }
        // The others hear about it, and keep their connection.
        await a.waitFor((m) => m.type === 'user_change' &&
          m.user.id === id && m.user.deleted === true);
        assert.equal(a.closed, null);
        const r = await b.api('rtm.connect', token);
        assert.equal(r.ok, false);
      } finally {
        c1.close(); c2.close(); a.close();
      }
    });

  test('a server shutdown says goodbye first', async () => {
    const b2 = new Backend();
    await b2.start();
    try {
      const t2 = await makeTeam(b2, 'bye', ['zed']);
      const z = await connectRaw(b2, t2.users.zed.token);
      await b2.stopProcess();
      await until(() => z.closed, 5000, 'close');
      assert.ok(z.msgs.some((m) => m.type === 'goodbye' &&
        m.reason === 'server_shutdown'));
      assert.equal(z.closed.code, 1001);
    } finally {
      await b2.stop();
    }
  });
});
