// Visibility and roles.  A private channel, an IM, a group DM and another
// team's channel must not exist for a non-member: every method answers
// as if they were unknown and gives no content.  Archiving, renaming and
// removing people are kept for admins, owners and the channel's creator.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBackend, makeTeam, errorOf } from './webapi-lib.mjs';

let b, t, o, alice, bob, carol, eve, mallory;
const hidden = {};

before(async () => {
  b = await startBackend();
  t = await makeTeam(b, 'acme', ['owner', 'admin', 'alice', 'bob', 'carol',
    'eve']);
  ({ alice, bob, carol, eve } = t.users);
  o = await makeTeam(b, 'other', ['mallory']);
  ({ mallory } = o.users);

  hidden.private = (await alice.client.conversations.create({
    name: 'secret', is_private: true })).channel.id;
  await alice.client.conversations.invite({ channel: hidden.private,
    users: bob.id });
  hidden.im = (await alice.client.conversations.open({ users: bob.id }))
    .channel.id;
  hidden.mpim = (await alice.client.conversations.open({
    users: `${bob.id},${carol.id}` })).channel.id;
  hidden.foreign = (await mallory.client.conversations.create({
    name: 'theirs' })).channel.id;
  hidden.ts = {};
  for (const [k, ch] of Object.entries(hidden)) {
    if (k === 'ts')
      continue;
    const poster = k === 'foreign' ? mallory : alice;
    hidden.ts[k] = (await poster.client.chat.postMessage({ channel: ch,
      text: `secret text in ${k}` })).ts;
  }
});

after(async () => { await b.stop(); });

test('visibility matrix: a non-member gets channel_not_found everywhere',
  async () => {
    const c = eve.client;
    for (const kind of ['private', 'im', 'mpim', 'foreign']) {
      const channel = hidden[kind], ts = hidden.ts[kind];
      const calls = {
        history: () => c.conversations.history({ channel }),
        replies: () => c.conversations.replies({ channel, ts }),
        info: () => c.conversations.info({ channel }),
        members: () => c.conversations.members({ channel }),
        post: () => c.chat.postMessage({ channel, text: 'x' }),
        update: () => c.chat.update({ channel, ts, text: 'x' }),
        delete: () => c.chat.delete({ channel, ts }),
        react: () => c.reactions.add({ channel, timestamp: ts,
          name: 'eyes' }),
        reactions_get: () => c.reactions.get({ channel, timestamp: ts }),
        join: () => c.conversations.join({ channel }),
        mark: () => c.conversations.mark({ channel, ts }),
        topic: () => c.conversations.setTopic({ channel, topic: 'x' }),
        archive: () => c.conversations.archive({ channel }),
      };
      for (const [name, call] of Object.entries(calls))
        assert.equal(await errorOf(call), 'channel_not_found',
          `${kind}: ${name}`);
      const list = await c.conversations.list({
        types: 'public_channel,private_channel,mpim,im' });
      assert.ok(!list.channels.some((x) => x.id === channel),
        `${kind}: list`);
      const boot = JSON.stringify(await c.rtm.start());
      assert.ok(!boot.includes(channel), `${kind}: rtm.start`);
      assert.ok(!boot.includes('secret text'), `${kind}: rtm.start text`);
    }
    // Even an admin of the team does not see others' private places.
    const a = t.users.admin.client;
    for (const kind of ['private', 'im', 'mpim', 'foreign'])
      assert.equal(await errorOf(a.conversations.history({
        channel: hidden[kind] })), 'channel_not_found');
    // Users of another team are unknown too.
    assert.equal(await errorOf(eve.client.users.info({ user: mallory.id })),
      'user_not_found');
    assert.equal(await errorOf(eve.client.conversations.open({
      users: mallory.id })), 'user_not_found');
    // And the members do see them.
    const h = await bob.client.conversations.history({
      channel: hidden.private });
    assert.equal(h.messages[0].text, 'secret text in private');
    const m = await carol.client.conversations.history({
      channel: hidden.mpim });
    assert.equal(m.messages[0].text, 'secret text in mpim');
  });

test('roles: members cannot archive, rename or kick; admins can', async () => {
  const ch = (await t.users.owner.client.conversations.create({
    name: 'managed' })).channel.id;
  for (const u of [alice, bob, carol])
    await u.client.conversations.join({ channel: ch });
  const m = alice.client;
  assert.equal(await errorOf(m.conversations.archive({ channel: ch })),
    'restricted_action');
  assert.equal(await errorOf(m.conversations.rename({ channel: ch,
    name: 'mine' })), 'not_authorized');
  assert.equal(await errorOf(m.conversations.kick({ channel: ch,
    user: bob.id })), 'restricted_action');
  // Topics and purposes are for every member.
  await m.conversations.setTopic({ channel: ch, topic: 'anyone may' });

  const a = t.users.admin.client;
  await a.conversations.join({ channel: ch });
  await a.conversations.kick({ channel: ch, user: bob.id });
  assert.equal((await a.conversations.rename({ channel: ch,
    name: 'managed-2' })).channel.name, 'managed-2');
  await a.conversations.archive({ channel: ch });
  await t.users.owner.client.conversations.unarchive({ channel: ch });

  // A promoted member (admin socket, while running) may then.
  assert.equal(await errorOf(carol.client.conversations.archive({
    channel: ch })), 'restricted_action');
  await b.admin.op({ op: 'user.set_role', user: carol.id, role: 'admin' });
  await carol.client.conversations.archive({ channel: ch });
  // Only authors and admins delete messages.
  const p = await alice.client.chat.postMessage({ channel: hidden.private,
    text: 'mine' });
  assert.equal(await errorOf(bob.client.chat.delete({
    channel: hidden.private, ts: p.ts })), 'cant_delete_message');
});
