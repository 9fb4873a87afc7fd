// The Parley web client: sign-in, the sidebar, a channel, its threads,
// dialogs, and the glue between the data layer (data.js), the RTM
// connection (rtm.js) and the DOM (view.js).

import { Api, ApiError } from './api.js';
import { Team } from './data.js';
import { Rtm } from './rtm.js';
import { cmpTs, escapeText, matches, plainText } from './text.js';
import { editInPlace, h, messageItem, Picker } from './view.js';

const $ = (id) => document.getElementById(id);
const SESSION = 'parley.session';
const LAST_CHANNEL = 'parley.channel';
const narrow = window.matchMedia('(max-width: 720px)');

const api = new Api();
const team = new Team(api);
let rtm = null;
let current = null;       // open channel id
let thread = null;        // { chan, ts } of the open thread
let loadingOlder = false;
let typingSent = 0;
const mentionNames = new Map(); // user name -> id, chosen in autocomplete

// ---- session ----

function session() {
  try {
    return JSON.parse(localStorage.getItem(SESSION));
  } catch {
    return null;
  }
}

async function signIn(e) {
  e.preventDefault();
  const form = e.currentTarget;
  const err = $('signin-error');
  err.textContent = '';
  const button = form.querySelector('button');
  button.disabled = true;
  try {
    const r = await api.call('parley.signin', {
      team: $('signin-team').value.trim(),
      user: $('signin-user').value.trim(),
      password: $('signin-password').value,
    });
    localStorage.setItem(SESSION, JSON.stringify({ token: r.token,
      user: r.user_id, team: r.team_id }));
    $('signin-password').value = '';
    await start();
  } catch (ex) {
    const msg = {
      invalid_credentials: 'Wrong team, name or password.',
      account_inactive: 'This account is deactivated.',
      ratelimited: 'Too many attempts; wait a minute and try again.',
      network_error: 'The server cannot be reached.',
    }[ex.error] ?? `Sign-in failed (${ex.error ?? ex.message}).`;
    err.textContent = msg;
  } finally {
    button.disabled = false;
  }
}

async function signOut(revoke = true) {
  const s = session();
  localStorage.removeItem(SESSION);
  rtm?.stop();
  rtm = null;
  if (revoke && s)
    await api.call('auth.revoke').catch(() => {});
  api.setToken(null);
  team.reset();
  current = null;
  thread = null;
  $('app').hidden = true;
  $('signin').hidden = false;
  document.title = 'Parley';
  $('signin-team').focus();
}

function showSignIn() {
  $('app').hidden = true;
  $('signin').hidden = false;
  $('signin-team').focus();
}

async function start() {
  const s = session();
  if (!s)
    return showSignIn();
  api.setToken(s.token);
  try {
    await team.boot();
  } catch (e) {
    if (e instanceof ApiError && ['invalid_auth', 'token_revoked',
      'account_inactive', 'not_authed'].includes(e.error)) {
      localStorage.removeItem(SESSION);
      $('signin-error').textContent = 'Your session ended; sign in again.';
      return showSignIn();
    }
    toast(`Cannot load the team (${e.error ?? e.message}); retrying…`);
    setTimeout(start, 3000);
    return undefined;
  }
  $('signin').hidden = true;
  $('app').hidden = false;
  $('team-name').textContent = team.team?.name ?? '';
  $('self-name').textContent = `Signed in as ${team.userName(team.self.id)}`;
  $('notify-button').hidden = !('Notification' in window) ||
    Notification.permission !== 'default';
  renderSidebar();
  const last = localStorage.getItem(LAST_CHANNEL);
  const first = (last && team.channels.get(last)?.is_member) ? last :
    [...team.channels.values()].find((c) => c.is_general && c.is_member)?.id ??
    team.sidebar().chans[0]?.id ?? team.sidebar().dms[0]?.id;
  if (first)
    await openChannel(first, { focus: !narrow.matches });
  else if (narrow.matches)
    showSidebar(true);
  connect();
  return undefined;
}

function connect() {
  rtm?.stop();
  rtm = new Rtm(api, team);
  rtm.addEventListener('state', (e) => showState(e.detail.state));
  rtm.addEventListener('event', (e) => team.apply(e.detail));
  rtm.addEventListener('hello', () => subscribePresence());
  rtm.addEventListener('reboot', () => reboot());
  rtm.addEventListener('signedout', () => signOut(false));
  rtm.start();
}

// The server no longer holds what this client missed: boot again, then
// reload the open channel's newest messages (merged, none twice).
async function reboot() {
  showState('reconnecting');
  try {
    await team.boot();
  } catch {
    setTimeout(reboot, 2000);
    return;
  }
  renderSidebar();
  if (current) {
    await team.loadHistory(current).catch(() => {});
    renderMessages({ stick: true });
  }
  rtm.reconnectNow();
}

function showState(state) {
  const el = $('conn-status');
  el.className = `conn-status ${state}`;
  el.textContent = {
    online: 'Connected',
    connecting: 'Connecting…',
    reconnecting: 'Reconnecting…',
    offline: '',
  }[state] ?? state;
  $('app').dataset.conn = state;
}

function toast(text) {
  const t = $('toast');
  t.textContent = text;
  t.classList.add('show');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove('show'), 4000);
}

// ---- sidebar ----

function convButton(c) {
  const name = team.channelName(c.id);
  const label = [c.is_im ? name : `#${name}`];
  if (c.unread > 0)
    label.push(`${c.unread} unread`);
  if (c.mentions > 0)
    label.push(`${c.mentions} ${c.mentions === 1 ? 'mention' : 'mentions'}`);
  const b = h('button', { type: 'button', class: 'conv',
    dataset: { channel: c.id },
    'aria-current': c.id === current ? 'page' : null,
    'aria-label': label.join(', '),
    onclick: () => openChannel(c.id) });
  if (c.is_im) {
    const p = team.presence.get(c.user);
    b.append(h('span', { class: `presence ${p ?? ''}`,
      title: p === 'active' ? 'active' : 'away' }));
  }
  b.append(h('span', { class: 'conv-name' + (c.unread > 0 ?
    ' unread-name' : '') }, c.is_im ? name : `# ${name}`));
  if (c.mentions > 0)
    b.append(h('span', { class: 'badge mention-badge',
      'aria-hidden': 'true' }, String(c.mentions)));
  else if (c.unread > 0)
    b.append(h('span', { class: 'badge unread', 'aria-hidden': 'true' },
      String(c.unread)));
  return h('li', {}, b);
}

function renderSidebar() {
  const { chans, dms } = team.sidebar();
  const focused = document.activeElement?.dataset?.channel;
  $('channel-list').replaceChildren(...chans.map(convButton));
  $('dm-list').replaceChildren(...dms.map(convButton));
  if (focused)
    document.querySelector(`.conv[data-channel="${focused}"]`)?.focus();
  let unread = 0;
  for (const c of [...chans, ...dms])
    unread += c.mentions > 0 ? c.mentions : 0;
  document.title = unread > 0 ? `(${unread}) Parley` : 'Parley';
}

function showSidebar(on) {
  $('app').classList.toggle('show-sidebar', on);
  $('menu-button').setAttribute('aria-expanded', on ? 'true' : 'false');
}

// ---- a channel ----

async function openChannel(id, { focus = true } = {}) {
  closeThread();
  current = id;
  localStorage.setItem(LAST_CHANNEL, id);
  showSidebar(false);
  renderSidebar();
  renderHeader();
  $('message-list').replaceChildren();
  $('history-status').textContent = 'Loading…';
  $('typing').textContent = '';
  const h0 = team.hist(id);
  if (!h0.loaded) {
    try {
      await team.loadHistory(id);
    } catch (e) {
      $('history-status').textContent =
        `Cannot load messages (${e.error ?? e.message}).`;
      return;
    }
  }
  if (current !== id)
    return;
  renderMessages({ stick: true });
  markRead();
  if (focus)
    $('composer-input').focus();
  subscribePresence();
}

function renderHeader() {
  const c = team.channels.get(current);
  if (!c)
    return;
  const name = team.channelName(c.id);
  $('channel-title').textContent = c.is_im ? name : `# ${name}`;
  $('channel-topic').textContent = c.topic?.value ?? '';
  const canLeave = c.is_member && !c.is_im && !c.is_mpim && !c.is_general;
  $('leave-button').hidden = !canLeave;
  $('join-button').hidden = c.is_member || c.is_private;
  $('composer').hidden = !c.is_member;
  $('composer-input').placeholder = c.is_im ? `Message ${name}` :
    `Message #${name}`;
}

function atBottom(el) {
  return el.scrollHeight - el.scrollTop - el.clientHeight < 40;
}

function msgCtx(inThread) {
  return { team, inThread, onAction };
}

// Redraws the open channel's messages.  stick: scroll to the bottom;
// otherwise the view stays at the bottom if it was there, else where it
// was.
function renderMessages({ stick = false, keepFrom = null } = {}) {
  if (!current)
    return;
  const box = $('messages');
  const wasBottom = atBottom(box);
  const focusTs = document.activeElement?.closest?.('#message-list .msg')
    ?.dataset.ts;
  const focusClass = document.activeElement?.className;
  const h0 = team.hist(current);
  const list = team.mainList(current);
  $('message-list').replaceChildren(...list.map((m) =>
    messageItem(m, msgCtx(false))));
  $('history-status').textContent = h0.more ? 'Scroll up for older messages'
    : (list.length ? 'The beginning of this conversation' :
      'No messages yet');
  if (keepFrom !== null)
    box.scrollTop = box.scrollHeight - keepFrom;
  else if (stick || wasBottom)
    box.scrollTop = box.scrollHeight;
  if (focusTs) {
    const li = document.querySelector(
      `#message-list .msg[data-ts="${focusTs}"]`);
    const el = li?.querySelector(`.${String(focusClass).split(' ')[0]}`);
    (el ?? li?.querySelector('button'))?.focus();
  }
}

async function loadOlder() {
  if (loadingOlder || !current)
    return;
  const h0 = team.hist(current);
  if (!h0.more)
    return;
  loadingOlder = true;
  const chan = current;
  $('history-status').textContent = 'Loading older messages…';
  try {
    await team.loadHistory(chan, true);
    if (chan === current) {
      const box = $('messages');
      renderMessages({ keepFrom: box.scrollHeight - box.scrollTop });
    }
  } catch (e) {
    $('history-status').textContent =
      `Cannot load older messages (${e.error ?? e.message}).`;
  } finally {
    loadingOlder = false;
  }
}

// Marks the open channel read up to its newest message, when the page
// is being looked at.
function markRead() {
  if (!current || document.visibilityState !== 'visible')
    return;
  const c = team.channels.get(current);
  const ts = team.latestTs(current);
  if (!c?.is_member || !ts)
    return;
  if (c.last_read && cmpTs(ts, c.last_read) <= 0 && !c.unread)
    return;
  team.mark(current, ts).catch(() => {});
  renderSidebar();
}

// ---- threads ----

async function openThread(chan, ts) {
  thread = { chan, ts };
  $('thread').hidden = false;
  $('thread-list').replaceChildren();
  try {
    await team.loadThread(chan, ts);
  } catch (e) {
    toast(`Cannot load the thread (${e.error ?? e.message}).`);
  }
  renderThread();
  $('thread-input').focus();
}

function closeThread() {
  thread = null;
  $('thread').hidden = true;
}

function renderThread() {
  if (!thread)
    return;
  const t = team.thread(thread.chan, thread.ts);
  const list = $('thread-list');
  const wasBottom = atBottom(list);
  list.replaceChildren(...t.list.map((m) => messageItem(m, msgCtx(true))));
  if (wasBottom)
    list.scrollTop = list.scrollHeight;
}

// ---- actions on a message ----

async function onAction(kind, m, arg) {
  const chan = m.channel ?? current;
  try {
    if (kind === 'react') {
      await team.react(chan, m.ts, arg.name, arg.add);
    } else if (kind === 'thread') {
      await openThread(chan, m.thread_ts ?? m.ts);
    } else if (kind === 'edit') {
      await editMessage(chan, m);
    } else if (kind === 'delete') {
      if (window.confirm('Delete this message?'))
        await team.remove(chan, m.ts);
    }
  } catch (e) {
    if (!(e instanceof ApiError && ['already_reacted', 'no_reaction']
      .includes(e.error)))
      toast(`That did not work (${e.error ?? e.message}).`);
  }
}

async function editMessage(chan, m) {
  const li = document.querySelector(
    `.message-list .msg[data-ts="${m.ts}"]`);
  if (!li)
    return;
  const text = await editInPlace(li, toComposer(m.text));
  if (text === null || text.trim() === '' || text === toComposer(m.text)) {
    renderMessages();
    renderThread();
    $('composer-input').focus();
    return;
  }
  await team.edit(chan, m.ts, toMarkup(text));
  $('composer-input').focus();
}

// ---- the composer ----

// Text as typed -> Slack markup: entities escaped, @name of a known
// person made a mention.
function toMarkup(text) {
  return escapeText(text).replace(/(^|[\s(])@([\p{L}\p{N}._-]+)/gu,
    (all, pre, name) => {
      let id = mentionNames.get(name);
      if (!id)
        for (const u of team.users.values())
          if (u.name === name) {
            id = u.id;
            break;
          }
      return id ? `${pre}<@${id}>` : all;
    });
}

// Slack markup -> text to edit: mentions back to @name.
function toComposer(markup) {
  return String(markup ?? '').replace(/<@([UW][A-Z0-9]+)(\|[^>]*)?>/g,
    (all, id) => {
      const u = team.users.get(id);
      return u ? `@${u.name}` : all;
    }).replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

async function send(input, threadTs) {
  const text = input.value;
  if (text.trim() === '' || !current)
    return;
  const chan = threadTs ? thread.chan : current;
  input.value = '';
  typingSent = 0;
  autosize(input);
  try {
    await team.post(chan, toMarkup(text), threadTs);
  } catch (e) {
    input.value = text;
    toast(`Not sent (${e.error ?? e.message}); your text is kept.`);
    return;
  }
  if (threadTs)
    renderThread();
  else if (chan === current)
    renderMessages({ stick: true });
  markRead();
}

function autosize(t) {
  t.style.height = 'auto';
  t.style.height = `${Math.min(t.scrollHeight + 2, 200)}px`;
}

let mentionPicker;
let mentionQuery = null;

async function updateMentions(input) {
  const before = input.value.slice(0, input.selectionStart);
  const m = before.match(/(?:^|\s)@([^\s@]*)$/u);
  if (!m) {
    hideMentions();
    return;
  }
  const q = m[1];
  mentionQuery = q;
  let ids;
  try {
    ids = await team.complete(q, 'users', 8, current);
  } catch {
    return;
  }
  if (mentionQuery !== q)
    return;
  const items = [];
  for (const id of ids) {
    const u = await team.user(id).catch(() => null);
    if (!u)
      continue;
    items.push({ id, name: u.name,
      label: u.profile?.display_name || u.real_name || u.name,
      sub: `@${u.name}${u.real_name ? ' · ' + u.real_name : ''}` });
  }
  if (mentionQuery !== q)
    return;
  if (!items.length) {
    hideMentions();
    return;
  }
  $('mention-list').hidden = false;
  input.setAttribute('aria-expanded', 'true');
  mentionPicker.show(items);
}

function hideMentions() {
  mentionQuery = null;
  $('mention-list').hidden = true;
  $('composer-input').setAttribute('aria-expanded', 'false');
  mentionPicker.show([]);
}

function pickMention(it) {
  const input = $('composer-input');
  const pos = input.selectionStart;
  const before = input.value.slice(0, pos).replace(/@([^\s@]*)$/u,
    `@${it.name} `);
  input.value = before + input.value.slice(pos);
  input.setSelectionRange(before.length, before.length);
  mentionNames.set(it.name, it.id);
  hideMentions();
  input.focus();
}

function composerKeys(e) {
  const input = e.currentTarget;
  if (!$('mention-list').hidden) {
    if (mentionPicker.key(e))
      return;
    if (e.key === 'Escape') {
      e.preventDefault();
      hideMentions();
      return;
    }
  }
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    send(input, null);
  } else if (e.key === 'ArrowUp' && input.value === '') {
    const mine = team.mainList(current ?? '').filter((m) =>
      m.user === team.self?.id);
    const last = mine[mine.length - 1];
    if (last) {
      e.preventDefault();
      editMessage(current, last);
    }
  }
}

function composerInput(e) {
  const input = e.currentTarget;
  autosize(input);
  updateMentions(input);
  const now = Date.now();
  if (input.value && now - typingSent > 3000 && rtm) {
    typingSent = now;
    rtm.typing(current);
  }
}

function renderTyping() {
  if (!current)
    return;
  const who = team.typers(current).map((u) => team.userName(u));
  $('typing').textContent = who.length === 0 ? '' : who.length === 1 ?
    `${who[0]} is typing…` : `${who.join(', ')} are typing…`;
}

// ---- presence ----

function subscribePresence() {
  if (!rtm)
    return;
  const ids = new Set();
  for (const c of team.channels.values())
    if (c.is_im && c.user)
      ids.add(c.user);
  if (current)
    for (const m of team.mainList(current).slice(-50))
      if (m.user)
        ids.add(m.user);
  ids.delete(team.self?.id);
  rtm.subscribePresence([...ids].slice(0, 200));
}

// ---- notifications ----

function notify(chan, m) {
  if (!('Notification' in window) || Notification.permission !== 'granted')
    return;
  if (document.visibilityState === 'visible')
    return;
  const ctx = { self: team.self?.id, userName: (id) => team.userName(id),
    channelName: (id) => team.channelName(id) };
  const c = team.channels.get(chan);
  const where = c?.is_im ? '' : ` in #${team.channelName(chan)}`;
  const n = new Notification(`${team.userName(m.user)}${where}`, {
    body: plainText(m.text, ctx).slice(0, 200), tag: `${chan}/${m.ts}` });
  n.onclick = () => {
    window.focus();
    openChannel(chan);
  };
}

// ---- dialogs ----

function openDialog(id) {
  const d = $(id);
  if (!d.open)
    d.showModal();
  return d;
}

let switcherPicker;

async function updateSwitcher() {
  const q = $('switcher-input').value;
  const seq = (updateSwitcher.seq = (updateSwitcher.seq ?? 0) + 1);
  let chans = [], people = [];
  try {
    [chans, people] = await Promise.all([
      team.complete(q, 'channels', 8),
      q.trim() ? team.complete(q, 'users', 5) : Promise.resolve([]),
    ]);
  } catch (e) {
    toast(`Search failed (${e.error ?? e.message}).`);
  }
  if (seq !== updateSwitcher.seq)
    return;
  const items = [];
  for (const id of chans) {
    const c = team.channels.get(id);
    if (!c)
      continue;
    items.push({ id, kind: 'channel', label: c.is_im ?
      team.channelName(id) : `# ${c.name}`,
      sub: c.is_member ? '' : 'not joined' });
  }
  for (const id of people) {
    if (id === team.self?.id)
      continue;
    const u = await team.user(id).catch(() => null);
    if (u && !items.some((it) => team.channels.get(it.id)?.user === id))
      items.push({ id, kind: 'user', label: u.profile?.display_name ||
        u.real_name || u.name, sub: `@${u.name} · direct message` });
  }
  if (seq === updateSwitcher.seq)
    switcherPicker.show(items);
}

async function pickSwitcher(it) {
  $('switcher').close();
  try {
    if (it.kind === 'user') {
      const c = await team.openDm(it.id);
      await openChannel(c.id);
    } else {
      await openChannel(it.id);
    }
  } catch (e) {
    toast(`Cannot open it (${e.error ?? e.message}).`);
  }
}

function openSwitcher() {
  openDialog('switcher');
  $('switcher-input').value = '';
  $('switcher-input').focus();
  updateSwitcher();
}

async function openBrowse() {
  openDialog('browse');
  $('browse-filter').value = '';
  $('browse-filter').focus();
  const list = $('browse-list');
  list.replaceChildren(h('li', {}, 'Loading…'));
  try {
    browseAll = await team.browse();
  } catch (e) {
    list.replaceChildren(h('li', {}, `Cannot list channels (${e.error}).`));
    return;
  }
  renderBrowse();
}

let browseAll = [];

function renderBrowse() {
  const q = $('browse-filter').value;
  const rows = browseAll.filter((c) => matches(q, [c.name]));
  $('browse-list').replaceChildren(...rows.map((c) => h('li', {
    dataset: { channel: c.id } },
  h('span', {}, `# ${c.name}`),
  c.purpose?.value ? h('span', { class: 'sub' }, c.purpose.value) : null,
  h('span', { class: 'row-actions' }, c.is_member ?
    h('button', { type: 'button', class: 'small',
      'aria-label': `Open #${c.name}`,
      onclick: () => { $('browse').close(); openChannel(c.id); } }, 'Open') :
    h('button', { type: 'button', class: 'small',
      'aria-label': `Join #${c.name}`,
      onclick: async () => {
        try {
          const ch = await team.join(c.id);
          $('browse').close();
          await openChannel(ch.id);
        } catch (e) {
          toast(`Cannot join (${e.error ?? e.message}).`);
        }
      } }, 'Join')))));
}

async function createChannel(e) {
  e.preventDefault();
  const name = $('create-name').value.trim();
  $('create-error').textContent = '';
  try {
    const c = await team.create(name, $('create-private').checked);
    $('create').close();
    $('create-name').value = '';
    await openChannel(c.id);
  } catch (ex) {
    $('create-error').textContent = {
      name_taken: 'That name is taken.',
      invalid_name_specials: 'Use lower-case letters, digits, - and _.',
      invalid_name_punctuation: 'A name needs letters or digits.',
      invalid_name_maxlength: 'At most 80 characters.',
      invalid_name_required: 'A name is needed.',
    }[ex.error] ?? `Cannot create it (${ex.error ?? ex.message}).`;
  }
}

let dmPicker;

async function updateDm() {
  const q = $('dm-input').value;
  const seq = (updateDm.seq = (updateDm.seq ?? 0) + 1);
  let ids = [];
  try {
    ids = await team.complete(q, 'users', 8);
  } catch { /* shown empty */ }
  const items = [];
  for (const id of ids) {
    if (id === team.self?.id)
      continue;
    const u = await team.user(id).catch(() => null);
    if (u)
      items.push({ id, label: u.profile?.display_name || u.real_name ||
        u.name, sub: `@${u.name}` });
  }
  if (seq === updateDm.seq)
    dmPicker.show(items);
}

async function pickDm(it) {
  $('dm').close();
  try {
    const c = await team.openDm(it.id);
    await openChannel(c.id);
  } catch (e) {
    toast(`Cannot open the conversation (${e.error ?? e.message}).`);
  }
}

// ---- data changes ----

let redrawPending = false;

function redrawSoon() {
  if (redrawPending)
    return;
  redrawPending = true;
  requestAnimationFrame(() => {
    redrawPending = false;
    renderSidebar();
    renderHeader();
    renderMessages();
    renderThread();
  });
}

function onChange(e) {
  const d = e.detail;
  switch (d.kind) {
  case 'message':
    if (d.channel === current) {
      renderMessages();
      if (d.added && !team.isThreadReply(d.message))
        markRead();
    }
    if (thread && d.channel === thread.chan &&
      (d.thread === thread.ts || d.ts === thread.ts))
      renderThread();
    if (d.added && d.mention)
      notify(d.channel, d.message);
    renderSidebar();
    break;
  case 'unread':
  case 'channels':
  case 'presence':
    renderSidebar();
    if (d.kind === 'channels')
      renderHeader();
    break;
  case 'typing':
    if (d.channel === current)
      renderTyping();
    break;
  case 'user':
    redrawSoon();
    break;
  default:
    break;
  }
}

// ---- wiring ----

function wire() {
  $('signin-form').addEventListener('submit', signIn);
  $('signout-button').addEventListener('click', () => signOut(true));
  $('menu-button').addEventListener('click', () =>
    showSidebar(!$('app').classList.contains('show-sidebar')));
  $('back-button').addEventListener('click', () => showSidebar(true));
  $('switcher-button').addEventListener('click', openSwitcher);
  $('browse-button').addEventListener('click', openBrowse);
  $('create-button').addEventListener('click', () => {
    openDialog('create');
    $('create-name').focus();
  });
  $('dm-button').addEventListener('click', () => {
    openDialog('dm');
    $('dm-input').value = '';
    $('dm-input').focus();
    updateDm();
  });
  $('leave-button').addEventListener('click', async () => {
    const id = current;
    try {
      await team.leave(id);
      const next = team.sidebar().chans[0]?.id;
      if (next)
        openChannel(next);
    } catch (e) {
      toast(`Cannot leave (${e.error ?? e.message}).`);
    }
  });
  $('join-button').addEventListener('click', async () => {
    try {
      await team.join(current);
      renderHeader();
      $('composer-input').focus();
    } catch (e) {
      toast(`Cannot join (${e.error ?? e.message}).`);
    }
  });
  $('notify-button').addEventListener('click', async () => {
    await Notification.requestPermission();
    $('notify-button').hidden = Notification.permission !== 'default';
  });
  for (const b of document.querySelectorAll('.close-dialog'))
    b.addEventListener('click', () => b.closest('dialog').close());

  const input = $('composer-input');
  mentionPicker = new Picker(input, $('mention-list'), pickMention);
  input.addEventListener('keydown', composerKeys);
  input.addEventListener('input', composerInput);
  input.addEventListener('blur', () => setTimeout(hideMentions, 150));
  $('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    send(input, null);
  });
  const tin = $('thread-input');
  tin.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send(tin, thread?.ts);
    } else if (e.key === 'Escape') {
      closeThread();
      input.focus();
    }
  });
  tin.addEventListener('input', () => autosize(tin));
  $('thread-composer').addEventListener('submit', (e) => {
    e.preventDefault();
    send(tin, thread?.ts);
  });
  $('thread-close').addEventListener('click', () => {
    closeThread();
    input.focus();
  });

  $('messages').addEventListener('scroll', () => {
    if ($('messages').scrollTop < 80)
      loadOlder();
  });

  switcherPicker = new Picker($('switcher-input'), $('switcher-list'),
    pickSwitcher);
  $('switcher-input').addEventListener('input', updateSwitcher);
  $('switcher-input').addEventListener('keydown', (e) =>
    switcherPicker.key(e));
  dmPicker = new Picker($('dm-input'), $('dm-list-pick'), pickDm);
  $('dm-input').addEventListener('input', updateDm);
  $('dm-input').addEventListener('keydown', (e) => dmPicker.key(e));
  $('browse-filter').addEventListener('input', renderBrowse);
  $('create-form').addEventListener('submit', createChannel);

  document.addEventListener('keydown', (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'k' &&
      !$('app').hidden) {
      e.preventDefault();
      openSwitcher();
    }
  });
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible')
      markRead();
  });
  window.addEventListener('storage', (e) => {
    if (e.key === SESSION && e.newValue === null && !$('app').hidden)
      signOut(false);
  });
  team.addEventListener('change', onChange);
  setInterval(renderTyping, 2000);
}

wire();
start();
