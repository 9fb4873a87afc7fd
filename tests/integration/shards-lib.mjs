// Shared by the shards tests: a two-shard stack from tools/run-stack.sh
// (-n 2) on a free port base, and helpers to reach it.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const top = path.resolve(path.dirname(new URL(import.meta.url)
  .pathname), '../..');
const launcher = path.join(top, 'tools/run-stack.sh');
export const parleyctl = path.join(top, 'build/bin/parleyctl');
const offsets = [80, 90, 101, 111, 201, 202, 301, 302, 401, 402, 403, 443];

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function run(file, args, timeout = 120000) {
  return new Promise((resolve) => {
    execFile(file, args, { timeout }, (err, stdout, stderr) =>
      resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr }));
  });
}

function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

// A port base in 28000-28999 whose ports are all free.
async function freeBase() {
  for (let i = 0; i < 40; i++) {
    const base = 28000 + Math.floor(Math.random() * 9) * 100;
    let ok = true;
    for (const o of offsets)
      if (!(await portFree(base + o))) { ok = false; break; }
    if (ok)
      return base;
  }
  throw new Error('no free port base');
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
    await sleep(50);
  }
}

export class Stack {
  async start() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-shards-'));
    this.base = await freeBase();
    this.front = `http://127.0.0.1:${this.base + 80}`;
    this.s1 = `http://127.0.0.1:${this.base + 101}`;
    this.s2 = `http://127.0.0.1:${this.base + 111}`;
    const up = await run('bash', [launcher, '-p', String(this.base), '-d',
      this.dir, '-n', '2', '-b', '-q']);
    if (up.code !== 0)
      throw new Error(`run-stack: ${up.stderr}`);
  }

  async stop() {
    if (!this.dir)
      return;
    await run('bash', [launcher, '-d', this.dir, '-s']);
  }

  remove() {
    if (this.dir)
      fs.rmSync(this.dir, { recursive: true, force: true });
  }

  // [user, password] of the demo teams: team 1 on s1, team 2 on s2.
  creds(n) {
    const f = n === 1 ? 'data/shard1/demo-credentials.txt' :
      'data/shard2/demo-credentials.txt';
    return fs.readFileSync(path.join(this.dir, f), 'utf8').split('\n')
      .filter((l) => l && !l.startsWith('#')).map((l) => l.split(' '));
  }

  pid(name) {
    return Number(fs.readFileSync(path.join(this.dir, `pids/${name}.pid`),
      'utf8'));
  }

  ctl(args) {
    return run(parleyctl, ['-c', path.join(this.dir, 'parley.conf'),
      ...args]);
  }
}

// A Web API call with fetch (no retries): the parsed answer with the
// HTTP status and Retry-After.
export async function api(url, method, args, token) {
  const headers = { 'Content-Type': 'application/json; charset=utf-8' };
  if (token)
    headers.Authorization = `Bearer ${token}`;
  const r = await fetch(`${url}/api/${method}`, { method: 'POST', headers,
    body: JSON.stringify(args ?? {}), signal: AbortSignal.timeout(10000) });
  const body = await r.json();
  return { ...body, status: r.status,
    retryAfter: Number(r.headers.get('retry-after') ?? 0) };
}

export async function signin(url, team, user, password) {
  const r = await api(url, 'parley.signin', { team, user, password });
  if (!r.ok)
    throw new Error(`sign-in of ${user}: ${r.error}`);
  return r.token;
}
