// Bad input gets a clean error and the backend keeps serving; rate limits
// answer 429 with Retry-After; parley.signin checks passwords and
// throttles repeated failures per user and per source.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { startBackend, makeTeam, errorOf } from './webapi-lib.mjs';

let b, t, alice;

before(async () => {
  b = await startBackend('rate_tier4 = 5\nsignin_failures = 3\n' +
    'max_body = 64K\n');
  t = await makeTeam(b, 'acme', ['alice', 'bob', 'carol']);
  ({ alice } = t.users);
  await b.admin.op({ op: 'user.set_password', user: alice.id,
    password: 'correct horse' });
  await b.admin.op({ op: 'user.set_password', user: t.users.bob.id,
    password: 'bobpw' });
});

after(async () => { await b.stop(); });

async function post(method, body, ctype, token = alice.token) {
  const headers = { Authorization: `Bearer ${token}` };
  if (ctype)
    headers['Content-Type'] = ctype;
  return b.raw(`/api/${method}`, { method: 'POST', headers, body });
}

const FORM = 'application/x-www-form-urlencoded';
const JSONT = 'application/json';

// team.info is of a tier the rate limit test leaves alone.
async function stillServing() {
  const r = await post('team.info', '', FORM);
  assert.equal(r.status, 200);
  assert.equal(r.json.team.id, t.team);
}

test('malformed bodies get clean errors and the backend keeps serving',
  async () => {
    const deep = '{"a":' + '['.repeat(5000) + ']'.repeat(5000) + '}';
    const many = '{"a":[' + Array(30000).fill('1').join(',') + ']}';
    const cases = [
      ['{"channel":', JSONT, 'invalid_json'],
      ['[1,2,3]', JSONT, 'json_not_object'],
      [Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22,
        0x7d]), JSONT, 'invalid_json'],
      [deep, JSONT, 'invalid_json'],
      [many, JSONT, 'invalid_json'],
      ['{"user":"a","user":"b"}', JSONT, 'invalid_json'],
      ['user=a&user=b', FORM, 'invalid_arguments'],
      ['user=%zz', FORM, 'invalid_form_data'],
      ['user=%C3%28', FORM, 'invalid_form_data'],
      ['user=%00', FORM, 'invalid_form_data'],
      ['user[]=a', FORM, 'invalid_array_arg'],
      ['us%20er=a', FORM, 'invalid_arg_name'],
      ['user=a', 'text/html', 'invalid_post_type'],
      ['user=a', `${FORM}; charset=latin1`, 'invalid_charset'],
      [Buffer.from('user=a'), null, 'missing_post_type'],
    ];
    for (const [body, ctype, want] of cases) {
      const r = await post('team.info', body, ctype);
      assert.equal(r.status, 200, `${want}: HTTP status`);
      assert.equal(r.json.ok, false);
      assert.equal(r.json.error, want, String(body).slice(0, 40));
      await stillServing();
    }
  });

test('JSON bodies and JSON inside form fields are accepted', async () => {
  const ch = (await alice.client.conversations.create({ name: 'json' }))
    .channel.id;
  const blocks = [{ type: 'divider' }];
  const j = await post('chat.postMessage', JSON.stringify({ channel: ch,
    blocks }), 'application/json; charset=utf-8');
  assert.deepEqual(j.json.message.blocks, blocks);
  const f = await post('chat.postMessage', `channel=${ch}&blocks=` +
    encodeURIComponent(JSON.stringify(blocks)), FORM);
  assert.deepEqual(f.json.message.blocks, blocks);
  // GET works for reads, not for writes.
  const g = await b.raw(`/api/conversations.info?channel=${ch}&token=` +
    encodeURIComponent(alice.token));
  assert.equal(g.json.channel.id, ch);
  const gw = await b.raw(`/api/chat.postMessage?channel=${ch}&text=x&token=` +
    encodeURIComponent(alice.token));
  assert.equal(gw.json.error, 'invalid_request_method');
  const u = await post('no.such.method', '', FORM);
  assert.equal(u.json.error, 'unknown_method');
  const put = await b.raw('/api/auth.test', { method: 'PUT' });
  assert.equal(put.status, 405);
});

test('bad HTTP is 400, an oversized body 413', async () => {
  const big = await post('users.info', 'user=' + 'a'.repeat(70 * 1024), FORM);
  assert.equal(big.status, 413);
  const garbage = await new Promise((resolve, reject) => {
    const s = net.createConnection(b.port, '127.0.0.1');
    let data = '';
    s.setTimeout(5000, () => { s.destroy(); reject(new Error('timeout')); });
    s.on('data', (d) => { data += d; });
    s.on('end', () => resolve(data));
    s.on('error', reject);
    s.write('THIS IS NOT HTTP\r\n\r\n');
  });
  assert.match(garbage, /^HTTP\/1\.1 400/);
  await stillServing();
});

test('rate limits: 429 with Retry-After per token and tier', async () => {
  const c = t.users.carol.client;
  let limited = null;
  for (let i = 0; i < 10 && !limited; i++) {
    const e = await errorOf(c.users.info({ user: alice.id }));
    if (e.startsWith('ratelimited'))
      limited = e;
  }
  assert.ok(limited, 'a call was rate limited');
  assert.ok(Number(limited.split(':')[1]) >= 1);
  const r = await post('users.info', `user=${alice.id}`, FORM,
    t.users.carol.token);
  assert.equal(r.status, 429);
  assert.ok(Number(r.headers.get('retry-after')) >= 1);
  // Another token is not affected.
  await stillServing();
});

// parley.signin from a chosen loopback source address, each on a new
// connection (a new source port), with extra headers.
function signin(args, localAddress = '127.0.0.1', extra = {}, server = b) {
  return new Promise((resolve, reject) => {
    const body = new URLSearchParams(args).toString();
    const req = http.request({ host: '127.0.0.1', port: server.port,
      path: '/api/parley.signin', method: 'POST', localAddress,
      agent: false, headers: { 'Content-Type': FORM,
        'Content-Length': Buffer.byteLength(body), ...extra },
      timeout: 5000 },
    (res) => {
      let d = '';
      res.on('data', (c) => { d += c; });
      res.on('end', () => resolve({ status: res.statusCode,
        retry: res.headers['retry-after'], json: JSON.parse(d) }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

test('parley.signin: token out, wrong passwords throttled per user and ' +
  'per source', async () => {
  const ok = await signin({ team: 'acme', user: 'alice',
    password: 'correct horse' });
  assert.equal(ok.json.user_id, alice.id);
  assert.equal((await b.client(ok.json.token).auth.test()).user_id, alice.id);
  assert.equal((await signin({ team: 'acme' })).json.error,
    'invalid_arguments');
  assert.equal((await signin({ team: 'acme', user: 'nobody',
    password: 'x' }, '127.0.0.3')).json.error, 'invalid_credentials');

  for (let i = 0; i < 3; i++)
    assert.equal((await signin({ team: 'acme', user: 'bob',
      password: 'wrong' })).json.error, 'invalid_credentials');
  // bob is throttled from anywhere, even with the right password.
  const u = await signin({ team: 'acme', user: 'bob', password: 'bobpw' },
    '127.0.0.2');
  assert.equal(u.status, 429);
  assert.ok(Number(u.retry) >= 1);
  // Another user from a fresh source signs in.
  assert.equal((await signin({ team: 'acme', user: 'alice',
    password: 'correct horse' }, '127.0.0.2')).json.ok, true);
  // The failing source is throttled for everyone, whatever its port;
  // an X-Forwarded-For from a peer that is not a trusted proxy changes
  // nothing.
  assert.equal((await signin({ team: 'acme', user: 'alice',
    password: 'correct horse' })).status, 429);
  assert.equal((await signin({ team: 'acme', user: 'alice',
    password: 'correct horse' }, '127.0.0.1',
  { 'X-Forwarded-For': '10.0.0.9' })).status, 429);
  await stillServing();
});

test('parley.signin behind a trusted proxy: the forwarded address is ' +
  'the source', async () => {
  const p = await startBackend('signin_failures = 3\n' +
    'trusted_proxies = 127.0.0.1 ::1\n');
  try {
    const pt = await makeTeam(p, 'proxied', ['ann', 'ben']);
    await p.admin.op({ op: 'user.set_password', user: pt.users.ann.id,
      password: 'ann-pw' });
    const xff = (a) => ({ 'X-Forwarded-For': a });
    const wrong = ['ann', 'ben', 'nobody'];
    for (const user of wrong)
      assert.equal((await signin({ team: 'proxied', user,
        password: 'wrong' }, '127.0.0.1', xff('192.0.2.7'), p)).json.error,
      'invalid_credentials');
    // The guessing client is throttled, its neighbours behind the same
    // proxy are not.
    assert.equal((await signin({ team: 'proxied', user: 'ann',
      password: 'ann-pw' }, '127.0.0.1', xff('192.0.2.7'), p)).status, 429);
    assert.equal((await signin({ team: 'proxied', user: 'ann',
      password: 'ann-pw' }, '127.0.0.1', xff('203.0.113.5, 192.0.2.8'),
    p)).json.ok, true);
    // Not an address: the proxy's own address counts, as from a peer
    // that is not trusted.
    for (let i = 0; i < 3; i++)
      assert.equal((await signin({ team: 'proxied', user: `guess${i}`,
        password: 'x' }, '127.0.0.4', xff('192.0.2.9'), p)).json.error,
      'invalid_credentials');
    assert.equal((await signin({ team: 'proxied', user: 'ann',
      password: 'ann-pw' }, '127.0.0.4', xff('192.0.2.10'), p)).status, 429);
    assert.equal((await signin({ team: 'proxied', user: 'ann',
      password: 'ann-pw' }, '127.0.0.1', xff('not-an-address'), p))
      .json.ok, true);
  } finally {
    await p.stop();
  }
});
