// parley-load's modes at a small scale, for behaviour only (no timing
// assertions): fan-out over two worker processes and several channels
// reaches every receiver of each channel exactly once per message and
// the merged report adds up; a connection storm opens everything; a
// Redis subscriber run (when redis-server is installed) and the `ws`
// comparator deliver the same way; durable posts through
// chat.postMessage all land in the channel's history.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, startBackend, makeTeam } from './webapi-lib.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const bin = path.join(root, 'build/bin');
const hasRedis = spawnSync('sh', ['-c', 'command -v redis-server']).status === 0;
const servers = [];

function waitLine(child, re, ms) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no ${re} in ${ms} ms: ${buf}`)), ms);
    child.stdout.on('data', (d) => {
      buf += d;
      const m = buf.match(re);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
  });
}

async function startServer(cmd, args) {
  const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  servers.push(p);
  const m = await waitLine(p, /listening on 127\.0\.0\.1:(\d+)/, 10000);
  return Number(m[1]);
}

// Runs parley-load to the end; resolves with its exit code and the
// fields of its json line.
function load(args, ms = 60000) {
  return new Promise((resolve, reject) => {
    const p = spawn(path.join(bin, 'parley-load'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`parley-load ${args[0]} did not end: ${out} ${err}`));
    }, ms);
    p.on('exit', (code) => {
      clearTimeout(timer);
      const m = out.match(/^json: (.*)$/m);
      resolve({ code, out, err, json: m ? JSON.parse(m[1]) : null });
    });
  });
}

let wsPort;

before(async () => {
  wsPort = await startServer(path.join(bin, 'parley-wstest'), ['-p', '0']);
});

after(async () => {
  for (const p of servers) {
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGTERM');
      await once(p, 'exit');
    }
  }
});

// Every receiver of a channel gets every message of that channel once:
// with C channels of equal size, deliveries = published * conns / C.
function assertFanout(r, conns, channels) {
  assert.equal(r.code, 0, r.out + r.err);
  const j = r.json;
  assert.equal(j.open, conns);
  assert.equal(j.failed, 0);
  assert.equal(j.closed, 0);
  assert.ok(j.published > 0);
  assert.equal(j.count, j.published * (conns / channels));
  assert.equal(j.latency_us.n, j.count);
  assert.ok(j.latency_us.p50 <= j.latency_us.p99 && j.latency_us.p99 <= j.latency_us.max);
}

test('fanout over 2 workers and 3 channels of parley-wstest', { timeout: 60000 }, async () => {
  const r = await load(['fanout', '-u', `ws://127.0.0.1:${wsPort}/`, '-c', '60', '-w', '2',
    '-C', '3', '-r', '200', '-d', '1', '-S', '127.0.0.1-127.0.0.3']);
  assertFanout(r, 60, 3);
  assert.equal(r.json.workers, 2);
});

test('flat-out fanout stays within its window and delivers everything', { timeout: 60000 }, async () => {
  const r = await load(['fanout', '-u', `ws://127.0.0.1:${wsPort}/`, '-c', '20', '-w', '2',
    '-r', '0', '-W', '2000', '-d', '1']);
  assertFanout(r, 20, 1);
});

test('a storm of 300 connections opens them all and ends', { timeout: 60000 }, async () => {
  const r = await load(['storm', '-u', `ws://127.0.0.1:${wsPort}/`, '-c', '300', '-w', '2']);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /^ready: open=300 failed=0/m);
  assert.equal(r.json.connect_us.n, 300);
});

test('the ws comparator broadcasts to its channel', { timeout: 60000 }, async () => {
  const port = await startServer('node', [path.join(root, 'bench/ws-broadcast.mjs'), '0']);
  const r = await load(['fanout', '-u', `ws://127.0.0.1:${port}/`, '-c', '20', '-w', '1',
    '-C', '2', '-r', '50', '-d', '1']);
  assertFanout(r, 20, 2);
});

test('Redis subscribers through hiredis', { timeout: 60000, skip: !hasRedis && 'redis-server not installed' }, async () => {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-redis-'));
  const p = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1',
    '--protected-mode', 'no', '--save', '', '--appendonly', 'no', '--dir', dir],
  { stdio: ['ignore', 'pipe', 'inherit'] });
  servers.push(p);
  await waitLine(p, /Ready to accept connections/, 10000);
  const r = await load(['fanout', '-u', `redis://127.0.0.1:${port}/`, '-c', '30', '-w', '2',
    '-C', '3', '-r', '100', '-d', '1', '-S', '127.0.0.1-127.0.0.2']);
  assertFanout(r, 30, 3);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('durable posts through chat.postMessage all land in the history', { timeout: 90000 }, async () => {
  const b = await startBackend('rate_post = 0');
  try {
    const { users } = await makeTeam(b, 'loadposts', ['owner']);
    const c = users.owner.client;
    const { channel } = await c.conversations.create({ name: 'load' });
    const r = await load(['post', '-u', `http://127.0.0.1:${b.port}/`, '-c', '4', '-w', '2',
      '-d', '1', '-t', users.owner.token, '--channel', channel.id]);
    assert.equal(r.code, 0, r.out + r.err);
    assert.equal(r.json.errors, 0, r.err);
    assert.ok(r.json.count > 0);
    // Every answered post is in the history (posts still in flight when
    // the run stopped may be there too), each with a send stamp.
    let seen = 0;
    let cursor;
    do {
      const h = await c.conversations.history({ channel: channel.id, limit: 200, cursor });
      for (const m of h.messages) {
        assert.match(m.text, /^B~[0-9a-f]{16}x+$/);
        seen++;
      }
      cursor = h.response_metadata?.next_cursor;
    } while (cursor);
    assert.ok(seen >= r.json.count, `${seen} in history, ${r.json.count} answered`);
    assert.ok(seen <= r.json.count + 4);
  } finally {
    await b.stop();
  }
});
