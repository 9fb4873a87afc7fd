// Soak: N RTM connections whose clients vanish without closing are found
// by the backend's heartbeat and closed within it, while clients that
// answer stay.  The silent sockets are spread over child processes (a
// process here may hold at most 20,000 descriptors).
//
//   node bench/rtm-vanish.mjs [N [HEARTBEAT_SECONDS]]   default 10000 10
//
// Exits non-zero when a connection fails to open, when the dead ones are
// not all closed within the heartbeat (plus one sweep of slack), or when
// a live one is closed.
import { fork } from 'node:child_process';
import { Backend, connectRaw, makeTeam, openSilent, sleep } from
  '../tests/integration/rtm-lib.mjs';

const PER_CHILD = 2500;

async function child({ base, tickets }) {
  const socks = [];
  for (let i = 0; i < tickets.length; i += 100) {
    const batch = tickets.slice(i, i + 100).map((t) =>
      openSilent(`${base}?ticket=${t}`));
    socks.push(...await Promise.all(batch));
  }
  process.send({ open: socks.length });
  // Hold them, never reading, until the parent ends us.
  setInterval(() => {}, 1 << 30);
}

async function main() {
  const n = Number(process.argv[2] || 10000);
  const hb = Number(process.argv[3] || 10);
  const b = new Backend(`rtm_heartbeat = ${hb}s\nrtm_max_conns = 19000\n`);
  const children = [];
  let rc = 0;
  await b.start();
  try {
    const t = await makeTeam(b, 'vanish', ['gone', 'alive']);
    const alive = [];
    for (let i = 0; i < 10; i++)
      alive.push(await connectRaw(b, t.users.alive.token));
    const base = (await b.api('rtm.connect', t.users.gone.token)).url
      .split('?')[0];
    const exp = Math.floor(Date.now() / 1000) + 600;
    const u = t.users.gone;
    const ready = [];
    for (let i = 0; i < n; i += PER_CHILD) {
      const k = Math.min(PER_CHILD, n - i);
      const tickets = Array.from({ length: k }, () =>
        b.ticket(t.team, u.id, u.token_id, exp));
      const c = fork(new URL(import.meta.url).pathname, ['--child']);
      children.push(c);
      c.send({ base, tickets });
      ready.push(new Promise((resolve, reject) => {
        c.once('message', resolve);
        c.once('exit', (code) => reject(new Error(`child exited ${code}`)));
      }));
    }
    const t0 = Date.now();
    const counts = await Promise.all(ready);
    const opened = counts.reduce((a, c) => a + c.open, 0);
    let m = await b.metrics();
    console.log(`rtm vanish: ${opened} silent connections opened in ` +
      `${((Date.now() - t0) / 1000).toFixed(1)} s (the first may be ` +
      `closed already), ${m.parley_rtm_connections} open now, ` +
      `${alive.length} answering; backend RSS ${b.rssKiB()} KiB`);
    if (opened !== n)
      throw new Error('not every connection opened');

    // The last silent socket opened at t1; each is dead from its open on.
    const t1 = Date.now();
    const limit = hb * 1000 + hb * 1000 / 16 + 2000;
    while (m['parley_rtm_closed_total{reason="heartbeat"}'] < n &&
        Date.now() - t1 < 3 * limit) {
      await sleep(100);
      m = await b.metrics();
    }
    const took = (Date.now() - t1) / 1000;
    const closed = m['parley_rtm_closed_total{reason="heartbeat"}'];
    console.log(`rtm vanish: ${closed} of ${n} closed by the heartbeat ` +
      `${took.toFixed(2)} s after the last one opened (heartbeat ${hb} s);` +
      ` ${m.parley_rtm_connections} connections left; backend RSS ` +
      `${b.rssKiB()} KiB`);
    if (closed !== n || took * 1000 > limit) {
      console.log('rtm vanish: FAILED: not all closed within the heartbeat');
      rc = 1;
    }
    if (alive.some((c) => c.closed !== null) ||
        m.parley_rtm_connections !== alive.length) {
      console.log('rtm vanish: FAILED: an answering client was closed');
      rc = 1;
    }
    for (const c of alive)
      c.close();
  } finally {
    for (const c of children)
      c.kill('SIGKILL');
    await b.stop();
  }
  process.exit(rc);
}

if (process.argv[2] === '--child')
  process.once('message', child);
else
  main().catch((e) => { console.error(e); process.exit(1); });
