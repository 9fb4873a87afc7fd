// Two shards behind HAProxy (tools/run-stack.sh -n 2): a team on each
// shard chats through HAProxy with the official SDKs, and nothing of one
// team reaches a client of the other; a shard refuses the other shard's
// team; with the agent killed, full clients still reach their own shard
// through HAProxy's map of teams.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RTMClient } from '@slack/rtm-api';
import { WebClient } from '@slack/web-api';
import { Stack, api, signin, sleep, until } from './shards-lib.mjs';

function webClient(front, token) {
  return new WebClient(token, { slackApiUrl: `${front}/api/`,
    retryConfig: { retries: 0 }, timeout: 10000, logLevel: 'error' });
}

// An RTMClient through HAProxy that never reconnects by itself; every
// event it gets is kept.
async function rtmClient(front, token) {
  const rtm = new RTMClient(token, { slackApiUrl: `${front}/api/`,
    webClient: webClient(front, token), autoReconnect: false,
    logLevel: 'error' });
  rtm.events = [];
  rtm.on('slack_event', (type, ev) => rtm.events.push(ev));
  const ready = new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('RTMClient not ready')),
      20000);
    rtm.once('ready', () => { clearTimeout(t); resolve(); });
  });
  await rtm.start();
  await ready;
  return rtm;
}

async function closeRtm(rtm) {
  rtm.awaitingReplyList = rtm.awaitingReplyList.filter((p) => p);
  await rtm.disconnect();
}

describe('two shards behind HAProxy', { timeout: 240000 }, () => {
  const st = new Stack();
  const t1 = {}, t2 = {};

  before(async () => {
    await st.start();
    const c1 = st.creds(1), c2 = st.creds(2);
    // Sign-in names the team in the body, which HAProxy does not read:
    // without edges it reaches the first shard, so team 2 signs in at
    // its own shard.
    t1.a = await signin(st.front, 'parley-demo', c1[0][0], c1[0][1]);
    t1.b = await signin(st.front, 'parley-demo', c1[1][0], c1[1][1]);
    t2.a = await signin(st.s2, 'parley-demo-2', c2[0][0], c2[0][1]);
    t2.b = await signin(st.s2, 'parley-demo-2', c2[1][0], c2[1][1]);
  });
  after(async () => {
    await st.stop();
    st.remove();
  });

  test('each team chats on its shard and sees only its own team',
    { timeout: 120000 }, async () => {
      const w1 = webClient(st.front, t1.a), w2 = webClient(st.front, t2.a);
      const id1 = await w1.auth.test(), id2 = await w2.auth.test();
      assert.notEqual(id1.team_id, id2.team_id);
      const ch1 = (await w1.conversations.list()).channels;
      const ch2 = (await w2.conversations.list()).channels;
      const g1 = ch1.find((c) => c.name === 'general');
      const g2 = ch2.find((c) => c.name === 'general');
      assert.ok(g1 && g2);
      const ids1 = new Set(ch1.map((c) => c.id));
      const ids2 = new Set(ch2.map((c) => c.id));
      for (const id of ids1)
        assert.ok(!ids2.has(id), `channel ${id} listed for both teams`);
      if (!(await webClient(st.front, t2.b).conversations.info(
        { channel: g2.id })).channel.is_member)
        await webClient(st.front, t2.b).conversations.join(
          { channel: g2.id });

      // Each shard serves its own team only, whatever the route.
      const cross = await api(st.s1, 'auth.test', {}, t2.a);
      assert.equal(cross.error, 'team_not_here');
      const cross2 = await api(st.s2, 'conversations.list', {}, t1.a);
      assert.equal(cross2.error, 'team_not_here');

      const r1 = await rtmClient(st.front, t1.b);
      const r2 = await rtmClient(st.front, t2.b);
      try {
        const sent1 = [], sent2 = [];
        for (let i = 0; i < 10; i++) {
          const a = await w1.chat.postMessage({ channel: g1.id,
            text: `one-${i}` });
          const b = await w2.chat.postMessage({ channel: g2.id,
            text: `two-${i}` });
          sent1.push(a.ts);
          sent2.push(b.ts);
        }
        const msgs = (r, prefix) => r.events.filter((e) =>
          e.type === 'message' && String(e.text).startsWith(prefix));
        await until(() => msgs(r1, 'one-').length === 10 &&
          msgs(r2, 'two-').length === 10, 20000, 'the messages live');
        assert.deepEqual(msgs(r1, 'one-').map((e) => e.ts), sent1);
        assert.deepEqual(msgs(r2, 'two-').map((e) => e.ts), sent2);
        // Nothing of the other team: no text, no channel, no user.
        for (const e of r1.events) {
          assert.ok(!String(e.text ?? '').startsWith('two-'));
          if (e.channel && typeof e.channel === 'string')
            assert.ok(!ids2.has(e.channel), JSON.stringify(e));
        }
        for (const e of r2.events) {
          assert.ok(!String(e.text ?? '').startsWith('one-'));
          if (e.channel && typeof e.channel === 'string')
            assert.ok(!ids1.has(e.channel), JSON.stringify(e));
        }
        const h1 = await w1.conversations.history({ channel: g1.id,
          limit: 200 });
        assert.ok(h1.messages.every((m) => !m.text.startsWith('two-')));
        const h2 = await w2.conversations.history({ channel: g2.id,
          limit: 200 });
        assert.deepEqual(h2.messages.filter((m) => m.text.startsWith(
          'two-')).map((m) => m.ts).reverse(), sent2);
      } finally {
        await closeRtm(r1);
        await closeRtm(r2);
      }
    });

  test('agent killed: full clients still reach their own shard',
    { timeout: 120000 }, async () => {
      process.kill(st.pid('spoa'), 'SIGKILL');
      // Requests go on without the agent (fail-open); the map sends
      // each token to its team's shard.  The first ones may still wait
      // for the dead agent's timeout, so wait for a clean answer.
      const w1 = webClient(st.front, t1.a), w2 = webClient(st.front, t2.a);
      await until(async () => {
        try {
          return (await w2.auth.test()).ok;
        } catch {
          return false;
        }
      }, 30000, 'team 2 through HAProxy without the agent');
      for (let i = 0; i < 5; i++) {
        const a = await w1.auth.test(), b = await w2.auth.test();
        assert.equal(a.ok, true);
        assert.equal(b.ok, true);
        assert.notEqual(a.team_id, b.team_id);
      }
      const g2 = (await w2.conversations.list()).channels.find((c) =>
        c.name === 'general');
      const r2 = await rtmClient(st.front, t2.b);
      try {
        const p = await w2.chat.postMessage({ channel: g2.id,
          text: 'without the agent' });
        await until(() => r2.events.find((e) => e.type === 'message' &&
          e.ts === p.ts), 20000, 'the message without the agent');
      } finally {
        await closeRtm(r2);
      }
      await sleep(10);
    });
});
