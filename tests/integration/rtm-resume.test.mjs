// RTM resume by sequence number with a raw WebSocket client: what a
// client missed comes once, in order, then live events with no gap; the
// same across a SIGKILL and restart of the backend; private events are
// never replayed; a number older than retention, from before a restore
// or past the last one each get their explicit resume_failed answer.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Backend, connectRaw, makeTeam, seqs } from './rtm-lib.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname),
  '../..');

// The last number a client saw (hello's when no event came).
function lastSeq(c) {
  const s = seqs(c);
  return s.length > 0 ? s[s.length - 1] :
    c.msgs.find((m) => m.type === 'hello').last_seq;
}

function resumeArgs(c) {
  const hello = c.msgs.find((m) => m.type === 'hello');
  return { parley_epoch: hello.epoch, parley_seq: String(lastSeq(c)) };
}

// Posts n messages as user through the Web API; returns their texts.
async function post(b, user, channel, n, prefix) {
  const texts = [];
  for (let i = 0; i < n; i++) {
    const text = `${prefix} ${i}`;
    const r = await b.api('chat.postMessage', user.token, { channel, text });
    assert.equal(r.ok, true, JSON.stringify(r));
    texts.push(text);
  }
  return texts;
}

function texts(c, prefix) {
  return c.msgs.filter((m) => m.type === 'message' &&
    m.text?.startsWith(prefix)).map((m) => m.text);
}

// Every persisted event once, numbers rising.
function assertOnceInOrder(c) {
  const s = seqs(c);
  for (let i = 1; i < s.length; i++)
    assert.ok(s[i] > s[i - 1], `seq ${s[i]} after ${s[i - 1]}`);
}

describe('RTM resume', { timeout: 180000 }, () => {
  let b, t, priv;

  before(async () => {
    b = new Backend('rtm_replay_batch = 7\n');
    await b.start();
    t = await makeTeam(b, 'res', ['alice', 'bob']);
    ({ channel_id: priv } = await b.admin.op({ op: 'channel.create',
      team: t.team, name: 'bob-only', private: true,
      creator: t.users.bob.id }));
  });
  after(async () => { await b.stop(); });

  test('50 missed messages, exactly, then live ones', async () => {
    const a1 = await connectRaw(b, t.users.alice.token);
    const args = resumeArgs(a1);
    a1.close();
    const missed = await post(b, t.users.bob, t.general, 50, 'missed');
    // Private events in between are never replayed to alice.
    await post(b, t.users.bob, priv, 3, 'private');

    const a2 = await connectRaw(b, t.users.alice.token, args);
    try {
      assert.deepEqual(a2.msgs[0].type, 'hello');
      await a2.waitCount((m) => m.text?.startsWith('missed'), 50);
      const live = await post(b, t.users.bob, t.general, 2, 'live');
      await a2.waitCount((m) => m.text?.startsWith('live'), 2);
      assert.deepEqual(texts(a2, 'missed'), missed);
      assert.deepEqual(texts(a2, 'live'), live);
      assert.equal(texts(a2, 'private').length, 0);
      assert.ok(a2.msgs.every((m) => m.channel !== priv));
      assertOnceInOrder(a2);
      // The replayed ones come before the live ones, after hello.
      const first = a2.msgs.findIndex((m) => m.text === 'live 0');
      assert.ok(a2.msgs.slice(0, first).filter((m) =>
        m.text?.startsWith('missed')).length === 50);
      assert.equal(a2.msgs.filter((m) => m.type === 'resume_failed').length,
        0);
    } finally {
      a2.close();
    }
  });

  test('A drops; B posts two; A reconnects; B posts one more live',
    async () => {
      const a1 = await connectRaw(b, t.users.alice.token);
      const args = resumeArgs(a1);
      a1.close();
      await post(b, t.users.bob, t.general, 2, 'gap');
      const a2 = await connectRaw(b, t.users.alice.token, args);
      try {
        await post(b, t.users.bob, t.general, 1, 'gap live');
        await a2.waitCount((m) => m.text?.startsWith('gap'), 3);
        // Give a duplicate the time to show up, then count.
        await a2.reply({ type: 'ping' });
        assert.deepEqual(texts(a2, 'gap'), ['gap 0', 'gap 1',
          'gap live 0']);
        assertOnceInOrder(a2);
      } finally {
        a2.close();
      }
    });

  test('resume while messages are being posted: no gap, no repeat',
    async () => {
      const a1 = await connectRaw(b, t.users.alice.token);
      const args = resumeArgs(a1);
      a1.close();
      await post(b, t.users.bob, t.general, 20, 'race');
      const posting = post(b, t.users.bob, t.general, 30, 'race more');
      const a2 = await connectRaw(b, t.users.alice.token, args);
      try {
        await posting;
        await a2.waitCount((m) => m.text?.startsWith('race'), 50);
        await a2.reply({ type: 'ping' });
        const got = texts(a2, 'race');
        assert.equal(got.length, 50);
        assert.equal(new Set(got).size, 50);
        assertOnceInOrder(a2);
        const s = seqs(a2);
        for (let i = 1; i < s.length; i++)
          assert.equal(s[i], s[i - 1] + 1, 'a hole in the numbers');
      } finally {
        a2.close();
      }
    });

  test('the same across SIGKILL and restart of the backend', async () => {
    const a1 = await connectRaw(b, t.users.alice.token);
    const args = resumeArgs(a1);
    const before = await post(b, t.users.bob, t.general, 25, 'kill');
    await a1.waitCount((m) => m.text?.startsWith('kill'), 25);
    await b.kill9();
    await a1.waitClosed();
    await b.start();
    const afterKill = await post(b, t.users.bob, t.general, 25, 'kill after');
    const a2 = await connectRaw(b, t.users.alice.token, args);
    try {
      await a2.waitCount((m) => m.text?.startsWith('kill'), 50);
      await a2.reply({ type: 'ping' });
      assert.deepEqual(texts(a2, 'kill'), [...before, ...afterKill]);
      assert.equal(a2.msgs.find((m) => m.type === 'hello').epoch,
        args.parley_epoch);
      assertOnceInOrder(a2);
      // Every number a1 saw before the crash is still that event.
      const seen = new Map(a1.msgs.filter((m) => m.seq)
        .map((m) => [m.seq, m.text]));
      for (const m of a2.msgs.filter((x) => seen.has(x.seq)))
        assert.equal(m.text, seen.get(m.seq));
    } finally {
      a1.close();
      a2.close();
    }
  });

  // Regression: parley_seq given as a JSON number (not a string) was
  // refused with invalid_resume.
  test('parley_seq as a JSON number resumes like a string', async () => {
    const a1 = await connectRaw(b, t.users.alice.token);
    const args = resumeArgs(a1);
    a1.close();
    const missed = await post(b, t.users.bob, t.general, 3, 'numeric');
    const a2 = await connectRaw(b, t.users.alice.token, {
      parley_epoch: args.parley_epoch,
      parley_seq: Number(args.parley_seq),
    });
    try {
      await a2.waitCount((m) => m.text?.startsWith('numeric'), 3);
      assert.deepEqual(texts(a2, 'numeric'), missed);
    } finally {
      a2.close();
    }
    const bad = await b.api('rtm.connect', t.users.alice.token,
      { parley_epoch: args.parley_epoch, parley_seq: -1 });
    assert.equal(bad.error, 'invalid_resume');
  });

  test('a number past the last one, or of another epoch', async () => {
    const a1 = await connectRaw(b, t.users.alice.token);
    const hello = a1.msgs[0];
    a1.close();
    const fut = await connectRaw(b, t.users.alice.token, {
      parley_epoch: hello.epoch,
      parley_seq: String(hello.last_seq + 1000) });
    const other = await connectRaw(b, t.users.alice.token, {
      parley_epoch: '0000000000000000', parley_seq: '1' });
    try {
      const f = await fut.waitFor((m) => m.type === 'resume_failed');
      assert.equal(f.reason, 'seq_unknown');
      assert.equal(f.epoch, hello.epoch);
      const o = await other.waitFor((m) => m.type === 'resume_failed');
      assert.equal(o.reason, 'epoch_changed');
      // Still connected: live events follow, no replay.
      await post(b, t.users.bob, t.general, 1, 'after failure');
      await other.waitFor((m) => m.text === 'after failure 0');
      assert.equal(other.msgs.filter((m) => m.seq !== undefined &&
        m.seq <= o.last_seq).length, 0);
    } finally {
      fut.close();
      other.close();
    }
  });
});

describe('RTM resume limits', { timeout: 180000 }, () => {
  test('older than retention: seq_too_old', async () => {
    const b = new Backend('retain_events = 20\n');
    await b.start();
    try {
      const t = await makeTeam(b, 'old', ['alice', 'bob']);
      const a1 = await connectRaw(b, t.users.alice.token);
      const args = resumeArgs(a1);
      a1.close();
      await post(b, t.users.bob, t.general, 30, 'flood');
      const a2 = await connectRaw(b, t.users.alice.token, args);
      try {
        const f = await a2.waitFor((m) => m.type === 'resume_failed');
        assert.equal(f.reason, 'seq_too_old');
        assert.equal(texts(a2, 'flood').length, 0);
        // A client that kept up is still served exactly.
        const a3 = await connectRaw(b, t.users.alice.token);
        const args3 = resumeArgs(a3);
        a3.close();
        await post(b, t.users.bob, t.general, 5, 'recent');
        const a4 = await connectRaw(b, t.users.alice.token, args3);
        await a4.waitCount((m) => m.text?.startsWith('recent'), 5);
        assert.equal(a4.msgs.filter((m) => m.type === 'resume_failed')
          .length, 0);
        a4.close();
      } finally {
        a2.close();
      }
    } finally {
      await b.stop();
    }
  });

  test('from before a restore, even once the store grew past it',
    async () => {
      const b = new Backend();
      await b.start();
      const ctl = (...args) => execFileSync(path.join(root,
        'build/bin/parleyctl'), ['-d', path.join(b.dir, 'data'), ...args],
      { encoding: 'utf8', timeout: 30000 });
      try {
        const t = await makeTeam(b, 'rst', ['alice', 'bob']);
        await post(b, t.users.bob, t.general, 5, 'kept');
        await b.stopProcess();
        ctl('backup', path.join(b.dir, 'bk'));
        await b.start();
        await post(b, t.users.bob, t.general, 5, 'lost');
        const a1 = await connectRaw(b, t.users.alice.token);
        const args = resumeArgs(a1);
        a1.close();
        await b.stopProcess();
        ctl('restore', path.join(b.dir, 'bk'));
        await b.start();
        // The restored store grows past the number alice holds.
        await post(b, t.users.bob, t.general, 20, 'new');
        const a2 = await connectRaw(b, t.users.alice.token, args);
        try {
          assert.notEqual(a2.msgs[0].epoch, args.parley_epoch);
          assert.ok(a2.msgs[0].last_seq > Number(args.parley_seq));
          const f = await a2.waitFor((m) => m.type === 'resume_failed');
          assert.equal(f.reason, 'epoch_changed');
          assert.equal(texts(a2, 'new').length, 0);
        } finally {
          a2.close();
        }
      } finally {
        await b.stop();
      }
    });
});
