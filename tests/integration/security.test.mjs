// The security matrix: each row is an attempt that must fail with the
// right answer and leave no trace.  After every row the store's mdb_dump
// is unchanged and the watchers (one RTM client in each team, members of
// everything there) got no persisted event.  Rows run through HAProxy
// and the agent ("front") and against each daemon directly ("backend",
// "agent", "stream", "static").  Every daemon runs with -v, and at the
// end no log of any of them holds a key, token, token MAC, ticket or
// password the matrix used.  docs/reliability.md lists the rows.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { RawClient, connectRaw, sleep, until } from './rtm-lib.mjs';
import { StreamClient, frame } from './stream-lib.mjs';
import { Stack, call, mint, rawGet, spopAsk } from './security-lib.mjs';

const s = new Stack();
// With parley-edge built, the stack has an edge and every row also runs
// at the edge directly.
const withEdge = fs.existsSync(path.join(process.env.PARLEY_BIN ||
  path.resolve(path.dirname(new URL(import.meta.url).pathname),
    '../../build/bin'), 'parley-edge'));
const A = {}, B = {};
let wA, wB, epoch;

// Opens a WebSocket by hand; resolves with the status line's code and
// the whole answer, or 101 for an upgrade.
function wsTry(base, target) {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const c = net.createConnection(Number(u.port), u.hostname);
    let data = '';
    const t = setTimeout(() => { c.destroy(); reject(new Error('timeout')); },
      10000);
    const done = () => {
      clearTimeout(t);
      c.destroy();
      resolve({ status: Number(/^HTTP\/1\.[01] (\d+)/.exec(data)?.[1] ?? 0),
        text: data });
    };
    // Done at the end of the answer's head and body: HAProxy keeps the
    // connection open after a refusal.
    c.on('data', (d) => {
      data += d.toString('latin1');
      const end = data.indexOf('\r\n\r\n');
      if (end < 0)
        return;
      const len = Number(/\r\ncontent-length: *(\d+)/i
        .exec(data.slice(0, end))?.[1] ?? 0);
      if (data.startsWith('HTTP/1.1 101') || data.length >= end + 4 + len)
        done();
    });
    c.on('error', () => done());
    c.on('close', () => done());
    c.once('connect', () => c.write(`GET ${target} HTTP/1.1\r\n` +
      `Host: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\n` +
      'Sec-WebSocket-Version: 13\r\n\r\n'));
  });
}

async function user(team, name, password) {
  const { user_id: id } = await s.b.admin.op({ op: 'user.create',
    team: team.id, name, real_name: name, email: `${name}@example.com`,
    ...(password ? { password: s.secret(password) } : {}) });
  const { token, token_id: tokenId } = await s.b.admin.op({
    op: 'token.mint', user: id });
  s.secret(token);
  s.secret(token.split('.').at(-1));
  return { id, token, tokenId, password };
}

async function agentInvalid() {
  const r = await fetch(`${s.spoaStats}/metrics`,
    { signal: AbortSignal.timeout(5000) });
  const m = /parley_spoa_auth_total\{auth="invalid"\} (\d+)/
    .exec(await r.text());
  return Number(m?.[1] ?? 0);
}

async function agentExpired() {
  const r = await fetch(`${s.spoaStats}/metrics`,
    { signal: AbortSignal.timeout(5000) });
  const m = /parley_spoa_auth_total\{auth="expired"\} (\d+)/
    .exec(await r.text());
  return Number(m?.[1] ?? 0);
}

function ticketOf(url) {
  return s.secret(new URL(url).searchParams.get('ticket'));
}

before(async () => {
  await s.start();
  A.id = (await s.b.admin.op({ op: 'team.create', name: 'Alpha',
    domain: 'alpha' })).team_id;
  B.id = (await s.b.admin.op({ op: 'team.create', name: 'Beta',
    domain: 'beta' })).team_id;
  // Signed with k0, which is removed later.
  A.old = await user(A, 'old');
  await s.addKey();
  A.ann = await user(A, 'ann', `pw-${crypto.randomBytes(8).toString('hex')}`);
  A.bob = await user(A, 'bob');
  A.eve = await user(A, 'eve');
  A.dan = await user(A, 'dan');
  A.rev = await user(A, 'rev');
  B.mal = await user(B, 'mal');
  for (const [t, u] of [[A, A.ann], [B, B.mal]])
    t.general = (await s.b.admin.op({ op: 'channel.create', team: t.id,
      name: 'general', general: true, creator: u.id })).channel_id;
  for (const n of ['bob', 'eve', 'dan', 'rev', 'old'])
    await s.b.admin.op({ op: 'channel.join', channel: A.general,
      user: A[n].id });
  A.private = (await s.b.admin.op({ op: 'channel.create', team: A.id,
    name: 'secret', private: true, creator: A.ann.id })).channel_id;
  await s.b.admin.op({ op: 'channel.join', channel: A.private,
    user: A.bob.id });
  const im = await call(s.direct, 'conversations.open', A.ann.token,
    { users: A.bob.id });
  A.im = im.json.channel.id;
  const post = async (u, channel, text) => {
    const r = await call(s.direct, 'chat.postMessage', u.token,
      { channel, text });
    assert.ok(r.json.ok, r.text);
    return r.json.ts;
  };
  A.generalTs = await post(A.ann, A.general, 'hello general');
  A.privateTs = await post(A.ann, A.private, 'private text in secret');
  A.imTs = await post(A.ann, A.im, 'private text in the im');
  B.generalTs = await post(B.mal, B.general, 'beta text');

  // Tickets of tokens that are then revoked or whose user leaves.
  for (const u of [A.rev, A.dan, A.ann]) {
    const r = await call(s.direct, 'rtm.connect', u.token);
    assert.ok(r.json.ok, r.text);
    u.ticket = ticketOf(r.json.url);
  }
  await s.b.admin.op({ op: 'token.revoke', token_id: A.rev.tokenId });
  await s.b.admin.op({ op: 'user.deactivate', user: A.dan.id });
  await s.removeOldKey();

  A.expired = s.secret(mint('xoxp', 'k1', s.k1, A.id, A.ann.id,
    A.ann.tokenId, Math.floor(Date.now() / 1000) - 60));
  A.expiredTicket = s.secret(mint('ptk', 'k1', s.k1, A.id, A.ann.id,
    A.ann.tokenId, Math.floor(Date.now() / 1000) - 60));
  const t = A.ann.token;
  const mac = t.split('.').at(-1);
  const flip = mac[5] === 'A' ? 'B' : 'A';
  A.forged = s.secret(`${t.slice(0, t.length - mac.length)}` +
    `${mac.slice(0, 5)}${flip}${mac.slice(6)}`);
  A.truncated = s.secret(t.slice(0, -4));
  A.forgedTicket = s.secret(A.ann.ticket.replace(/\.[^.]+$/,
    `.${crypto.randomBytes(32).toString('base64url')}`));

  wA = await connectRaw(s.b, A.ann.token);
  wB = await connectRaw(s.b, B.mal.token);
  epoch = wA.msgs.find((m) => m.type === 'hello').epoch;
});

after(async () => {
  wA?.close();
  wB?.close();
  await s.stop();
});

// What each row expects of the answer.
const apiErr = (error) => (r) => {
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json?.ok, false, r.text);
  assert.equal(r.json.error, error, r.text);
};
const wsRefused = (status, error) => (r) => {
  assert.equal(r.status, status, r.text);
  if (error)
    assert.match(r.text, new RegExp(error));
};
const notFound = (leak) => (r) => {
  assert.ok(r.status === 404 || r.status === 400, r.text.slice(0, 200));
  assert.ok(!r.text.includes(leak), 'content leaked');
};

// Both ways in: HAProxy with the agent, and the backend directly.  A
// row at the front with a token the agent must refuse also checks that
// the agent counted it (so the answer did not come from the backend).
const both = (base) => [['front', s.front, base], ['backend', s.direct,
  base]];

const rows = [];
function row(where, what, expect, run, opts = {}) {
  rows.push({ where, what, expect, run, ...opts });
}

for (const [where, url] of [['front', () => s.front],
  ['backend', () => s.direct],
  ...(withEdge ? [['edge', () => s.edgeUrl]] : [])]) {
  const agent = where === 'front' ? 'invalid' : null;
  row(where, 'forged token (one MAC character changed)', 'invalid_auth',
    () => call(url(), 'auth.test', A.forged), { check: apiErr('invalid_auth'),
      agent });
  row(where, 'truncated token', 'invalid_auth',
    () => call(url(), 'auth.test', A.truncated),
    { check: apiErr('invalid_auth'), agent });
  row(where, 'token signed with a removed key', 'invalid_auth',
    () => call(url(), 'auth.test', A.old.token),
    { check: apiErr('invalid_auth'), agent });
  row(where, 'forged token in the parley_token cookie', 'invalid_auth',
    () => call(url(), 'auth.test', null, {},
      { headers: { Cookie: `parley_token=${A.forged}` } }),
    { check: apiErr('invalid_auth'), agent });
  row(where, 'expired token', 'token_expired',
    () => call(url(), 'auth.test', A.expired),
    { check: apiErr('token_expired'), agent: agent ? 'expired' : null });
  row(where, 'forged token on a write', 'invalid_auth',
    () => call(url(), 'chat.postMessage', A.forged,
      { channel: A.general, text: 'forged write' }),
    { check: apiErr('invalid_auth'), agent });
  row(where, 'revoked token', 'token_revoked',
    () => call(url(), 'chat.postMessage', A.rev.token,
      { channel: A.general, text: 'revoked write' }),
    { check: apiErr('token_revoked') });
  // Deactivation revokes the user's tokens.
  row(where, 'token of a deactivated user', 'token_revoked',
    () => call(url(), 'chat.postMessage', A.dan.token,
      { channel: A.general, text: 'inactive write' }),
    { check: apiErr('token_revoked') });
  // The agent takes tickets only in the URL.
  const asToken = agent ? 'invalid_auth' : 'not_allowed_token_type';
  row(where, 'RTM ticket used as a token', asToken,
    () => call(url(), 'auth.test', A.ann.ticket),
    { check: apiErr(asToken), agent });
  row(where, 'team A token reads team B channel', 'channel_not_found',
    () => call(url(), 'conversations.history', A.ann.token,
      { channel: B.general }), { check: apiErr('channel_not_found') });
  row(where, 'team A token posts to team B channel', 'channel_not_found',
    () => call(url(), 'chat.postMessage', A.ann.token,
      { channel: B.general, text: 'cross-team write' }),
    { check: apiErr('channel_not_found') });
  row(where, 'team A token reads team B user', 'user_not_found',
    () => call(url(), 'users.info', A.ann.token, { user: B.mal.id }),
    { check: apiErr('user_not_found') });
  row(where, 'team B token deletes team A message', 'channel_not_found',
    () => call(url(), 'chat.delete', B.mal.token,
      { channel: A.general, ts: A.generalTs }),
    { check: apiErr('channel_not_found') });
  row(where, 'non-member reads private channel', 'channel_not_found',
    () => call(url(), 'conversations.history', A.eve.token,
      { channel: A.private }), { check: apiErr('channel_not_found') });
  row(where, 'non-member posts to private channel', 'channel_not_found',
    () => call(url(), 'chat.postMessage', A.eve.token,
      { channel: A.private, text: 'intruder' }),
    { check: apiErr('channel_not_found') });
  row(where, 'non-member reads a DM', 'channel_not_found',
    () => call(url(), 'conversations.history', A.eve.token,
      { channel: A.im }), { check: apiErr('channel_not_found') });
  row(where, 'non-member posts to a DM', 'channel_not_found',
    () => call(url(), 'chat.postMessage', A.eve.token,
      { channel: A.im, text: 'intruder' }),
    { check: apiErr('channel_not_found') });
  row(where, 'non-member lists private channel and DM',
    'absent from the list',
    () => call(url(), 'conversations.list', A.eve.token,
      { types: 'public_channel,private_channel,mpim,im' }),
    { check: (r) => {
      assert.equal(r.json?.ok, true, r.text);
      assert.ok(r.json.channels.some((c) => c.id === A.general));
      assert.ok(!r.text.includes(A.private) && !r.text.includes(A.im));
    } });
  row(where, 'non-member boots (rtm.start)', 'no private channel or text',
    () => call(url(), 'rtm.start', A.eve.token),
    { check: (r) => {
      assert.equal(r.json?.ok, true, r.text);
      assert.ok(!r.text.includes(A.private) && !r.text.includes(A.im));
      assert.ok(!r.text.includes('private text'));
    } });
  row(where, "editing another's message", 'cant_update_message',
    () => call(url(), 'chat.update', A.eve.token,
      { channel: A.general, ts: A.generalTs, text: 'edited by eve' }),
    { check: apiErr('cant_update_message') });
  row(where, "deleting another's message", 'cant_delete_message',
    () => call(url(), 'chat.delete', A.eve.token,
      { channel: A.general, ts: A.generalTs }),
    { check: apiErr('cant_delete_message') });
  row(where, 'JSON nested 100 deep', 'invalid_json',
    () => call(url(), 'chat.postMessage', A.eve.token, null, { body:
      `{"channel":"${A.general}","text":"x","blocks":` +
      `${'['.repeat(100)}${']'.repeat(100)}}` }),
    { check: apiErr('invalid_json') });
  row(where, 'JSON body of 2 MiB', 'HTTP 413',
    () => call(url(), 'chat.postMessage', A.eve.token, null, { body:
      `{"channel":"${A.general}","text":"${'x'.repeat(2 << 20)}"}` }),
    { check: (r) => assert.equal(r.status, 413, r.text.slice(0, 200)) });
  row(where, 'JSON with 30,000 values', 'invalid_json',
    () => call(url(), 'chat.postMessage', A.eve.token, null, { body:
      `{"channel":"${A.general}","text":"x","blocks":` +
      `[${Array(30000).fill('0').join(',')}]}` }),
    { check: apiErr('invalid_json') });

  // RTM WebSocket tickets.
  const rtmAt = (tk) => `/rtm?ticket=${encodeURIComponent(tk)}`;
  row(where, 'RTM with a forged ticket', '401 invalid_auth',
    () => wsTry(url(), rtmAt(A.forgedTicket)),
    { check: wsRefused(401, 'invalid_auth'), agent });
  // HAProxy answers both of the agent's refusals with invalid_auth.
  const expired = agent ? 'invalid_auth' : 'ticket_expired';
  row(where, 'RTM with an expired ticket', `401 ${expired}`,
    () => wsTry(url(), rtmAt(A.expiredTicket)),
    { check: wsRefused(401, expired), agent: agent ? 'expired' : null });
  const notTicket = agent ? 'invalid_auth' : 'not_a_ticket';
  row(where, 'RTM with a user token as ticket', `401 ${notTicket}`,
    () => wsTry(url(), rtmAt(A.ann.token)),
    { check: wsRefused(401, notTicket), agent });
  row(where, 'RTM with the ticket of a revoked token', '401 token_revoked',
    () => wsTry(url(), rtmAt(A.rev.ticket)),
    { check: wsRefused(401, 'token_revoked') });
  row(where, 'RTM with the ticket of a deactivated user',
    '401 token_revoked', () => wsTry(url(), rtmAt(A.dan.ticket)),
    { check: wsRefused(401, 'token_revoked') });
  row(where, 'rtm.connect with a revoked token', 'token_revoked',
    () => call(url(), 'rtm.connect', A.rev.token),
    { check: apiErr('token_revoked') });

  // Static files.
  for (const target of ['/../../../../etc/passwd',
    '/%2e%2e/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2f..%2fetc%2fpasswd',
    '/index.html%00.txt', '//etc/passwd'])
    row(where, `static path ${target}`, '400 or 404',
      () => rawGet(url(), target), { check: notFound('root:') });
  row(where, 'static symbolic link out of the root', '404',
    () => rawGet(url(), '/leak.txt'),
    { check: notFound('outside-the-web-root') });
}

// The agent directly, over SPOP as HAProxy speaks it: what it decides
// for each credential.  Revocation is not the agent's to know.
const ask = (args) => spopAsk(s.spoaPort, { path: '/api/auth.test',
  ua: 'security-test', ...args });
const refused = (auth) => (v) => {
  assert.equal(v.auth, auth, JSON.stringify(v));
  assert.equal(v.team, undefined, 'a team named for a refused credential');
  assert.equal(v.user, undefined);
};
const rtmArgs = (ticket) => ({ path: '/rtm', query: `ticket=${ticket}`,
  ticket, upgrade: 'websocket' });
for (const [what, args, auth] of [
  ['forged token', () => ({ authz: `Bearer ${A.forged}` }), 'invalid'],
  ['truncated token', () => ({ authz: `Bearer ${A.truncated}` }), 'invalid'],
  ['token signed with a removed key', () => ({ authz:
    `Bearer ${A.old.token}` }), 'invalid'],
  ['expired token', () => ({ authz: `Bearer ${A.expired}` }), 'expired'],
  ['forged token in the cookie', () => ({ cookie: A.forged }), 'invalid'],
  ['RTM ticket as a token', () => ({ authz: `Bearer ${A.ann.ticket}` }),
    'invalid'],
  ['forged ticket', () => rtmArgs(A.forgedTicket), 'invalid'],
  ['expired ticket', () => rtmArgs(A.expiredTicket), 'expired'],
  ['user token as the ticket', () => rtmArgs(A.ann.token), 'invalid'],
])
  row('agent', what, `auth=${auth}, no team`, () => ask(args()),
    { check: refused(auth) });

// RTM sends and resume at the servers that hold WebSockets.
async function rtmAt(base, token, args = {}) {
  const r = await call(base, 'rtm.connect', token, args);
  assert.ok(r.json?.ok, r.text);
  // The URL names the front (rtm_url); the test goes to base directly.
  const u = new URL(r.json.url);
  const c = new RawClient(`${base.replace(/^http/, 'ws')}${u.pathname}` +
    u.search);
  await c.opened;
  await c.waitFor((m) => m.type === 'hello');
  return c;
}
for (const [where, url] of [['backend', () => s.direct],
  ...(withEdge ? [['edge', () => s.edgeUrl]] : [])]) {
  row(where, 'non-member posts to private channel over RTM',
    'error reply', async () => {
      const c = await rtmAt(url(), A.eve.token);
      try {
        return await c.reply({ type: 'message', channel: A.private,
          text: 'intruder over rtm' });
      } finally {
        c.close();
      }
    }, { check: (r) => assert.equal(r.ok, false, JSON.stringify(r)) });
  // The resume starts before new posts in the private channel, the DM
  // and general (made first, outside the row's no-trace window): an
  // edge's ring holds only what came after it subscribed.
  row(where, 'non-member resumes across private posts', 'no private event',
    async ({ seq }) => {
      const c = await rtmAt(url(), A.eve.token,
        { parley_epoch: epoch, parley_seq: String(seq) });
      try {
        await c.reply({ type: 'ping' });
        return c.msgs;
      } finally {
        c.close();
      }
    }, { check: (msgs) => {
      const text = JSON.stringify(msgs);
      assert.ok(!msgs.some((m) => m.type === 'resume_failed'), text);
      assert.ok(msgs.some((m) => m.text === `public again at ${where}`),
        'the replay happened');
      assert.ok(!text.includes(A.private) && !text.includes(A.im));
      assert.ok(!text.includes('private text'));
    }, prep: async () => {
      const c = await rtmAt(url(), A.eve.token);
      const { last_seq: seq } = c.msgs.find((m) => m.type === 'hello');
      for (const [ch, text] of [[A.private, `private text at ${where}`],
        [A.im, `private text in the im at ${where}`],
        [A.general, `public again at ${where}`]]) {
        const r = await call(s.direct, 'chat.postMessage', A.ann.token,
          { channel: ch, text });
        assert.ok(r.json.ok, r.text);
      }
      // Once eve has it live there, the server holds it for a resume.
      await c.waitFor((m) => m.text === `public again at ${where}`);
      await wA.waitFor((m) => m.text === `public again at ${where}`);
      c.close();
      return { seq };
    } });
}

// The stream port.
for (const [what, cert] of [['without a certificate', ''],
  ['with a certificate of another CA', 'other-client']])
  row('stream', `edge connection ${what}`, 'closed, no frame',
    async () => {
      const c = new StreamClient(s.streamPort, s.certs, { cert });
      await c.opened.catch(() => {});
      if (!c.closed)
        c.sock.write(frame({ t: 'hello', v: 1, vmin: 1, name: 'intruder' }));
      await until(() => c.closed, 10000, 'the close');
      return c.frames;
    }, { check: (frames) => assert.equal(frames.length, 0) });

// Sign-in guessing: signin_failures is 3 a minute.
row('backend', 'sign-in guessing past the throttle', 'HTTP 429',
  async () => {
    const out = [];
    for (let i = 0; i < 3; i++)
      out.push(await call(s.direct, 'parley.signin', null, { team: 'alpha',
        user: 'ann', password: s.secret(`guess-${i}-${crypto.randomUUID()}`)
      }));
    // The right password is refused too while the bucket is empty.
    out.push(await call(s.direct, 'parley.signin', null,
      { team: 'alpha', user: 'ann', password: A.ann.password }));
    return out;
  }, { check: (out) => {
    for (const r of out.slice(0, 3))
      assert.equal(r.json?.error, 'invalid_credentials', r.text);
    assert.equal(out[3].status, 429, out[3].text);
    assert.ok(Number(out[3].retryAfter) > 0);
    assert.ok(!out[3].text.includes('xoxp'));
  } });

for (const r of rows) {
  test(`${r.where}: ${r.what} -> ${r.expect}`, async (ctx) => {
    const pre = r.prep ? await r.prep() : undefined;
    const agentBefore = r.agent === 'invalid' ? await agentInvalid() :
      r.agent === 'expired' ? await agentExpired() : 0;
    const before = s.dump();
    const marks = [wA.msgs.length, wB.msgs.length];
    const got = await r.run(pre);
    if (got?.status !== undefined)
      ctx.diagnostic(`answer: ${got.status} ${got.json?.error ??
        got.text.split('\r\n\r\n')[1]?.slice(0, 40) ?? ''}`);
    r.check(got);
    if (r.agent) {
      const now = r.agent === 'invalid' ? await agentInvalid() :
        await agentExpired();
      assert.ok(now > agentBefore, `the agent did not count it ${r.agent}`);
    }
    // Anything published before the pongs reached the watchers first.
    await wA.reply({ type: 'ping' });
    await wB.reply({ type: 'ping' });
    const events = [...wA.msgs.slice(marks[0]), ...wB.msgs.slice(marks[1])]
      .filter((m) => m.seq !== undefined);
    assert.deepEqual(events, [], 'an event was published');
    const after = s.dump();
    assert.ok(after === before, 'the store changed');
  });
}

// The control: a write that is allowed does show in both checks, so
// their silence above means something.
test('control: an allowed post changes the dump and reaches a watcher',
  async () => {
    const before = s.dump();
    const mark = wA.msgs.length;
    const r = await call(s.direct, 'chat.postMessage', A.eve.token,
      { channel: A.general, text: 'an allowed post' });
    assert.ok(r.json.ok, r.text);
    await wA.reply({ type: 'ping' });
    assert.ok(wA.msgs.slice(mark).some((m) => m.seq !== undefined &&
      m.text === 'an allowed post'));
    assert.notEqual(s.dump(), before);
  });

test('control: the agent passes a good token and names its team',
  async () => {
    const v = await ask({ authz: `Bearer ${A.ann.token}` });
    assert.equal(v.auth, 'ok');
    assert.equal(v.team, A.id);
  });

test('no key, token, ticket or password in any log at -v', async (ctx) => {
  // Let the daemons write what they will, then read every log.
  await sleep(200);
  const logs = s.logs();
  assert.equal(logs.length, withEdge ? 5 : 4);
  // The daemons did log at debug level: the search covers those lines.
  for (const name of ['backend', 'spoa', ...(withEdge ? ['edge'] : [])])
    assert.match(logs.find((l) => l.name === name).text, /\[debug\]: /,
      `${name} logs at debug level`);
  // HAProxy logs each request (haproxy.cfg's log-format).
  assert.match(logs.find((l) => l.name === 'haproxy').text, / auth=invalid /);
  ctx.diagnostic(`${s.secrets.size} secrets searched for in ` +
    `${logs.length} logs of ${logs.reduce((n, l) =>
      n + l.text.split('\n').length, 0)} lines`);
  for (const secret of s.secrets) {
    assert.ok(secret.length >= 8);
    for (const { name, text } of logs)
      assert.ok(!text.includes(secret),
        `${name}.log holds a secret (${secret.slice(0, 6)}...)`);
  }
});
