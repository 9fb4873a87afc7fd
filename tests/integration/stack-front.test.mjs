// The whole stack behind the real HAProxy 2.6 front, started by the
// launcher of `make run` on free ports: forged and expired credentials
// answered by HAProxy alone, private endpoints kept off the public fronts,
// the HTTPS front with the official clients over wss, credentials kept out
// of the logs, a second launcher refused, then the agent killed (chat goes
// on, health degraded) and the shard killed (health 503) and restarted
// (health 200 again).
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { RTMClient } from '@slack/rtm-api';
import { WebClient } from '@slack/web-api';

const top = path.resolve(path.dirname(new URL(import.meta.url).pathname),
  '../..');
const launcher = path.join(top, 'tools/run-stack.sh');
const offsets = [80, 90, 101, 102, 201, 202, 301, 302, 401, 402, 403, 443];

function run(args, timeout = 120000) {
  return new Promise((resolve) => {
    execFile('bash', [launcher, ...args], { timeout }, (err, stdout,
      stderr) => resolve({ code: err ? (err.code ?? 1) : 0, stdout,
      stderr }));
  });
}

function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

// A port base in this file's range (23000-23999) whose ports are free.
async function freeBase() {
  for (let i = 0; i < 40; i++) {
    const base = 23000 + Math.floor(Math.random() * 9) * 100;
    let ok = true;
    for (const o of offsets)
      if (!(await portFree(base + o))) { ok = false; break; }
    if (ok)
      return base;
  }
  throw new Error('no free port base');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Waits for cond() to hold, up to ms; the last value or error is in the
// failure message.
async function until(what, cond, ms = 60000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      last = await cond();
      if (last)
        return last;
    } catch (e) {
      last = e;
    }
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

let dir, base, ca, creds, keyLine;
const u = (o, p) => `http://127.0.0.1:${base + o}${p}`;
const front = (p) => u(80, p);
const tlsFront = (p) => `https://127.0.0.1:${base + 443}${p}`;

// One request with node:https (fetch cannot be told a CA): resolves to
// { status, headers, body }.
function httpsReq(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, headers, ca, timeout: 10000 },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (data += c));
        res.on('end', () => resolve({ status: res.statusCode,
          headers: res.headers, body: data }));
      });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

async function req(url, opts = {}) {
  const r = await fetch(url, { ...opts, signal: AbortSignal.timeout(10000) });
  return { status: r.status, headers: r.headers, body: await r.text() };
}

// A token signed with the stack's real key, of any kind and expiry.
function mint(kind, team, user, exp) {
  const [kid, hex] = keyLine;
  const body = `${kind}.${kid}.${team}.${user}.${randomBytes(4)
    .toString('hex')}.${exp}`;
  const mac = createHmac('sha256', Buffer.from(hex, 'hex')).update(body)
    .digest('base64url');
  return `${body}.${mac}`;
}

// What the shard saw: every Web API call and every refused upgrade.
async function shardSeen() {
  const text = (await req(u(101, '/metrics'))).body;
  let n = 0;
  for (const line of text.split('\n')) {
    if (/^parley_api_requests_total\{/.test(line) ||
      /^parley_api_unknown_method_total /.test(line) ||
      /^parley_rtm_(refused|connections)_total/.test(line))
      n += Number(line.split(' ').pop());
  }
  return n;
}

async function signin(i) {
  const [email, password] = creds[i];
  const r = await req(front('/api/parley.signin'), { method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ team: 'parley-demo', user: email, password }) });
  const b = JSON.parse(r.body);
  assert.equal(b.ok, true, r.body);
  return b.token;
}

function pidOf(name) {
  return Number(fs.readFileSync(path.join(dir, 'pids', `${name}.pid`),
    'utf8'));
}

// A process that has exited but not been reaped (a zombie) is gone.
function alive(pid) {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`,
      'utf8'));
  } catch {
    return false;
  }
}

// A WebSocket upgrade request with node:http (fetch refuses to send
// Upgrade): resolves to the status of the answer.
function upgradeStatus(url) {
  return new Promise((resolve, reject) => {
    const r = http.get(url, { timeout: 10000, headers: {
      connection: 'Upgrade', upgrade: 'websocket',
      'sec-websocket-version': '13',
      'sec-websocket-key': randomBytes(16).toString('base64') } });
    r.on('response', (res) => { res.resume(); resolve(res.statusCode); });
    r.on('upgrade', (res, sock) => { sock.destroy(); resolve(101); });
    r.on('timeout', () => r.destroy(new Error('timeout')));
    r.on('error', reject);
  });
}

async function health() {
  const r = await req(u(401, '/health'));
  return `${r.status} ${r.body.trim()}`;
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-front-'));
  base = await freeBase();
  const up = await run(['-p', String(base), '-d', dir, '-b', '-q']);
  assert.equal(up.code, 0, up.stderr);
  ca = fs.readFileSync(path.join(dir, 'certs/ca.pem'));
  creds = fs.readFileSync(path.join(dir,
    'data/shard1/demo-credentials.txt'), 'utf8').split('\n')
    .filter((l) => l && !l.startsWith('#')).map((l) => l.split(' '));
  keyLine = fs.readFileSync(path.join(dir, 'data/shard1/tokens.key'),
    'utf8').split('\n').filter((l) => l && !l.startsWith('#')).pop()
    .trim().split(/\s+/);
  // Every check has had its first result (the agent-check too).
  await until('health ok', async () => (await health()).startsWith(
    '200 PARLEY-HEALTHY ok'));
});

after(async () => {
  const pids = fs.existsSync(path.join(dir, 'pids')) ?
    fs.readdirSync(path.join(dir, 'pids')).filter((f) => f.endsWith('.pid'))
      .map((f) => Number(fs.readFileSync(path.join(dir, 'pids', f),
        'utf8'))) : [];
  await run(['-d', dir, '-s']);
  for (const pid of pids)
    assert.equal(alive(pid), false, `pid ${pid} stopped`);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('forged and expired credentials are answered by HAProxy and reach ' +
  'no daemon', async () => {
  const forged = 'xoxp.k1.T1.U1.a.0.' + 'A'.repeat(43);
  const forgedTicket = 'ptk.k1.T1.U1.a.0.' + 'A'.repeat(43);
  const expired = mint('xoxp', 'T1', 'U1', 1);
  const expiredTicket = mint('ptk', 'T1', 'U1', 1);

  // The count moves with a request that does reach the shard (an edge
  // answers api.test itself, and forwards team.info).
  const s0 = await shardSeen();
  assert.equal(JSON.parse((await req(front('/api/team.info'),
    { method: 'POST' })).body).error, 'not_authed');
  await until('the shard counts a call', async () =>
    (await shardSeen()) > s0);

  const s1 = await shardSeen();
  const cases = [
    ['header', front('/api/auth.test'),
      { authorization: `Bearer ${forged}` }, 200, 'invalid_auth'],
    ['cookie', front('/api/conversations.list'),
      { cookie: `parley_token=${forged}` }, 200, 'invalid_auth'],
    ['expired header', front('/api/auth.test'),
      { authorization: `Bearer ${expired}` }, 200, 'token_expired'],
    ['expired cookie', front('/api/users.list'),
      { cookie: `parley_token=${expired}` }, 200, 'token_expired'],
  ];
  for (const [what, url, headers, status, error] of cases) {
    for (const viaTls of [false, true]) {
      const r = viaTls ?
        await httpsReq(url.replace(front(''), tlsFront('')),
          { method: 'POST', headers }) :
        await req(url, { method: 'POST', headers });
      assert.equal(r.status, status, what);
      assert.deepEqual(JSON.parse(r.body), { ok: false, error }, what);
    }
  }
  for (const t of [forgedTicket, expiredTicket])
    assert.equal(await upgradeStatus(front(`/rtm?ticket=${t}`)), 401);
  // Give a request that had slipped through the time to be counted.
  await req(u(101, '/healthz'));
  assert.equal(await shardSeen(), s1, 'the shard saw none of them');

  // HAProxy logged each as answered by itself (<NOSRV>, no server).
  await until('HAProxy logged its own answers', () => fs.readFileSync(
    path.join(dir, 'logs/haproxy.log'), 'utf8').split('\n')
    .filter((l) => l.includes('<NOSRV>') &&
      /auth=(invalid|expired)/.test(l)).length >= 10);
});

test('/metrics, /healthz and the stats are not public', async () => {
  const paths = ['/metrics', '/healthz', '/stats', '/metrics?x=1',
    '//metrics', '/%6detrics', '/HEALTHZ', '/healthz/', '/stats;csv'];
  for (const p of paths) {
    const a = await req(front(p));
    assert.equal(a.status, 404, `http ${p}`);
    assert.doesNotMatch(a.body, /parley_|haproxy_|Statistics|"status"/);
    const b = await httpsReq(tlsFront(p));
    assert.equal(b.status, 404, `https ${p}`);
    assert.doesNotMatch(b.body, /parley_|haproxy_|Statistics|"status"/);
  }
  // They are there on the private addresses.
  assert.match((await req(u(101, '/metrics'))).body, /parley_api_/);
  assert.equal((await req(u(101, '/healthz'))).status, 200);
  assert.match((await req(u(90, '/stats'))).body, /Statistics Report/);
  assert.match((await req(u(90, '/metrics'))).body, /haproxy_process_/);
});

test('HTTPS front: the official clients sign in and chat over wss, ' +
  'trusting the generated CA', async () => {
  const token = await signin(0);
  const token2 = await signin(1);
  const api = `${tlsFront('/api/')}`;
  const agent = new https.Agent({ ca });
  const web = new WebClient(token2, { slackApiUrl: api, agent,
    retryConfig: { retries: 0 }, timeout: 10000, logLevel: 'error' });
  const rc = await web.apiCall('rtm.connect');
  assert.ok(rc.url.startsWith(`wss://127.0.0.1:${base + 443}/rtm?ticket=`),
    rc.url);
  // The same backend hands a plain ws URL to a client of the HTTP front.
  const plain = JSON.parse((await req(front('/api/rtm.connect'),
    { method: 'POST', headers: { authorization: `Bearer ${token2}` } }))
    .body);
  assert.ok(plain.url.startsWith(`ws://127.0.0.1:${base + 80}/rtm?`),
    plain.url);

  const rtm = new RTMClient(token, { slackApiUrl: api, tls: { ca },
    webClient: new WebClient(token, { slackApiUrl: api, agent,
      retryConfig: { retries: 0 }, timeout: 10000, logLevel: 'error' }),
    autoReconnect: false, logLevel: 'error' });
  const ready = new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('RTMClient not ready')),
      20000);
    rtm.once('ready', () => { clearTimeout(t); resolve(); });
  });
  try {
    await rtm.start();
    await ready;
    const list = await web.conversations.list();
    const general = list.channels.find((c) => c.name === 'general');
    const got = new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no message event')),
        15000);
      rtm.on('message', (ev) => {
        if (ev.text === 'over wss') { clearTimeout(t); resolve(ev); }
      });
    });
    const posted = await web.chat.postMessage({ channel: general.id,
      text: 'over wss' });
    const ev = await got;
    assert.equal(ev.ts, posted.ts);
  } finally {
    rtm.awaitingReplyList = (rtm.awaitingReplyList || []).filter((p) => p);
    await rtm.disconnect().catch(() => {});
  }

  // A client that does not trust the CA is refused the handshake.
  await assert.rejects(new Promise((resolve, reject) => {
    https.get(tlsFront('/api/api.test'), { timeout: 10000 }, resolve)
      .on('error', reject);
  }), /self[- ]signed|unable to (get|verify)/i);
});

test('no log line holds a token, a ticket or a cookie', async () => {
  // A ticket, a token in the query and a cookie, all real.
  const token = await signin(2);
  const rc = JSON.parse((await req(front('/api/rtm.connect'),
    { method: 'POST', headers: { authorization: `Bearer ${token}` } }))
    .body);
  const ticket = new URL(rc.url).searchParams.get('ticket');
  await req(rc.url.replace(/^ws/, 'http'));
  await req(front(`/api/auth.test?token=${token}`));
  await req(front('/api/auth.test'), { headers: { cookie:
    `parley_token=${token}` } });
  await req(front('/api/auth.test'), { headers: { authorization:
    `Bearer ${token}` } });
  const logs = path.join(dir, 'logs');
  await until('HAProxy logged the requests', () =>
    fs.readFileSync(path.join(logs, 'haproxy.log'), 'utf8')
      .split('\n').filter((l) => l.includes('"/api/auth.test"')).length >= 3);
  for (const f of fs.readdirSync(logs)) {
    const text = fs.readFileSync(path.join(logs, f), 'utf8');
    for (const secret of [token, ticket, token.split('.').pop(),
      ticket.split('.').pop(), keyLine[1]])
      assert.ok(!text.includes(secret), `${f} holds a credential`);
    assert.doesNotMatch(text, /ticket=|parley_token=|Bearer /, f);
  }
});

test('a second launcher on the same directory or ports refuses clearly',
  async () => {
    const again = await run(['-p', String(base), '-d', dir, '-b', '-q']);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /already running from/);
    const other = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-front2-'));
    try {
      const ports = await run(['-p', String(base), '-d', other, '-b', '-q']);
      assert.notEqual(ports.code, 0);
      assert.match(ports.stderr, new RegExp(`ports already in use[^]*` +
        `${base + 80} \\(HAProxy HTTP\\)[^]*PORT_BASE`));
      assert.equal(fs.existsSync(path.join(other, 'data/shard1')), false,
        'nothing was created');
    } finally {
      fs.rmSync(other, { recursive: true, force: true });
    }
    // The running stack did not notice.
    assert.equal((await req(front('/api/api.test'))).status, 200);
  });

test('the agent killed: chat goes on, health says degraded', async () => {
  const token = await signin(0);
  process.kill(pidOf('spoa'), 'SIGKILL');
  const h = await until('health degraded', async () => {
    const s = await health();
    return s.startsWith('200 PARLEY-HEALTHY degraded') && s;
  });
  assert.match(h, /agent/);
  // HAProxy fails open: the shard serves and checks tokens itself.
  const list = JSON.parse((await req(front('/api/conversations.list'),
    { method: 'POST', headers: { authorization: `Bearer ${token}` } }))
    .body);
  assert.equal(list.ok, true);
  const general = list.channels.find((c) => c.name === 'general');
  const post = JSON.parse((await req(front('/api/chat.postMessage'),
    { method: 'POST', headers: { authorization: `Bearer ${token}`,
      'content-type': 'application/json' },
    body: JSON.stringify({ channel: general.id, text: 'agent down' }) }))
    .body);
  assert.equal(post.ok, true, JSON.stringify(post));
  const forged = JSON.parse((await req(front('/api/auth.test'),
    { method: 'POST', headers: { authorization:
      'Bearer xoxp.k1.T1.U1.a.0.' + 'A'.repeat(43) } })).body);
  assert.equal(forged.error, 'invalid_auth');
});

test('every shard killed: health 503; restarted: 200 again', async () => {
  const pid = pidOf('shard-s1');
  process.kill(pid, 'SIGKILL');
  const down = await until('health critical', async () => {
    const s = await health();
    return s.startsWith('503') && s;
  });
  assert.match(down, /critical/);
  assert.doesNotMatch(down, /PARLEY-HEALTHY/);

  // Back, as the launcher started it.
  const log = fs.openSync(path.join(dir, 'logs/shard-s1.log'), 'a');
  const child = spawn(path.join(top, 'build/bin/parley-backend'),
    ['-c', path.join(dir, 'parley.conf')],
    { stdio: ['ignore', log, log], detached: true });
  fs.closeSync(log);
  child.unref();
  fs.writeFileSync(path.join(dir, 'pids/shard-s1.pid'), `${child.pid}\n`);
  const up = await until('health back', async () => {
    const s = await health();
    return s.startsWith('200 PARLEY-HEALTHY') && s;
  });
  assert.doesNotMatch(up, /critical/);
  // And HAProxy sends chat to it again.
  await until('the front serves again', async () =>
    (await req(front('/api/api.test'))).status === 200);
});
