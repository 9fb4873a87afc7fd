// The data layer: what the client knows of its team, where it gets it,
// and how events change it.  The UI reads this and listens to its
// 'change' events; nothing here touches the DOM.
//
// Where data comes from is decided in one place, SOURCES below: the
// slim boot and server-side autocomplete of an edge when the server
// answers them, else the backend's full boot (rtm.start) and a filter
// over what is loaded.  Users the client has not seen are loaded lazily
// with users.info, a request per id however many ask at once.

import { ApiError } from './api.js';
import { cmpTs, fold, matches } from './text.js';

export const SOURCES = {
  // [method, args]: tried in order; a server that does not know a
  // method answers unknown_method and the next one is used.
  boot: [['parley.boot', {}], ['rtm.start', {}]],
  complete: 'parley.autocomplete',
};

const HISTORY_PAGE = 50;

export class Team extends EventTarget {
  constructor(api) {
    super();
    this.api = api;
    this.reset();
  }

  reset() {
    this.self = null;
    this.team = null;
    this.epoch = null;
    this.seq = 0;
    this.bootMethod = null;
    this.users = new Map();
    this.userWaits = new Map();
    this.channels = new Map();   // id -> channel, with unread/mentions
    this.history = new Map();    // id -> { list, byTs, more, cursor }
    this.threads = new Map();    // 'C/ts' -> { list, byTs }
    this.presence = new Map();   // user id -> 'active' | 'away'
    this.typing = new Map();     // channel -> Map(user -> expiry ms)
    this.completeRemote = null;  // null unknown, then true or false
    this.allUsersLoaded = false;
  }

  emit(kind, detail = {}) {
    this.dispatchEvent(new CustomEvent('change', {
      detail: { kind, ...detail } }));
  }

  // ---- boot ----

  // Loads self, team and channels from the first boot method the
  // server offers.  Resolves with the name of the method used.
  async boot() {
    let last = null;
    for (const [method, args] of SOURCES.boot) {
      let r;
      try {
        r = await this.api.call(method, args, { timeout: 60000 });
      } catch (e) {
        if (e instanceof ApiError && e.error === 'unknown_method') {
          last = e;
          continue;
        }
        throw e;
      }
      this.loadBoot(r);
      this.bootMethod = method;
      return method;
    }
    throw last ?? new ApiError('no_boot_method');
  }

  loadBoot(r) {
    const keepHistory = this.history;
    this.reset();
    this.history = keepHistory;
    this.self = r.self;
    this.team = r.team;
    this.epoch = r.epoch ?? null;
    this.seq = Number(r.seq ?? r.last_seq ?? 0);
    for (const u of r.users ?? [])
      this.putUser(u);
    if (r.users)
      this.allUsersLoaded = true;
    for (const list of [r.channels, r.groups, r.ims, r.mpims])
      for (const c of list ?? [])
        this.putChannel(c);
    // A slim boot lists only the caller's channels.
    if (!r.users)
      for (const c of this.channels.values())
        if (c.is_member === undefined)
          c.is_member = true;
    if (this.self && !this.users.has(this.self.id))
      this.user(this.self.id).catch(() => {});
    this.emit('boot');
  }

  putChannel(c) {
    const old = this.channels.get(c.id) ?? {};
    const ch = { ...old, ...c };
    ch.unread = Number(c.unread_count_display ?? c.unread_count ??
      old.unread ?? 0);
    ch.mentions = Number(c.mention_count ?? old.mentions ?? 0);
    if (ch.is_im || ch.is_mpim)
      ch.is_member = true;
    this.channels.set(c.id, ch);
    // An IM's "user" is stored as its creator saw it: for the other
    // person it names themself, so the peer is found among the members.
    if (ch.is_im && this.self && ch.user === this.self.id &&
        !ch.peerAsked) {
      ch.peerAsked = true;
      this.api.call('conversations.members', { channel: c.id }).then((r) => {
        const peer = r.members.find((u) => u !== this.self.id);
        if (peer) {
          this.channels.get(c.id).user = peer;
          this.user(peer).catch(() => {});
          this.emit('channels');
        }
      }, () => {});
    } else if (ch.is_im && ch.user && !this.users.has(ch.user)) {
      this.user(ch.user).catch(() => {});
    }
    return ch;
  }

  // ---- users ----

  putUser(u) {
    this.users.set(u.id, u);
  }

  // Resolves with the user object, loading it once if needed.
  user(id) {
    if (this.users.has(id))
      return Promise.resolve(this.users.get(id));
    let p = this.userWaits.get(id);
    if (!p) {
      p = this.api.call('users.info', { user: id }).then((r) => {
        this.putUser(r.user);
        this.userWaits.delete(id);
        this.emit('user', { id });
        return r.user;
      }, (e) => {
        this.userWaits.delete(id);
        throw e;
      });
      this.userWaits.set(id, p);
    }
    return p;
  }

  // A label for a user now: the display name when loaded, else the id
  // (and the user is loaded; a 'user' change follows).
  userName(id) {
    const u = this.users.get(id);
    if (!u) {
      this.user(id).catch(() => {});
      return id;
    }
    return u.profile?.display_name || u.real_name || u.name || id;
  }

  channelName(id) {
    const c = this.channels.get(id);
    if (!c)
      return id;
    if (c.is_im)
      return this.userName(c.user);
    return c.name ?? id;
  }

  // ---- channels ----

  sidebar() {
    const chans = [], dms = [];
    for (const c of this.channels.values()) {
      if (!c.is_member || c.is_archived)
        continue;
      (c.is_im || c.is_mpim ? dms : chans).push(c);
    }
    const byName = (a, b) => fold(this.channelName(a.id))
      .localeCompare(fold(this.channelName(b.id)));
    return { chans: chans.sort(byName), dms: dms.sort(byName) };
  }

  // Public channels to browse: one page after another until done.
  async browse() {
    const out = [];
    let cursor;
    do {
      const r = await this.api.call('conversations.list', {
        types: 'public_channel', exclude_archived: true, limit: 200, cursor,
      });
      for (const c of r.channels) {
        const known = this.channels.get(c.id);
        out.push(known ? { ...c, is_member: known.is_member } : c);
      }
      cursor = r.response_metadata?.next_cursor;
    } while (cursor);
    return out;
  }

  async create(name, isPrivate = false) {
    const r = await this.api.call('conversations.create',
      { name, is_private: isPrivate });
    const ch = this.putChannel({ ...r.channel, is_member: true });
    this.emit('channels');
    return ch;
  }

  async join(id) {
    const r = await this.api.call('conversations.join', { channel: id });
    const ch = this.putChannel({ ...r.channel, is_member: true });
    this.emit('channels');
    return ch;
  }

  async leave(id) {
    await this.api.call('conversations.leave', { channel: id });
    const ch = this.channels.get(id);
    if (ch)
      ch.is_member = false;
    this.emit('channels');
  }

  // Opens (or finds) the DM with user; resolves with the channel.
  async openDm(user) {
    const r = await this.api.call('conversations.open',
      { users: user, return_im: true });
    let c = r.channel;
    if (!c.is_im && !c.name) {
      const info = await this.api.call('conversations.info',
        { channel: c.id });
      c = info.channel;
    }
    const ch = this.putChannel({ ...c, is_im: true, is_member: true,
      user: c.user ?? user });
    this.emit('channels');
    return ch;
  }

  // ---- messages ----

  hist(id) {
    let h = this.history.get(id);
    if (!h) {
      h = { list: [], byTs: new Map(), more: true, cursor: null,
        loaded: false };
      this.history.set(id, h);
    }
    return h;
  }

  // Loads the newest page, or the next older one.  Resolves with the
  // number of messages added.
  async loadHistory(id, older = false) {
    const h = this.hist(id);
    if (older && (!h.more || !h.cursor))
      return 0;
    const r = await this.api.call('conversations.history', {
      channel: id, limit: HISTORY_PAGE, cursor: older ? h.cursor : undefined,
    });
    let added = 0;
    for (const m of r.messages)
      if (this.putMessage(id, m))
        added++;
    if (!older || !h.loaded) {
      h.loaded = true;
      h.more = Boolean(r.has_more);
      h.cursor = r.response_metadata?.next_cursor || null;
    } else {
      h.more = Boolean(r.has_more);
      h.cursor = r.response_metadata?.next_cursor || null;
    }
    this.emit('history', { channel: id });
    return added;
  }

  // Adds or replaces a message; true when it was new.
  putMessage(chan, m) {
    const h = this.hist(chan);
    const old = h.byTs.get(m.ts);
    if (old) {
      Object.assign(old, m);
      return false;
    }
    const msg = { ...m, channel: chan };
    h.byTs.set(m.ts, msg);
    const list = h.list;
    let i = list.length;
    while (i > 0 && cmpTs(list[i - 1].ts, m.ts) > 0)
      i--;
    list.splice(i, 0, msg);
    return true;
  }

  isThreadReply(m) {
    return m.thread_ts && m.thread_ts !== m.ts &&
      m.subtype !== 'thread_broadcast';
  }

  // Messages of the channel's main view, oldest first.
  mainList(id) {
    return this.hist(id).list.filter((m) => !this.isThreadReply(m));
  }

  async loadThread(chan, ts) {
    const t = this.thread(chan, ts);
    let cursor;
    do {
      const r = await this.api.call('conversations.replies',
        { channel: chan, ts, limit: 200, cursor });
      for (const m of r.messages)
        this.putThread(chan, ts, m);
      cursor = r.response_metadata?.next_cursor;
    } while (cursor);
    t.loaded = true;
    this.emit('thread', { channel: chan, ts });
  }

  thread(chan, ts) {
    const k = `${chan}/${ts}`;
    let t = this.threads.get(k);
    if (!t) {
      t = { list: [], byTs: new Map(), loaded: false };
      this.threads.set(k, t);
    }
    return t;
  }

  putThread(chan, parentTs, m) {
    const t = this.thread(chan, parentTs);
    const old = t.byTs.get(m.ts);
    if (old) {
      Object.assign(old, m);
      return false;
    }
    const msg = { ...m, channel: chan };
    t.byTs.set(m.ts, msg);
    let i = t.list.length;
    while (i > 0 && cmpTs(t.list[i - 1].ts, m.ts) > 0)
      i--;
    t.list.splice(i, 0, msg);
    return true;
  }

  findMessage(chan, ts) {
    const m = this.hist(chan).byTs.get(ts);
    if (m)
      return m;
    for (const [k, t] of this.threads)
      if (k.startsWith(chan + '/') && t.byTs.has(ts))
        return t.byTs.get(ts);
    return null;
  }

  // Posts text (already in Slack markup) and stores the answer at once;
  // the event that follows is recognised by its ts.
  async post(chan, text, threadTs) {
    const r = await this.api.call('chat.postMessage', {
      channel: chan, text, thread_ts: threadTs,
      client_msg_id: crypto.randomUUID(),
    });
    this.addMessage(chan, { ...r.message, ts: r.ts }, false);
    return r;
  }

  edit(chan, ts, text) {
    return this.api.call('chat.update', { channel: chan, ts, text });
  }

  remove(chan, ts) {
    return this.api.call('chat.delete', { channel: chan, ts });
  }

  react(chan, ts, name, add) {
    return this.api.call(add ? 'reactions.add' : 'reactions.remove',
      { channel: chan, timestamp: ts, name });
  }

  mark(chan, ts) {
    const c = this.channels.get(chan);
    if (c) {
      c.unread = 0;
      c.mentions = 0;
      c.last_read = ts;
    }
    this.emit('unread', { channel: chan });
    return this.api.call('conversations.mark', { channel: chan, ts });
  }

  latestTs(chan) {
    const list = this.hist(chan).list;
    return list.length ? list[list.length - 1].ts : null;
  }

  mentionsMe(text) {
    return this.self && String(text ?? '').includes(`<@${this.self.id}>`);
  }

  // Stores a new message; counts it unread (and as a mention) when it is
  // someone else's and the reader is elsewhere (viewing false).
  addMessage(chan, m, counted) {
    const isNew = this.isThreadReply(m) ? this.addReply(chan, m)
      : this.putMessage(chan, m);
    if (!isNew)
      return false;
    if (this.isThreadReply(m)) {
      const parent = this.hist(chan).byTs.get(m.thread_ts);
      if (parent) {
        parent.reply_count = (parent.reply_count ?? 0) + 1;
        parent.latest_reply = m.ts;
        const ru = new Set(parent.reply_users ?? []);
        ru.add(m.user);
        parent.reply_users = [...ru];
      }
    }
    const c = this.channels.get(chan);
    if (counted && c && m.user !== this.self?.id &&
        !this.isThreadReply(m) &&
        (!c.last_read || cmpTs(m.ts, c.last_read) > 0)) {
      c.unread = (c.unread ?? 0) + 1;
      if (this.mentionsMe(m.text))
        c.mentions = (c.mentions ?? 0) + 1;
    }
    return true;
  }

  addReply(chan, m) {
    return this.putThread(chan, m.thread_ts, m);
  }

  // ---- autocomplete ----

  // People (kind 'users') or channels ('channels') matching text, best
  // first: from the server's autocomplete when it has one, else from
  // what is loaded (all users are loaded once for that).
  async complete(text, kind, limit = 8, channel = null) {
    // An empty query lists what is loaded (the switcher's first view);
    // the server's autocomplete matches words only.
    if (this.completeRemote !== false && text.trim() !== '') {
      try {
        const r = await this.api.call(SOURCES.complete, {
          query: text, types: kind === 'users' ? 'user' : 'channel', limit,
          channel: channel ?? undefined,
        });
        this.completeRemote = true;
        return this.fromRemote(r, kind).slice(0, limit);
      } catch (e) {
        if (!(e instanceof ApiError))
          throw e;
        // unknown_method: no edge here, filter locally from now on; any
        // other refusal: filter locally this time.
        if (e.error === 'unknown_method')
          this.completeRemote = false;
      }
    }
    if (kind === 'users')
      return this.completeUsers(text, limit, channel);
    return this.completeChannels(text, limit);
  }

  fromRemote(r, kind) {
    const out = [];
    for (const it of r.results ?? r.items ?? []) {
      const id = it.id ?? it.user?.id ?? it.channel?.id;
      if (!id)
        continue;
      const isUser = it.type ? it.type === 'user' : /^[UW]/.test(id);
      if ((kind === 'users') !== isUser)
        continue;
      if (isUser) {
        const u = it.user ?? it;
        if (u.name)
          this.putUser({ ...this.users.get(id), ...u, id });
      } else if (!this.channels.has(id) && (it.channel ?? it).name) {
        this.putChannel({ ...(it.channel ?? it), id });
      }
      out.push(id);
    }
    return out;
  }

  async loadAllUsers() {
    if (this.allUsersLoaded)
      return;
    let cursor;
    do {
      const r = await this.api.call('users.list', { limit: 500, cursor });
      for (const u of r.members)
        this.putUser(u);
      cursor = r.response_metadata?.next_cursor;
    } while (cursor);
    this.allUsersLoaded = true;
  }

  async completeUsers(text, limit, channel) {
    await this.loadAllUsers();
    const res = [];
    for (const u of this.users.values()) {
      if (u.deleted || u.is_bot)
        continue;
      if (matches(text, [u.name, u.real_name, u.profile?.display_name,
        u.profile?.real_name]))
        res.push(u);
    }
    const label = (u) => fold(u.profile?.display_name || u.real_name ||
      u.name);
    res.sort((a, b) => label(a).localeCompare(label(b)) ||
      (a.id < b.id ? -1 : 1));
    return res.slice(0, limit).map((u) => u.id);
  }

  completeChannels(text, limit) {
    const res = [];
    for (const c of this.channels.values()) {
      if (c.is_archived)
        continue;
      const labels = c.is_im ? [this.channelName(c.id),
        this.users.get(c.user)?.name] : [c.name];
      if (matches(text, labels))
        res.push(c);
    }
    res.sort((a, b) => (b.is_member ? 1 : 0) - (a.is_member ? 1 : 0) ||
      fold(this.channelName(a.id)).localeCompare(fold(this.channelName(b.id))));
    return res.slice(0, limit).map((c) => c.id);
  }

  // ---- events ----

  // Applies one RTM event; the UI hears a 'change' with what it was.
  apply(ev) {
    switch (ev.type) {
    case 'message':
      return this.applyMessage(ev);
    case 'reaction_added':
    case 'reaction_removed':
      return this.applyReaction(ev);
    case 'channel_marked':
    case 'im_marked':
    case 'group_marked':
      return this.applyMarked(ev);
    case 'im_created':
      if (typeof ev.channel === 'object') {
        const peer = ev.user === this.self?.id ? ev.peer : ev.user;
        this.putChannel({ ...ev.channel, user: peer, is_im: true,
          is_member: true });
      }
      return this.emit('channels');
    case 'channel_created':
    case 'group_joined':
    case 'mpim_open':
    case 'channel_rename':
    case 'group_rename':
      if (typeof ev.channel === 'object') {
        const c = this.putChannel(ev.channel);
        if (ev.type === 'group_joined' || ev.type === 'im_created' ||
            ev.type === 'mpim_open')
          c.is_member = true;
        if (ev.type === 'channel_created' && c.creator === this.self?.id)
          c.is_member = true;
      }
      return this.emit('channels');
    case 'member_joined_channel':
    case 'member_left_channel': {
      if (ev.user === this.self?.id) {
        const c = this.channels.get(ev.channel);
        if (c)
          c.is_member = ev.type === 'member_joined_channel';
        else if (ev.type === 'member_joined_channel')
          this.api.call('conversations.info', { channel: ev.channel })
            .then((r) => {
              this.putChannel({ ...r.channel, is_member: true });
              this.emit('channels');
            }, () => {});
      }
      return this.emit('channels');
    }
    case 'channel_archive':
    case 'channel_unarchive': {
      const c = this.channels.get(ev.channel);
      if (c)
        c.is_archived = ev.type === 'channel_archive';
      return this.emit('channels');
    }
    case 'user_typing':
      return this.applyTyping(ev);
    case 'presence_change':
    case 'manual_presence_change':
      for (const id of ev.users ?? [ev.user])
        this.presence.set(id, ev.presence);
      return this.emit('presence');
    case 'user_change':
    case 'team_join':
      if (ev.user && typeof ev.user === 'object')
        this.putUser(ev.user);
      return this.emit('user', { id: ev.user?.id });
    default:
      return undefined;
    }
  }

  applyMessage(ev) {
    const chan = ev.channel;
    if (ev.subtype === 'message_changed') {
      const m = ev.message;
      const known = this.findMessage(chan, m.ts);
      if (known)
        Object.assign(known, m);
      return this.emit('message', { channel: chan, ts: m.ts,
        thread: m.thread_ts });
    }
    if (ev.subtype === 'message_deleted') {
      const h = this.hist(chan);
      const m = this.findMessage(chan, ev.deleted_ts);
      if (h.byTs.delete(ev.deleted_ts))
        h.list = h.list.filter((x) => x.ts !== ev.deleted_ts);
      if (m?.thread_ts) {
        const t = this.thread(chan, m.thread_ts);
        if (t.byTs.delete(ev.deleted_ts))
          t.list = t.list.filter((x) => x.ts !== ev.deleted_ts);
        const parent = h.byTs.get(m.thread_ts);
        if (parent && m.thread_ts !== m.ts && parent.reply_count)
          parent.reply_count--;
      }
      return this.emit('message', { channel: chan, ts: ev.deleted_ts,
        deleted: true, thread: m?.thread_ts });
    }
    if (ev.subtype === 'message_replied') {
      // The thread parent as it now stands (reply_count, latest_reply).
      const parent = ev.message && this.hist(chan).byTs.get(ev.message.ts);
      if (parent)
        Object.assign(parent, ev.message);
      return this.emit('message', { channel: chan, ts: ev.message?.ts });
    }
    if (ev.hidden)
      return undefined; // other bookkeeping subtypes show nothing
    const m = { ...ev };
    delete m.seq;
    delete m.channel;
    delete m.event_ts;
    if (!this.channels.has(chan))
      this.learnChannel(chan);
    const isNew = this.addMessage(chan, m, true);
    const typing = this.typing.get(chan);
    if (typing?.delete(m.user))
      this.emit('typing', { channel: chan });
    if (isNew)
      this.emit('message', { channel: chan, ts: m.ts, added: true,
        thread: m.thread_ts, message: m,
        mention: this.mentionsMe(m.text) && m.user !== this.self?.id });
    return undefined;
  }

  // A message came from a conversation not known yet (a DM someone
  // opened): load it, counting the message that revealed it as unread.
  learnChannel(id) {
    this.channels.set(id, { id, unread: 0, mentions: 0, pending: true });
    this.api.call('conversations.info', { channel: id }).then((r) => {
      const old = this.channels.get(id);
      const c = this.putChannel({ ...r.channel, unread: undefined,
        is_member: r.channel.is_member ?? true });
      c.unread = old?.unread ?? 0;
      c.mentions = old?.mentions ?? 0;
      delete c.pending;
      this.emit('channels');
    }, () => this.channels.delete(id));
  }

  applyReaction(ev) {
    const chan = ev.item?.channel, ts = ev.item?.ts;
    const m = chan && this.findMessage(chan, ts);
    if (m) {
      const rs = m.reactions ?? [];
      let r = rs.find((x) => x.name === ev.reaction);
      if (ev.type === 'reaction_added') {
        if (!r) {
          r = { name: ev.reaction, users: [], count: 0 };
          rs.push(r);
        }
        if (!r.users.includes(ev.user)) {
          r.users.push(ev.user);
          r.count = r.users.length;
        }
      } else if (r) {
        r.users = r.users.filter((u) => u !== ev.user);
        r.count = r.users.length;
      }
      m.reactions = rs.filter((x) => x.count > 0);
    }
    return this.emit('message', { channel: chan, ts });
  }

  applyMarked(ev) {
    const c = this.channels.get(ev.channel);
    if (!c)
      return undefined;
    if (!c.last_read || cmpTs(ev.ts, c.last_read) >= 0) {
      c.last_read = ev.ts;
      let unread = 0, mentions = 0;
      for (const m of this.mainList(ev.channel))
        if (cmpTs(m.ts, ev.ts) > 0 && m.user !== this.self?.id) {
          unread++;
          if (this.mentionsMe(m.text))
            mentions++;
        }
      c.unread = unread;
      c.mentions = mentions;
    }
    return this.emit('unread', { channel: ev.channel });
  }

  applyTyping(ev) {
    let t = this.typing.get(ev.channel);
    if (!t) {
      t = new Map();
      this.typing.set(ev.channel, t);
    }
    t.set(ev.user, Date.now() + 6000);
    this.emit('typing', { channel: ev.channel });
  }

  typers(chan) {
    const t = this.typing.get(chan);
    if (!t)
      return [];
    const now = Date.now();
    for (const [u, exp] of t)
      if (exp < now)
        t.delete(u);
    return [...t.keys()].filter((u) => u !== this.self?.id);
  }
}
