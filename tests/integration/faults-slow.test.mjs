// 1,000 RTM clients that never read during a broadcast: each is closed
// at its output cap (rtm_out_cap) as a slow consumer, every reading client
// gets every message once and in order, and the backend's resident memory
// after the broadcast stays within the caps' worth of its start.
import assert from 'node:assert/strict';
import { test, after } from 'node:test';
import { Backend, connectRaw, makeTeam, openSilent } from './rtm-lib.mjs';

const SILENT = 1000;
const READERS = 5;
const CAP = 64 * 1024;
let b;

after(async () => { await b?.stop(); });

test(`${SILENT} clients that never read, during a broadcast`,
  { timeout: 300000 }, async (ctx) => {
    b = new Backend(`rtm_out_cap = ${CAP}\nrtm_sndbuf = 16K\n` +
      'rtm_heartbeat = 10m\n');
    await b.start();
    const t = await makeTeam(b, 'slow', ['sender', 'silent',
      ...Array.from({ length: READERS }, (_, i) => `reader${i}`)]);
    const readers = [];
    for (let i = 0; i < READERS; i++)
      readers.push(await connectRaw(b, t.users[`reader${i}`].token));
    const sender = await connectRaw(b, t.users.sender.token);
    const rssStart = b.rssKiB();

    const base = (await b.api('rtm.connect', t.users.silent.token)).url
      .split('?')[0];
    const exp = Math.floor(Date.now() / 1000) + 600;
    const silent = [];
    try {
      for (let i = 0; i < SILENT; i += 100) {
        const batch = [];
        for (let j = i; j < Math.min(SILENT, i + 100); j++)
          batch.push(openSilent(`${base}?ticket=${b.ticket(t.team,
            t.users.silent.id, t.users.silent.token_id, exp)}`));
        silent.push(...await Promise.all(batch));
      }
      let m = await b.metrics();
      assert.equal(m.parley_rtm_connections, SILENT + READERS + 1);
      const rssOpen = b.rssKiB();

      // 400 messages of 2 KiB, 16 in flight: 800 KiB to each client,
      // more than its cap and both kernel buffers hold.
      const N = 400, body = 'y'.repeat(2048);
      let rssPeak = 0;
      for (let i = 0; i < N; i += 16) {
        const acks = [];
        for (let j = i; j < Math.min(N, i + 16); j++)
          acks.push(sender.reply({ type: 'message', channel: t.general,
            text: `${j} ${body}` }, 60000));
        for (const a of await Promise.all(acks))
          assert.equal(a.ok, true);
        if (i % 80 === 0)
          rssPeak = Math.max(rssPeak, b.rssKiB());
      }
      for (const r of readers)
        await r.waitCount((x) => x.type === 'message', N, 120000,
          'broadcast messages');
      m = await b.metrics();
      const slow = m['parley_rtm_closed_total{reason="slow_consumer"}'];
      const rssEnd = b.rssKiB();
      ctx.diagnostic(`backend RSS ${rssStart} KiB before, ${rssOpen} KiB ` +
        `with ${SILENT} silent clients open, ${rssPeak} KiB at the peak, ` +
        `${rssEnd} KiB after; ${slow} closed as slow consumers`);

      assert.equal(slow, SILENT);
      assert.equal(m.parley_rtm_connections, READERS + 1);
      assert.ok(readers.every((r) => r.closed === null));
      for (const r of readers) {
        const got = r.msgs.filter((x) => x.type === 'message')
          .map((x) => Number(x.text.split(' ')[0]));
        assert.deepEqual(got, Array.from({ length: N }, (_, i) => i));
      }
      // Each silent client held at most its cap; frames are shared.
      const bound = (SILENT * CAP) / 1024 + 100 * 1024;
      assert.ok(rssPeak - rssStart < bound,
        `memory grew by ${rssPeak - rssStart} KiB (bound ${bound})`);
      assert.ok(rssEnd - rssStart < bound);
    } finally {
      for (const s of silent)
        s.destroy();
      for (const r of readers)
        r.close();
      sender.close();
    }
  });
