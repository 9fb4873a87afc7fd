// Cursors and slow work: client.paginate over 1,001 messages, users.list
// and conversations.list pages, forged cursors, and an rtm.start of a
// large team that other clients' requests overtake.  The team has a few
// thousand people here; make soak runs it with 100,000
// (PARLEY_BOOT_USERS).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBackend, makeTeam, errorOf } from './webapi-lib.mjs';

const BOOT_USERS = Number(process.env.PARLEY_BOOT_USERS || 3000);

let b, t, alice, bob, chan;

before(async () => {
  b = await startBackend('rate_tier1 = 0\nrate_tier2 = 0\nrate_tier3 = 0\n' +
    'rate_tier4 = 0\n');
  t = await makeTeam(b, 'big', ['alice', 'bob']);
  ({ alice, bob } = t.users);
  chan = (await alice.client.conversations.create({ name: 'firehose' }))
    .channel.id;
  await b.admin.op({ op: 'messages.create_many', channel: chan,
    user: alice.id, count: 1001, prefix: 'm' });
});

after(async () => { await b.stop(); });

test('paginate over 1,001 messages yields each once, newest first',
  async () => {
    const seen = [];
    for await (const page of alice.client.paginate('conversations.history',
      { channel: chan, limit: 200 }))
      for (const m of page.messages)
        seen.push(m);
    assert.equal(seen.length, 1001);
    assert.equal(new Set(seen.map((m) => m.ts)).size, 1001);
    for (let i = 1; i < seen.length; i++)
      assert.ok(seen[i - 1].ts > seen[i].ts, 'newest first');
    assert.equal(seen[0].text, 'm1000');
    assert.equal(seen[1000].text, 'm0');

    // inclusive bounds and a cursor together.
    const latest = seen[10].ts, oldest = seen[30].ts;
    const got = [];
    for await (const page of alice.client.paginate('conversations.history',
      { channel: chan, latest, oldest, inclusive: true, limit: 7 }))
      got.push(...page.messages.map((m) => m.ts));
    assert.deepEqual(got, seen.slice(10, 31).map((m) => m.ts));
    const first = await alice.client.conversations.history({ channel: chan,
      limit: 5 });
    assert.equal(first.has_more, true);
    assert.ok(first.response_metadata.next_cursor);
  });

test('users.list and conversations.list page with cursors', async () => {
  await b.admin.op({ op: 'users.create_many', team: t.team, prefix: 'pp',
    count: 45 });
  for (let i = 0; i < 12; i++)
    await bob.client.conversations.create({ name: `room-${i}` });
  const ids = [];
  let pages = 0;
  for await (const page of alice.client.paginate('users.list', { limit: 10 })) {
    ids.push(...page.members.map((u) => u.id));
    pages++;
  }
  assert.equal(ids.length, 47);
  assert.equal(new Set(ids).size, 47);
  assert.ok(pages >= 5);
  const chans = [];
  for await (const page of alice.client.paginate('conversations.list',
    { limit: 4 }))
    chans.push(...page.channels.map((c) => c.id));
  assert.equal(chans.length, 13);
  assert.equal(new Set(chans).size, 13);
});

test('a forged cursor is invalid_cursor', async () => {
  const real = (await alice.client.conversations.history({ channel: chan,
    limit: 2 })).response_metadata.next_cursor;
  const forged = [
    'bm90LWEtY3Vyc29y',
    Buffer.from('h:1700000000.000001').toString('base64url'),
    real.slice(0, -2) + (real.endsWith('AA') ? 'BA' : 'AA'),
    '%%%',
  ];
  for (const cursor of forged) {
    assert.equal(await errorOf(alice.client.conversations.history({
      channel: chan, cursor })), 'invalid_cursor', cursor);
    assert.equal(await errorOf(alice.client.users.list({ cursor })),
      'invalid_cursor');
    assert.equal(await errorOf(alice.client.conversations.list({ cursor })),
      'invalid_cursor');
    assert.equal(await errorOf(alice.client.conversations.members({
      channel: chan, cursor })), 'invalid_cursor');
  }
  // A cursor of one list is not one of another.
  assert.equal(await errorOf(alice.client.users.list({ cursor: real })),
    'invalid_cursor');
});

test('other clients are answered while a large rtm.start is built',
  async (tt) => {
    await b.admin.op({ op: 'users.create_many', team: t.team, prefix: 'boot',
      count: BOOT_USERS });
    const order = [];
    const booter = b.client(alice.token, BOOT_USERS > 10000 ? 300000 : 5000);
    const boot = booter.rtm.start().then((r) => {
      order.push('boot');
      return r;
    });
    // Quick calls from another client, one after another, until the boot
    // is answered: at least one of them must come back before it.
    let quick = 0;
    while (!order.includes('boot') && quick < 1000) {
      await bob.client.auth.test();
      if (!order.includes('boot'))
        order.push(`quick${quick}`);
      quick++;
    }
    const r = await boot;
    assert.ok(r.users.length >= BOOT_USERS);
    assert.ok(order.indexOf('boot') > 0,
      `order: ${order.slice(0, 5).join(',')}`);
    tt.diagnostic(`${order.indexOf('boot')} calls answered during the ` +
      `boot of ${r.users.length} users`);
  });
