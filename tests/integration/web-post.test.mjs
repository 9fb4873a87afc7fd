// Posting the way the web client does: a form body, a UUID as
// client_msg_id, text with Slack's entities escaped.
//
// Regression: a client_msg_id longer than 16 bytes (a UUID is 36)
// overflowed the stack key buffer of store_txn_message_put and crashed
// the backend's writer thread.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startBackend, makeTeam } from './webapi-lib.mjs';

let b, t;

before(async () => {
  b = await startBackend();
  t = await makeTeam(b, 'webpost', ['alice', 'bob']);
});

after(async () => {
  await b?.stop();
});

async function form(token, method, args) {
  const r = await fetch(`${b.url}/api/${method}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`,
      'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(args),
    signal: AbortSignal.timeout(5000),
  });
  return r.json();
}

test('a UUID and a 64-byte client_msg_id are kept, and a retry is one message',
  async () => {
    const { alice } = t.users;
    const c = await alice.client.conversations.create({ name: 'posts' });
    const chan = c.channel.id;
    for (const cmid of [crypto.randomUUID(), 'x'.repeat(64)]) {
      const text = '&lt;b&gt;bold&lt;/b&gt; &amp; more';
      const first = await form(alice.token, 'chat.postMessage',
        { channel: chan, text, client_msg_id: cmid });
      assert.equal(first.ok, true, JSON.stringify(first));
      assert.equal(first.message.client_msg_id, cmid);
      const again = await form(alice.token, 'chat.postMessage',
        { channel: chan, text, client_msg_id: cmid });
      assert.equal(again.ts, first.ts);
    }
    const h = await alice.client.conversations.history({ channel: chan });
    assert.equal(h.messages.length, 2);
    const tooLong = await form(alice.token, 'chat.postMessage',
      { channel: chan, text: 'x', client_msg_id: 'y'.repeat(65) });
    assert.equal(tooLong.ok, false);
    assert.ok(b.alive());
  });
