// End to end through HAProxy, on the stack of `make run` (the launcher,
// with its two real parley-edge processes): the official SDKs with a
// mobile user agent are served by an edge, Web API and WebSocket alike,
// and a desktop client by the shard; each sees the other's messages
// live; one team's clients all land on one edge; that edge killed, its
// clients reconnect through HAProxy to the other, and those that present
// their epoch and seq resume without loss or repeat; every edge and
// shard killed, the health endpoint answers 503, and 200 once they are
// back.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RTMClient } from '@slack/rtm-api';
import { WebClient } from '@slack/web-api';
import { startLauncherStack, top } from './stack-lib.mjs';

const MOBILE_UA = 'ParleyMobile/3.2 (iPhone; iOS 17.4)';
const EDGES = ['edge1', 'edge2'];

let st, creds, teamId, general;
const tokens = [];
const clients = [];

async function until(what, fn, ms = 60000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => null);
    if (v)
      return v;
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function getText(url) {
  const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: r.status, body: await r.text() };
}

// A daemon's /metrics as { 'name{labels}': value }.
async function metrics(offset) {
  const { body } = await getText(st.url(offset, '/metrics'));
  const out = {};
  for (const line of body.split('\n')) {
    const m = /^([a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$/.exec(line);
    if (m)
      out[m[1]] = Number(m[2]);
  }
  return out;
}
const edgeOffset = (e) => 200 + Number(e.slice(4));
const edgeMetrics = (e) => metrics(edgeOffset(e));
const shardMetrics = () => metrics(101);

// The shard's Web API count for method (every result).
function shardCalls(m, method) {
  let n = 0;
  for (const [k, v] of Object.entries(m))
    if (k.startsWith(`parley_api_requests_total{method="${method}",`))
      n += v;
  return n;
}

async function health() {
  const r = await fetch(st.url(401, '/health'),
    { signal: AbortSignal.timeout(5000) });
  return r.status;
}

// HAProxy's request log: the server of every line for this team.
function haproxyServers(be) {
  const log = fs.readFileSync(path.join(st.dir, 'logs/haproxy.log'),
    'utf8');
  const out = [];
  for (const line of log.split('\n')) {
    const m = new RegExp(` ${be}/(\\S+) .* team=${teamId} `).exec(line);
    if (m)
      out.push(m[1]);
  }
  return out;
}

// HAProxy's view of its servers: { 'be_edge/edge1': 'UP', ... }.
function haproxyStates() {
  return new Promise((resolve, reject) => {
    const s = net.connect(path.join(st.dir, 'haproxy.sock'));
    let data = '';
    s.setTimeout(5000, () => s.destroy(new Error('stats socket timeout')));
    s.on('connect', () => s.write('show stat\n'));
    s.on('data', (d) => { data += d; });
    s.on('error', reject);
    s.on('close', () => {
      const out = {};
      for (const l of data.split('\n').slice(1)) {
        const f = l.split(',');
        if (f.length > 17)
          out[`${f[0]}/${f[1]}`] = f[17];
      }
      resolve(out);
    });
  });
}

// Waits until HAProxy has every edge and the shard UP, so that the
// team's hash picks among both edges.
async function allUp() {
  await until('HAProxy to see every server UP', async () => {
    const s = await haproxyStates();
    return ['be_edge/edge1', 'be_edge/edge2', 'be_full/shard1']
      .every((k) => s[k] === 'UP');
  }, 90000);
}

function pidOf(name) {
  return Number(fs.readFileSync(path.join(st.dir, 'pids', `${name}.pid`),
    'utf8'));
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function kill9(name) {
  const pid = pidOf(name);
  process.kill(pid, 'SIGKILL');
  await until(`${name} gone`, async () => !alive(pid), 10000);
}

// Starts a daemon as the launcher does, with its pid file, so that the
// launcher's -s stops it whatever the test's outcome.
function restart(name, bin, conf) {
  const log = fs.openSync(path.join(st.dir, 'logs', `${name}.log`), 'a');
  const child = spawn(path.join(top, 'build/bin', bin),
    ['-c', path.join(st.dir, conf)],
    { stdio: ['ignore', log, log], detached: true });
  fs.closeSync(log);
  child.unref();
  fs.writeFileSync(path.join(st.dir, 'pids', `${name}.pid`),
    `${child.pid}\n`);
}

function webClient(token, mobile) {
  return new WebClient(token, {
    slackApiUrl: `${st.front}api/`,
    headers: mobile ? { 'User-Agent': MOBILE_UA } : {},
    retryConfig: { retries: 0 },
    timeout: 10000,
    logLevel: 'error',
  });
}

// One SDK client: its Web API client, and an RTMClient whose messages,
// epoch and last seq are recorded across reconnections.
class Client {
  constructor(i, mobile) {
    this.i = i;
    this.mobile = mobile;
    this.web = webClient(tokens[i], mobile);
    this.texts = [];
    this.epoch = null;
    this.seq = null;
    this.rtm = null;
    clients.push(this);
  }

  // Connects; resume presents the last epoch and seq seen.
  async connect({ resume = false } = {}) {
    const rtm = new RTMClient(tokens[this.i], {
      slackApiUrl: `${st.front}api/`,
      webClient: this.web,
      autoReconnect: false,
      replyAckOnReconnectTimeout: 200,
      logLevel: 'error',
    });
    rtm.on('error', () => {});
    rtm.on('slack_event', (type, ev) => {
      if (type === 'hello') {
        this.epoch = ev.epoch;
        if (this.seq === null || !resume)
          this.seq = ev.last_seq;
      }
      if (typeof ev.seq === 'number')
        this.seq = ev.seq;
      if (type === 'message' && ev.channel === general)
        this.texts.push(ev.text);
    });
    const opts = {};
    if (this.mobile)
      opts.slim = 1;
    if (resume) {
      opts.parley_epoch = this.epoch;
      opts.parley_seq = String(this.seq);
    }
    const ready = new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('RTM not ready')), 15000);
      rtm.once('ready', () => { clearTimeout(t); resolve(); });
      rtm.once('disconnected', () => {
        clearTimeout(t);
        reject(new Error('RTM disconnected'));
      });
    });
    ready.catch(() => {});
    try {
      await rtm.start(opts);
      await ready;
    } catch (e) {
      await this.close(rtm);
      throw e;
    }
    this.rtm = rtm;
  }

  async close(rtm = this.rtm) {
    if (!rtm)
      return;
    rtm.awaitingReplyList = rtm.awaitingReplyList.filter((p) => p);
    // One whose server died is disconnected already, and disconnect()
    // would wait for an event that never comes.
    if (rtm.connected)
      await Promise.race([rtm.disconnect().catch(() => {}), sleep(5000)]);
    rtm.websocket?.terminate();
    if (rtm === this.rtm)
      this.rtm = null;
  }

  // Sends a message over the WebSocket and waits for its ack.
  // @slack/rtm-api 7.0.4 leaves a hole in its list of sends awaiting a
  // reply, and throws on it when the connection drops: compacted here.
  async send(text) {
    await this.rtm.sendMessage(text, general);
    this.rtm.awaitingReplyList = this.rtm.awaitingReplyList
      .filter((p) => p);
  }

  // Waits until every text of want has arrived.
  async got(want, ms = 30000) {
    await until(`client ${this.i} to get ${want.length} messages`,
      async () => want.every((t) => this.texts.includes(t)), ms);
  }
}

before(async () => {
  st = await startLauncherStack([24000, 27000]);
  creds = fs.readFileSync(path.join(st.dir,
    'data/shard1/demo-credentials.txt'), 'utf8').split('\n');
  teamId = /\((T[A-Z0-9]+)\)/.exec(creds[0])[1];
  creds = creds.filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(' '));
  await until('health 200', async () => (await health()) === 200);
  await allUp();
  for (const [email, password] of creds) {
    const r = await fetch(`${st.front}api/parley.signin`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ team: 'parley-demo', user: email, password }),
      signal: AbortSignal.timeout(15000),
    });
    const b = await r.json();
    assert.equal(b.ok, true, JSON.stringify(b));
    tokens.push(b.token);
  }
});

after(async () => {
  for (const c of clients)
    await c.close();
  if (st)
    await st.stop();
});

let desktop, mobiles, home;

test('a mobile SDK client is served by an edge, a desktop one by the ' +
  'shard, and each sees the other\'s messages live', async () => {
  const s0 = await shardMetrics();
  const e0 = Object.fromEntries(await Promise.all(EDGES.map(async (e) =>
    [e, await edgeMetrics(e)])));
  const mobile = new Client(0, true);
  const a = await mobile.web.auth.test();
  assert.equal(a.team_id, teamId);
  const list = await mobile.web.conversations.list();
  general = list.channels.find((c) => c.name === 'general').id;
  await mobile.web.users.list();
  await mobile.web.conversations.members({ channel: general });
  await mobile.connect();

  // Its cached reads moved an edge's counters, not the shard's.
  const s1 = await shardMetrics();
  const e1 = Object.fromEntries(await Promise.all(EDGES.map(async (e) =>
    [e, await edgeMetrics(e)])));
  for (const m of ['auth.test', 'conversations.list', 'users.list',
    'conversations.members', 'rtm.connect'])
    assert.equal(shardCalls(s1, m), shardCalls(s0, m),
      `${m} reached the shard`);
  assert.equal(s1.parley_rtm_connections, s0.parley_rtm_connections);
  home = EDGES.find((e) => e1[e].parley_edge_clients === 1);
  assert.ok(home, 'one edge holds the mobile WebSocket');
  assert.ok(e1[home].parley_edge_cached_total -
    e0[home].parley_edge_cached_total >= 5, 'five reads from the cache');
  assert.ok(e1[home].parley_edge_rtm_connections_total >
    e0[home].parley_edge_rtm_connections_total);

  desktop = new Client(1, false);
  await desktop.web.auth.test();
  await desktop.connect();
  const s2 = await shardMetrics();
  const e2 = await edgeMetrics(home);
  assert.ok(shardCalls(s2, 'auth.test') > shardCalls(s1, 'auth.test'),
    'the desktop client\'s auth.test reached the shard');
  assert.ok(shardCalls(s2, 'rtm.connect') > shardCalls(s1, 'rtm.connect'));
  assert.equal(s2.parley_rtm_connections, s1.parley_rtm_connections + 1);
  assert.equal(e2.parley_edge_cached_total, e1[home].parley_edge_cached_total);
  assert.equal(e2.parley_edge_clients, 1);

  // Mobile over the WebSocket and the Web API, desktop over the Web API.
  await mobile.send('from mobile over rtm');
  await mobile.web.chat.postMessage({ channel: general,
    text: 'from mobile over web' });
  await desktop.web.chat.postMessage({ channel: general,
    text: 'from desktop' });
  const all = ['from mobile over rtm', 'from mobile over web',
    'from desktop'];
  await desktop.got(all);
  await mobile.got(all);
  const e3 = await edgeMetrics(home);
  assert.ok(e3.parley_edge_forwards_total >= e2.parley_edge_forwards_total +
    2, 'the posts went through the edge to the shard');
  assert.ok(e3.parley_edge_deliveries_total >
    e2.parley_edge_deliveries_total);
});

test('every client of one team lands on the same edge', async () => {
  mobiles = [clients[0]];
  for (const i of [2, 3, 4, 5]) {
    const c = new Client(i, true);
    await c.web.auth.test();
    await c.connect();
    mobiles.push(c);
  }
  const m = Object.fromEntries(await Promise.all(EDGES.map(async (e) =>
    [e, await edgeMetrics(e)])));
  assert.equal(m[home].parley_edge_clients, 5);
  assert.equal(m[EDGES.find((e) => e !== home)].parley_edge_clients, 0);
  // HAProxy logged every request of the team to be_edge on that server
  // (a WebSocket is logged when it closes): auth.test and rtm.connect
  // of each client at least.
  const servers = await until('HAProxy log lines', async () => {
    const s = haproxyServers('be_edge');
    return s.length >= 10 && s;
  });
  assert.deepEqual([...new Set(servers)], [home]);
});

test('an edge killed: its clients reconnect through HAProxy to the other, ' +
  'and those that resume lose and repeat nothing', async () => {
  const other = EDGES.find((e) => e !== home);
  const before = ['before 1', 'before 2'];
  for (const t of before)
    await desktop.web.chat.postMessage({ channel: general, text: t });
  for (const c of mobiles)
    await c.got(before);

  await kill9(home);
  const gone = [];
  for (let i = 0; i < 5; i++) {
    const t = `while away ${i}`;
    await desktop.web.chat.postMessage({ channel: general, text: t });
    gone.push(t);
  }
  for (const c of mobiles)
    await c.close();

  // Until HAProxy marks the dead edge down, connections to it fail:
  // retried, as a client does.
  const resuming = mobiles.slice(0, 3);
  for (const c of mobiles)
    await until(`client ${c.i} reconnected`, async () => {
      await c.connect({ resume: resuming.includes(c) });
      return true;
    }, 90000);
  const m = await edgeMetrics(other);
  assert.equal(m.parley_edge_clients, mobiles.length);
  assert.ok(m['parley_edge_rtm_resumes_total{result="ok"}'] >= 3);

  const after = ['after 1'];
  await desktop.web.chat.postMessage({ channel: general, text: after[0] });
  await mobiles[4].send('after 2');
  after.push('after 2');
  for (const c of mobiles)
    await c.got(after);
  await desktop.got(after);
  for (const c of resuming) {
    await c.got(gone);
    for (const t of [...before, ...gone, ...after])
      assert.equal(c.texts.filter((x) => x === t).length, 1,
        `client ${c.i} got "${t}" once`);
  }
  const servers = haproxyServers('be_edge');
  assert.ok(servers.includes(other));
});

test('every edge and shard killed: health 503, and 200 once they are back',
  async () => {
    for (const c of clients)
      await c.close();
    for (const e of EDGES)
      if (alive(pidOf(e)))
        await kill9(e);
    await kill9('shard-s1');
    await until('health 503', async () => (await health()) === 503);

    restart('shard-s1', 'parley-backend', 'parley.conf');
    for (const e of EDGES)
      restart(e, 'parley-edge', `${e}.conf`);
    await until('health 200', async () => (await health()) === 200, 90000);
    await allUp();
    // Chat is back through HAProxy, on an edge for a mobile client.
    const c = new Client(2, true);
    await until('mobile client back', async () => {
      await c.web.auth.test();
      await c.connect();
      return true;
    });
    const m = await Promise.all(EDGES.map(edgeMetrics));
    assert.equal(m[0].parley_edge_clients + m[1].parley_edge_clients, 1);
  });
