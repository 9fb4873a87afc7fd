// The web client in headless Debian chromium (playwright-core) against a
// real parley-backend with the demo team.  Each person's browser reaches
// the backend through a TCP proxy of their own, so one person's network
// can be cut from outside the browser while the other carries on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { startStack, signIn, openConv, post, message, PEOPLE, TEAM,
  screenshotPath } from './web-lib.mjs';

const require = createRequire(import.meta.url);
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

let st;

before(async () => {
  st = await startStack();
});

after(async () => {
  await st?.stop();
});

// Two people, each in a browser context of their own behind a proxy.
async function pair(a = 'zoe', b = 'amelie', conv = 'general') {
  const pa = await st.proxy(), pb = await st.proxy();
  const ca = await st.context(pa.url), cb = await st.context(pb.url);
  const A = await ca.newPage(), B = await cb.newPage();
  await signIn(A, a);
  await signIn(B, b);
  await openConv(A, conv);
  await openConv(B, conv);
  return { A, B, pa, pb, ca, cb,
    async close() {
      assert.deepEqual(ca.errors.map(String), []);
      assert.deepEqual(cb.errors.map(String), []);
      await ca.close();
      await cb.close();
    } };
}

// Types text in the composer, picks the first mention offered once it
// is the one expected (the list of a shorter query may show first while
// the edge answers the whole one), and returns the option's label.
async function mention(page, before, query, expected) {
  const box = page.locator('#composer-input');
  await box.fill(before);
  await box.pressSequentially(`@${query}`);
  const opt = page.locator('#mention-list li[aria-selected="true"]',
    { hasText: expected });
  await opt.waitFor();
  const label = await opt.textContent();
  await box.press('Enter');
  return label;
}

test('two people chat live: channel, thread, reactions, edit, delete, '
  + 'mentions with accents', { timeout: 120000 }, async () => {
  const before = {
    cached: await st.edgeCounter('parley_edge_cached_total'),
    rtm: await st.edgeCounter('parley_edge_rtm_connections_total'),
  };
  const { A, B, close } = await pair();
  // The web client is slim: HAProxy sends its calls and its WebSocket to
  // an edge, which answers the boot from its cache.
  assert.ok(await st.edgeCounter('parley_edge_cached_total') > before.cached);
  assert.ok(await st.edgeCounter('parley_edge_rtm_connections_total') >=
    before.rtm + 2);

  // Typing shows on the other side.
  await A.locator('#composer-input').pressSequentially('tap');
  await B.locator('#typing', { hasText: 'Zoë is typing' }).waitFor();
  await A.locator('#composer-input').fill('');

  // A message each way.
  await post(A, 'Bonjour from Zoë');
  await message(B, 'Bonjour from Zoë').waitFor();
  await post(B, 'Salut Zoë');
  await message(A, 'Salut Zoë').waitFor();

  // Mentions through autocomplete: "zoe" finds "Zoë" without its
  // diaeresis, "lefe" her family name Lefèvre, "ame" finds Amélie.
  let label = await mention(B, 'Merci ', 'zoe', 'Zoë');
  assert.match(label, /Zoë/);
  await B.locator('#composer-input').press('Enter');
  const toZoe = message(A, 'Merci @Zoë');
  await toZoe.waitFor();
  assert.match(await toZoe.getAttribute('class'), /mentions-me/);
  assert.equal(await toZoe.locator('.mention-me').textContent(), '@Zoë');

  await B.locator('#composer-input').fill('');
  await B.locator('#composer-input').pressSequentially('@lefe');
  await B.locator('#mention-list li', { hasText: 'Zoë' }).waitFor();
  await B.locator('#composer-input').press('Escape');
  await B.locator('#composer-input').fill('');

  label = await mention(A, 'Voilà ', 'ame', 'Amélie');
  assert.match(label, /Amélie/);
  await A.locator('#composer-input').press('Enter');
  const toAmelie = message(B, 'Voilà @Amélie');
  await toAmelie.waitFor();
  assert.match(await toAmelie.getAttribute('class'), /mentions-me/);

  // A reaction, seen by the other, then taken back.
  const bonjourOnA = message(A, 'Bonjour from Zoë');
  const salutOnA = message(A, 'Salut Zoë');
  await salutOnA.hover();
  await salutOnA.locator('.act-react').click();
  await salutOnA.locator('.picker button[data-reaction="tada"]').click();
  const tadaOnB = message(B, 'Salut Zoë').locator(
    '.reaction[data-reaction="tada"]');
  await tadaOnB.waitFor();
  assert.match(await tadaOnB.textContent(), /1/);
  await salutOnA.locator('.reaction[data-reaction="tada"]').click();
  await tadaOnB.waitFor({ state: 'detached' });

  // Edit and delete one's own message.
  await bonjourOnA.hover();
  await bonjourOnA.locator('.act-edit').click();
  const edit = A.locator('.edit-box');
  await edit.fill('Bonjour, edited');
  await edit.press('Enter');
  const editedOnB = message(B, 'Bonjour, edited');
  await editedOnB.waitFor();
  assert.equal(await editedOnB.locator('.msg-edited').count(), 1);
  assert.equal(await B.locator('#message-list .msg-text',
    { hasText: 'Bonjour from Zoë' }).count(), 0);
  A.once('dialog', (d) => d.accept());
  const editedOnA = message(A, 'Bonjour, edited');
  await editedOnA.hover();
  await editedOnA.locator('.act-delete').click();
  await editedOnB.waitFor({ state: 'detached' });
  // Only one's own messages offer edit and delete.
  assert.equal(await salutOnA.locator('.act-edit, .act-delete').count(), 0);

  // A thread: B replies to Zoë's mention; A sees the count, opens it,
  // and answers; B sees the answer live.
  const parentOnB = message(B, 'Merci @Zoë');
  await parentOnB.hover();
  await parentOnB.locator('.act-thread').click();
  await B.locator('#thread:not([hidden])').waitFor();
  await B.locator('#thread-input').fill('Une réponse dans le fil');
  await B.locator('#thread-input').press('Enter');
  await message(B, 'Une réponse dans le fil', '#thread-list').waitFor();
  const replies = toZoe.locator('.replies-link', { hasText: '1 reply' });
  await replies.waitFor();
  await replies.click();
  await message(A, 'Une réponse dans le fil', '#thread-list').waitFor();
  await A.locator('#thread-input').fill('Et ma réponse');
  await A.locator('#thread-input').press('Enter');
  await message(B, 'Et ma réponse', '#thread-list').waitFor();
  // Replies stay out of the channel's main list, which counts them once
  // (the reply and the parent's message_replied event are one reply).
  await parentOnB.locator('.replies-link', { hasText: '2 replies' })
    .waitFor();
  assert.equal(await B.locator('#message-list .msg-text',
    { hasText: 'Et ma réponse' }).count(), 0);
  assert.equal(await B.locator('#message-list .msg-text:empty').count(), 0);
  assert.equal(await A.locator('#message-list .msg-text:empty').count(), 0);

  await A.screenshot({ path: screenshotPath('desktop-thread') });
  await A.locator('#thread-close').click();
  await A.screenshot({ path: screenshotPath('desktop-channel') });
  await close();
});

test('a cut connection shows reconnecting, then the 20 missed messages '
  + 'once and in order, without a reload', { timeout: 120000 }, async () => {
  const { A, B, pa, close } = await pair();
  await A.evaluate(() => { window.notReloaded = true; });

  pa.cut();
  await A.locator('#conn-status.reconnecting').waitFor();
  assert.equal(await A.locator('#conn-status').textContent(),
    'Reconnecting…');
  await A.screenshot({ path: screenshotPath('desktop-reconnecting') });

  const sent = [];
  for (let i = 1; i <= 20; i++) {
    sent.push(`missed ${i}`);
    await post(B, `missed ${i}`);
    await message(B, `missed ${i}`).waitFor();
  }
  assert.equal(await A.locator('#message-list .msg-text',
    { hasText: /^missed \d+$/ }).count(), 0);

  pa.restore();
  await A.locator('#conn-status.online').waitFor({ timeout: 20000 });
  await message(A, 'missed 20').waitFor();
  const seen = (await A.locator('#message-list .msg-text')
    .allTextContents()).filter((t) => /^missed \d+$/.test(t));
  assert.deepEqual(seen, sent);
  assert.equal(await A.evaluate(() => window.notReloaded), true);

  // Live again afterwards.
  await post(B, 'after the cut');
  await message(A, 'after the cut').waitFor();
  await close();
});

test('a message holding HTML and a script tag is shown as text',
  { timeout: 120000 }, async () => {
  const { A, B, close } = await pair();
  const evil = '<b>bold</b><script>window.owned = 1</script>' +
    '<img src=x onerror="window.owned = 2"> & <a href="javascript:alert(1)">' +
    'x</a> https://example.com/a?b=1';
  await post(A, evil);
  for (const P of [A, B]) {
    const m = message(P, '<b>bold</b>');
    await m.waitFor();
    assert.equal(await m.locator('.msg-text').textContent(), evil);
    assert.equal(await m.locator('.msg-text b, .msg-text script, ' +
      '.msg-text img').count(), 0);
    const links = await m.locator('.msg-text a').evaluateAll((as) =>
      as.map((a) => a.href));
    assert.deepEqual(links, ['https://example.com/a?b=1']);
    assert.equal(await P.evaluate(() => window.owned), undefined);
  }
  await close();
});

test('reading a channel in one tab clears its unread count in the other',
  { timeout: 120000 }, async () => {
  const { A, B, ca, close } = await pair();
  const A2 = await ca.newPage(); // same person, second tab, same session
  await A2.goto('/');
  await A2.locator('#conn-status.online').waitFor();
  await openConv(A2, 'general');

  const badge = (P) => P.locator('#sidebar .conv', { hasText: 'café' })
    .locator('.badge');
  // What is unread already depends on the tests before this one.
  const count = async (P) => (await badge(P).count()) === 0 ? 0 :
    Number(await badge(P).textContent());
  const n0 = await count(A);
  assert.equal(await count(A2), n0);
  await openConv(B, 'café');
  await post(B, 'Un nouveau message au café');
  await post(B, 'Et un autre');
  // Both messages arrive one after the other: wait for the count to
  // grow by 2 rather than reading the first badge that shows.
  for (const P of [A, A2])
    await badge(P).filter({ hasText: new RegExp(`^${n0 + 2}$`) })
      .waitFor();
  await openConv(A, 'café');
  await badge(A2).waitFor({ state: 'detached' });
  assert.equal(await badge(A).count(), 0);
  await A2.close();
  await close();
});

test('create, browse, join and leave channels; open a direct message',
  { timeout: 120000 }, async () => {
  const { A, B, close } = await pair();

  await A.getByRole('button', { name: 'Create a channel' }).click();
  await A.getByLabel('Name', { exact: true }).fill('projets');
  await A.locator('#create-form button[type="submit"]').click();
  await A.locator('#channel-title', { hasText: 'projets' }).waitFor();
  await post(A, 'Premier message du projet');

  await B.getByRole('button', { name: 'Browse' }).click();
  await B.getByLabel('Filter').fill('proj');
  await B.getByRole('button', { name: 'Join #projets' }).click();
  await B.locator('#channel-title', { hasText: 'projets' }).waitFor();
  await message(B, 'Premier message du projet').waitFor();
  await B.getByRole('button', { name: 'Leave' }).click();
  await B.locator('#sidebar .conv', { hasText: 'projets' })
    .waitFor({ state: 'detached' });

  // A direct message found by a name typed without its accent.
  await A.getByRole('button', { name: 'New direct message' }).click();
  await A.locator('#dm-input').pressSequentially('amel');
  await A.locator('#dm-list-pick li', { hasText: 'Amélie' }).click();
  await A.locator('#channel-title', { hasText: 'Amélie' }).waitFor();
  await post(A, 'Un message privé');
  const dm = B.locator('#dm-list .conv', { hasText: 'Zoë' });
  await dm.waitFor();
  await dm.locator('.badge').waitFor();
  await dm.click();
  await message(B, 'Un message privé').waitFor();
  // Presence: Zoë is connected.
  await B.locator('#dm-list .conv .presence.active').waitFor();
  await close();
});

test('a mention while the tab is hidden raises a notification when '
  + 'allowed', { timeout: 120000 }, async () => {
  const { A, B, ca, close } = await pair();
  await ca.grantPermissions(['notifications']);
  // Record notifications and pretend the tab went to the background.
  await A.evaluate(() => {
    window.shown = [];
    window.Notification = class {
      static permission = 'granted';
      constructor(title, opts) { window.shown.push({ title, ...opts }); }
    };
    Object.defineProperty(document, 'visibilityState',
      { configurable: true, get: () => 'hidden' });
  });
  await post(B, 'pas de mention ici');
  await message(A, 'pas de mention ici').waitFor();
  await mention(B, 'Regarde ', 'zoe', 'Zoë');
  await B.locator('#composer-input').press('Enter');
  await message(A, 'Regarde @Zoë').waitFor();
  const shown = await A.evaluate(() => window.shown);
  assert.equal(shown.length, 1);
  assert.match(shown[0].title, /Amélie/);
  assert.match(shown[0].body, /Regarde @Zoë/);
  await close();
});

test('older history loads on scroll, in order, none twice',
  { timeout: 120000 }, async () => {
  const { token } = await st.signinToken('ana');
  const c = await st.call(token, 'conversations.create',
    { name: 'archives' });
  const sent = [];
  for (let i = 1; i <= 120; i++) {
    sent.push(`old ${i}`);
    await st.call(token, 'chat.postMessage',
      { channel: c.channel.id, text: `old ${i}` });
  }
  const p = await st.proxy();
  const ctx = await st.context(p.url);
  const P = await ctx.newPage();
  await signIn(P, 'ana');
  await openConv(P, 'archives');
  await message(P, 'old 120').waitFor();
  const texts = async () => (await P.locator('#message-list .msg-text')
    .allTextContents()).filter((t) => /^old \d+$/.test(t));
  assert.deepEqual(await texts(), sent.slice(-50));
  for (let i = 0; i < 10 && !(await texts()).includes('old 1'); i++) {
    await P.locator('#messages').evaluate((el) => { el.scrollTop = 0; });
    await P.waitForFunction((n) => document.querySelectorAll(
      '#message-list .msg').length > n,
    (await texts()).length, { timeout: 5000 }).catch(() => {});
  }
  assert.deepEqual(await texts(), sent);
  await P.locator('#history-status',
    { hasText: 'The beginning of this conversation' }).waitFor();
  assert.deepEqual(ctx.errors.map(String), []);
  await ctx.close();
});

test('the main actions with the keyboard alone',
  { timeout: 120000 }, async () => {
  const p = await st.proxy();
  const ctx = await st.context(p.url);
  const P = await ctx.newPage();
  const kb = P.keyboard;
  await P.goto('/');
  // Focus starts in the sign-in form.
  await P.locator('#signin-team:focus').waitFor();
  await kb.type(TEAM);
  await kb.press('Tab');
  await kb.type(PEOPLE.ana.user);
  await kb.press('Tab');
  await kb.type(PEOPLE.ana.password);
  await kb.press('Enter');
  await P.locator('#conn-status.online').waitFor();

  // Ctrl+K, a few letters, Enter: the channel switcher.
  await kb.press('Control+k');
  await P.locator('#switcher-input:focus').waitFor();
  await kb.type('rand');
  await P.locator('#switcher-list li[aria-selected="true"]',
    { hasText: 'random' }).waitFor();
  await kb.press('Enter');
  await P.locator('#channel-title', { hasText: 'random' }).waitFor();
  await P.locator('#composer-input:focus').waitFor();

  // Enter sends; Shift+Enter makes a new line.
  await kb.type('first line');
  await kb.press('Shift+Enter');
  await kb.type('second line');
  await kb.press('Enter');
  const m = message(P, 'first line');
  await m.waitFor();
  assert.equal(await m.locator('.msg-text').textContent(),
    'first line\nsecond line');

  // Arrow Up edits one's last message.
  await kb.press('ArrowUp');
  await P.locator('.edit-box:focus').waitFor();
  await kb.press('End');
  await kb.type(' (edited by keyboard)');
  await kb.press('Enter');
  await message(P, 'second line (edited by keyboard)').waitFor();

  // Back through the message's actions to "Add reaction", pick one.
  await P.locator('#composer-input:focus').waitFor();
  for (let i = 0; i < 8; i++) {
    await kb.press('Shift+Tab');
    if (await P.evaluate(() => document.activeElement.classList
      .contains('act-react')))
      break;
  }
  await kb.press('Enter');
  await P.locator('.picker button:focus').waitFor();
  await kb.press('Enter');
  await message(P, 'first line').locator('.reaction').waitFor();
  assert.deepEqual(ctx.errors.map(String), []);
  await ctx.close();
});

test('stays signed in across a reload; signing out revokes the token',
  { timeout: 60000 }, async () => {
  const p = await st.proxy();
  const ctx = await st.context(p.url);
  const P = await ctx.newPage();
  await signIn(P, 'ana');
  await P.reload();
  await P.locator('#conn-status.online').waitFor();
  assert.equal(await P.locator('#signin').isVisible(), false);
  const { token } = JSON.parse(await P.evaluate(() =>
    localStorage.getItem('parley.session')));
  assert.equal((await st.call(token, 'auth.test')).ok, true);
  await P.getByRole('button', { name: 'Sign out' }).click();
  await P.locator('#signin-form').waitFor();
  await assert.rejects(st.call(token, 'auth.test'), /token_revoked/);
  await P.reload();
  await P.locator('#signin-form').waitFor();
  assert.equal(await P.evaluate(() =>
    localStorage.getItem('parley.session')), null);
  // A wrong password is said so, in the form.
  await P.getByLabel('Team').fill(TEAM);
  await P.getByLabel('User name or e-mail').fill('ana');
  await P.getByLabel('Password').fill('not-her-password');
  await P.getByRole('button', { name: 'Sign in' }).click();
  await P.locator('#signin-error', { hasText: 'Wrong team' }).waitFor();
  assert.deepEqual(ctx.errors.map(String), []);
  await ctx.close();
});

// Runs axe-core on page and returns its serious and critical findings.
async function axe(page) {
  await page.evaluate(AXE);
  const res = await page.evaluate(async () => {
    const r = await window.axe.run(document, {
      resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact,
      nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
  });
  return res.filter((v) => v.impact === 'serious' ||
    v.impact === 'critical');
}

test('axe-core finds no serious violations; screenshots of the main views',
  { timeout: 120000 }, async () => {
  const p = await st.proxy();
  const ctx = await st.context(p.url);
  const P = await ctx.newPage();
  await P.goto('/');
  await P.locator('#signin-team').waitFor();
  assert.deepEqual(await axe(P), [], 'sign-in');
  await P.screenshot({ path: screenshotPath('desktop-signin') });

  await signIn(P, 'amelie');
  await openConv(P, 'general');
  assert.deepEqual(await axe(P), [], 'channel');

  const parent = P.locator('#message-list .msg', {
    has: P.locator('.replies-link') }).first();
  await parent.locator('.replies-link').click();
  await P.locator('#thread-list .msg').first().waitFor();
  assert.deepEqual(await axe(P), [], 'thread');
  await P.locator('#thread-close').click();

  await P.keyboard.press('Control+k');
  await P.locator('#switcher-list li').first().waitFor();
  assert.deepEqual(await axe(P), [], 'switcher');
  await P.screenshot({ path: screenshotPath('desktop-switcher') });
  await P.keyboard.press('Escape');

  // Narrow screens: one pane at a time.
  const N = await (await st.context(p.url, { width: 390, height: 760 }))
    .newPage();
  await signIn(N, 'amelie');
  await N.locator('#channel-title').waitFor();
  assert.equal(await N.locator('#sidebar').isVisible(), false);
  assert.deepEqual(await axe(N), [], 'narrow channel');
  await N.screenshot({ path: screenshotPath('narrow-channel') });
  await N.getByRole('button', { name: 'Back to conversations' }).click();
  await N.locator('#sidebar').waitFor();
  assert.equal(await N.locator('#channel').isVisible(), false);
  assert.deepEqual(await axe(N), [], 'narrow sidebar');
  await N.screenshot({ path: screenshotPath('narrow-sidebar') });
  await N.locator('#sidebar .conv', { hasText: 'café' }).click();
  await N.locator('#channel-title', { hasText: 'café' }).waitFor();
  assert.equal(await N.locator('#sidebar').isVisible(), false);
  assert.deepEqual(ctx.errors.map(String), []);
  await ctx.close();
});
