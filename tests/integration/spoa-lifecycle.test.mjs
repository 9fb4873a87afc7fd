// parley-spoa spoken to directly over SPOP (no HAProxy), for what the
// agent does on its own: timeouts after HELLO, the goodbye on SIGTERM,
// -t on bad key files (also parley-backend and parley-health), log lines
// and the stats listener's answers to bad requests.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
const bin = (n) => path.join(root, 'build/bin', n);

const T_UINT32 = 3;
const T_STR = 8;
const HAPROXY_HELLO = 1;
const NOTIFY = 3;
const AGENT_HELLO = 101;
const AGENT_DISCONNECT = 102;
const ACK = 103;

let dir;
const agents = [];

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

// SPOP variable-length integer (doc/SPOE.txt, 3.1).
function varint(v) {
  const out = [];
  if (v < 240) return Buffer.from([v]);
  out.push((v | 240) & 0xff);
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
  if (v < 240) return [v, off];
  let shift = 4;
  let c;
  do {
    c = b[off++];
    v += c << shift;
    shift += 7;
  } while (c >= 128);
  return [v, off];
}

function str(s) {
  const b = Buffer.from(s);
  return Buffer.concat([varint(b.length), b]);
}

function frame(type, streamId, frameId, payload) {
  const body = Buffer.concat([
    Buffer.from([type, 0, 0, 0, 1]),
    varint(streamId),
    varint(frameId),
    payload,
  ]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

function hello() {
  return frame(
    HAPROXY_HELLO,
    0,
    0,
    Buffer.concat([
      str('supported-versions'), Buffer.from([T_STR]), str('2.0'),
      str('max-frame-size'), Buffer.from([T_UINT32]), varint(16380),
      str('capabilities'), Buffer.from([T_STR]), str('pipelining'),
    ]),
  );
}

function notify(streamId, frameId) {
  // One message with one argument: the request path.
  const msg = Buffer.concat([
    str('parley-req'), Buffer.from([1]),
    str('path'), Buffer.from([T_STR]), str('/api/api.test'),
  ]);
  return frame(NOTIFY, streamId, frameId, msg);
}

// Decodes one frame: type, ids, and for AGENT-DISCONNECT status/message.
function decode(b) {
  const f = { type: b[0] };
  let off = 5;
  [f.streamId, off] = readVarint(b, off);
  [f.frameId, off] = readVarint(b, off);
  if (f.type === AGENT_DISCONNECT) {
    while (off < b.length) {
      let n;
      [n, off] = readVarint(b, off);
      const key = b.subarray(off, off + n).toString();
      off += n;
      const t = b[off++] & 0x0f;
      if (t === T_UINT32) [f[key], off] = readVarint(b, off);
      else if (t === T_STR) {
        [n, off] = readVarint(b, off);
        f[key] = b.subarray(off, off + n).toString();
        off += n;
      } else break;
    }
  }
  return f;
}

// A raw SPOP connection: collects frames, resolves waiters, notes close.
function connect(port) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const c = { sock, frames: [], closed: false, waiters: [] };
    let buf = Buffer.alloc(0);
    const wake = () => {
      for (const w of c.waiters.splice(0)) w();
    };
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const n = buf.readUInt32BE(0);
        c.frames.push(decode(buf.subarray(4, 4 + n)));
        buf = buf.subarray(4 + n);
      }
      wake();
    });
    sock.on('close', () => {
      c.closed = true;
      wake();
    });
    sock.on('error', () => {});
    sock.once('connect', () => resolve(c));
    sock.once('error', reject);
  });
}

// Waits (bounded) until pred(c) holds.
async function until(c, what, pred, ms = 10000) {
  const end = Date.now() + ms;
  while (!pred(c)) {
    const left = end - Date.now();
    if (left <= 0) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => {
      const t = setTimeout(r, left);
      c.waiters.push(() => {
        clearTimeout(t);
        r();
      });
    });
  }
}

async function helloed(port) {
  const c = await connect(port);
  c.sock.write(hello());
  await until(c, 'AGENT-HELLO', (x) => x.frames.length >= 1 || x.closed);
  assert.equal(c.frames[0].type, AGENT_HELLO);
  return c;
}

function writeKeys(name, text, mode = 0o600) {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text, { mode });
  fs.chmodSync(p, mode);
  return p;
}

async function startAgent(extra = []) {
  const ports = { spoa: await freePort(), stats: await freePort() };
  const conf = path.join(dir, `spoa-${ports.spoa}.conf`);
  fs.writeFileSync(
    conf,
    [
      '[spoa]',
      `listen = 127.0.0.1:${ports.spoa}`,
      `stats_listen = 127.0.0.1:${ports.stats}`,
      'threads = 2',
      ...extra,
      '[tokens]',
      'keys = keys',
      '',
    ].join('\n'),
  );
  const proc = spawn(bin('parley-spoa'), ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  const a = { proc, ports, log: '' };
  proc.stderr.on('data', (d) => {
    a.log += d;
    if (process.env.PARLEY_TEST_VERBOSE) process.stderr.write(d);
  });
  a.exited = new Promise((r) => proc.once('exit', (code, sig) => r({ code, sig })));
  agents.push(a);
  const end = Date.now() + 10000;
  for (;;) {
    const ok = await new Promise((r) => {
      const s = net.connect(ports.spoa, '127.0.0.1');
      s.on('connect', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) break;
    if (Date.now() > end || proc.exitCode !== null) throw new Error(`agent did not start: ${a.log}`);
    await sleep(50);
  }
  return a;
}

// Waits (bounded) for a line matching re in the agent's log.
async function waitLog(a, re, ms = 5000) {
  const end = Date.now() + ms;
  while (!re.test(a.log)) {
    if (Date.now() > end) assert.fail(`no log line ${re} in:\n${a.log}`);
    await sleep(20);
  }
}

function httpReq(port, opts, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, timeout: 5000, ...opts }, (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: b }));
    });
    req.on('timeout', () => req.destroy(new Error('stats request timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-spoalife-'));
  writeKeys('keys', `k1 ${'ab'.repeat(32)}\n`);
});

after(async () => {
  for (const a of agents) {
    if (a.proc.exitCode === null && a.proc.signalCode === null) {
      a.proc.kill('SIGKILL');
      await a.exited;
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

// Guards: a frame left half-sent after HELLO held its buffer and the
// connection forever; frame_timeout ends it with AGENT-DISCONNECT
// status 2 (timeout).  Also: idle_timeout ends a silent connection the
// same way, and the SPOP error log line names the peer address.
test('timeouts after HELLO end a stuck or idle connection', { timeout: 30000 }, async () => {
  const a = await startAgent(['idle_timeout = 2s', 'frame_timeout = 1s']);

  const stuck = await helloed(a.ports.spoa);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(16000);
  stuck.sock.write(Buffer.concat([head, Buffer.alloc(6, 0x03)]));

  const idle = await helloed(a.ports.spoa);

  await until(stuck, 'the stuck connection closed', (x) => x.closed);
  const bye = stuck.frames[stuck.frames.length - 1];
  assert.equal(bye.type, AGENT_DISCONNECT);
  assert.equal(bye['status-code'], 2);

  await until(idle, 'the idle connection closed', (x) => x.closed);
  const bye2 = idle.frames[idle.frames.length - 1];
  assert.equal(bye2.type, AGENT_DISCONNECT);
  assert.equal(bye2['status-code'], 2);
  await waitLog(a, /frame_timeout/);
  await waitLog(a, /idle_timeout/);

  // A live connection that keeps talking is not cut by idle_timeout's
  // first deadline: every frame resets it.
  const busy = await helloed(a.ports.spoa);
  for (let i = 1; i <= 4; i++) {
    busy.sock.write(notify(i, 1));
    await until(busy, `ACK ${i}`, (x) => x.frames.length >= 1 + i || x.closed);
    assert.equal(busy.frames[i].type, ACK);
    await sleep(700);
  }
  assert.equal(busy.closed, false);
  busy.sock.destroy();

  // A NOTIFY before HELLO: disconnected with status 4, logged with the
  // peer's address.
  const early = await connect(a.ports.spoa);
  const localPort = early.sock.localPort;
  early.sock.write(notify(1, 1));
  await until(early, 'the early NOTIFY refused', (x) => x.closed);
  assert.equal(early.frames[0]['status-code'], 4);
  await waitLog(a, new RegExp(`disconnecting HAProxy at 127\\.0\\.0\\.1:${localPort}: `));
});

// Guards: SIGTERM closed HAProxy's connections without a word; now each
// gets the answers to what it already sent, then AGENT-DISCONNECT
// status 0, and the agent exits 0.
test('SIGTERM answers pending NOTIFYs, says goodbye and exits 0', { timeout: 30000 }, async () => {
  const a = await startAgent();
  const c1 = await helloed(a.ports.spoa);
  const c2 = await helloed(a.ports.spoa);

  await new Promise((r) => c1.sock.write(Buffer.concat([notify(1, 1), notify(2, 1)]), r));
  a.proc.kill('SIGTERM');

  await until(c1, 'c1 closed', (x) => x.closed);
  await until(c2, 'c2 closed', (x) => x.closed);
  const types = c1.frames.map((f) => f.type);
  assert.deepEqual(types, [AGENT_HELLO, ACK, ACK, AGENT_DISCONNECT]);
  assert.deepEqual(c1.frames.slice(1, 3).map((f) => f.streamId).sort(), [1, 2]);
  const bye = c1.frames[3];
  assert.equal(bye['status-code'], 0);
  assert.match(bye.message, /stopping/);
  assert.equal(c2.frames[1].type, AGENT_DISCONNECT);
  assert.equal(c2.frames[1]['status-code'], 0);

  const { code } = await a.exited;
  assert.equal(code, 0);
});

// Guards: -t said "configuration ok" for key files the daemon then
// refused at start (missing, mode 644, malformed secret), in each daemon
// built on common/daemon.c; the message names the file's full path.
test('-t runs the start-up checks of key files and certificates', { timeout: 30000 }, () => {
  const bad = {
    missing: path.join(dir, 'no-such-keys'),
    mode644: writeKeys('keys-644', `k1 ${'ab'.repeat(32)}\n`, 0o644),
    malformed: writeKeys('keys-bad', 'k1 not-hex-at-all\n'),
  };
  const good = path.join(dir, 'keys');
  const check = (daemon, section, keysPath) => {
    const conf = path.join(dir, `t-${daemon}.conf`);
    fs.writeFileSync(conf, [...section, '[tokens]', `keys = ${keysPath}`, ''].join('\n'));
    return spawnSync(bin(daemon), ['-t', '-c', conf], { encoding: 'utf8', timeout: 10000 });
  };
  const daemons = {
    'parley-spoa': ['[spoa]', 'listen = 127.0.0.1:1'],
    'parley-backend': ['[backend]', `data_dir = ${dir}`],
  };
  for (const [daemon, section] of Object.entries(daemons)) {
    const ok = check(daemon, section, good);
    assert.equal(ok.status, 0, `${daemon} good: ${ok.stderr}`);
    for (const [what, p] of Object.entries(bad)) {
      const r = check(daemon, section, p);
      assert.equal(r.status, 1, `${daemon} ${what}: ${r.stderr}`);
      assert.ok(r.stderr.includes(p), `${daemon} ${what} names ${p}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /configuration ok/);
    }
  }

  // A relative key path is reported resolved.
  fs.writeFileSync(path.join(dir, 't-rel.conf'), '[tokens]\nkeys = keys-644\n');
  const rel = spawnSync(bin('parley-spoa'), ['-t', '-c', 't-rel.conf'], { cwd: dir, encoding: 'utf8', timeout: 10000 });
  assert.equal(rel.status, 1, rel.stderr);
  assert.ok(rel.stderr.includes(path.join(process.platform === 'linux' ? fs.realpathSync(dir) : dir, 'keys-644')), rel.stderr);

  // parley-health: a missing TLS certificate fails -t.
  const hconf = path.join(dir, 't-health.conf');
  fs.writeFileSync(
    hconf,
    ['[health]', 'listen_tls = 127.0.0.1:1', `tls_cert = ${dir}/none.pem`, `tls_key = ${dir}/none.key`, ''].join('\n'),
  );
  const h = spawnSync(bin('parley-health'), ['-t', '-c', hconf], { encoding: 'utf8', timeout: 10000 });
  assert.equal(h.status, 1, h.stderr);
  assert.match(h.stderr, /none\.pem|none\.key/);
});

// Guards: the stats listener logged "bad request: HPE_OK" and answered
// nothing to a 100 KB header, and answered 404 to POST /metrics.
test('stats listener: 431 for a huge header, 405 for POST /metrics', { timeout: 30000 }, async () => {
  const a = await startAgent();
  const big = await httpReq(a.ports.stats, { path: '/metrics', headers: { 'x-big': 'a'.repeat(100 * 1024) } });
  assert.equal(big.status, 431);
  await waitLog(a, /header too large/);
  assert.doesNotMatch(a.log, /HPE_OK/);

  const post = await httpReq(a.ports.stats, { path: '/metrics', method: 'POST' }, 'x');
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET');

  const other = await httpReq(a.ports.stats, { path: '/nope' });
  assert.equal(other.status, 404);
  const ok = await httpReq(a.ports.stats, { path: '/metrics' });
  assert.equal(ok.status, 200);
  assert.match(ok.body, /parley_spoa_/);
});
