// parleyctl while a backend runs: admin commands go through the backend's
// admin socket (found from -c parley.conf, or -S), so @slack/web-api
// clients see each change at once; backup works online; the commands
// that need the files to themselves refuse with a clear message.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startBackend, errorOf } from './webapi-lib.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname),
  '../..');
const ctlBin = path.join(root, 'build/bin/parleyctl');

let b, conf;

function ctl(...args) {
  const r = spawnSync(ctlBin, args, { encoding: 'utf8', timeout: 60000 });
  if (r.error)
    throw r.error;
  return r;
}

// parleyctl -c parley.conf ARGS, which must succeed; its stdout trimmed.
function ok(...args) {
  const r = ctl('-c', conf, ...args);
  assert.equal(r.status, 0, `parleyctl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

before(async () => {
  b = await startBackend();
  conf = path.join(b.dir, 'parley.conf');
});

after(async () => {
  if (b)
    await b.stop();
});

test('team, users, channels and tokens made by parleyctl are seen at once',
  async () => {
    const team = ok('team', 'create', 'Acme', 'acme');
    assert.match(team, /^T[0-9A-Z]{10}$/);
    const alice = ok('user', 'create', 'acme', 'alice', 'Alice Liddell',
      'alice-pw-1');
    const tok = ok('token', 'acme', 'alice');
    const ca = b.client(tok);
    const who = await ca.auth.test();
    assert.equal(who.user_id, alice);
    assert.equal(who.team_id, team);

    const bob = ok('user', 'create', team, 'bob', 'Bob');
    const users = await ca.users.list();
    assert.ok(users.members.some((u) => u.id === bob && u.name === 'bob'));

    const chan = ok('channel', 'create', 'acme', 'plans', 'alice');
    const list = await ca.conversations.list();
    const c = list.channels.find((x) => x.id === chan);
    assert.ok(c, 'new channel listed');
    assert.equal(c.name, 'plans');
    assert.equal(c.is_member, true);
    const priv = ok('channel', 'create', 'acme', 'secret', 'alice',
      'private');
    assert.equal((await ca.conversations.info({ channel: priv }))
      .channel.is_private, true);

    // A token with a lifetime, minted with the explicit "mint" form.
    const short = ok('token', 'mint', 'acme', 'bob', '3600');
    const exp = Number(short.split('.')[5]);
    assert.ok(exp > Date.now() / 1000 + 3000 && exp < Date.now() / 1000 +
      3700, `expiry ${exp}`);
    assert.equal((await b.client(short).auth.test()).user_id, bob);

    // The backend logged each as an admin change, and the store
    // recorded each as an event: a message posted now gets a later seq.
    const posted = await ca.chat.postMessage({ channel: chan, text: 'hi' });
    assert.equal(posted.ok, true);
  });

test('deactivation, revocation, roles and passwords apply at once',
  async () => {
    const carol = ok('user', 'create', 'acme', 'carol', 'Carol', 'old-pw');
    const t1 = ok('token', 'acme', 'carol');
    const t2 = ok('token', 'acme', 'carol');
    const admin = b.client(ok('token', 'acme', 'alice'));

    // One token revoked by the whole token; the other keeps working.
    const rv = ok('token', 'revoke', t1);
    assert.match(rv, /revoked/);
    assert.equal(await errorOf(b.client(t1).auth.test()), 'token_revoked');
    assert.equal((await b.client(t2).auth.test()).user_id, carol);

    // A role: members may not archive a channel they did not create...
    const chan = ok('channel', 'create', 'acme', 'carol-test', 'alice');
    await admin.conversations.invite({ channel: chan, users: carol });
    const cc = b.client(t2);
    assert.equal(await errorOf(cc.conversations.archive({ channel: chan })),
      'restricted_action');
    ok('user', 'role', 'acme', 'carol', 'admin');
    assert.equal((await admin.users.info({ user: carol })).user.is_admin,
      true);
    assert.equal((await cc.conversations.archive({ channel: chan })).ok,
      true);

    // A new password signs in; the old one does not.
    ok('user', 'password', 'acme', 'carol', 'new-pw');
    const signin = async (password) => (await b.raw('/api/parley.signin', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ team: 'acme', user: 'carol', password }),
    })).json;
    assert.equal((await signin('new-pw')).ok, true);
    assert.equal((await signin('old-pw')).error, 'invalid_credentials');

    // Deactivation revokes every token of the user at once.
    const out = ok('user', 'deactivate', 'acme', 'carol');
    assert.match(out, /deactivated/);
    assert.equal(await errorOf(cc.auth.test()), 'token_revoked');
    assert.equal((await admin.users.info({ user: carol })).user.deleted,
      true);
  });

test('rotate-key: the backend signs with the new key, old tokens verify',
  async () => {
    const before = ok('token', 'acme', 'alice');
    const out = ok('rotate-key');
    assert.match(out, /signs new tokens with key (\w+)/);
    const kid = out.match(/signs new tokens with key (\w+)/)[1];
    assert.equal(fs.readFileSync(b.keys, 'utf8').trim().split('\n').length,
      2);
    const fresh = ok('token', 'acme', 'alice');
    assert.equal(fresh.split('.')[1], kid);
    assert.notEqual(before.split('.')[1], kid);
    assert.equal((await b.client(fresh).auth.test()).ok, true);
    assert.equal((await b.client(before).auth.test()).ok, true);
    // Two more rotations: each reload frees the set two reloads old
    // (AddressSanitizer checks the frees when the backend exits).
    ok('rotate-key');
    const last = ok('rotate-key').match(/with key (\w+)/)[1];
    const newest = ok('token', 'acme', 'alice');
    assert.equal(newest.split('.')[1], last);
    for (const tok of [before, fresh, newest])
      assert.equal((await b.client(tok).auth.test()).ok, true);
    // Sign-in tokens use the newest key too.
    const s = (await b.raw('/api/parley.signin', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ team: 'acme', user: 'alice',
        password: 'alice-pw-1' }),
    })).json;
    assert.equal(s.token.split('.')[1], last);
  });

test('message delete through the backend scrubs the message', async () => {
  const ca = b.client(ok('token', 'acme', 'alice'));
  const chan = (await ca.conversations.list()).channels
    .find((c) => c.name === 'plans').id;
  const m = await ca.chat.postMessage({ channel: chan, text: 'to go' });
  ok('message', 'delete', chan, m.ts);
  const h = await ca.conversations.history({ channel: chan });
  assert.ok(!h.messages.some((x) => x.ts === m.ts));
});

test('backup runs online; exclusive commands refuse while the backend runs',
  async () => {
    const copy = path.join(b.dir, 'online-backup');
    ok('backup', copy);
    assert.ok(fs.statSync(path.join(copy, 'data.mdb')).size > 0);
    // The copy is a whole store: it verifies and holds the team.
    const v = ctl('-d', copy, 'verify');
    assert.equal(v.status, 0, v.stdout + v.stderr);
    assert.match(ctl('-d', copy, 'export', 'acme').stdout, /"alice"/);

    for (const args of [['restore', copy], ['compact'], ['migrate'],
      ['import', '/dev/null'], ['seed-demo']]) {
      const r = ctl('-c', conf, ...args);
      assert.notEqual(r.status, 0, args[0]);
      assert.match(r.stderr, new RegExp(`${args[0]} needs the store to ` +
        `itself, but a backend \\(pid ${b.proc.pid}\\) holds .* stop it ` +
        'first'));
    }
    // Commands that read the files name the process holding them.
    const held = ctl('-c', conf, 'verify');
    assert.notEqual(held.status, 0);
    assert.match(held.stderr, new RegExp(`pid ${b.proc.pid}`));
    assert.ok(b.alive());
  });

test('-S names the socket; a socket nobody answers is an error', async () => {
  const sock = path.join(b.dir, 'data', 'admin.sock');
  const r = ctl('-S', sock, '-d', '/nonexistent', 'team', 'create', 'Beta',
    'beta');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^T[0-9A-Z]{10}$/m);
  const dead = ctl('-S', path.join(b.dir, 'nobody.sock'), 'team', 'create',
    'Gamma', 'gamma');
  assert.notEqual(dead.status, 0);
  assert.match(dead.stderr, /admin socket .*nobody\.sock/);
  // A name that exists is refused by the backend, with its error.
  const dup = ctl('-c', conf, 'team', 'create', 'Beta', 'beta');
  assert.notEqual(dup.status, 0);
  assert.match(dup.stderr, /domain_taken/);
});
