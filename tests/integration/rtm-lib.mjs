// Shared by the rtm*.test.mjs files: a real parley-backend from build/bin
// on a kernel-chosen loopback port with its own data directory and key
// file, its admin socket, rtm.connect over HTTP, and a raw WebSocket
// client (the `ws` package) that records what it receives.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname),
  '../..');
// The daemons under test; PARLEY_BIN points elsewhere (an optimised build
// for the soak, say).
const bin = process.env.PARLEY_BIN || path.join(root, 'build/bin');
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Resolves fn() once it is truthy; rejects after ms.
export async function until(fn, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v)
      return v;
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

// One JSON line out, one in, in order.
class Admin {
  constructor(sock) {
    this.sock = sock;
    this.buf = '';
    this.waiting = [];
    sock.setEncoding('utf8');
    sock.on('data', (d) => {
      this.buf += d;
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        const w = this.waiting.shift();
        if (w)
          w(JSON.parse(line));
      }
    });
    sock.on('error', () => {});
  }

  op(req) {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`admin ${req.op}: timeout`)),
        30000);
      this.waiting.push((res) => {
        clearTimeout(t);
        if (!res.ok)
          reject(new Error(`admin ${req.op}: ${res.error}`));
        else
          resolve(res);
      });
      this.sock.write(JSON.stringify(req) + '\n');
    });
  }

  close() {
    this.sock.destroy();
  }
}

// A backend in its own temporary directory.  extra is added to [backend];
// env is added to the process's environment, args to its command line.
export class Backend {
  constructor(extra = '', env = {}, args = []) {
    this.extra = extra;
    this.env = env;
    this.args = args;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-rtm-'));
    this.proc = null;
    this.admin = null;
  }

  async start() {
    if (!this.port)
      this.port = await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    const keys = path.join(this.dir, 'keys');
    if (!fs.existsSync(keys))
      fs.writeFileSync(keys, `k1 ${crypto.randomBytes(32).toString('hex')}\n`,
        { mode: 0o600 });
    fs.mkdirSync(path.join(this.dir, 'data'), { recursive: true });
    const conf = path.join(this.dir, 'parley.conf');
    fs.writeFileSync(conf, `[backend]\nlisten = 127.0.0.1:${this.port}\n` +
      'data_dir = data\nmap_initial = 16M\nrate_tier1 = 100000\n' +
      `rate_post = 100000\n${this.extra}\n[tokens]\nkeys = keys\n`);
    this.logPath = path.join(this.dir, 'backend.log');
    const log = fs.openSync(this.logPath, 'a');
    // Under AddressSanitizer, freed memory waits in a quarantine (256 MB
    // by default) that counts in the RSS the memory tests measure; a
    // smaller one keeps those figures about the backend's own memory.
    const asan = process.env.ASAN_OPTIONS;
    this.proc = spawn(path.join(bin, 'parley-backend'),
      ['-c', conf, ...this.args], { stdio: ['ignore', log, log],
        env: { ...process.env,
          ASAN_OPTIONS: `${asan ? `${asan}:` : ''}quarantine_size_mb=32`,
          ...this.env } });
    fs.closeSync(log);
    this.exited = null;
    this.proc.on('exit', (code, sig) => { this.exited = { code, sig }; });
    const sockPath = path.join(this.dir, 'data', 'admin.sock');
    for (let i = 0; ; i++) {
      if (this.exited)
        throw new Error(`backend exited: ${this.log()}`);
      if (i > 300)
        throw new Error('backend did not start');
      try {
        const r = await fetch(`${this.url}/healthz`,
          { signal: AbortSignal.timeout(1000) });
        if (r.status === 200 && fs.existsSync(sockPath))
          break;
      } catch { /* not yet */ }
      await sleep(50);
    }
    const sock = net.createConnection(sockPath);
    await new Promise((res, rej) => {
      sock.once('connect', res);
      sock.once('error', rej);
    });
    this.admin = new Admin(sock);
  }

  log() {
    return fs.readFileSync(this.logPath, 'utf8');
  }

  // A ticket signed with the backend's key (docs/tokens.md), for tests
  // that need one rtm.connect would never give, e.g. an expired one.
  ticket(team, user, id, exp) {
    const [kid, hex] = fs.readFileSync(path.join(this.dir, 'keys'), 'utf8')
      .trim().split(/\s+/);
    const body = `ptk.${kid}.${team}.${user}.${id}.${exp}`;
    const mac = crypto.createHmac('sha256', Buffer.from(hex, 'hex'))
      .update(body).digest('base64url');
    return `${body}.${mac}`;
  }

  // Resident memory of the backend in KiB.
  rssKiB() {
    const s = fs.readFileSync(`/proc/${this.proc.pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(s)[1]);
  }

  async metrics() {
    const r = await fetch(`${this.url}/metrics`,
      { signal: AbortSignal.timeout(5000) });
    const out = {};
    for (const line of (await r.text()).split('\n')) {
      const m = /^(parley_rtm_[a-z_]+(?:\{[^}]*\})?) (\d+)$/.exec(line);
      if (m)
        out[m[1]] = Number(m[2]);
    }
    return out;
  }

  async api(method, token, args = {}) {
    const r = await fetch(`${this.url}/api/${method}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`,
        'Content-Type': 'application/json; charset=utf-8' },
      body: JSON.stringify(args),
      signal: AbortSignal.timeout(10000),
    });
    return r.json();
  }

  async signal(sig) {
    if (this.exited)
      return;
    this.admin?.close();
    const done = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill(sig);
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await done;
    clearTimeout(t);
  }

  // Stops the process, keeping the data directory.
  async stopProcess() {
    await this.signal('SIGTERM');
  }

  async kill9() {
    await this.signal('SIGKILL');
  }

  async stop() {
    await this.signal('SIGTERM');
    const bad = this.exited && this.exited.code !== 0 &&
      this.exited.sig !== 'SIGTERM' && this.exited.sig !== 'SIGKILL';
    const log = bad ? this.log() : '';
    fs.rmSync(this.dir, { recursive: true, force: true });
    if (bad)
      throw new Error(`backend exited with ${JSON.stringify(this.exited)}:\n` +
        log);
  }
}

// A team with the named users, a token each, and a public channel
// "general" they are all in.
export async function makeTeam(b, domain, names) {
  const { team_id: team } = await b.admin.op({ op: 'team.create',
    name: domain, domain });
  const users = {};
  for (const n of names) {
    const { user_id: id } = await b.admin.op({ op: 'user.create', team,
      name: n, real_name: n.toUpperCase() });
    const { token, token_id } = await b.admin.op({ op: 'token.mint',
      user: id });
    users[n] = { id, token, token_id };
  }
  const first = users[names[0]].id;
  const { channel_id: general } = await b.admin.op({ op: 'channel.create',
    team, name: 'general', creator: first });
  for (const n of names.slice(1))
    await b.admin.op({ op: 'channel.join', channel: general,
      user: users[n].id });
  return { team, users, general };
}

// A raw RTM client: every message it gets is kept in msgs, in order.
export class RawClient {
  constructor(url, opts = {}) {
    this.url = url;
    this.msgs = [];
    this.closed = null;
    this.nextId = 1;
    this.ws = new WebSocket(url, { perMessageDeflate: false,
      handshakeTimeout: 5000, ...opts });
    this.ws.on('message', (d) => this.msgs.push(JSON.parse(d.toString())));
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
    });
    this.ws.on('error', (e) => { this.error = e; });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('unexpected-response', (req, res) =>
        reject(Object.assign(new Error(`HTTP ${res.statusCode}`),
          { status: res.statusCode })));
      this.ws.once('error', reject);
    });
  }

  async waitFor(pred, ms = 5000, what = 'a message') {
    return until(() => this.msgs.find(pred), ms, what);
  }

  // Waits until at least n messages match pred; returns them.
  async waitCount(pred, n, ms = 10000, what = 'messages') {
    await until(() => this.msgs.filter(pred).length >= n, ms,
      `${n} ${what} (have ${this.msgs.filter(pred).length})`);
    return this.msgs.filter(pred);
  }

  send(obj) {
    const id = this.nextId++;
    this.ws.send(JSON.stringify({ id, ...obj }));
    return id;
  }

  async reply(obj, ms = 5000) {
    const id = this.send(obj);
    return this.waitFor((m) => m.reply_to === id, ms, `reply to ${id}`);
  }

  async waitClosed(ms = 5000) {
    return until(() => this.closed, ms, 'close');
  }

  close() {
    this.ws.terminate();
  }
}

// rtm.connect for token, then a raw client on the URL it gave.
export async function connectRaw(b, token, args = {}) {
  const res = await b.api('rtm.connect', token, args);
  if (!res.ok)
    throw new Error(`rtm.connect: ${res.error}`);
  const c = new RawClient(res.url);
  await c.opened;
  await c.waitFor((m) => m.type === 'hello', 5000, 'hello');
  return c;
}

// The persisted events a client got, as [seq, ...] in arrival order.
export function seqs(c) {
  return c.msgs.filter((m) => m.seq !== undefined).map((m) => m.seq);
}

// A client that opens the WebSocket and then never reads or answers
// again, as a peer that stopped (or vanished) does: the handshake by
// hand on a plain socket, which is then paused.  Resolves with the
// socket once the 101 is in.
export function openSilent(wsUrl) {
  const u = new URL(wsUrl);
  return new Promise((resolve, reject) => {
    const s = net.createConnection({ host: u.hostname, port: Number(u.port) });
    let head = '';
    const t = setTimeout(() => { s.destroy(); reject(new Error('no 101')); },
      10000);
    s.on('error', (e) => { clearTimeout(t); reject(e); });
    s.once('connect', () => {
      s.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\n` +
        `Host: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\n` +
        'Sec-WebSocket-Version: 13\r\n\r\n');
    });
    const onData = (d) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n'))
        return;
      clearTimeout(t);
      s.off('data', onData);
      s.pause();
      if (!head.startsWith('HTTP/1.1 101')) {
        s.destroy();
        reject(new Error(head.split('\r\n')[0]));
        return;
      }
      resolve(s);
    };
    s.on('data', onData);
  });
}
