// The WebSocket soak of `make soak` (bench/ws-soak.sh): the launcher's
// stack (HAProxy, the shard, the two edges, the agent, parley-health),
// TEAMS teams seeded with parleyctl seed-bench before it starts, and
// CLIENTS slim RTM clients through HAProxy (so on the edges, each team on
// the edge its hash picks), each posting one message a second to its
// first channel for SECONDS.  Afterwards every client must have had every
// message of every member of its channels exactly once, and nothing
// else; p50 and p99 of the delivery delay (send to receipt, one clock,
// millisecond resolution) are printed.
//
//   node bench/ws-soak.mjs [--clients N] [--teams T] [--channels C]
//                          [--members M] [--seconds S] [--workers W]
//
// Defaults: 5,000 clients in 10 teams, 50 channels of 100 members, 60 s,
// 2 worker processes.  Each user has a token recorded by parleyctl; the
// workers mint the RTM tickets for those tokens with the stack's key, as
// rtm.connect does, so that opening the connections costs no Web API
// calls (the agent still admits the opens at its team_rate; a 429 is
// retried after its Retry-After).  Exit status 0 only when every client
// connected and nothing was refused, lost, repeated or misdelivered.
import { execFileSync, fork } from 'node:child_process';
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';

const HIST_RES = 1;               // ms per histogram bucket
const HIST_N = 120000;            // up to 120 s

// A token or ticket as the daemons mint it (docs/tokens.md); a ticket
// carries the id of the recorded token it stands for.
function mint(keyLine, kind, team, user, id, exp) {
  const [kid, hex] = keyLine;
  const body = `${kind}.${kid}.${team}.${user}.${id}.${exp}`;
  const mac = createHmac('sha256', Buffer.from(hex, 'hex')).update(body)
    .digest('base64url');
  return `${body}.${mac}`;
}

// True once HAProxy has both edges UP: before that a team's hash may
// pick another edge than it will later.
function edgesUp(sock) {
  return new Promise((resolve) => {
    const s = net.connect(sock);
    let data = '';
    s.setTimeout(5000, () => s.destroy());
    s.on('connect', () => s.write('show stat\n'));
    s.on('data', (d) => { data += d; });
    s.on('error', () => resolve(false));
    s.on('close', () => resolve(['edge1', 'edge2'].every((e) =>
      data.split('\n').some((l) => l.startsWith(`be_edge,${e},`) &&
        l.split(',')[17] === 'UP'))));
  });
}

function percentile(hist, total, p) {
  let want = Math.ceil(total * p), n = 0;
  for (let i = 0; i < hist.length; i++) {
    n += hist[i];
    if (n >= want && want > 0)
      return i * HIST_RES;
  }
  return NaN;
}

// ---------------------------------------------------------------- worker

async function worker() {
  let job = null, go = null, stopped = false;
  const hist = new Uint32Array(HIST_N);
  let delivered = 0, unexpected = 0, closedEarly = 0, nacks = 0, errs = 0;
  const clients = [];

  process.on('message', async (m) => {
    if (m.type === 'job') {
      job = m;
      await openAll();
    } else if (m.type === 'go') {
      go = m;
      for (const c of clients)
        if (c.post !== null)
          setTimeout(() => sendLoop(c), Math.random() * 1000);
    } else if (m.type === 'stop') {
      stopped = true;
      process.send({ type: 'sent', sent: clients.filter((c) =>
        c.post !== null).map((c) => [c.idx, c.n, c.acked]) });
    } else if (m.type === 'verify') {
      verify(m.sent);
    }
  });

  function openOne(c) {
    return new Promise((resolve) => {
      const ticket = mint(job.key, 'ptk', c.team, c.uid, c.tid,
        Math.floor(Date.now() / 1000) + 900);
      const ws = new WebSocket(`${job.url}?ticket=${ticket}&slim=1`,
        { perMessageDeflate: false });
      let done = false;
      const finish = (ok, retry) => {
        if (done)
          return;
        done = true;
        resolve({ ok, retry });
      };
      ws.on('unexpected-response', (req, res) => {
        const ra = Number(res.headers['retry-after'] ?? 1);
        res.resume();
        ws.terminate();
        finish(false, res.statusCode === 429 ? ra : 1);
      });
      ws.on('error', () => finish(false, 1));
      ws.on('close', () => {
        if (done && c.ws === ws && !stopped)
          closedEarly++;
        finish(false, 1);
      });
      ws.on('message', (data) => {
        const ev = JSON.parse(data);
        if (ev.type === 'hello') {
          c.ws = ws;
          finish(true);
          return;
        }
        if (ev.reply_to !== undefined) {
          if (ev.ok)
            c.acked++;
          else if (nacks++ === 0)
            console.log(`first refusal: ${JSON.stringify(ev)}`);
          return;
        }
        if (ev.type !== 'message' || typeof ev.text !== 'string' ||
          !ev.text.startsWith('soak '))
          return;
        const [, s, n, t] = ev.text.split(' ');
        const sender = Number(s), seq = Number(n);
        const counts = c.got.get(sender);
        if (!counts || seq >= counts.length) {
          unexpected++;
          return;
        }
        counts[seq]++;
        delivered++;
        const ms = Date.now() - Number(t);
        hist[Math.min(HIST_N - 1, Math.max(0,
          Math.round(ms / HIST_RES)))]++;
      });
    });
  }

  async function openAll() {
    for (const [idx, team, uid, tid, post, senders] of job.clients) {
      const c = { idx, team, uid, tid, post, ws: null, n: 0, acked: 0,
        got: new Map() };
      for (const s of senders)
        c.got.set(s, new Uint8Array(job.seconds + 5));
      clients.push(c);
    }
    let next = 0, open = 0, failed = 0;
    const deadline = Date.now() + job.connectMs;
    const lane = async () => {
      while (next < clients.length) {
        const c = clients[next++];
        for (;;) {
          const r = await openOne(c);
          if (r.ok) {
            open++;
            break;
          }
          if (Date.now() > deadline) {
            failed++;
            break;
          }
          await sleep(r.retry * 1000 * (0.5 + Math.random()));
        }
      }
    };
    await Promise.all(Array.from({ length: 64 }, lane));
    process.send({ type: 'open', open, failed });
  }

  function sendLoop(c) {
    if (stopped || !c.ws)
      return;
    if (Date.now() >= go.until || c.n >= job.seconds + 5)
      return;
    const t = Date.now();
    c.ws.send(JSON.stringify({ id: c.n + 1, type: 'message',
      channel: c.post, text: `soak ${c.idx} ${c.n} ${t}` }),
    (e) => { if (e) errs++; });
    c.n++;
    setTimeout(() => sendLoop(c), 1000);
  }

  function verify(sentList) {
    const sent = new Map(sentList.map(([i, n, a]) => [i, [n, a]]));
    let missing = 0, dup = 0, checked = 0;
    for (const c of clients) {
      for (const [s, counts] of c.got) {
        const [n] = sent.get(s) ?? [0, 0];
        for (let k = 0; k < counts.length; k++) {
          if (k < n) {
            checked++;
            if (counts[k] === 0)
              missing++;
          } else if (counts[k] > 0) {
            unexpected++;
          }
          if (counts[k] > 1)
            dup += counts[k] - 1;
        }
      }
      c.ws?.terminate();
    }
    const buckets = [];
    for (let i = 0; i < HIST_N; i++)
      if (hist[i])
        buckets.push([i, hist[i]]);
    process.send({ type: 'verified', missing, dup, unexpected, checked,
      delivered, closedEarly, nacks, errs, buckets });
  }
}

// ---------------------------------------------------------------- parent

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

async function main() {
  const { startLauncherStack, top } = await import(
    '../tests/integration/stack-lib.mjs');
  const nClients = arg('clients', 5000);
  const nChannels = arg('channels', 50);
  const nMembers = arg('members', 100);
  const nTeams = arg('teams', 10);
  const seconds = arg('seconds', 60);
  const nWorkers = arg('workers', 2);
  const ctl = path.join(top, 'build/bin/parleyctl');
  const perTeam = Math.floor(nClients / nTeams);
  const chPerTeam = Math.max(1, Math.floor(nChannels / nTeams));
  const teams = [];   // { id, tokens: [token of user0..] }
  const t0 = Date.now();
  const st = await startLauncherStack([27000, 30000], {
    // The teams, and a recorded token for each user, before the launcher
    // starts (parleyctl works on the store offline).
    prepare(dir) {
      const data = path.join(dir, 'data/shard1');
      fs.mkdirSync(data, { recursive: true });
      execFileSync(ctl, ['-d', data, 'init']);
      execFileSync(ctl, ['-d', data, 'seed-demo']);
      for (let t = 0; t < nTeams; t++) {
        const out = execFileSync(ctl, ['-d', data, 'seed-bench',
          String(perTeam), String(chPerTeam), String(nMembers), '0'],
        { encoding: 'utf8' });
        const id = /^team (\S+):/m.exec(out)[1];
        const tokens = [];
        for (let k = 0; k < perTeam; k++)
          tokens.push(execFileSync(ctl, ['-d', data, 'token', 'mint', id,
            `user${k}`], { encoding: 'utf8' }).trim());
        teams.push({ id, tokens });
      }
    },
  });
  const workers = [];
  let ok = false;
  try {
    console.log(`stack up on port base ${st.base} in ` +
      `${((Date.now() - t0) / 1000).toFixed(1)} s (with seeding)`);
    const key = fs.readFileSync(path.join(st.dir,
      'data/shard1/tokens.key'), 'utf8').split('\n')
      .filter((l) => l && !l.startsWith('#')).pop().trim().split(/\s+/);
    // Who is where, read from the shard directly (no admission limit).
    const api = async (token, method, args) => {
      const r = await fetch(st.url(101, `/api/${method}?` +
        new URLSearchParams(args)), { headers: { authorization:
        `Bearer ${token}` }, signal: AbortSignal.timeout(30000) });
      const b = await r.json();
      if (!b.ok)
        throw new Error(`${method}: ${JSON.stringify(b)}`);
      return b;
    };
    const all = [];
    let nChans = 0, memberships = 0;
    for (const [ti, team] of teams.entries()) {
      const idxOf = new Map();    // user id -> global index
      const who = team.tokens.map((tok, k) => {
        const f = tok.split('.');
        idxOf.set(f[3], ti * perTeam + k);
        return { uid: f[3], tid: f[4] };
      });
      const chans = (await api(team.tokens[0], 'conversations.list',
        { limit: 1000 })).channels.filter((c) => /^channel\d+$/
        .test(c.name));
      const channelsOf = new Map();   // index -> [channel ids]
      const membersOf = new Map();    // channel id -> [index]
      for (const c of chans) {
        const b = await api(team.tokens[0], 'conversations.members',
          { channel: c.id, limit: 1000 });
        const m = b.members.filter((id) => idxOf.has(id))
          .map((id) => idxOf.get(id));
        membersOf.set(c.id, m);
        memberships += m.length;
        for (const i of m)
          channelsOf.set(i, [...(channelsOf.get(i) ?? []), c.id]);
      }
      nChans += chans.length;
      who.forEach((w, k) => {
        const i = ti * perTeam + k;
        const cs = channelsOf.get(i) ?? [];
        const senders = new Set();
        for (const c of cs)
          for (const x of membersOf.get(c))
            senders.add(x);
        all.push([i, team.id, w.uid, w.tid, cs.length ? cs[0] : null,
          [...senders]]);
      });
    }
    const posting = all.filter((c) => c[4] !== null).length;
    console.log(`${all.length} clients in ${teams.length} teams, ${nChans} ` +
      `channels, ${memberships} memberships; ${posting} clients post one ` +
      `message a second for ${seconds} s`);

    for (let i = 0; !(await edgesUp(path.join(st.dir, 'haproxy.sock')));
      i++) {
      if (i > 600)
        throw new Error('HAProxy does not see both edges UP');
      await sleep(100);
    }
    const url = `ws://127.0.0.1:${st.base + 80}/rtm`;
    const msgs = (w, type) => new Promise((resolve) => {
      const h = (m) => {
        if (m.type === type) {
          w.off('message', h);
          resolve(m);
        }
      };
      w.on('message', h);
    });
    for (let w = 0; w < nWorkers; w++) {
      const child = fork(new URL(import.meta.url).pathname, ['--worker'],
        { stdio: 'inherit' });
      workers.push(child);
    }
    const tc = Date.now();
    const opened = workers.map((w) => msgs(w, 'open'));
    workers.forEach((w, k) => w.send({ type: 'job', key, url,
      seconds, connectMs: 300000,
      clients: all.filter((_, i) => i % nWorkers === k) }));
    const o = await Promise.all(opened);
    const open = o.reduce((a, x) => a + x.open, 0);
    const failedOpen = o.reduce((a, x) => a + x.failed, 0);
    console.log(`connected: ${open} open, ${failedOpen} failed in ` +
      `${((Date.now() - tc) / 1000).toFixed(1)} s (the agent admits ` +
      'a team\'s opens at its team_rate)');
    const edges = [];
    for (const off of [201, 202]) {
      const t = await (await fetch(st.url(off, '/metrics'))).text();
      edges.push(Number(/^parley_edge_clients (\d+)/m.exec(t)?.[1] ?? 0));
    }
    console.log(`edge clients: edge1 ${edges[0]}, edge2 ${edges[1]}`);

    const until = Date.now() + seconds * 1000;
    workers.forEach((w) => w.send({ type: 'go', until }));
    await sleep(seconds * 1000 + 1000);
    const sentP = workers.map((w) => msgs(w, 'sent'));
    workers.forEach((w) => w.send({ type: 'stop' }));
    const sent = (await Promise.all(sentP)).flatMap((m) => m.sent);
    const nSent = sent.reduce((a, x) => a + x[1], 0);
    const nAcked = sent.reduce((a, x) => a + x[2], 0);
    // Deliveries still on their way: up to 30 s more.
    await sleep(Math.min(30000, 5000 + seconds * 100));
    const verP = workers.map((w) => msgs(w, 'verified'));
    workers.forEach((w) => w.send({ type: 'verify', sent }));
    const v = await Promise.all(verP);
    const sum = (k) => v.reduce((a, x) => a + x[k], 0);
    const hist = new Uint32Array(HIST_N);
    for (const x of v)
      for (const [i, n] of x.buckets)
        hist[i] += n;
    const delivered = sum('delivered');
    console.log(`sent ${nSent} messages (${nAcked} acked, ` +
      `${sum('nacks')} refused); ${delivered} deliveries of ` +
      `${sum('checked')} expected`);
    console.log(`missing ${sum('missing')}, duplicates ${sum('dup')}, ` +
      `misdelivered ${sum('unexpected')}, connections closed early ` +
      `${sum('closedEarly')}, send errors ${sum('errs')}`);
    console.log(`delivery latency: p50 ${percentile(hist, delivered, 0.5)
      .toFixed(1)} ms, p99 ${percentile(hist, delivered, 0.99)
      .toFixed(1)} ms`);
    ok = open === all.length && sum('missing') === 0 && sum('dup') === 0 &&
      sum('unexpected') === 0 && nSent > 0 && nAcked === nSent &&
      sum('checked') === delivered;
    console.log(ok ? 'ws-soak: ok' : 'ws-soak: FAILED');
  } finally {
    for (const w of workers)
      w.kill();
    if (!ok)
      console.log(`stack logs kept in ${st.dir}/logs until it stops`);
    await st.stop();
  }
  process.exit(ok ? 0 : 1);
}

if (process.argv.includes('--worker'))
  worker();
else
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
