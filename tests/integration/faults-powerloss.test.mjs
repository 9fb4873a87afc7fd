// Power loss, modelled: a SIGKILL leaves the page cache behind, so it
// cannot show an acknowledgement that came before its write was on the
// disk.  The backend runs with tests/faults/powerloss.so preloaded, which
// journals every write to data.mdb, every fdatasync, every write through
// LMDB's O_DSYNC meta descriptor and the backend's acknowledgement marks;
// powerloss-replay rebuilds the disk as a power failure at each mark
// would leave it (unsynced writes lost) and checks that the event being
// acknowledged is there.  Writers post by Web API and RTM while the
// process is killed; every answer a client got must be among the checked
// marks, and the last durable image must verify clean and hold each
// acknowledged message once.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Backend, makeTeam, connectRaw, until } from './rtm-lib.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname),
  '../..');
const shim = path.join(root, 'build/tests/powerloss.so');
const replay = path.join(root, 'build/tests/powerloss-replay');
const ctl = path.join(root, 'build/bin/parleyctl');
let b;

after(async () => {
  await b?.stop();
});

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120000,
    maxBuffer: 256 << 20 });
  if (r.error)
    throw r.error;
  return r;
}

test('every acknowledgement follows the durability of its commit',
  async (ctx) => {
    b = new Backend();
    await b.start();
    const t = await makeTeam(b, 'power', ['ann', 'bob', 'cid', 'dee']);
    await b.stopProcess();

    const data = path.join(b.dir, 'data', 'data.mdb');
    const base = path.join(b.dir, 'base.mdb');
    const journal = path.join(b.dir, 'journal');
    fs.copyFileSync(data, base);
    const asan = process.env.ASAN_OPTIONS;
    b.env = {
      LD_PRELOAD: shim,
      PARLEY_POWERLOSS_FILE: data,
      PARLEY_POWERLOSS_JOURNAL: journal,
      // The shim comes before the sanitizer runtime in the load order.
      ASAN_OPTIONS: `${asan ? `${asan}:` : ''}verify_asan_link_order=0:` +
        'quarantine_size_mb=32',
    };
    await b.start();

    // Writers: three by Web API, one by RTM, until the process dies.
    const acked = [];
    let stop = false;
    const web = ['ann', 'bob', 'cid'].map(async (who) => {
      for (let n = 0; !stop && n < 100000; n++) {
        let r;
        try {
          r = await b.api('chat.postMessage', t.users[who].token,
            { channel: t.general, text: `${who}-${n}` });
        } catch {
          return;
        }
        if (r.ok)
          acked.push({ text: `${who}-${n}`, ref: `${r.channel}/${r.ts}` });
      }
    });
    const c = await connectRaw(b, t.users.dee.token);
    const rtm = (async () => {
      for (let n = 0; !stop && n < 100000 && !c.closed; n++) {
        let r;
        try {
          r = await c.reply({ type: 'message', channel: t.general,
            text: `dee-${n}` }, 10000);
        } catch {
          return;
        }
        if (r.ok)
          acked.push({ text: `dee-${n}`, ref: `${t.general}/${r.ts}` });
      }
    })();
    await until(() => acked.length >= 300, 120000, '300 acknowledged posts');
    await b.kill9();
    stop = true;
    await Promise.all([...web, rtm]);
    c.close();

    const image = path.join(b.dir, 'image');
    fs.mkdirSync(image);
    const r = run(replay, [base, journal, path.join(image, 'data.mdb')]);
    assert.equal(r.status, 0, `replay: ${r.stderr}\n` +
      r.stdout.split('\n').filter((l) => l.startsWith('lost')).join('\n'));
    const lines = r.stdout.trim().split('\n');
    const [, acks, , lost] = lines.at(-1).split(' ');
    assert.equal(Number(lost), 0);
    const checked = new Set(lines.filter((l) => l.startsWith('ack '))
      .map((l) => l.split(' ')[3]));
    assert.ok(Number(acks) >= acked.length, `${acks} marks`);
    const recs = { W: 0, S: 0, M: 0 };
    const j = fs.readFileSync(journal);
    for (let o = 0; o + 16 <= j.length; o += 16 + j.readUInt32LE(o + 4)) {
      const k = String.fromCharCode(j.readUInt32LE(o));
      if (k in recs)
        recs[k]++;
    }
    ctx.diagnostic(`${acked.length} answers, ${acks} marks checked; ` +
      `journal: ${recs.W} writes, ${recs.S} syncs, ${recs.M} meta writes`);
    assert.ok(recs.S > 0 && recs.M > 0);
    for (const a of acked)
      assert.ok(checked.has(a.ref), `${a.text} (${a.ref}) answered ` +
        'without a checked mark');

    // The same journal without the meta page writes loses the marks:
    // the check does see a missing durability point.
    const n = run(replay, ['-n', base, journal,
      path.join(b.dir, 'nometa.mdb')]);
    assert.equal(n.status, 1, n.stderr);
    assert.match(n.stdout, /^lost /m);

    // What a restart after the power failure would open: clean, and each
    // acknowledged message there once.
    const v = run(ctl, ['-d', image, 'verify']);
    assert.equal(v.status, 0, v.stdout + v.stderr);
    const ex = run(ctl, ['-d', image, 'export', 'power']);
    assert.equal(ex.status, 0, ex.stderr);
    const seen = new Map();
    for (const l of ex.stdout.trim().split('\n')) {
      const rec = JSON.parse(l);
      if (rec.k === 'message')
        seen.set(rec.message.text, (seen.get(rec.message.text) || 0) + 1);
    }
    for (const a of acked)
      assert.equal(seen.get(a.text), 1, `${a.text} in the image`);
  });
