// parley-wstest (a WebSocket server built on common/) driven by
// parley-load and by the `ws` client: a few hundred idle connections all
// open and each answers an echo; echo and broadcast reach a real client;
// a bad frame is closed with 1002.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import WebSocket from 'ws';

const bin = new URL('../../build/bin/', import.meta.url).pathname;
let srv;
let port;

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

async function stats() {
  const r = await fetch(`http://127.0.0.1:${port}/stats`, { signal: AbortSignal.timeout(5000) });
  return r.json();
}

function open(path = '/') {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { handshakeTimeout: 5000 });
  return once(ws, 'open').then(() => ws);
}

before(async () => {
  srv = spawn(`${bin}parley-wstest`, ['-p', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const m = await waitLine(srv, /listening on 127\.0\.0\.1:(\d+)/, 5000);
  port = Number(m[1]);
});

after(async () => {
  if (srv && srv.exitCode === null) {
    srv.kill('SIGTERM');
    await once(srv, 'exit');
  }
});

test('parley-load opens 300 idle WebSockets and each answers', { timeout: 30000 }, async () => {
  const load = spawn(`${bin}parley-load`,
    ['idle', '-u', `ws://127.0.0.1:${port}/`, '-c', '300', '--check', '-S', '127.0.0.1-127.0.0.4'],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const m = await waitLine(load, /ready: open=(\d+) failed=(\d+) answered=(\d+)/, 20000);
  assert.deepEqual([m[1], m[2], m[3]], ['300', '0', '300']);
  const s = await stats();
  assert.equal(s.ws, 300);
  load.kill('SIGTERM');
  const [code] = await once(load, 'exit');
  assert.equal(code, 0);
});

test('echo and broadcast reach ws clients', { timeout: 10000 }, async () => {
  const a = await open();
  const b = await open();
  a.send('hello');
  const [echo] = await once(a, 'message');
  assert.equal(echo.toString(), 'hello');
  a.send('Bnews');
  const [[ma], [mb]] = await Promise.all([once(a, 'message'), once(b, 'message')]);
  assert.equal(ma.toString(), 'Bnews');
  assert.equal(mb.toString(), 'Bnews');
  a.close(1000);
  const [code] = await once(a, 'close');
  assert.equal(code, 1000);
  b.terminate();
});

test('a plain GET gets 404 and /healthz gets ok', { timeout: 10000 }, async () => {
  const r = await fetch(`http://127.0.0.1:${port}/nope`, { signal: AbortSignal.timeout(5000) });
  assert.equal(r.status, 404);
  const h = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5000) });
  assert.equal(await h.text(), 'ok\n');
});
