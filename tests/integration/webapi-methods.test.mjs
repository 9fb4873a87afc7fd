// Every Web API method of parley-backend through the official
// @slack/web-api client: the documented response fields and each error
// listed for the method in docs/api.md.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBackend, makeTeam, errorOf } from './webapi-lib.mjs';

let b, t, owner, admin, alice, bob, carol, general, pub;

before(async () => {
  b = await startBackend();
  t = await makeTeam(b, 'acme');
  ({ owner, admin, alice, bob, carol } = t.users);
  general = (await b.admin.op({ op: 'channel.create', team: t.team,
    name: 'general', creator: owner.id, general: true })).channel_id;
  for (const u of [admin, alice, bob, carol])
    await b.admin.op({ op: 'channel.join', channel: general, user: u.id });
  pub = (await alice.client.conversations.create({ name: 'random' }))
    .channel.id;
});

after(async () => { await b.stop(); });

test('api.test, auth.test, team.info', async () => {
  const r = await alice.client.api.test({ foo: 'bar' });
  assert.equal(r.ok, true);
  assert.equal(r.args.foo, 'bar');
  assert.equal(await errorOf(alice.client.api.test({ error: 'my_error' })),
    'my_error');

  const a = await alice.client.auth.test();
  assert.equal(a.user_id, alice.id);
  assert.equal(a.team_id, t.team);
  assert.equal(a.user, 'alice');
  assert.equal(a.team, 'acme');
  assert.match(a.url, /^https:\/\/acme\./);

  const ti = await alice.client.team.info();
  assert.equal(ti.team.id, t.team);
  assert.equal(ti.team.domain, 'acme');
  assert.equal(await errorOf(alice.client.team.info({ team: 'TNOPE000000' })),
    'team_not_found');
});

test('auth errors: not_authed, invalid_auth, revoked, inactive', async () => {
  assert.equal(await errorOf(b.client(undefined).auth.test()), 'not_authed');
  assert.equal(await errorOf(b.client('xoxp.k1.T1.U1.x.0.bad').auth.test()),
    'invalid_auth');
  // A token with a good signature that the store never issued.
  const forged = alice.token.replace(/\.[^.]+\.0\./, '.zzz.0.');
  assert.equal(await errorOf(b.client(forged).auth.test()), 'invalid_auth');
  // The token argument works as well as the header.
  const r = await b.client(undefined).auth.test({ token: alice.token });
  assert.equal(r.user_id, alice.id);

  const { user_id: dave } = await b.admin.op({ op: 'user.create',
    team: t.team, name: 'dave' });
  const d1 = await b.admin.op({ op: 'token.mint', user: dave });
  const d2 = await b.admin.op({ op: 'token.mint', user: dave });
  const c1 = b.client(d1.token), c2 = b.client(d2.token);
  assert.equal((await c1.auth.revoke({ test: true })).revoked, false);
  assert.equal((await c1.auth.test()).user_id, dave);
  assert.equal((await c1.auth.revoke()).revoked, true);
  assert.equal(await errorOf(c1.auth.test()), 'token_revoked');
  assert.equal((await c2.auth.test()).user_id, dave);
  // Deactivation (through the admin socket, while running) ends all.
  await b.admin.op({ op: 'user.deactivate', user: dave });
  assert.equal(await errorOf(c2.auth.test()), 'token_revoked');
  const d3 = await b.admin.op({ op: 'token.mint', user: dave });
  assert.equal(await errorOf(b.client(d3.token).auth.test()),
    'account_inactive');
});

test('chat.postMessage, update, delete', async () => {
  const c = alice.client;
  const blocks = [{ type: 'section', text: { type: 'mrkdwn', text: '*hi*' } }];
  const atts = [{ fallback: 'f', text: 'att', color: '#36a64f' }];
  const p = await c.chat.postMessage({ channel: general, text: 'hello',
    blocks, attachments: atts });
  assert.equal(p.channel, general);
  assert.match(p.ts, /^\d+\.\d{6}$/);
  assert.equal(p.message.text, 'hello');
  assert.equal(p.message.user, alice.id);
  assert.deepEqual(p.message.blocks, blocks);
  assert.deepEqual(p.message.attachments, atts);

  // Blocks without text are a valid post.
  const nb = await c.chat.postMessage({ channel: general, blocks });
  assert.deepEqual(nb.message.blocks, blocks);

  // client_msg_id: a repeat returns the stored message.
  const r1 = await c.chat.postMessage({ channel: general, text: 'once',
    client_msg_id: 'cmid-1' });
  const r2 = await c.chat.postMessage({ channel: general, text: 'once',
    client_msg_id: 'cmid-1' });
  assert.equal(r2.ts, r1.ts);

  // Threads: reply_count, reply_users, latest_reply; broadcast.
  const r = await c.chat.postMessage({ channel: general, text: 'reply',
    thread_ts: p.ts });
  const r3 = await bob.client.chat.postMessage({ channel: general,
    text: 'reply 2', thread_ts: p.ts, reply_broadcast: true });
  assert.equal(r.message.thread_ts, p.ts);
  const rep = await c.conversations.replies({ channel: general, ts: p.ts });
  assert.equal(rep.messages[0].ts, p.ts);
  assert.equal(rep.messages[0].reply_count, 2);
  assert.deepEqual([...rep.messages[0].reply_users].sort(),
    [alice.id, bob.id].sort());
  assert.equal(rep.messages[0].latest_reply, r3.ts);
  assert.deepEqual(rep.messages.map((m) => m.ts), [p.ts, r.ts, r3.ts]);
  const hist = await c.conversations.history({ channel: general });
  const tss = hist.messages.map((m) => m.ts);
  assert.ok(tss.includes(r3.ts), 'a broadcast reply is in the history');
  assert.ok(!tss.includes(r.ts), 'a plain reply is not');

  const u = await c.chat.update({ channel: general, ts: p.ts,
    text: 'hello again' });
  assert.equal(u.text, 'hello again');
  assert.equal(u.message.edited.user, alice.id);
  assert.deepEqual(u.message.blocks, blocks);

  const d = await c.chat.delete({ channel: general, ts: r1.ts });
  assert.equal(d.ts, r1.ts);
  const after1 = await c.conversations.history({ channel: general });
  assert.ok(!after1.messages.some((m) => m.ts === r1.ts));

  const errs = [
    [() => c.chat.postMessage({ channel: 'CNOPE000000', text: 'x' }),
      'channel_not_found'],
    [() => c.chat.postMessage({ channel: general }), 'no_text'],
    [() => c.chat.postMessage({ channel: general, text: 'x'.repeat(40001) }),
      'msg_too_long'],
    [() => c.chat.postMessage({ channel: general, blocks: [{ text: 'no type' }] }),
      'invalid_blocks'],
    [() => c.chat.postMessage({ channel: general, blocks: '[{' }),
      'invalid_blocks_format'],
    [() => c.chat.postMessage({ channel: general, text: 'x', attachments: '{}' }),
      'invalid_attachments'],
    [() => c.chat.postMessage({ channel: general, text: 'x',
      attachments: Array(101).fill({ text: 'a' }) }), 'too_many_attachments'],
    [() => c.chat.postMessage({ channel: general, text: 'x', thread_ts: 'abc' }),
      'invalid_thread_ts'],
    [() => c.chat.postMessage({ channel: general, text: 'x',
      thread_ts: '1.000001' }), 'thread_not_found'],
    [() => carol.client.chat.postMessage({ channel: pub, text: 'x' }),
      'not_in_channel'],
    [() => c.chat.update({ channel: general, ts: '1.000001', text: 'x' }),
      'message_not_found'],
    [() => bob.client.chat.update({ channel: general, ts: p.ts, text: 'x' }),
      'cant_update_message'],
    [() => c.chat.update({ channel: general, ts: p.ts, text: '' }), 'no_text'],
    [() => c.chat.delete({ channel: general, ts: '1.000001' }),
      'message_not_found'],
    [() => bob.client.chat.delete({ channel: general, ts: p.ts }),
      'cant_delete_message'],
  ];
  for (const [call, want] of errs)
    assert.equal(await errorOf(call), want);
  // Admins may delete anyone's message.
  await admin.client.chat.delete({ channel: general, ts: nb.ts });
});

test('conversations: create, info, members, join, leave, mark', async () => {
  const c = bob.client;
  const cr = await c.conversations.create({ name: 'proj-x' });
  assert.equal(cr.channel.name, 'proj-x');
  assert.equal(cr.channel.is_channel, true);
  assert.equal(cr.channel.is_member, true);
  assert.equal(cr.channel.creator, bob.id);
  for (const [name, err] of [['', 'invalid_name_required'],
    ['Has Caps', 'invalid_name_specials'], ['a'.repeat(81),
      'invalid_name_maxlength'], ['---', 'invalid_name_punctuation'],
    ['proj-x', 'name_taken']])
    assert.equal(await errorOf(c.conversations.create({ name })), err);

  const info = await carol.client.conversations.info({ channel: cr.channel.id,
    include_num_members: true });
  assert.equal(info.channel.num_members, 1);
  assert.equal(info.channel.is_member, false);
  assert.equal(await errorOf(c.conversations.info({ channel: 'C0' })),
    'channel_not_found');

  const j = await carol.client.conversations.join({ channel: cr.channel.id });
  assert.equal(j.channel.is_member, true);
  const j2 = await carol.client.conversations.join({ channel: cr.channel.id });
  assert.equal(j2.warning, 'already_in_channel');
  const m = await c.conversations.members({ channel: cr.channel.id });
  assert.deepEqual([...m.members].sort(), [bob.id, carol.id].sort());

  const post = await c.chat.postMessage({ channel: cr.channel.id, text: 'm' });
  await carol.client.conversations.mark({ channel: cr.channel.id,
    ts: post.ts });
  const i2 = await carol.client.conversations.info({ channel: cr.channel.id });
  assert.equal(i2.channel.last_read, post.ts);
  assert.equal(await errorOf(carol.client.conversations.mark({
    channel: cr.channel.id, ts: 'x' })), 'invalid_timestamp');
  assert.equal(await errorOf(alice.client.conversations.mark({
    channel: cr.channel.id, ts: post.ts })), 'not_in_channel');

  const l = await carol.client.conversations.leave({ channel: cr.channel.id });
  assert.equal(l.ok, true);
  const l2 = await carol.client.conversations.leave({ channel: cr.channel.id });
  assert.equal(l2.not_in_channel, true);
  assert.equal(await errorOf(carol.client.conversations.leave({
    channel: general })), 'cant_leave_general');
});

test('conversations: open IM and group DM', async () => {
  const o = await alice.client.conversations.open({ users: bob.id });
  assert.match(o.channel.id, /^D/);
  const again = await bob.client.conversations.open({ users: alice.id,
    return_im: true });
  assert.equal(again.channel.id, o.channel.id);
  assert.equal(again.already_open, true);
  assert.equal(again.channel.is_im, true);
  // Each side sees the other person as the IM's user, whoever opened it.
  assert.equal(again.channel.user, alice.id);
  assert.equal((await alice.client.conversations.info({
    channel: o.channel.id })).channel.user, bob.id);
  assert.equal((await bob.client.conversations.info({
    channel: o.channel.id })).channel.user, alice.id);
  const g = await alice.client.conversations.open({
    users: `${bob.id},${carol.id}` });
  assert.equal(g.channel.is_mpim, true);
  const g2 = await carol.client.conversations.open({
    users: `${alice.id},${bob.id}` });
  assert.equal(g2.channel.id, g.channel.id);
  const p = await bob.client.chat.postMessage({ channel: o.channel.id,
    text: 'dm' });
  assert.equal(p.channel, o.channel.id);
  const errs = [
    [() => alice.client.conversations.open({}), 'users_list_not_supplied'],
    [() => alice.client.conversations.open({ users: 'UNOPE000000' }),
      'user_not_found'],
    [() => alice.client.conversations.open({ users: Array(9).fill(0).map((_, i) =>
      `U${String(i).padStart(10, '0')}`).join(',') }), 'too_many_users'],
    [() => alice.client.conversations.open({ channel: general }),
      'method_not_supported_for_channel_type'],
    [() => alice.client.conversations.join({ channel: o.channel.id }),
      'method_not_supported_for_channel_type'],
    [() => alice.client.conversations.leave({ channel: o.channel.id }),
      'method_not_supported_for_channel_type'],
  ];
  for (const [call, want] of errs)
    assert.equal(await errorOf(call), want);
});

test('conversations: topic, purpose, rename, archive, invite, kick',
  async () => {
    const c = carol.client;
    const ch = (await c.conversations.create({ name: 'carols' })).channel.id;
    const st = await c.conversations.setTopic({ channel: ch, topic: 'T1' });
    assert.equal(st.channel.topic.value, 'T1');
    assert.equal(st.topic, 'T1');
    const sp = await c.conversations.setPurpose({ channel: ch,
      purpose: 'P1' });
    assert.equal(sp.channel.purpose.value, 'P1');
    assert.equal(await errorOf(c.conversations.setTopic({ channel: ch,
      topic: 'x'.repeat(251) })), 'too_long');
    assert.equal(await errorOf(alice.client.conversations.setPurpose({
      channel: ch, purpose: 'x' })), 'not_in_channel');

    const inv = await c.conversations.invite({ channel: ch,
      users: `${alice.id},${bob.id}` });
    assert.equal(inv.channel.id, ch);
    for (const [users, err] of [[alice.id, 'already_in_channel'],
      [carol.id, 'cant_invite_self'], ['UNOPE000000', 'user_not_found'],
      ['', 'no_user']])
      assert.equal(await errorOf(c.conversations.invite({ channel: ch,
        users })), err);
    assert.equal(await errorOf(owner.client.conversations.invite({
      channel: ch, users: bob.id })), 'not_in_channel');

    // The creator manages the channel.
    const rn = await c.conversations.rename({ channel: ch, name: 'carols-2' });
    assert.equal(rn.channel.name, 'carols-2');
    assert.equal(await errorOf(c.conversations.rename({ channel: ch,
      name: 'random' })), 'name_taken');
    assert.equal(await errorOf(c.conversations.rename({ channel: ch,
      name: 'Bad Name' })), 'invalid_name_specials');
    await c.conversations.kick({ channel: ch, user: bob.id });
    for (const [user, err] of [[bob.id, 'not_in_channel'],
      [carol.id, 'cant_kick_self'], ['UNOPE000000', 'user_not_found']])
      assert.equal(await errorOf(c.conversations.kick({ channel: ch, user })),
        err);
    assert.equal(await errorOf(admin.client.conversations.kick({
      channel: general, user: bob.id })), 'cant_kick_from_general');

    await c.conversations.archive({ channel: ch });
    const info = await c.conversations.info({ channel: ch });
    assert.equal(info.channel.is_archived, true);
    for (const [call, err] of [
      [() => c.conversations.archive({ channel: ch }), 'already_archived'],
      [() => c.chat.postMessage({ channel: ch, text: 'x' }), 'is_archived'],
      [() => c.conversations.setTopic({ channel: ch, topic: 'x' }), 'is_archived'],
      [() => c.conversations.invite({ channel: ch, users: bob.id }), 'is_archived'],
      [() => bob.client.conversations.join({ channel: ch }), 'is_archived'],
      [() => admin.client.conversations.archive({ channel: general }),
        'cant_archive_general']])
      assert.equal(await errorOf(call), err);
    const list = await c.conversations.list({ exclude_archived: true });
    assert.ok(!list.channels.some((x) => x.id === ch));
    await c.conversations.unarchive({ channel: ch });
    assert.equal(await errorOf(c.conversations.unarchive({ channel: ch })),
      'not_archived');
  });

test('conversations.list types and users.conversations', async () => {
  const priv = (await bob.client.conversations.create({ name: 'secret',
    is_private: true })).channel;
  assert.equal(priv.is_private, true);
  const all = await bob.client.conversations.list({
    types: 'public_channel,private_channel,im,mpim' });
  const ids = all.channels.map((c) => c.id);
  assert.ok(ids.includes(priv.id));
  assert.ok(ids.includes(general));
  const onlyPub = await bob.client.conversations.list();
  assert.ok(!onlyPub.channels.some((c) => c.id === priv.id));
  assert.equal(await errorOf(bob.client.conversations.list({
    types: 'nonsense' })), 'invalid_types');
  const uc = await bob.client.users.conversations({
    types: 'public_channel,private_channel' });
  assert.ok(uc.channels.some((c) => c.id === priv.id));
  assert.ok(uc.channels.every((c) => c.is_member));
  assert.equal(await errorOf(bob.client.users.conversations({
    user: 'UNOPE000000' })), 'user_not_found');
});

test('users.info, getPresence, setPresence', async () => {
  const i = await alice.client.users.info({ user: bob.id });
  assert.equal(i.user.id, bob.id);
  assert.equal(i.user.name, 'bob');
  assert.equal(i.user.team_id, t.team);
  assert.equal(await errorOf(alice.client.users.info({ user: 'UNOPE000000' })),
    'user_not_found');
  assert.equal((await alice.client.users.getPresence()).presence, 'active');
  await alice.client.users.setPresence({ presence: 'away' });
  const p = await bob.client.users.getPresence({ user: alice.id });
  assert.equal(p.presence, 'away');
  await alice.client.users.setPresence({ presence: 'auto' });
  assert.equal((await alice.client.users.getPresence()).presence, 'active');
  assert.equal(await errorOf(alice.client.users.setPresence({
    presence: 'busy' })), 'invalid_presence');
});

test('reactions.add, remove, get', async () => {
  const p = await alice.client.chat.postMessage({ channel: general,
    text: 'react' });
  await alice.client.reactions.add({ channel: general, timestamp: p.ts,
    name: 'thumbsup' });
  await bob.client.reactions.add({ channel: general, timestamp: p.ts,
    name: 'thumbsup' });
  await bob.client.reactions.add({ channel: general, timestamp: p.ts,
    name: 'tada' });
  const g = await carol.client.reactions.get({ channel: general,
    timestamp: p.ts });
  assert.equal(g.type, 'message');
  assert.deepEqual(g.message.reactions, [
    { name: 'thumbsup', users: [alice.id, bob.id], count: 2 },
    { name: 'tada', users: [bob.id], count: 1 }]);
  await bob.client.reactions.remove({ channel: general, timestamp: p.ts,
    name: 'tada' });
  const g2 = await carol.client.reactions.get({ channel: general,
    timestamp: p.ts });
  assert.equal(g2.message.reactions.length, 1);
  const errs = [
    [() => alice.client.reactions.add({ channel: general, timestamp: p.ts,
      name: 'thumbsup' }), 'already_reacted'],
    [() => alice.client.reactions.add({ channel: general, timestamp: p.ts,
      name: 'Bad Name!' }), 'invalid_name'],
    [() => alice.client.reactions.add({ channel: general, timestamp: '1.000001',
      name: 'x' }), 'message_not_found'],
    [() => alice.client.reactions.add({ channel: 'CNOPE000000', timestamp: p.ts,
      name: 'x' }), 'channel_not_found'],
    [() => carol.client.reactions.remove({ channel: general, timestamp: p.ts,
      name: 'thumbsup' }), 'no_reaction'],
    [() => carol.client.reactions.get({ channel: general, timestamp: '1.000001' }),
      'message_not_found'],
  ];
  for (const [call, want] of errs)
    assert.equal(await errorOf(call), want);
});

test('rtm.start boot and rtm.connect', async () => {
  const s = await alice.client.rtm.start();
  assert.equal(s.self.id, alice.id);
  assert.equal(s.team.id, t.team);
  assert.ok(s.users.some((u) => u.id === bob.id));
  const g = s.channels.find((c) => c.id === general);
  assert.equal(g.is_member, true);
  assert.equal(typeof g.unread_count, 'number');
  assert.equal(typeof g.mention_count, 'number');
  assert.ok(Array.isArray(s.ims));
  assert.ok(Array.isArray(s.groups));
  assert.ok(Array.isArray(s.mpims));
  // Unread and mention counts follow the read marker.
  const m = await bob.client.chat.postMessage({ channel: general,
    text: `hey <@${alice.id}>` });
  const s2 = await alice.client.rtm.start();
  const g2 = s2.channels.find((c) => c.id === general);
  assert.ok(g2.unread_count >= 1);
  assert.ok(g2.mention_count >= 1);
  await alice.client.conversations.mark({ channel: general, ts: m.ts });
  const g3 = (await alice.client.rtm.start()).channels.find((c) =>
    c.id === general);
  assert.equal(g3.unread_count, 0);
  assert.equal(g3.mention_count, 0);
  const rc = await alice.client.rtm.connect();
  assert.match(rc.url, /\/rtm\?ticket=ptk\./);
  assert.equal(rc.self.id, alice.id);
});

test('admin changes while running appear at once', async () => {
  const { user_id: erin } = await b.admin.op({ op: 'user.create',
    team: t.team, name: 'erin' });
  const i = await alice.client.users.info({ user: erin });
  assert.equal(i.user.name, 'erin');
  const { channel_id: ch } = await b.admin.op({ op: 'channel.create',
    team: t.team, name: 'from-admin', creator: erin });
  const info = await alice.client.conversations.info({ channel: ch });
  assert.equal(info.channel.name, 'from-admin');
  await b.admin.op({ op: 'user.set_role', user: erin, role: 'admin' });
  assert.equal((await alice.client.users.info({ user: erin })).user.is_admin,
    true);
});
