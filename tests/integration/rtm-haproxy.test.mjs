// RTM through the real front: the stack of `make run` (HAProxy 2.6 with
// the SPOE agent, the backend with rtm_url on HAProxy's address).  A
// user signs in through HAProxy; rtm.connect gives a URL on HAProxy; the
// agent checks the ticket on the upgrade and routes the full client to
// the shard; the RTM client gets hello, an acked message and its event.
// A forged ticket never reaches the backend.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { RawClient } from './rtm-lib.mjs';

const top = path.resolve(path.dirname(new URL(import.meta.url).pathname),
  '../..');
const launcher = path.join(top, 'tools/run-stack.sh');
const offsets = [80, 90, 101, 102, 201, 202, 301, 302, 401, 402, 403, 443];

function run(args, timeout = 90000) {
  return new Promise((resolve) => {
    execFile('bash', [launcher, ...args], { timeout }, (err, stdout,
      stderr) => resolve({ code: err ? (err.code ?? 1) : 0, stdout,
      stderr }));
  });
}

function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

// A port base in this part's range (27000-27999) whose ports are free.
async function freeBase() {
  for (let i = 0; i < 20; i++) {
    const base = 27000 + Math.floor(Math.random() * 4) * 100 +
      (i % 2) * 500;
    let ok = true;
    for (const o of offsets)
      if (!(await portFree(base + o))) { ok = false; break; }
    if (ok)
      return base;
  }
  throw new Error('no free port base');
}

async function post(url, args, token) {
  const headers = { 'Content-Type': 'application/json; charset=utf-8' };
  if (token)
    headers.Authorization = `Bearer ${token}`;
  const r = await fetch(url, { method: 'POST', headers,
    body: JSON.stringify(args), signal: AbortSignal.timeout(10000) });
  return r.json();
}

test('RTM through HAProxy and the SPOE agent', { timeout: 150000 },
  async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-rtm-stack-'));
    const base = await freeBase();
    const front = `http://127.0.0.1:${base + 80}`;
    try {
      const up = await run(['-p', String(base), '-d', dir, '-b', '-q']);
      assert.equal(up.code, 0, up.stderr);
      const creds = fs.readFileSync(path.join(dir,
        'data/shard1/demo-credentials.txt'), 'utf8').split('\n')
        .filter((l) => l && !l.startsWith('#')).map((l) => l.split(' '));
      const [email, password] = creds[0];
      const [email2, password2] = creds[1];
      const si = await post(`${front}/api/parley.signin`,
        { team: 'parley-demo', user: email, password });
      assert.equal(si.ok, true, JSON.stringify(si));
      const si2 = await post(`${front}/api/parley.signin`,
        { team: 'parley-demo', user: email2, password: password2 });
      assert.equal(si2.ok, true, JSON.stringify(si2));

      const rc = await post(`${front}/api/rtm.connect`, {}, si.token);
      assert.equal(rc.ok, true, JSON.stringify(rc));
      assert.ok(rc.url.startsWith(`ws://127.0.0.1:${base + 80}/rtm?ticket=`),
        rc.url);
      const rc2 = await post(`${front}/api/rtm.connect`, {}, si2.token);
      const a = new RawClient(rc.url);
      const b = new RawClient(rc2.url);
      try {
        await a.opened;
        await b.opened;
        const hello = await a.waitFor((m) => m.type === 'hello');
        assert.match(hello.epoch, /^[0-9a-f]{16}$/);
        await b.waitFor((m) => m.type === 'hello');
        const list = await post(`${front}/api/conversations.list`, {},
          si.token);
        const general = list.channels.find((c) => c.name === 'general');
        const ack = await a.reply({ type: 'message', channel: general.id,
          text: 'through the front' }, 10000);
        assert.equal(ack.ok, true, JSON.stringify(ack));
        const ev = await b.waitFor((m) => m.type === 'message' &&
          m.text === 'through the front', 10000);
        assert.equal(ev.ts, ack.ts);
        assert.equal(typeof ev.seq, 'number');

        // A forged ticket is refused at the front (HTTP 401).
        const forged = new RawClient(`ws://127.0.0.1:${base + 80}/rtm` +
          '?ticket=ptk.k1.T1.U1.a.0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
        await assert.rejects(forged.opened, (e) => e.status === 401);
        forged.close();
      } finally {
        a.close();
        b.close();
      }
    } finally {
      await run(['-d', dir, '-s']);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
