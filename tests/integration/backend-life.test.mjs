// The life of parley-backend: /healthz and /metrics (Prometheus text that
// parses, counters that move), SIGHUP (a rotated key file and a larger
// map take effect; a broken configuration keeps the old one), and
// SIGTERM with writes in flight: each gets its answer, the process exits
// 0, and every acknowledged write is there after a restart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startBackend, makeTeam } from './webapi-lib.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname),
  '../..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let b, t, second;

before(async () => {
  b = await startBackend();
  t = await makeTeam(b, 'life');
});

after(async () => {
  if (second && second.exitCode === null) {
    second.kill('SIGKILL');
    await new Promise((r) => second.once('exit', r));
  }
  if (b)
    await b.stop();
});

// Prometheus text: every sample line parses, every family has a TYPE.
function parseMetrics(text) {
  const types = new Map(), samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '')
      continue;
    let m = line.match(new RegExp('^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) ' +
      '(counter|gauge|histogram|summary|untyped)$'));
    if (m) {
      assert.ok(!types.has(m[1]), `TYPE ${m[1]} twice`);
      types.set(m[1], m[2]);
      continue;
    }
    if (line.startsWith('# HELP ') || line.startsWith('# '))
      continue;
    m = line.match(new RegExp('^([a-zA-Z_:][a-zA-Z0-9_:]*)' +
      '(\\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\]|\\\\.)*",?)*\\})? ' +
      '(-?[0-9.e+]+|NaN|\\+Inf|-Inf)$'));
    assert.ok(m, `unparsable metrics line: ${line}`);
    const family = m[1].replace(/_(bucket|sum|count)$/, '');
    assert.ok(types.has(m[1]) || types.has(family), `no TYPE for ${m[1]}`);
    samples.set(m[1] + (m[2] || ''), Number(m[3]));
  }
  return samples;
}

async function metrics() {
  const r = await b.raw('/metrics');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/plain/);
  return parseMetrics(r.text);
}

test('/healthz says what serves; /metrics parses and its counters move',
  async () => {
    const h = await b.raw('/healthz');
    assert.equal(h.status, 200);
    assert.equal(h.json.status, 'ok');
    assert.equal(h.json.reads, true);
    assert.equal(h.json.writer, true);
    assert.equal(h.json.store.full, false);
    assert.equal(h.json.store.map_high, false);
    assert.ok(h.json.store.map_used > 0);
    assert.ok(h.json.store.map_size >= h.json.store.map_used);
    assert.match(h.json.epoch, /^[0-9a-f]{16}$/);

    const okKey = 'parley_api_requests_total{method="auth.test",result="ok"}';
    const errKey =
      'parley_api_requests_total{method="chat.postMessage",result="error"}';
    const m0 = await metrics();
    const { alice } = t.users;
    await alice.client.auth.test();
    await alice.client.auth.test();
    const { channel } = await alice.client.conversations.create({
      name: 'metrics' });
    await alice.client.chat.postMessage({ channel: channel.id, text: 'm' });
    await alice.client.chat.postMessage({ channel: 'C0000000000',
      text: 'm' }).catch(() => {});
    const m1 = await metrics();
    assert.equal(m1.get(okKey) - m0.get(okKey), 2);
    assert.equal(m1.get(errKey) - m0.get(errKey), 1);
    assert.ok(m1.get('parley_store_commits_total') -
      m0.get('parley_store_commits_total') >= 2);
    assert.ok(m1.get('parley_store_writes_total') >
      m0.get('parley_store_writes_total'));
    assert.equal(m1.get('parley_store_batch_size_count'),
      m1.get('parley_store_commits_total'));
    assert.equal(m1.get('parley_store_batch_size_bucket{le="+Inf"}'),
      m1.get('parley_store_commits_total'));
    const hc = 'parley_api_request_duration_seconds_count' +
      '{method="auth.test"}';
    assert.equal(m1.get(hc) - (m0.get(hc) || 0), 2);
    assert.ok(m1.get('parley_http_connections') >= 1);
  });

test('SIGHUP: a rotated key signs new tokens; a broken file keeps the ' +
  'running settings', async () => {
    const kid = 'k2';
    fs.appendFileSync(b.keys,
      `${kid} ${crypto.randomBytes(32).toString('hex')}\n`);
    const before = (await b.admin.op({ op: 'token.mint',
      user: t.users.bob.id })).token;
    b.proc.kill('SIGHUP');
    let tok;
    for (let i = 0; i < 100; i++) {
      tok = (await b.admin.op({ op: 'token.mint', user: t.users.bob.id }))
        .token;
      if (tok.split('.')[1] === kid)
        break;
      await sleep(50);
    }
    assert.equal(tok.split('.')[1], kid);
    assert.equal((await b.client(tok).auth.test()).user_id, t.users.bob.id);
    assert.equal((await b.client(before).auth.test()).user_id,
      t.users.bob.id);

    // A configuration that does not parse: logged, old settings kept.
    const conf = path.join(b.dir, 'parley.conf');
    const good = fs.readFileSync(conf, 'utf8');
    fs.writeFileSync(conf, good + 'no_such_key = 1\n');
    const logLen = b.log().length;
    b.proc.kill('SIGHUP');
    for (let i = 0; i < 100 && !/no_such_key/.test(b.log().slice(logLen));
      i++)
      await sleep(50);
    assert.match(b.log().slice(logLen), /no_such_key/);
    fs.writeFileSync(conf, good);
    assert.ok(b.alive());
    assert.equal((await b.client(tok).auth.test()).ok, true);
  });

// One raw HTTP exchange per socket: resolves with status and JSON body,
// or with { error } when the connection ends without an answer.
function exchange(sock, reqText) {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    const done = (v) => { sock.removeAllListeners('data'); resolve(v); };
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const s = buf.toString('latin1');
      const end = s.indexOf('\r\n\r\n');
      if (end < 0)
        return;
      const len = Number((s.match(/content-length: *(\d+)/i) || [])[1]);
      if (buf.length < end + 4 + len)
        return;
      done({ status: Number(s.split(' ')[1]),
        json: JSON.parse(buf.subarray(end + 4, end + 4 + len)
          .toString('utf8')) });
    });
    sock.once('close', () => done({ error: 'closed' }));
    sock.once('error', (e) => done({ error: e.code }));
    sock.write(reqText);
  });
}

test('SIGTERM: writes in flight are answered after their commit, exit 0, ' +
  'nothing acknowledged is lost', async () => {
    const { alice } = t.users;
    const { channel } = await alice.client.conversations.create({
      name: 'shutdown' });
    const N = 40;
    const socks = await Promise.all(Array.from({ length: N }, () =>
      new Promise((res, rej) => {
        const s = net.createConnection(b.port, '127.0.0.1');
        s.once('connect', () => res(s));
        s.once('error', rej);
      })));
    // Every connection accepted by the backend before the requests go.
    for (let i = 0; i < 200; i++) {
      const m = await metrics();
      if (m.get('parley_http_connections') >= N + 1)
        break;
      await sleep(25);
    }
    const answers = socks.map((s, i) => {
      const body = new URLSearchParams({ channel: channel.id,
        text: `in flight ${i}` }).toString();
      return exchange(s, 'POST /api/chat.postMessage HTTP/1.1\r\n' +
        'Host: backend\r\n' +
        `Authorization: Bearer ${alice.token}\r\n` +
        'Content-Type: application/x-www-form-urlencoded\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
    const exited = new Promise((r) => b.proc.once('exit',
      (code, sig) => r({ code, sig })));
    b.proc.kill('SIGTERM');
    const got = await Promise.all(answers);
    const ex = await exited;
    assert.deepEqual(ex, { code: 0, sig: null });
    for (const s of socks)
      s.destroy();
    const acked = got.filter((g) => g.status === 200 && g.json.ok);
    assert.equal(acked.length, N, JSON.stringify(got.filter((g) =>
      !(g.status === 200 && g.json.ok))));
    assert.match(b.log(), /signal 15: stopping/);

    // The same store, started again: every acknowledged message is there.
    const log = fs.openSync(path.join(b.dir, 'second.log'), 'a');
    second = spawn(path.join(root, 'build/bin/parley-backend'),
      ['-c', path.join(b.dir, 'parley.conf')],
      { stdio: ['ignore', log, log] });
    for (let i = 0; ; i++) {
      assert.ok(i < 200, 'backend did not start again');
      try {
        const r = await fetch(`${b.url}/healthz`,
          { signal: AbortSignal.timeout(1000) });
        if (r.status === 200)
          break;
      } catch { /* not yet */ }
      await sleep(50);
    }
    const h = await alice.client.conversations.history({
      channel: channel.id, limit: 100 });
    const texts = new Set(h.messages.map((m) => m.text));
    for (const g of acked)
      assert.ok(texts.has(g.json.message.text), g.json.message.text);
    const ended = new Promise((r) => second.once('exit',
      (code) => r(code)));
    second.kill('SIGTERM');
    assert.equal(await ended, 0);
  });
