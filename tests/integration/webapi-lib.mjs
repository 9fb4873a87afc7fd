// Shared by the webapi*.test.mjs files: starts a real parley-backend from
// build/bin on a kernel-chosen loopback port with a fresh data directory
// and token key file, talks to its admin socket, and makes official
// @slack/web-api clients that never retry and time out.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { WebClient } from '@slack/web-api';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname),
  '../..');

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

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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
        if (w) w(JSON.parse(line));
      }
    });
  }

  // Resolves with the answer; rejects on {ok:false} unless raw is set.
  op(req, raw = false) {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`admin ${req.op}: timeout`)),
        60000);
      this.waiting.push((res) => {
        clearTimeout(t);
        if (!raw && !res.ok)
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

export async function startBackend(extra = '') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-webapi-'));
  const port = await freePort();
  const keys = path.join(dir, 'keys');
  fs.writeFileSync(keys, `k1 ${crypto.randomBytes(32).toString('hex')}\n`,
    { mode: 0o600 });
  fs.mkdirSync(path.join(dir, 'data'));
  const conf = path.join(dir, 'parley.conf');
  fs.writeFileSync(conf, `[backend]\nlisten = 127.0.0.1:${port}\n` +
    `data_dir = data\nmap_initial = 16M\n${extra}\n[tokens]\nkeys = keys\n`);
  const logPath = path.join(dir, 'backend.log');
  const log = fs.openSync(logPath, 'a');
  const proc = spawn(path.join(root, 'build/bin/parley-backend'),
    ['-c', conf], { stdio: ['ignore', log, log] });
  let exited = null;
  proc.on('exit', (code, sig) => { exited = { code, sig }; });

  const sockPath = path.join(dir, 'data', 'admin.sock');
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (exited)
      throw new Error(`backend exited: ${fs.readFileSync(logPath, 'utf8')}`);
    if (i > 200)
      throw new Error('backend did not start');
    try {
      const r = await fetch(`${url}/healthz`,
        { signal: AbortSignal.timeout(1000) });
      if (r.status === 200 && fs.existsSync(sockPath))
        break;
    } catch { /* not yet */ }
    await sleep(50);
  }
  const sock = net.createConnection(sockPath);
  await new Promise((res, rej) => { sock.once('connect', res);
    sock.once('error', rej); });
  const admin = new Admin(sock);

  const b = {
    dir, port, url, proc, admin, keys,
    apiUrl: `${url}/api/`,
    log: () => fs.readFileSync(logPath, 'utf8'),
    alive: () => exited === null,
    client(token, timeout = 5000) {
      return new WebClient(token, {
        slackApiUrl: `${url}/api/`,
        retryConfig: { retries: 0 },
        timeout,
        rejectRateLimitedCalls: true,
        logLevel: 'error',
      });
    },
    // Raw request for what the SDK never sends.
    async raw(pathname, init = {}) {
      const r = await fetch(`${url}${pathname}`,
        { ...init, signal: AbortSignal.timeout(5000) });
      const text = await r.text();
      let json = null;
      try { json = JSON.parse(text); } catch { /* not JSON */ }
      return { status: r.status, headers: r.headers, text, json };
    },
    async stop() {
      admin.close();
      if (exited === null) {
        const done = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await done;
        clearTimeout(t);
      }
      if (exited && exited.code !== 0 && exited.sig !== 'SIGTERM')
        throw new Error(`backend exited with ${JSON.stringify(exited)}:\n` +
          b.log());
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return b;
}

// A team with people of each role and a token for each.
export async function makeTeam(b, domain, names = ['owner', 'admin',
  'alice', 'bob', 'carol']) {
  const { team_id: team } = await b.admin.op({ op: 'team.create',
    name: domain, domain });
  const users = {};
  for (const n of names) {
    const { user_id: id } = await b.admin.op({ op: 'user.create', team,
      name: n, real_name: n.toUpperCase(), owner: n === 'owner',
      admin: n === 'admin' });
    const { token, token_id } = await b.admin.op({ op: 'token.mint',
      user: id });
    users[n] = { id, token, token_id, client: b.client(token) };
  }
  return { team, users };
}

// The Slack error name of a failed SDK call (a promise, or a function
// that makes one), or 'ok'.
export async function errorOf(p) {
  try {
    await (typeof p === 'function' ? p() : p);
    return 'ok';
  } catch (e) {
    if (e.code === 'slack_webapi_platform_error')
      return e.data.error;
    if (e.code === 'slack_webapi_rate_limited_error')
      return `ratelimited:${e.retryAfter}`;
    throw e;
  }
}
