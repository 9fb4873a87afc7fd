// DOM building for messages and lists.  Every piece of text from the
// server goes in through textContent or renderText (text nodes), never
// as HTML.

import { emoji, PICKER, renderText, timeLabel } from './text.js';

// h('li', { class: 'x', 'aria-label': 'y' }, child, 'text', ...)
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false)
      continue;
    if (k === 'class')
      el.className = v;
    else if (k.startsWith('on'))
      el.addEventListener(k.slice(2), v);
    else if (k === 'dataset')
      Object.assign(el.dataset, v);
    else
      el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children)
    if (c !== null && c !== undefined && c !== false)
      el.append(c);
  return el;
}

// One message as an <li>.  ctx: { team, onAction(kind, msg, arg),
// inThread }.
export function messageItem(m, ctx) {
  const { team } = ctx;
  const self = team.self?.id;
  const mine = m.user === self;
  const tctx = {
    self,
    userName: (id) => team.userName(id),
    channelName: (id) => team.channelName(id),
  };
  const author = m.user ? team.userName(m.user) : (m.username ?? 'bot');
  const li = h('li', {
    class: 'msg' + (team.mentionsMe(m.text) && !mine ? ' mentions-me' : ''),
    dataset: { ts: m.ts, user: m.user ?? '' },
    'aria-label': `${author}, ${timeLabel(m.ts)}`,
  });
  const meta = h('div', { class: 'msg-meta' },
    h('span', { class: 'msg-author' }, author),
    h('time', { class: 'msg-time', datetime: new Date(parseFloat(m.ts) *
      1000).toISOString() }, timeLabel(m.ts)),
    m.edited ? h('span', { class: 'msg-edited' }, '(edited)') : null);
  li.append(meta);
  const body = h('div', { class: 'msg-text' });
  body.append(renderText(m.text, tctx));
  li.append(body);

  if (m.reactions?.length) {
    const rs = h('div', { class: 'reactions', role: 'group',
      'aria-label': 'Reactions' });
    for (const r of m.reactions) {
      const me = r.users?.includes(self);
      rs.append(h('button', {
        type: 'button', class: 'reaction', 'aria-pressed': me ? 'true' :
          'false', 'aria-label': `${r.name}, ${r.count} ${r.count === 1 ?
          'reaction' : 'reactions'}${me ? ', yours' : ''}`,
        dataset: { reaction: r.name },
        onclick: () => ctx.onAction('react', m, { name: r.name, add: !me }),
      }, `${emoji(r.name)} ${r.count}`));
    }
    li.append(rs);
  }

  if (!ctx.inThread && m.reply_count > 0)
    li.append(h('button', { type: 'button', class: 'replies-link',
      onclick: () => ctx.onAction('thread', m) },
    `${m.reply_count} ${m.reply_count === 1 ? 'reply' : 'replies'}`));

  const actions = h('div', { class: 'msg-actions', role: 'group',
    'aria-label': 'Message actions' },
  h('button', { type: 'button', class: 'act-react', 'aria-haspopup': 'true',
    'aria-label': 'Add reaction',
    onclick: (e) => togglePicker(li, m, ctx, e.currentTarget) }, '☺'),
  ctx.inThread ? null : h('button', { type: 'button', class: 'act-thread',
    'aria-label': 'Reply in thread',
    onclick: () => ctx.onAction('thread', m) }, '💬'),
  mine ? h('button', { type: 'button', class: 'act-edit',
    'aria-label': 'Edit message',
    onclick: () => ctx.onAction('edit', m) }, '✎') : null,
  mine ? h('button', { type: 'button', class: 'act-delete',
    'aria-label': 'Delete message',
    onclick: () => ctx.onAction('delete', m) }, '🗑') : null);
  li.append(actions);
  return li;
}

function togglePicker(li, m, ctx, opener) {
  const old = li.querySelector('.picker');
  if (old) {
    old.remove();
    opener.setAttribute('aria-expanded', 'false');
    return;
  }
  opener.setAttribute('aria-expanded', 'true');
  const p = h('div', { class: 'picker', role: 'group',
    'aria-label': 'Pick a reaction' });
  for (const name of PICKER)
    p.append(h('button', { type: 'button', 'aria-label': name,
      dataset: { reaction: name },
      onclick: () => {
        p.remove();
        ctx.onAction('react', m, { name, add: true });
      } }, emoji(name)));
  p.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      p.remove();
      opener.focus();
    }
  });
  li.append(p);
  p.querySelector('button').focus();
}

// Replaces the text of li with an editor; resolves with the new text,
// or null when cancelled.
export function editInPlace(li, text) {
  return new Promise((resolve) => {
    const box = h('textarea', { class: 'edit-box',
      'aria-label': 'Edit message' });
    box.value = text;
    const body = li.querySelector('.msg-text');
    body.replaceChildren(box);
    box.focus();
    box.setSelectionRange(text.length, text.length);
    box.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        resolve(box.value);
      } else if (e.key === 'Escape') {
        e.preventDefault();
        resolve(null);
      }
    });
    box.addEventListener('blur', () => resolve(null));
  });
}

// A listbox helper for comboboxes: items of { id, label, sub }.
export class Picker {
  constructor(input, list, onPick) {
    this.input = input;
    this.list = list;
    this.onPick = onPick;
    this.items = [];
    this.active = -1;
    list.addEventListener('mousedown', (e) => e.preventDefault());
  }

  show(items) {
    this.items = items;
    this.active = items.length ? 0 : -1;
    this.list.replaceChildren(...items.map((it, i) => {
      const li = h('li', { role: 'option', id: `${this.list.id}-${i}`,
        'aria-selected': i === this.active ? 'true' : 'false',
        dataset: { id: it.id },
        onclick: () => this.onPick(it) }, it.label);
      if (it.sub)
        li.append(h('span', { class: 'sub' }, it.sub));
      return li;
    }));
    this.paint();
  }

  paint() {
    const opts = this.list.children;
    for (let i = 0; i < opts.length; i++)
      opts[i].setAttribute('aria-selected', i === this.active ? 'true' :
        'false');
    if (this.active >= 0) {
      this.input.setAttribute('aria-activedescendant',
        `${this.list.id}-${this.active}`);
      opts[this.active]?.scrollIntoView({ block: 'nearest' });
    } else {
      this.input.removeAttribute('aria-activedescendant');
    }
  }

  // Handles a key; true when it was used.
  key(e) {
    if (!this.items.length)
      return false;
    if (e.key === 'ArrowDown') {
      this.active = (this.active + 1) % this.items.length;
    } else if (e.key === 'ArrowUp') {
      this.active = (this.active - 1 + this.items.length) %
        this.items.length;
    } else if ((e.key === 'Enter' || e.key === 'Tab') && !e.shiftKey &&
      this.active >= 0) {
      e.preventDefault();
      this.onPick(this.items[this.active]);
      return true;
    } else {
      return false;
    }
    e.preventDefault();
    this.paint();
    return true;
  }
}
