// The stack the security matrix and the front fault tests run against
// (security.test.mjs, faults-front.test.mjs): real HAProxy 2.6 with
// haproxy-config/ (in master-worker mode, so that it can be reloaded),
// parley-spoa, parley-backend with its edge stream listener and a web
// root, and parley-health, every daemon with -v, each on kernel-chosen
// loopback ports, in one temporary directory.  Every secret the matrix
// uses (keys, tokens, tickets, passwords) is remembered, so that the logs
// can be searched for them.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Backend, freePort, sleep } from './rtm-lib.mjs';
import { makeCerts } from './stream-lib.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname),
  '../..');
const bin = process.env.PARLEY_BIN || path.join(root, 'build/bin');

// Mints a token in the format of docs/tokens.md under a given key.
export function mint(kind, kid, secretHex, team, user, id, exp) {
  const body = `${kind}.${kid}.${team}.${user}.${id}.${exp}`;
  const mac = crypto.createHmac('sha256', Buffer.from(secretHex, 'hex'))
    .update(body).digest('base64url');
  return `${body}.${mac}`;
}

async function waitHttp(url, proc, what) {
  for (let i = 0; i < 300; i++) {
    if (proc.exitCode !== null || proc.signalCode !== null)
      throw new Error(`${what} exited`);
    try {
      await fetch(url, { signal: AbortSignal.timeout(1000) });
      return;
    } catch { /* not yet */ }
    await sleep(50);
  }
  throw new Error(`${what} does not answer at ${url}`);
}

export class Stack {
  constructor() {
    this.secrets = new Set();
    this.procs = [];
  }

  secret(s) {
    this.secrets.add(s);
    return s;
  }

  spawnLogged(name, cmd, args, env = {}) {
    const logPath = path.join(this.dir, `${name}.log`);
    const log = fs.openSync(logPath, 'a');
    const p = spawn(cmd, args, { stdio: ['ignore', log, log],
      env: { ...process.env, ...env } });
    fs.closeSync(log);
    this.procs.push({ name, p, logPath });
    return p;
  }

  // Keys k0 then k1: tokens minted before k1 is added are signed by k0,
  // which removeOldKey() takes away again.
  async start() {
    this.certs = makeCerts();
    this.k0 = this.secret(crypto.randomBytes(32).toString('hex'));
    this.k1 = this.secret(crypto.randomBytes(32).toString('hex'));
    this.streamPort = await freePort();
    const [spoa, stats, front, health, e1, e2] = await Promise.all(
      [0, 1, 2, 3, 4, 5].map(() => freePort()));
    this.frontPort = front;
    this.b = new Backend('', {}, ['-v']);
    this.dir = this.b.dir;
    this.keys = path.join(this.dir, 'keys');
    fs.writeFileSync(this.keys, `k0 ${this.k0}\n`, { mode: 0o600 });
    this.web = path.join(this.dir, 'web');
    fs.mkdirSync(this.web);
    fs.writeFileSync(path.join(this.web, 'index.html'),
      '<!doctype html><title>Parley</title>\n');
    fs.writeFileSync(path.join(this.dir, 'outside.txt'),
      'outside-the-web-root\n');
    fs.symlinkSync(path.join(this.dir, 'outside.txt'),
      path.join(this.web, 'leak.txt'));
    this.b.extra = `stream_listen = 127.0.0.1:${this.streamPort}\n` +
      `stream_tls_cert = ${path.join(this.certs, 'server.pem')}\n` +
      `stream_tls_key = ${path.join(this.certs, 'server.key')}\n` +
      `stream_tls_ca = ${path.join(this.certs, 'ca.pem')}\n` +
      `web_root = ${this.web}\nsignin_failures = 3\n` +
      // Tickets taken while setting up must outlive the whole matrix.
      'rtm_ticket_ttl = 10m\n' +
      `rtm_url = ws://127.0.0.1:${front}/rtm\n`;
    await this.b.start();
    this.direct = this.b.url;
    this.procs.push({ name: 'backend', p: this.b.proc,
      logPath: this.b.logPath });

    this.spoaStats = `http://127.0.0.1:${stats}`;
    this.spoaPort = spoa;
    this.conf = path.join(this.dir, 'stack.conf');
    fs.writeFileSync(this.conf, `[tokens]\nkeys = ${this.keys}\n\n` +
      `[spoa]\nlisten = 127.0.0.1:${spoa}\n` +
      `stats_listen = 127.0.0.1:${stats}\n\n` +
      `[health]\nlisten = 127.0.0.1:${health}\n` +
      `shards = 127.0.0.1:${this.b.port}\nagent = 127.0.0.1:${spoa}\n` +
      `store_path = ${path.join(this.dir, 'data')}\ninterval = 1s\n` +
      `haproxy_stats = ${path.join(this.dir, 'haproxy.sock')}\n` +
      'haproxy_backends = be_full\n');
    await this.startAgent();
    if (fs.existsSync(path.join(bin, 'parley-edge')))
      await this.startEdge(e1);
    this.health = this.spawnLogged('health',
      path.join(bin, 'parley-health'), ['-c', this.conf, '-v']);
    await waitHttp(`http://127.0.0.1:${health}/healthz`, this.health,
      'parley-health');

    this.haproxyEnv = {
      PARLEY_HTTP_BIND: `127.0.0.1:${front}`,
      PARLEY_SPOE_CONF: path.join(root, 'haproxy-config/parley-spoe.conf'),
      PARLEY_SPOA_ADDR: `127.0.0.1:${spoa}`,
      // No edge runs: haproxy.cfg then sends everything to the shard.
      PARLEY_EDGE1_ADDR: `127.0.0.1:${e1}`,
      PARLEY_EDGE2_ADDR: `127.0.0.1:${e2}`,
      PARLEY_BACKEND_ADDR: `127.0.0.1:${this.b.port}`,
      PARLEY_HAPROXY_SOCK: path.join(this.dir, 'haproxy.sock'),
    };
    this.haproxy = this.spawnLogged('haproxy', '/usr/sbin/haproxy',
      ['-W', '-db', '-f', path.join(root, 'haproxy-config/haproxy.cfg')],
      this.haproxyEnv);
    this.front = `http://127.0.0.1:${front}`;
    await waitHttp(`${this.front}/api/api.test`, this.haproxy, 'haproxy');
    // The shard is up for HAProxy once its first check passed.
    for (let i = 0; i < 200; i++) {
      const r = await fetch(`${this.front}/api/api.test`,
        { method: 'POST', signal: AbortSignal.timeout(5000) });
      if (r.status === 200)
        break;
      await sleep(50);
    }
  }

  // parley-edge, linked to the backend's stream with the test CA's
  // client certificate; HAProxy's first edge server.
  async startEdge(port) {
    this.edgePort = port;
    this.edgeUrl = `http://127.0.0.1:${port}`;
    const conf = path.join(this.dir, 'edge.conf');
    fs.writeFileSync(conf, `[edge]\nname = edge1\n` +
      `listen = 127.0.0.1:${port}\n` +
      `stream_tls_cert = ${path.join(this.certs, 'client.pem')}\n` +
      `stream_tls_key = ${path.join(this.certs, 'client.key')}\n` +
      `stream_tls_ca = ${path.join(this.certs, 'ca.pem')}\n` +
      'stream_tls_server_name = localhost\n' +
      `rtm_url = ws://127.0.0.1:${this.frontPort}/rtm\n` +
      `web_root = ${this.web}\n\n` +
      `[tokens]\nkeys = ${this.keys}\n\n` +
      `[shard s1]\nhttp = 127.0.0.1:${this.b.port}\n` +
      `stream = 127.0.0.1:${this.streamPort}\n`);
    this.edge = this.spawnLogged('edge', path.join(bin, 'parley-edge'),
      ['-c', conf, '-v']);
    for (let i = 0; i < 400; i++) {
      try {
        const r = await fetch(`${this.edgeUrl}/healthz`,
          { signal: AbortSignal.timeout(1000) });
        if ((await r.json()).links?.s1?.state === 'up')
          return;
      } catch { /* not yet */ }
      if (this.edge.exitCode !== null)
        throw new Error('parley-edge exited');
      await sleep(50);
    }
    throw new Error('parley-edge did not link to the backend');
  }

  async startAgent() {
    this.spoa = this.spawnLogged('spoa', path.join(bin, 'parley-spoa'),
      ['-c', this.conf, '-v']);
    await waitHttp(`${this.spoaStats}/metrics`, this.spoa, 'parley-spoa');
  }

  async killAgent() {
    const done = new Promise((r) => this.spoa.once('exit', r));
    this.spoa.kill('SIGKILL');
    await done;
    this.procs = this.procs.filter((x) => x.p !== this.spoa);
  }

  // A master-worker reload (SIGUSR2 to the master): a new worker takes
  // the listeners, the old one finishes what it holds (its WebSockets
  // stay until they close).  Resolves once the master says the new
  // worker is ready; with stopOld, the old worker is then stopped at
  // once (SIGTERM), as hard-stop-after would, so that its clients must
  // connect again.
  async reloadHaproxy(stopOld = false) {
    const logPath = path.join(this.dir, 'haproxy.log');
    const log = () => fs.readFileSync(logPath, 'utf8');
    const re = /Loading success/g;
    const count = () => (log().match(re) ?? []).length;
    const workers = () => [...log().matchAll(/New worker \((\d+)\) forked/g)]
      .map((m) => Number(m[1]));
    const before = count();
    const m = this.haproxy.pid;
    this.haproxy.kill('SIGUSR2');
    for (let i = 0; i < 2400; i++) {
      if (count() > before) {
        const now = workers().at(-1);
        const children = fs.readFileSync(`/proc/${m}/task/${m}/children`,
          'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
        for (const pid of children)
          if (stopOld && pid !== now)
            process.kill(pid, 'SIGTERM');
        return;
      }
      await sleep(25);
    }
    throw new Error('haproxy did not reload: ' +
      fs.readFileSync(logPath, 'utf8').slice(-2000));
  }

  // One row of HAProxy's "show stat" (the master's socket talks to the
  // current worker), as an object of its CSV fields.
  haproxyStat(px, sv) {
    return new Promise((resolve, reject) => {
      const c = net.createConnection(path.join(this.dir, 'haproxy.sock'));
      let data = '';
      c.on('data', (d) => { data += d; });
      c.on('error', reject);
      c.on('close', () => {
        const lines = data.split('\n');
        const head = lines[0].replace(/^# /, '').split(',');
        for (const l of lines.slice(1)) {
          const f = l.split(',');
          if (f[0] === px && f[1] === sv)
            return resolve(Object.fromEntries(head.map((h, i) =>
              [h, f[i]])));
        }
        resolve(null);
      });
      c.once('connect', () => c.write('show stat\n'));
    });
  }

  // Adds k1 (newest: it signs from now on) everywhere, by SIGHUP.
  async addKey() {
    fs.writeFileSync(this.keys, `k0 ${this.k0}\nk1 ${this.k1}\n`);
    await this.reloadKeys('k1');
  }

  // Takes k0 away everywhere.
  async removeOldKey() {
    fs.writeFileSync(this.keys, `k1 ${this.k1}\n`);
    await this.reloadKeys('k1');
  }

  async reloadKeys(kid) {
    const spoaLog = () => fs.readFileSync(path.join(this.dir, 'spoa.log'),
      'utf8');
    const re = /signing keys reloaded/g;
    const before = (spoaLog().match(re) ?? []).length;
    const r = await this.b.admin.op({ op: 'keys.reload' });
    if (r.kid !== kid)
      throw new Error(`backend signs with ${r.kid}`);
    this.spoa.kill('SIGHUP');
    for (let i = 0; i < 200; i++) {
      if ((spoaLog().match(re) ?? []).length > before)
        break;
      await sleep(25);
    }
    if ((spoaLog().match(re) ?? []).length <= before)
      throw new Error('parley-spoa did not reload its keys');
    if (!this.edge)
      return;
    const edgeLog = () => fs.readFileSync(path.join(this.dir, 'edge.log'),
      'utf8');
    const ere = /reload: keys, certificates and limits in effect/g;
    const eb = (edgeLog().match(ere) ?? []).length;
    this.edge.kill('SIGHUP');
    for (let i = 0; i < 200; i++) {
      if ((edgeLog().match(ere) ?? []).length > eb)
        return;
      await sleep(25);
    }
    throw new Error('parley-edge did not reload its keys');
  }

  // The store as mdb_dump prints it: equal before and after an attempt
  // means the attempt left nothing in it.
  dump() {
    const r = spawnSync('mdb_dump', ['-a', '-p', path.join(this.dir,
      'data')], { encoding: 'utf8', maxBuffer: 256 << 20 });
    if (r.status !== 0)
      throw new Error(`mdb_dump: ${r.stderr}`);
    return r.stdout;
  }

  logs() {
    return this.procs.map(({ name, logPath }) => ({ name,
      text: fs.existsSync(logPath) ? fs.readFileSync(logPath, 'utf8') :
        '' }));
  }

  async stop() {
    for (const { name, p } of this.procs) {
      if (name === 'backend' || p.exitCode !== null ||
          p.signalCode !== null)
        continue;
      const done = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 5000);
      await done;
      clearTimeout(t);
    }
    const dir = this.dir;
    const keep = process.env.PARLEY_KEEP_LOGS;
    if (keep)
      for (const { name, logPath } of this.procs)
        fs.copyFileSync(logPath, path.join(keep, `${name}.log`));
    await this.b?.stop();
    if (this.certs)
      fs.rmSync(this.certs, { recursive: true, force: true });
    if (dir)
      fs.rmSync(dir, { recursive: true, force: true });
  }
}

// One HTTP request; resolves with the status, the headers and the body
// (parsed when it is JSON).  A raw request line is sent as is on a
// socket, so that no client library cleans the path.
export async function call(base, method, token, args = {}, opts = {}) {
  const headers = { 'Content-Type': 'application/json; charset=utf-8',
    ...(opts.headers ?? {}) };
  if (token)
    headers.Authorization = `Bearer ${token}`;
  const r = await fetch(`${base}/api/${method}`, { method: 'POST', headers,
    body: opts.body ?? JSON.stringify(args),
    signal: AbortSignal.timeout(10000) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, json, text,
    retryAfter: r.headers.get('retry-after') };
}

export function rawGet(base, target) {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const s = net.createConnection(Number(u.port), u.hostname);
    let data = '';
    const t = setTimeout(() => { s.destroy(); reject(new Error('timeout')); },
      10000);
    s.on('data', (d) => { data += d.toString('latin1'); });
    s.on('error', (e) => { clearTimeout(t); reject(e); });
    s.on('close', () => {
      clearTimeout(t);
      const status = Number(/^HTTP\/1\.[01] (\d+)/.exec(data)?.[1] ?? 0);
      resolve({ status, text: data });
    });
    s.once('connect', () => s.write(`GET ${target} HTTP/1.1\r\n` +
      `Host: ${u.host}\r\nConnection: close\r\n\r\n`));
  });
}

// ---- A minimal SPOP client (HAProxy's doc/SPOE.txt), to ask parley-spoa
// directly what it decides for one request, as HAProxy would.

const T_UINT32 = 3, T_STR = 8;

function varint(v) {
  if (v < 240)
    return Buffer.from([v]);
  const out = [(v | 240) & 0xff];
  v = (v - 240) >> 4;
  while (v >= 128) {
    out.push((v | 128) & 0xff);
    v = (v - 128) >> 7;
  }
  out.push(v);
  return Buffer.from(out);
}

function readVarint(b, off) {
  let v = b[off++];
  if (v < 240)
    return [v, off];
  let shift = 4, c;
  do {
    c = b[off++];
    v += c << shift;
    shift += 7;
  } while (c >= 128);
  return [v, off];
}

const spopStr = (s) => {
  const b = Buffer.from(s);
  return Buffer.concat([varint(b.length), b]);
};

function spopFrame(type, streamId, frameId, payload) {
  const body = Buffer.concat([Buffer.from([type, 0, 0, 0, 1]),
    varint(streamId), varint(frameId), payload]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

// Decodes the SET-VAR actions of an ACK into { name: value }.
function ackVars(b) {
  let off = 5, n;
  [, off] = readVarint(b, off);
  [, off] = readVarint(b, off);
  const vars = {};
  while (off < b.length) {
    const type = b[off++];
    const nb = b[off++];
    if (type !== 1 || nb !== 3)
      break;
    off++; // scope
    [n, off] = readVarint(b, off);
    const name = b.subarray(off, off + n).toString();
    off += n;
    const t = b[off++] & 0x0f;
    if (t === T_STR) {
      [n, off] = readVarint(b, off);
      vars[name] = b.subarray(off, off + n).toString();
      off += n;
    } else if (t >= 2 && t <= 5) {
      [vars[name], off] = readVarint(b, off);
    } else {
      break;
    }
  }
  return vars;
}

// One connection, HELLO, one NOTIFY of the parley-req message with the
// given arguments (strings; parley-spoe.conf names them); resolves with
// the variables the agent set.
export function spopAsk(port, args) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0), helloed = false;
    const t = setTimeout(() => { sock.destroy(); reject(new Error('spop')); },
      10000);
    sock.on('error', (e) => { clearTimeout(t); reject(e); });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const f = buf.subarray(4, 4 + buf.readUInt32BE(0));
        buf = buf.subarray(4 + f.length);
        if (f[0] === 101 && !helloed) {
          helloed = true;
          const parts = [spopStr('parley-req'),
            Buffer.from([Object.keys(args).length])];
          for (const [k, v] of Object.entries(args))
            parts.push(spopStr(k), Buffer.from([T_STR]), spopStr(v));
          sock.write(spopFrame(3, 1, 1, Buffer.concat(parts)));
        } else if (f[0] === 103) {
          clearTimeout(t);
          sock.destroy();
          resolve(ackVars(f));
        } else {
          clearTimeout(t);
          sock.destroy();
          reject(new Error(`SPOP frame ${f[0]}`));
        }
      }
    });
    sock.once('connect', () => sock.write(spopFrame(1, 0, 0,
      Buffer.concat([
        spopStr('supported-versions'), Buffer.from([T_STR]), spopStr('2.0'),
        spopStr('max-frame-size'), Buffer.from([T_UINT32]), varint(16380),
        spopStr('capabilities'), Buffer.from([T_STR]),
        spopStr('pipelining'),
      ]))));
  });
}
