// parley-backend serving a web root ([backend] web_root): files with
// their content types and caching headers, 304 on revalidation, and
// path tricks (.., encoded dots, NUL, absolute-form, a symbolic link out
// of the root) refused, sent raw so that no client library cleans them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startBackend } from './webapi-lib.mjs';

let b, web, outside;

before(async () => {
  web = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-webroot-'));
  outside = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-outside-'));
  fs.mkdirSync(path.join(web, 'js'));
  fs.writeFileSync(path.join(web, 'index.html'),
    '<!doctype html><title>Parley</title>\n');
  fs.writeFileSync(path.join(web, 'app.css'), 'body { margin: 0 }\n');
  fs.writeFileSync(path.join(web, 'js', 'app.js'), 'export {};\n');
  fs.writeFileSync(path.join(outside, 'secret.txt'), 'secret\n');
  fs.symlinkSync(path.join(outside, 'secret.txt'),
    path.join(web, 'leak.txt'));
  b = await startBackend(`web_root = ${web}`);
});

after(async () => {
  await b?.stop();
  fs.rmSync(web, { recursive: true, force: true });
  fs.rmSync(outside, { recursive: true, force: true });
});

// One raw request on a fresh connection; resolves with status and text.
function rawGet(target) {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(b.port, '127.0.0.1');
    let data = '';
    const t = setTimeout(() => { s.destroy(); reject(new Error('timeout')); },
      5000);
    s.setEncoding('latin1');
    s.on('data', (d) => { data += d; });
    s.on('error', reject);
    s.on('close', () => {
      clearTimeout(t);
      resolve({ status: Number(data.split(' ')[1]), text: data });
    });
    s.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      'latin1');
  });
}

test('files come with their types and caching headers', async () => {
  const r = await b.raw('/');
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.equal(r.headers.get('cache-control'), 'no-cache');
  assert.match(r.headers.get('content-security-policy'),
    /script-src 'self'/);
  assert.match(r.text, /<title>Parley<\/title>/);

  const js = await b.raw('/js/app.js');
  assert.equal(js.status, 200);
  assert.equal(js.headers.get('content-type'),
    'text/javascript; charset=utf-8');
  const css = await b.raw('/app.css');
  assert.equal(css.headers.get('content-type'), 'text/css; charset=utf-8');

  const etag = js.headers.get('etag');
  assert.ok(etag);
  const again = await b.raw('/js/app.js',
    { headers: { 'If-None-Match': etag } });
  assert.equal(again.status, 304);
  assert.equal(again.text, '');
});

test('the Web API and health keep their paths', async () => {
  const r = await b.raw('/api/api.test');
  assert.equal(r.json.ok, true);
  assert.equal((await b.raw('/healthz')).status, 200);
  assert.equal((await b.raw('/api')).status, 404);
});

test('path tricks are refused', async () => {
  for (const p of ['/../../etc/passwd', '/js/../../etc/passwd',
    '/%2e%2e/%2e%2e/etc/passwd', '/%2E%2E%2fetc%2fpasswd', '/a%00.js',
    '/js/..%5c..%5cetc', '/.hidden']) {
    const r = await rawGet(p);
    assert.equal(r.status, 400, p);
    assert.doesNotMatch(r.text, /root:/, p);
  }
  const abs = await rawGet('http://x/etc/passwd');
  assert.ok(abs.status === 400 || abs.status === 404, 'absolute-form');
  assert.doesNotMatch(abs.text, /root:/);

  const leak = await rawGet('/leak.txt');
  assert.equal(leak.status, 404);
  assert.doesNotMatch(leak.text, /secret/);
  assert.equal((await rawGet('/missing.html')).status, 404);
  assert.equal((await rawGet('/js')).status, 404);
  assert.ok(b.alive());
});
