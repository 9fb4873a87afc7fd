// Moving a team between shards while its clients are connected and
// posting (tools/run-stack.sh -n 2, parleyctl move-team): every
// acknowledged message is on the target shard once and in order, RTM
// clients that present their epoch and sequence number resume on the
// target without loss or duplicates, verify is clean on both stores,
// and the source no longer serves the team.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WebClient } from '@slack/web-api';
import WebSocket from 'ws';
import { Stack, api, parleyctl, run, signin, sleep, until } from
  './shards-lib.mjs';

// A raw RTM client through HAProxy that keeps the epoch of hello and the
// last event number, and on every close reconnects presenting them
// (rtm.connect's parley_epoch and parley_seq), waiting out 429s.
class Resumer {
  constructor(front, token) {
    this.front = front;
    this.token = token;
    this.epoch = null;
    this.last = 0;
    this.events = [];
    this.dups = [];
    this.failed = [];
    this.epochs = new Set();
    this.opens = 0;
    this.stopping = false;
  }

  async connect() {
    for (let i = 0; i < 200 && !this.stopping; i++) {
      const args = this.epoch ? { parley_epoch: this.epoch,
        parley_seq: String(this.last) } : {};
      let r;
      try {
        r = await api(this.front, 'rtm.connect', args, this.token);
      } catch {
        await sleep(200);
        continue;
      }
      if (!r.ok) {
        if (r.status === 429 || r.error === 'ratelimited' ||
            r.error === 'team_not_here') {
          await sleep(Math.max(r.retryAfter * 1000, 200));
          continue;
        }
        throw new Error(`rtm.connect: ${r.error}`);
      }
      if (await this.open(r.url))
        return;
      await sleep(200);
    }
    if (!this.stopping)
      throw new Error('could not reconnect');
  }

  // Opens url; true once hello arrived, false when refused.
  open(url) {
    return new Promise((resolve) => {
      const ws = new WebSocket(url, { perMessageDeflate: false,
        handshakeTimeout: 5000 });
      let hello = false;
      ws.on('message', (d) => {
        const m = JSON.parse(d.toString());
        if (m.type === 'hello') {
          hello = true;
          this.opens++;
          this.epochs.add(m.epoch);
          if (this.epoch === null) {
            this.epoch = m.epoch;
            this.last = m.last_seq;
          }
          resolve(true);
        } else if (m.type === 'resume_failed') {
          this.failed.push(m);
        } else if (typeof m.seq === 'number') {
          if (m.seq <= this.last)
            this.dups.push(m);
          else {
            this.last = m.seq;
            this.events.push(m);
          }
        }
      });
      ws.on('unexpected-response', () => resolve(false));
      ws.on('error', () => { if (!hello) resolve(false); });
      ws.on('close', () => {
        if (!hello) {
          resolve(false);
          return;
        }
        if (!this.stopping)
          this.reconnecting = this.connect().catch((e) => {
            this.error = e;
          });
      });
      this.ws = ws;
    });
  }

  stop() {
    this.stopping = true;
    this.ws?.terminate();
  }
}

describe('moving a team between shards', { timeout: 300000 }, () => {
  const st = new Stack();
  let ana, zoe;

  before(async () => {
    await st.start();
    const c = st.creds(1);
    ana = await signin(st.front, 'parley-demo', c[0][0], c[0][1]);
    zoe = await signin(st.front, 'parley-demo', c[1][0], c[1][1]);
  });
  after(async () => {
    await st.stop();
    st.remove();
  });

  test('move-team while clients post and listen', { timeout: 240000 },
    async () => {
      const web = (tok) => new WebClient(tok, {
        slackApiUrl: `${st.front}/api/`, timeout: 10000,
        logLevel: 'error', retryConfig: { retries: 30, factor: 1,
          minTimeout: 100, maxTimeout: 1000 } });
      const wa = web(ana), wz = web(zoe);
      const general = (await wa.conversations.list()).channels.find(
        (ch) => ch.name === 'general');
      const listeners = [new Resumer(st.front, zoe),
        new Resumer(st.front, ana)];
      for (const l of listeners)
        await l.connect();
      const epoch = listeners[0].epoch;

      // Two posters, each one post at a time; an acknowledged post is
      // one whose answer came back ok.
      const acked = { ana: [], zoe: [] };
      const refused = [];
      let stop = false;
      const poster = async (name, w) => {
        for (let i = 0; !stop && i < 2000; i++) {
          try {
            const r = await w.chat.postMessage({ channel: general.id,
              text: `${name}-${i}` });
            acked[name].push(r.ts);
          } catch (e) {
            refused.push(`${name}-${i}: ${e.data?.error ?? e.message}`);
          }
        }
      };
      const posting = [poster('ana', wa), poster('zoe', wz)];
      const total = () => acked.ana.length + acked.zoe.length;
      await until(() => total() >= 30, 60000, '30 posts before the move');

      const moved = await run(parleyctl, ['-c', path.join(st.dir,
        'parley.conf'), 'move-team', 'parley-demo', '--to', 's2', '--hup',
        path.join(st.dir, 'pids/spoa.pid')]);
      assert.equal(moved.code, 0, moved.stderr);
      assert.match(moved.stdout, /moved from s1 to s2/);
      const atMove = total();
      await until(() => total() >= atMove + 30, 90000,
        '30 posts after the move');
      stop = true;
      await Promise.all(posting);

      // The target has every acknowledged message once, in order.
      const all = [...acked.ana, ...acked.zoe];
      const seen = new Map();
      let cursor;
      for (let page = 0; page < 50; page++) {
        const h = await api(st.s2, 'conversations.history',
          { channel: general.id, limit: 200, cursor }, ana);
        assert.equal(h.ok, true, h.error);
        for (const m of h.messages)
          if (/^(ana|zoe)-\d+$/.test(m.text))
            seen.set(m.ts, (seen.get(m.ts) ?? 0) + 1);
        cursor = h.response_metadata?.next_cursor;
        if (!h.has_more || !cursor)
          break;
      }
      for (const ts of all)
        assert.equal(seen.get(ts), 1, `message ${ts} on the target`);
      for (const name of ['ana', 'zoe'])
        assert.deepEqual([...acked[name]].sort(), acked[name],
          `${name}'s posts in order`);

      // The listeners resumed on the target: same epoch, no resume
      // refused, every acknowledged message once, nothing twice.
      await until(() => listeners.every((l) => all.every((ts) =>
        l.events.some((e) => e.type === 'message' && e.ts === ts))),
        60000, 'every message at every listener');
      for (const l of listeners) {
        assert.equal(l.error, undefined, String(l.error));
        assert.deepEqual(l.failed, [], JSON.stringify(l.failed));
        assert.deepEqual(l.dups, [], 'events twice');
        assert.deepEqual([...l.epochs], [epoch]);
        assert.ok(l.opens >= 2, 'the listener moved with its team');
        const got = l.events.filter((e) => e.type === 'message' &&
          /^(ana|zoe)-\d+$/.test(e.text)).map((e) => e.ts);
        assert.equal(new Set(got).size, got.length);
        l.stop();
      }

      // The source no longer serves the team: 429 for a few seconds
      // after the move, then team_not_here.
      await until(async () => (await api(st.s1, 'auth.test', {}, ana))
        .error === 'team_not_here', 30000, 'team_not_here from s1');
      const hist = await api(st.s1, 'conversations.history',
        { channel: general.id }, zoe);
      assert.equal(hist.error, 'team_not_here');
      const s2 = await api(st.s2, 'auth.test', {}, ana);
      assert.equal(s2.ok, true);
      console.log(`# moved with ${all.length} posts acknowledged, ` +
        `${refused.length} refused (${refused.slice(0, 3).join(', ')})`);

      // verify is clean on both stores once the backends are stopped.
      await st.stop();
      for (const d of ['data/shard1', 'data/shard2']) {
        const v = await run(parleyctl, ['-d', path.join(st.dir, d),
          'verify']);
        assert.equal(v.code, 0, `${d}: ${v.stdout}${v.stderr}`);
        assert.match(v.stderr, /verify: clean/);
      }
    });
});
