// The file system under the store runs full (a small tmpfs; mounting one
// needs root, so the test is skipped otherwise): writes fail with
// storage_full and lose nothing acknowledged, reads go on, the store
// verifies clean, and writes resume once room is made.  Regression: a
// commit the file system refused (ENOSPC) was answered internal_error.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Backend, makeTeam, connectRaw } from './rtm-lib.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname),
  '../..');
const ctl = path.join(root, 'build/bin/parleyctl');
let b, mnt = null;

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60000,
    maxBuffer: 64 << 20 });
  if (r.error)
    throw r.error;
  return r;
}

after(async () => {
  await b?.stopProcess();
  if (mnt)
    run('umount', [mnt]);
  await b?.stop();
});

// Fills the file system at dir, leaving no room; returns the filler.
function fill(dir) {
  const f = path.join(dir, 'filler');
  const fd = fs.openSync(f, 'w');
  const chunk = Buffer.alloc(64 << 10, 0x78);
  try {
    for (let i = 0; i < 100000; i++)
      fs.writeSync(fd, chunk);
  } catch (e) {
    if (e.code !== 'ENOSPC')
      throw e;
  }
  try {
    for (let i = 0; i < 100000; i++)
      fs.writeSync(fd, chunk, 0, 512);
  } catch (e) {
    if (e.code !== 'ENOSPC')
      throw e;
  }
  fs.closeSync(fd);
  return f;
}

const why = process.getuid() !== 0 ?
  'mounting a tmpfs needs root (CI runs as root)' : false;

test('a full file system: storage_full, reads go on, writes resume',
  { skip: why }, async (ctx) => {
    b = new Backend();
    const data = path.join(b.dir, 'data');
    fs.mkdirSync(data);
    const m = run('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', data]);
    if (m.status !== 0) {
      ctx.skip(`cannot mount a tmpfs here: ${m.stderr.trim()}`);
      return;
    }
    mnt = data;
    await b.start();
    const t = await makeTeam(b, 'full', ['ann', 'bob']);
    const c = await connectRaw(b, t.users.bob.token);
    const post = (text) => b.api('chat.postMessage', t.users.ann.token,
      { channel: t.general, text });

    const acked = [];
    for (let i = 0; i < 20; i++) {
      const r = await post(`before-${i}`);
      assert.ok(r.ok, r.error);
      acked.push(r.ts);
    }
    const filler = fill(data);

    // Posts of 4 KiB each until the disk refuses them.
    const big = 'x'.repeat(4000);
    let refused = null, n = 0;
    for (; n < 2000 && !refused; n++) {
      const r = await post(`full-${n} ${big}`);
      if (r.ok)
        acked.push(r.ts);
      else
        refused = r.error;
    }
    assert.equal(refused, 'storage_full', `after ${n} posts`);
    for (let i = 0; i < 5; i++)
      assert.equal((await post(`more-${i} ${big}`)).error, 'storage_full');
    assert.match(b.log(), /storage_full/);

    // Reads go on, and hold every acknowledged post.
    const h = await b.api('conversations.history', t.users.bob.token,
      { channel: t.general, limit: 1000 });
    assert.ok(h.ok, h.error);
    const have = new Set(h.messages.map((x) => x.ts));
    for (const ts of acked)
      assert.ok(have.has(ts), `acknowledged ${ts} not in history`);
    const pong = await c.reply({ type: 'ping' });
    assert.equal(pong.type, 'pong');

    // Room made: writes resume, and the client sees them.
    fs.unlinkSync(filler);
    const r = await post('after');
    assert.ok(r.ok, r.error);
    await c.waitFor((x) => x.type === 'message' && x.text === 'after');
    assert.match(b.log(), /writes fit again/);

    await b.stopProcess();
    const v = run(ctl, ['-d', data, 'verify']);
    assert.equal(v.status, 0, v.stdout + v.stderr);
    const ex = run(ctl, ['-d', data, 'export', 'full']);
    assert.equal(ex.status, 0, ex.stderr);
    const count = new Map();
    for (const l of ex.stdout.trim().split('\n')) {
      const rec = JSON.parse(l);
      if (rec.k === 'message')
        count.set(rec.message.ts, (count.get(rec.message.ts) || 0) + 1);
    }
    for (const ts of [...acked, r.ts])
      assert.equal(count.get(ts), 1, `${ts} once in the store`);
    c.close();
  });
