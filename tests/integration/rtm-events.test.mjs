// Every kind of event the Web API and the admin socket write reaches the
// RTM clients that may see it, with its number; the ones about one user
// reach only that user; a non-member sees none of a private channel's.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Backend, connectRaw, makeTeam } from './rtm-lib.mjs';

describe('RTM events', { timeout: 120000 }, () => {
  let b, t, a, o, x;

  before(async () => {
    b = new Backend();
    await b.start();
    t = await makeTeam(b, 'evs', ['owner', 'alice', 'outsider']);
    await b.admin.op({ op: 'user.set_role', user: t.users.owner.id,
      role: 'owner' });
    a = await connectRaw(b, t.users.alice.token);
    o = await connectRaw(b, t.users.owner.token);
    x = await connectRaw(b, t.users.outsider.token);
  });
  after(async () => {
    a?.close(); o?.close(); x?.close();
    await b.stop();
  });

  const api = async (who, method, args) => {
    const r = await b.api(method, t.users[who].token, args);
    assert.equal(r.ok, true, `${method}: ${JSON.stringify(r)}`);
    return r;
  };
  // Waits for an event on c; it must carry a number.
  const got = async (c, pred, what) => {
    const ev = await c.waitFor(pred, 5000, what);
    assert.equal(typeof ev.seq, 'number', `${what} has no seq`);
    return ev;
  };

  test('messages, edits, deletes, threads and reactions', async () => {
    const m = await api('alice', 'chat.postMessage',
      { channel: t.general, text: 'first' });
    await got(o, (e) => e.type === 'message' && e.ts === m.ts, 'message');
    await api('alice', 'chat.update',
      { channel: t.general, ts: m.ts, text: 'first, edited' });
    const ch = await got(o, (e) => e.subtype === 'message_changed',
      'message_changed');
    assert.equal(ch.message.text, 'first, edited');
    const r = await api('owner', 'chat.postMessage',
      { channel: t.general, text: 'a reply', thread_ts: m.ts });
    await got(a, (e) => e.type === 'message' && e.ts === r.ts &&
      e.thread_ts === m.ts, 'thread reply');
    const rep = await got(a, (e) => e.subtype === 'message_replied',
      'message_replied');
    assert.equal(rep.message.ts, m.ts);
    assert.equal(rep.message.reply_count, 1);
    await api('owner', 'reactions.add',
      { channel: t.general, timestamp: m.ts, name: 'tada' });
    await got(a, (e) => e.type === 'reaction_added' &&
      e.reaction === 'tada' && e.item.ts === m.ts, 'reaction_added');
    await api('owner', 'reactions.remove',
      { channel: t.general, timestamp: m.ts, name: 'tada' });
    await got(a, (e) => e.type === 'reaction_removed', 'reaction_removed');
    await api('owner', 'chat.delete', { channel: t.general, ts: r.ts });
    const del = await got(a, (e) => e.subtype === 'message_deleted',
      'message_deleted');
    assert.equal(del.deleted_ts, r.ts);
    assert.ok(!JSON.stringify(del).includes('a reply'));
  });

  test('channel life, membership and read markers', async () => {
    const c = await api('alice', 'conversations.create', { name: 'plans' });
    const id = c.channel.id;
    await got(x, (e) => e.type === 'channel_created' &&
      e.channel.id === id, 'channel_created for the team');
    await api('outsider', 'conversations.join', { channel: id });
    await got(a, (e) => e.type === 'member_joined_channel' &&
      e.channel === id && e.user === t.users.outsider.id,
    'member_joined_channel');
    await api('outsider', 'conversations.leave', { channel: id });
    await got(x, (e) => e.type === 'member_left_channel' &&
      e.channel === id, 'member_left_channel to the one who left');
    await api('alice', 'conversations.rename', { channel: id,
      name: 'plans-2' });
    await got(x, (e) => e.type === 'channel_rename' &&
      e.channel.name === 'plans-2', 'channel_rename');
    await api('alice', 'conversations.archive', { channel: id });
    await got(x, (e) => e.type === 'channel_archive' && e.channel === id,
      'channel_archive');
    await api('alice', 'conversations.unarchive', { channel: id });
    await got(x, (e) => e.type === 'channel_unarchive' && e.channel === id,
      'channel_unarchive');
    const m = await api('owner', 'chat.postMessage',
      { channel: t.general, text: 'to mark' });
    await api('alice', 'conversations.mark', { channel: t.general,
      ts: m.ts });
    await got(a, (e) => e.type === 'channel_marked' && e.ts === m.ts,
      'channel_marked');
    const dm = await api('alice', 'conversations.open',
      { users: t.users.owner.id });
    await got(o, (e) => e.type === 'im_created' &&
      e.channel.id === dm.channel.id, 'im_created');
    // A marker after all of these, then check what stayed private.
    const last = await api('owner', 'chat.postMessage',
      { channel: t.general, text: 'checkpoint' });
    await x.waitFor((e) => e.ts === last.ts);
    await o.waitFor((e) => e.ts === last.ts);
    assert.equal(x.msgs.filter((e) => e.type === 'channel_marked' ||
      e.type === 'im_created').length, 0);
    assert.equal(o.msgs.filter((e) => e.type === 'channel_marked').length,
      0);
  });

  test('users: team_join, user_change, manual presence', async () => {
    const { user_id: id } = await b.admin.op({ op: 'user.create',
      team: t.team, name: 'newbie', real_name: 'New' });
    await got(a, (e) => e.type === 'team_join' && e.user.id === id,
      'team_join');
    await b.admin.op({ op: 'user.set_role', user: id, role: 'admin' });
    await got(o, (e) => e.type === 'user_change' && e.user.id === id,
      'user_change');
    await api('alice', 'users.setPresence', { presence: 'away' });
    await got(a, (e) => e.type === 'manual_presence_change' &&
      e.presence === 'away', 'manual_presence_change');
    const last = await api('owner', 'chat.postMessage',
      { channel: t.general, text: 'checkpoint 2' });
    await o.waitFor((e) => e.ts === last.ts);
    assert.equal(o.msgs.filter((e) => e.type === 'manual_presence_change')
      .length, 0);
  });

  test('a private channel\'s events stay among its members', async () => {
    const c = await api('alice', 'conversations.create',
      { name: 'hush', is_private: true });
    const id = c.channel.id;
    await api('alice', 'conversations.invite', { channel: id,
      users: t.users.owner.id });
    await got(o, (e) => e.type === 'member_joined_channel' &&
      e.channel === id, 'member_joined_channel (private)');
    const m = await api('alice', 'chat.postMessage', { channel: id,
      text: 'hush hush' });
    await got(o, (e) => e.ts === m.ts, 'private message');
    await api('alice', 'conversations.rename', { channel: id,
      name: 'hush-2' });
    await got(o, (e) => e.type === 'channel_rename' &&
      e.channel.id === id, 'private rename');
    await api('alice', 'conversations.kick', { channel: id,
      user: t.users.owner.id });
    await got(o, (e) => e.type === 'member_left_channel' &&
      e.channel === id, 'kicked member hears it');
    const last = await api('alice', 'chat.postMessage',
      { channel: t.general, text: 'checkpoint 3' });
    await x.waitFor((e) => e.ts === last.ts);
    const leaked = x.msgs.filter((e) => JSON.stringify(e).includes(id) ||
      e.text === 'hush hush');
    assert.deepEqual(leaked, []);
  });
});

// With more connected users than RTM_SMALL_TEAM (32), channel events are
// routed by walking the channel's member list instead of checking each
// connected user: the same people must get them.
describe('RTM events in a larger team', { timeout: 120000 }, () => {
  test('40 connected users: members only, each once', async () => {
    const b = new Backend();
    await b.start();
    const names = Array.from({ length: 40 }, (_, i) => `u${i}`);
    const conns = [];
    try {
      const t = await makeTeam(b, 'big', names);
      const { channel_id: priv } = await b.admin.op({ op: 'channel.create',
        team: t.team, name: 'some', private: true, creator: t.users.u0.id });
      for (let i = 1; i < 15; i++)
        await b.admin.op({ op: 'channel.join', channel: priv,
          user: t.users[`u${i}`].id });
      for (const n of names)
        conns.push(await connectRaw(b, t.users[n].token));
      const p = await b.api('chat.postMessage', t.users.u0.token,
        { channel: priv, text: 'for the fifteen' });
      assert.equal(p.ok, true);
      const g = await b.api('chat.postMessage', t.users.u39.token,
        { channel: t.general, text: 'for all forty' });
      assert.equal(g.ok, true);
      for (const c of conns)
        await c.waitFor((m) => m.text === 'for all forty', 10000);
      conns.forEach((c, i) => {
        const n = c.msgs.filter((m) => m.text === 'for the fifteen').length;
        assert.equal(n, i < 15 ? 1 : 0, `u${i} got it ${n} times`);
        assert.equal(c.msgs.filter((m) => m.text === 'for all forty')
          .length, 1);
      });
    } finally {
      for (const c of conns)
        c.close();
      await b.stop();
    }
  });
});
