// RTM under pressure: 300 clients that never read during a broadcast are
// closed at their output cap while the server's memory stays bounded and
// every reading client gets everything; 300 clients that vanish without
// closing are found by the heartbeat and closed within it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Backend, connectRaw, makeTeam, openSilent, sleep, until } from
  './rtm-lib.mjs';

const SILENT = 300;
const READERS = 5;

// Opens n silent connections for user with tickets signed by b.
async function silentMany(b, team, user, n) {
  const base = (await b.api('rtm.connect', user.token)).url.split('?')[0];
  const exp = Math.floor(Date.now() / 1000) + 120;
  const socks = [];
  for (let i = 0; i < n; i += 50) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 50); j++)
      batch.push(openSilent(`${base}?ticket=${b.ticket(team, user.id,
        user.token_id, exp)}`));
    socks.push(...await Promise.all(batch));
  }
  return socks;
}

describe('RTM slow consumers', { timeout: 240000 }, () => {
  let b, t;
  const cap = 256 * 1024;

  before(async () => {
    b = new Backend(`rtm_out_cap = ${cap}\nrtm_sndbuf = 64K\n` +
      'rtm_heartbeat = 10m\n');
    await b.start();
    t = await makeTeam(b, 'slow', ['sender', 'silent',
      ...Array.from({ length: READERS }, (_, i) => `reader${i}`)]);
  });
  after(async () => { await b.stop(); });

  test(`${SILENT} clients that never read during a broadcast`, async () => {
    const readers = [];
    for (let i = 0; i < READERS; i++)
      readers.push(await connectRaw(b, t.users[`reader${i}`].token));
    const sender = await connectRaw(b, t.users.sender.token);
    const rssStart = b.rssKiB();
    const silent = await silentMany(b, t.team, t.users.silent, SILENT);
    const rssOpen = b.rssKiB();
    let m = await b.metrics();
    assert.equal(m.parley_rtm_connections, SILENT + READERS + 1);

    // 1,000 messages of 4 KiB: 4 MiB to each of the 306 recipients,
    // 16 sends in flight at a time.
    const N = 1000, body = 'x'.repeat(4096);
    let rssPeak = 0;
    for (let i = 0; i < N; i += 16) {
      const acks = [];
      for (let j = i; j < Math.min(N, i + 16); j++)
        acks.push(sender.reply({ type: 'message', channel: t.general,
          text: `${j} ${body}` }, 30000));
      for (const a of await Promise.all(acks))
        assert.equal(a.ok, true);
      if (i % 160 === 0)
        rssPeak = Math.max(rssPeak, b.rssKiB());
    }
    for (const r of readers)
      await r.waitCount((x) => x.type === 'message', N, 60000,
        'broadcast messages');
    rssPeak = Math.max(rssPeak, b.rssKiB());
    m = await b.metrics();
    const slow = m['parley_rtm_closed_total{reason="slow_consumer"}'];
    const rssEnd = b.rssKiB();
    console.log(`backend RSS: ${rssStart} KiB before, ${rssOpen} KiB with ` +
      `${SILENT} silent clients, ${rssPeak} KiB at the peak of the ` +
      `broadcast, ${rssEnd} KiB after; ${slow} closed as slow consumers; ` +
      `${N * (body.length + 40) * (SILENT + READERS + 1) >> 20} MiB were ` +
      'sent in all');

    // Every silent one was cut off at the cap, and nobody else was.
    assert.equal(slow, SILENT);
    assert.equal(m.parley_rtm_connections, READERS + 1);
    assert.ok(readers.every((r) => r.closed === null));
    // Each reader got every message, once, in order.
    for (const r of readers) {
      const got = r.msgs.filter((x) => x.type === 'message')
        .map((x) => Number(x.text.split(' ')[0]));
      assert.deepEqual(got, Array.from({ length: N }, (_, i) => i));
    }
    // Bounded: the queues held at most the cap each, frames are shared.
    assert.ok(rssPeak - rssStart < (SILENT * cap) / 1024 + 150 * 1024,
      `memory grew by ${rssPeak - rssStart} KiB`);

    for (const s of silent)
      s.destroy();
    for (const r of readers)
      r.close();
    sender.close();
  });
});

describe('RTM bursts', { timeout: 120000 }, () => {
  // Regression: a loop pass that queues more than the cap to a client
  // before any write (a commit of many events, a resume's batch) closed
  // clients that read perfectly well as slow consumers.
  test('a burst over the cap in one loop pass does not drop a reader',
    async () => {
      const cap = 256 * 1024;
      const b = new Backend(`rtm_out_cap = ${cap}\nrtm_sndbuf = 64K\n`);
      await b.start();
      try {
        const t = await makeTeam(b, 'burst', ['poster', 'reader']);
        const r1 = await connectRaw(b, t.users.reader.token);
        const hello = r1.msgs[0];
        r1.close();
        // 80 messages of 4 KB: a resume sends them in one batch, 320 KB,
        // more than the cap but less than the cap and the socket's own
        // buffer (rtm_sndbuf, doubled by the kernel), so that nothing
        // depends on when the client gets to read.
        const text = 'y'.repeat(4000);
        for (let i = 0; i < 80; i++) {
          const r = await b.api('chat.postMessage', t.users.poster.token,
            { channel: t.general, text: `${i} ${text}` });
          assert.equal(r.ok, true);
        }
        const r2 = await connectRaw(b, t.users.reader.token, {
          parley_epoch: hello.epoch, parley_seq: String(hello.last_seq) });
        await r2.waitCount((x) => x.type === 'message', 80, 30000,
          'replayed messages');
        const m = await b.metrics();
        assert.equal(m['parley_rtm_closed_total{reason="slow_consumer"}'],
          0);
        assert.equal(r2.closed, null);
        r2.close();
      } finally {
        await b.stop();
      }
    });
});

describe('RTM dead connections', { timeout: 120000 }, () => {
  let b, t;
  const heartbeat = 3;

  before(async () => {
    b = new Backend(`rtm_heartbeat = ${heartbeat}s\n`);
    await b.start();
    t = await makeTeam(b, 'dead', ['gone', 'alive']);
  });
  after(async () => { await b.stop(); });

  test(`${SILENT} vanished clients are closed within the heartbeat`,
    async () => {
      const alive = [];
      for (let i = 0; i < READERS; i++)
        alive.push(await connectRaw(b, t.users.alive.token));
      const gone = await silentMany(b, t.team, t.users.gone, SILENT);
      const t0 = Date.now();
      let m = await b.metrics();
      assert.equal(m.parley_rtm_connections, SILENT + READERS);

      // A connection is counted closed when the heartbeat gives up on
      // it and leaves the gauge once its socket is released, a moment
      // later: wait for both rather than read the gauge at the first.
      await until(async () => {
        m = await b.metrics();
        return m['parley_rtm_closed_total{reason="heartbeat"}'] === SILENT &&
          m.parley_rtm_connections === READERS;
      }, 2 * heartbeat * 1000 + 5000, 'the heartbeat to close them');
      const took = (Date.now() - t0) / 1000;
      console.log(`${SILENT} silent connections closed by the heartbeat ` +
        `${took.toFixed(2)} s after they opened (rtm_heartbeat ` +
        `${heartbeat} s)`);
      assert.equal(m.parley_rtm_connections, READERS);
      // The clients that answer pings stay, past two heartbeats.
      await sleep(heartbeat * 1000);
      assert.ok(alive.every((c) => c.closed === null));
      assert.equal((await b.metrics())
        ['parley_rtm_closed_total{reason="heartbeat"}'], SILENT);
      for (const s of gone)
        s.destroy();
      for (const c of alive)
        c.close();
    });
});
