// parley-spoa with real HAProxy 2.6 and the haproxy-config/ files: routing
// by user agent, hint and slim=1; forged and expired tokens stopped before
// any backend; reconnect storms deferred with spread-out Retry-After;
// spop-check; fail-open while the agent is down and recovery after.
//
// Stand-in HTTP backends on loopback play the edges and the shard: each
// answers with its name and records the paths it was sent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
const agentBin = path.join(root, 'build/bin/parley-spoa');
const haproxyBin = '/usr/sbin/haproxy';

let dir, secret, ports, conf, sock, haproxy, agent;
const backends = {};
const seen = [];

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// Mints a token in the format of common/token.h.
function mint(kind, team, user, exp = 0, key = secret) {
  const body = `${kind}.k1.${team}.${user}.${randomBytes(4).toString('hex')}.${exp}`;
  const mac = createHmac('sha256', key).update(body).digest('base64url');
  return `${body}.${mac}`;
}

function startBackend(name, port) {
  const srv = http.createServer((req, res) => {
    if (req.url !== '/healthz') seen.push({ name, url: req.url, headers: req.headers });
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ backend: name, team: req.headers['x-parley-team'] ?? null }));
  });
  srv.keepAliveTimeout = 1000;
  return new Promise((resolve) => srv.listen(port, '127.0.0.1', () => resolve(srv)));
}

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 32 });

function get(urlPath, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port: ports.http, path: urlPath, headers, agent: keepAlive, timeout: 5000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout on ${urlPath}`)));
    req.on('error', reject);
  });
}

// Runs a command on HAProxy's admin socket and returns the answer.
function admin(cmd) {
  return new Promise((resolve, reject) => {
    const c = net.connect(sock);
    let out = '';
    const timer = setTimeout(() => c.destroy(new Error('admin socket timeout')), 3000);
    c.on('connect', () => c.write(`${cmd}\n`));
    c.on('data', (d) => (out += d));
    c.on('end', () => {
      clearTimeout(timer);
      resolve(out);
    });
    c.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

// The "show stat" row of proxy/server as an object.
async function stat(px, sv) {
  const csv = await admin('show stat');
  const lines = csv.split('\n');
  const cols = lines[0].replace(/^# /, '').split(',');
  for (const l of lines.slice(1)) {
    const f = l.split(',');
    if (f[0] === px && f[1] === sv) return Object.fromEntries(cols.map((c, i) => [c, f[i]]));
  }
  throw new Error(`no stat row ${px}/${sv}`);
}

async function waitFor(what, fn, ms = 10000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what} (${last})`);
}

function waitPort(port) {
  return waitFor(`port ${port}`, () =>
    new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.on('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    }),
  );
}

async function metrics() {
  const r = await new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: ports.stats, path: '/metrics', timeout: 3000 }, (res) => {
        let b = '';
        res.on('data', (c) => (b += c));
        res.on('end', () => resolve(b));
      })
      .on('error', reject);
  });
  const m = {};
  for (const l of r.split('\n')) {
    const x = l.match(/^([a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$/);
    if (x) m[x[1]] = Number(x[2]);
  }
  return m;
}

async function startAgent() {
  agent = spawn(agentBin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  agent.stderr.on('data', (d) => {
    if (process.env.PARLEY_TEST_VERBOSE) process.stderr.write(d);
  });
  await waitPort(ports.spoa);
}

function stopAgent(signal = 'SIGKILL') {
  return new Promise((resolve) => {
    if (!agent || agent.exitCode !== null) return resolve();
    agent.once('exit', () => resolve());
    agent.kill(signal);
  });
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-spoa-'));
  secret = randomBytes(32);
  fs.writeFileSync(path.join(dir, 'keys'), `k1 ${secret.toString('hex')}\n`, { mode: 0o600 });
  ports = {};
  for (const k of ['http', 'spoa', 'stats', 'edge1', 'edge2', 'full']) ports[k] = await freePort();
  sock = path.join(dir, 'haproxy.sock');
  conf = path.join(dir, 'parley.conf');
  fs.writeFileSync(
    conf,
    [
      '[spoa]',
      `listen = 127.0.0.1:${ports.spoa}`,
      `stats_listen = 127.0.0.1:${ports.stats}`,
      'threads = 2',
      // The storm team gets 5 opens, then one a minute.
      'team_rate = 1',
      'team_burst = 5',
      'retry_after_base = 2',
      'retry_after_jitter = 30',
      '[tokens]',
      'keys = keys',
      '',
    ].join('\n'),
  );

  backends.edge1 = await startBackend('edge1', ports.edge1);
  backends.edge2 = await startBackend('edge2', ports.edge2);
  backends.full = await startBackend('full', ports.full);
  await startAgent();

  const env = {
    ...process.env,
    PARLEY_HTTP_BIND: `127.0.0.1:${ports.http}`,
    PARLEY_SPOE_CONF: path.join(root, 'haproxy-config/parley-spoe.conf'),
    PARLEY_SPOA_ADDR: `127.0.0.1:${ports.spoa}`,
    PARLEY_EDGE1_ADDR: `127.0.0.1:${ports.edge1}`,
    PARLEY_EDGE2_ADDR: `127.0.0.1:${ports.edge2}`,
    PARLEY_BACKEND_ADDR: `127.0.0.1:${ports.full}`,
    PARLEY_HAPROXY_SOCK: sock,
  };
  const cfg = path.join(root, 'haproxy-config/haproxy.cfg');
  execFileSync(haproxyBin, ['-c', '-q', '-f', cfg], { env, timeout: 10000 });
  haproxy = spawn(haproxyBin, ['-db', '-f', cfg], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  haproxy.stderr.on('data', (d) => {
    if (process.env.PARLEY_TEST_VERBOSE) process.stderr.write(d);
  });
  const died = new Promise((_, reject) =>
    haproxy.once('exit', (code) => reject(new Error(`haproxy exited with ${code}`))));
  await Promise.race([waitPort(ports.http), died]);
  await waitFor('the agent checked', async () => (await stat('be_spoa', 'spoa1')).check_status === 'L7OK');
});

after(async () => {
  keepAlive.destroy();
  if (haproxy && haproxy.exitCode === null) {
    const gone = new Promise((r) => haproxy.once('exit', r));
    haproxy.kill('SIGTERM');
    await Promise.race([gone, sleep(3000)]);
    if (haproxy.exitCode === null) haproxy.kill('SIGKILL');
  }
  await stopAgent('SIGTERM');
  for (const b of Object.values(backends)) b.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('option spop-check marks the agent UP', async () => {
  const s = await stat('be_spoa', 'spoa1');
  assert.equal(s.status, 'UP');
  assert.equal(s.check_status, 'L7OK');
  const m = await metrics();
  assert.ok(m.parley_spoa_healthchecks_total >= 1);
  assert.equal(m.parley_spoa_protocol_errors_total, 0);
});

test('desktop goes to the full backend, slim clients to the edges', async () => {
  const tok = mint('xoxp', 'T100', 'U1');
  const auth = { authorization: `Bearer ${tok}` };
  const desk = 'Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0';
  const cases = [
    [{ 'user-agent': desk, ...auth }, '/api/conversations.list', 'full'],
    [{ 'user-agent': 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)', ...auth }, '/api/conversations.list', 'edge'],
    [{ 'user-agent': 'Dalvik/2.1.0 (Linux; U; Android 14)', ...auth }, '/api/conversations.list', 'edge'],
    [{ 'user-agent': desk, 'x-parley-client': 'slim', ...auth }, '/api/conversations.list', 'edge'],
    [{ 'user-agent': desk, ...auth }, '/api/conversations.list?slim=1', 'edge'],
    [{ 'user-agent': 'Android 14', 'x-parley-client': 'full', ...auth }, '/api/conversations.list', 'full'],
  ];
  for (const [headers, p, want] of cases) {
    const r = await get(p, headers);
    assert.equal(r.status, 200, `${p} ${JSON.stringify(headers)}`);
    const body = JSON.parse(r.body);
    assert.equal(body.backend.startsWith('edge') ? 'edge' : body.backend, want, `${headers['user-agent']} ${p}`);
    assert.equal(body.team, 'T100');
  }
});

test('one team always reaches the same edge', async () => {
  for (const team of ['T1', 'T2', 'T3', 'T4', 'T5', 'T6']) {
    const tok = mint('xoxp', team, 'U1');
    const names = new Set();
    for (let i = 0; i < 5; i++) {
      const r = await get('/api/users.list', { authorization: `Bearer ${tok}`, 'x-parley-client': 'slim' });
      names.add(JSON.parse(r.body).backend);
    }
    assert.equal(names.size, 1, `team ${team} spread over ${[...names]}`);
  }
});

test('forged and expired tokens never reach a backend', async () => {
  const forged = mint('xoxp', 'T100', 'U1', 0, randomBytes(32));
  const expired = mint('xoxp', 'T100', 'U1', Math.floor(Date.now() / 1000) - 60);
  const forgedTicket = mint('ptk', 'T100', 'U1', 0, randomBytes(32));
  const tokenAsTicket = mint('xoxp', 'T100', 'U1');
  const before = seen.length;

  let r = await get('/api/chat.postMessage?m=forged-header', { authorization: `Bearer ${forged}` });
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.body), { ok: false, error: 'invalid_auth' });

  r = await get('/api/chat.postMessage?m=forged-cookie', { cookie: `parley_token=${forged}` });
  assert.deepEqual(JSON.parse(r.body), { ok: false, error: 'invalid_auth' });

  r = await get('/api/chat.postMessage?m=expired-header', { authorization: `Bearer ${expired}` });
  assert.deepEqual(JSON.parse(r.body), { ok: false, error: 'token_expired' });

  r = await get('/api/chat.postMessage?m=expired-cookie', { cookie: `parley_token=${expired}` });
  assert.deepEqual(JSON.parse(r.body), { ok: false, error: 'token_expired' });

  const ws = { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' };
  r = await get(`/rtm/ws?ticket=${forgedTicket}&m=forged-ticket`, ws);
  assert.equal(r.status, 401);
  r = await get(`/rtm/ws?ticket=${tokenAsTicket}&m=token-as-ticket`, ws);
  assert.equal(r.status, 401);

  assert.equal(seen.length, before, `reached a backend: ${JSON.stringify(seen.slice(before).map((s) => s.url))}`);

  // A client cannot claim a team by header either.
  r = await get('/api/api.test?m=claimed', { 'x-parley-team': 'T666' });
  assert.equal(r.status, 200);
  const last = seen.at(-1);
  assert.equal(last.url, '/api/api.test?m=claimed');
  assert.equal(last.headers['x-parley-team'], undefined);
});

test('1,000 reconnects of one team are deferred with spread-out Retry-After', async () => {
  const tok = mint('xoxp', 'TSTORM', 'U1');
  const statuses = new Map();
  const retry = new Set();
  let next = 0;
  async function worker() {
    while (next < 1000) {
      next++;
      const r = await get('/api/rtm.connect', { authorization: `Bearer ${tok}` });
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      if (r.status === 429) {
        const ra = Number(r.headers['retry-after']);
        assert.ok(ra >= 2 && ra <= 32, `Retry-After ${r.headers['retry-after']}`);
        retry.add(ra);
        assert.deepEqual(JSON.parse(r.body), { ok: false, error: 'ratelimited' });
      }
    }
  }
  await Promise.all(Array.from({ length: 16 }, worker));
  const deferred = statuses.get(429) ?? 0;
  assert.ok(deferred >= 990, `statuses ${JSON.stringify([...statuses])}`);
  assert.ok(retry.size >= 5, `only ${retry.size} distinct Retry-After values`);
});

test('agent killed: fail-open to the edges, normal again after restart, no reconnect loop', async () => {
  const desk = { 'user-agent': 'Mozilla/5.0 (Windows NT 10.0)', authorization: `Bearer ${mint('xoxp', 'T200', 'U1')}` };
  const sStart = await stat('be_spoa', 'spoa1');
  await stopAgent('SIGKILL');

  // Served at once and all along, by the documented fail-open route.
  for (let i = 0; i < 20; i++) {
    const r = await get('/api/conversations.list', desk);
    assert.equal(r.status, 200);
    assert.match(JSON.parse(r.body).backend, /^edge/);
  }
  await waitFor('the agent marked DOWN', async () => (await stat('be_spoa', 'spoa1')).status.startsWith('DOWN'));

  // While it is down, requests do not turn into connection attempts.
  const s0 = await stat('be_spoa', 'spoa1');
  const b0 = await stat('be_spoa', 'BACKEND');
  for (let i = 0; i < 100; i++) {
    const r = await get('/api/conversations.list', desk);
    assert.equal(r.status, 200);
    assert.match(JSON.parse(r.body).backend, /^edge/);
  }
  const s1 = await stat('be_spoa', 'spoa1');
  const b1 = await stat('be_spoa', 'BACKEND');
  assert.ok(Number(s1.econ) - Number(s0.econ) <= 2, `server econ ${s0.econ} -> ${s1.econ}`);
  assert.ok(Number(s1.stot) - Number(s0.stot) <= 2, `server stot ${s0.stot} -> ${s1.stot}`);
  assert.ok(Number(b1.econ) - Number(b0.econ) <= 2, `backend econ ${b0.econ} -> ${b1.econ}`);
  // Nor before HAProxy noticed: a few refused connections mark it DOWN.
  assert.ok(Number(s1.econ) - Number(sStart.econ) <= 20, `server econ ${sStart.econ} -> ${s1.econ}`);

  await startAgent();
  await waitFor('the agent marked UP again', async () => {
    const s = await stat('be_spoa', 'spoa1');
    return s.status === 'UP' && s.check_status === 'L7OK';
  });
  let r;
  await waitFor('requests decided by the agent again', async () => {
    r = await get('/api/conversations.list', desk);
    return JSON.parse(r.body).backend === 'full';
  });

  // HAProxy keeps its connections to the agent: a few, not one per request.
  const m0 = await metrics();
  for (let i = 0; i < 200; i++) {
    r = await get('/api/conversations.list', desk);
    assert.equal(JSON.parse(r.body).backend, 'full');
  }
  const m1 = await metrics();
  assert.equal(m1.parley_spoa_notify_total - m0.parley_spoa_notify_total, 200);
  const conns = (m) => m.parley_spoa_connections_total - m.parley_spoa_healthchecks_total;
  assert.ok(conns(m1) - conns(m0) <= 8, `SPOE connections ${conns(m0)} -> ${conns(m1)}`);
  assert.equal(m1.parley_spoa_protocol_errors_total, 0);
});
