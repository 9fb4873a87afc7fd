// Faults at the front, under load: parley-spoa SIGKILLed and started
// again, then HAProxy reloaded (master-worker, SIGUSR2), twice each (the
// second reload also stops the old worker, which cuts the WebSockets it
// held), while writers post through HAProxy and RTM clients connected
// through it listen.  Writers send a post again with its client_msg_id until it
// is answered; an RTM client whose connection closes connects again with
// the epoch and seq it last saw.  In the end every acknowledged post is
// in the store once, and every RTM client saw each of them once and in
// order.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { sleep, until } from './rtm-lib.mjs';
import { Listener } from './faults-lib.mjs';
import { Stack, call } from './security-lib.mjs';

const s = new Stack();

after(async () => { await s.stop(); });

test('agent killed and HAProxy reloaded under load: nothing acknowledged ' +
  'lost, clients reconnect', { timeout: 240000 }, async (ctx) => {
  await s.start();
  const team = (await s.b.admin.op({ op: 'team.create', name: 'Front',
    domain: 'front' })).team_id;
  const users = [];
  for (const name of ['w0', 'w1', 'r0', 'r1']) {
    const { user_id: id } = await s.b.admin.op({ op: 'user.create', team,
      name, real_name: name });
    const { token } = await s.b.admin.op({ op: 'token.mint', user: id });
    users.push({ id, token });
  }
  const general = (await s.b.admin.op({ op: 'channel.create', team,
    name: 'general', general: true, creator: users[0].id })).channel_id;
  for (const u of users.slice(1))
    await s.b.admin.op({ op: 'channel.join', channel: general, user: u.id });

  const listeners = users.slice(2).map((u) => new Listener(s.front,
    u.token));
  for (const l of listeners)
    await l.connect();
  await until(() => listeners.every((l) => l.epoch), 10000, 'hello');

  const acked = new Map();
  let stop = false, resent = 0;
  const writer = async (w) => {
    for (let n = 0; !stop; n++) {
      const text = `w${w}-${n}`, cmid = crypto.randomUUID();
      for (let tries = 0; tries < 2000; tries++) {
        let r = null;
        try {
          r = await call(s.front, 'chat.postMessage', users[w].token,
            { channel: general, text, client_msg_id: cmid });
        } catch { /* between workers */ }
        if (r?.json?.ok) {
          acked.set(text, r.json.ts);
          break;
        }
        resent++;
        await sleep(20);
      }
    }
  };
  const writers = [writer(0), writer(1)];
  const more = (k) => {
    const from = acked.size;
    return until(() => acked.size >= from + k, 60000, `${k} more posts`);
  };

  try {
    for (let round = 0; round < 2; round++) {
      await more(30);
      const st0 = await s.haproxyStat('be_spoa', 'spoa1');
      const bk0 = await s.haproxyStat('be_spoa', 'BACKEND');
      await s.killAgent();
      await more(30);
      const st1 = await s.haproxyStat('be_spoa', 'spoa1');
      const bk1 = await s.haproxyStat('be_spoa', 'BACKEND');
      // Connections HAProxy tried to the dead agent (the server's
      // count), beside the backend's count, which also holds the SPOE's
      // attempts that found no server up and made no connection.
      ctx.diagnostic(`agent down: spoa1 econ ${st0.econ} -> ${st1.econ}, ` +
        `be_spoa econ ${bk0.econ} -> ${bk1.econ}`);
      assert.ok(Number(st1.econ) - Number(st0.econ) <= 20,
        'a reconnect loop to the dead agent');
      await s.startAgent();
      await more(30);
      // The second reload also stops the old worker: the listeners
      // must connect again.
      await s.reloadHaproxy(round === 1);
      await more(30);
    }
  } finally {
    stop = true;
    await Promise.all(writers);
  }

  // The listeners catch up, then the store and what they saw agree.
  const h = await call(s.direct, 'conversations.history', users[2].token,
    { channel: general, limit: 1000 });
  assert.ok(h.json.ok, h.text);
  const stored = new Map();
  for (const m of h.json.messages) {
    assert.ok(!stored.has(m.text), `${m.text} stored twice`);
    stored.set(m.text, m.ts);
  }
  for (const [text, ts] of acked)
    assert.equal(stored.get(text), ts, `${text} acknowledged, then lost`);
  for (const l of listeners) {
    assert.ok(l.reconnects >= 1, 'the listener connected again');
    await until(() => l.events.length >= stored.size, 60000,
      'the listener to catch up');
    assert.equal(l.failed, undefined, l.failed);
    const seen = l.events.map((m) => m.text);
    assert.equal(new Set(seen).size, seen.length, 'an event seen twice');
    assert.deepEqual([...seen].sort(), [...stored.keys()].sort());
    const mine = (w) => seen.filter((t) => t.startsWith(`w${w}-`))
      .map((t) => Number(t.split('-')[1]));
    for (const w of [0, 1])
      assert.deepEqual(mine(w), [...mine(w)].sort((x, y) => x - y));
  }
  ctx.diagnostic(`${acked.size} posts acknowledged, ${resent} sends ` +
    'repeated; listener reconnects: ' +
    listeners.map((l) => l.reconnects).join(', '));
  for (const l of listeners)
    l.close();
});
