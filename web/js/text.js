// Text helpers: folding for accent-insensitive matching, Slack message
// markup to DOM nodes (never HTML), safe links, timestamps.

// Letters that Unicode decomposition leaves alone but people type
// without their marks.
const FOLD_EXTRA = new Map([
  ['ß', 'ss'], ['ẞ', 'ss'], ['ı', 'i'], ['ø', 'o'], ['Ø', 'o'],
  ['æ', 'ae'], ['Æ', 'ae'], ['œ', 'oe'], ['Œ', 'oe'], ['đ', 'd'],
  ['Đ', 'd'], ['ł', 'l'], ['Ł', 'l'], ['þ', 'th'], ['ð', 'd'],
]);

// Lower case without marks, compatibility forms unified (full- and
// half-width alike): "Zoë" and "ZOE" both fold to "zoe".
export function fold(s) {
  let out = '';
  for (const ch of String(s).normalize('NFKD')) {
    if (/\p{M}/u.test(ch))
      continue;
    out += FOLD_EXTRA.get(ch) ?? ch;
  }
  return out.normalize('NFKC').toLowerCase();
}

// True when some word of any label starts with the folded query, or the
// whole label does (so "li" finds "李伟" only by its first characters
// when the query is in that script: "李" matches).
export function matches(query, labels) {
  const q = fold(query).trim();
  if (q === '')
    return true;
  for (const label of labels) {
    if (!label)
      continue;
    const f = fold(label);
    if (f.startsWith(q))
      return true;
    for (const w of f.split(/[\s._\-'’()@]+/u))
      if (w.startsWith(q))
        return true;
  }
  return false;
}

// Slack's three entities, the way its clients send text.
export function escapeText(s) {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function unescapeText(s) {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

// An href that is safe to follow, or null.
export function safeHref(url) {
  try {
    const u = new URL(url);
    if (u.protocol === 'http:' || u.protocol === 'https:' ||
        u.protocol === 'mailto:')
      return u.href;
  } catch { /* not a URL */ }
  return null;
}

function link(href, label) {
  const a = document.createElement('a');
  a.href = href;
  a.textContent = label;
  a.rel = 'noopener noreferrer nofollow';
  a.target = '_blank';
  return a;
}

// Plain text with bare http(s) URLs made into links.
function addPlain(frag, text) {
  const re = /\bhttps?:\/\/[^\s<>"]+[^\s<>".,;:!?)\]}'"]/g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index > last)
      frag.append(text.slice(last, m.index));
    const href = safeHref(m[0]);
    frag.append(href ? link(href, m[0]) : m[0]);
    last = m.index + m[0].length;
  }
  if (last < text.length)
    frag.append(text.slice(last));
}

// Turns message text (Slack markup: <@U..>, <#C..|name>, <url|label>,
// &amp; &lt; &gt;) into a DocumentFragment of text nodes, links and
// mention spans.  ctx.userName(id) and ctx.channelName(id) give labels;
// ctx.self is the reader's id.  Anything else between < and > is shown
// as the text it is.
export function renderText(text, ctx) {
  const frag = document.createDocumentFragment();
  const re = /<([^<>\s][^<>]*)>/g;
  let last = 0;
  for (const m of String(text ?? '').matchAll(re)) {
    const inner = m[1];
    let node = null;
    const [target, label] = splitLabel(inner);
    if (/^@[UW][A-Z0-9]+$/.test(target)) {
      const id = target.slice(1);
      node = document.createElement('span');
      node.className = id === ctx.self ? 'mention mention-me' : 'mention';
      node.dataset.user = id;
      node.textContent = '@' + (label ?? ctx.userName(id));
    } else if (/^#[CGD][A-Z0-9]+$/.test(target)) {
      node = document.createElement('span');
      node.className = 'channel-ref';
      node.textContent = '#' + (label ?? ctx.channelName(target.slice(1)));
    } else if (/^!(here|channel|everyone)$/.test(target)) {
      node = document.createElement('span');
      node.className = 'mention mention-me';
      node.textContent = '@' + target.slice(1);
    } else {
      const href = safeHref(unescapeText(target));
      if (href && /^(https?|mailto):/i.test(target))
        node = link(href, unescapeText(label ?? target));
    }
    if (node === null)
      continue; // left in the plain text around it
    if (m.index > last)
      addPlain(frag, unescapeText(text.slice(last, m.index)));
    frag.append(node);
    last = m.index + m[0].length;
  }
  if (last < String(text ?? '').length)
    addPlain(frag, unescapeText(String(text).slice(last)));
  return frag;
}

function splitLabel(inner) {
  const i = inner.indexOf('|');
  return i < 0 ? [inner, null] : [inner.slice(0, i), inner.slice(i + 1)];
}

// Message text as plain words (notifications, previews).
export function plainText(text, ctx) {
  return renderText(text, ctx).textContent;
}

// Compares two Slack ts strings ("seconds.micros").
export function cmpTs(a, b) {
  const [as, af = ''] = String(a).split('.');
  const [bs, bf = ''] = String(b).split('.');
  if (as.length !== bs.length)
    return as.length - bs.length;
  if (as !== bs)
    return as < bs ? -1 : 1;
  const x = af.padEnd(6, '0'), y = bf.padEnd(6, '0');
  return x < y ? -1 : x > y ? 1 : 0;
}

export function tsDate(ts) {
  return new Date(Math.floor(parseFloat(ts) * 1000));
}

export function timeLabel(ts) {
  return tsDate(ts).toLocaleTimeString([], { hour: '2-digit',
    minute: '2-digit' });
}

// Reaction names to characters, for the ones the picker offers and a
// few common others; unknown names show as :name:.
export const EMOJI = {
  thumbsup: '👍', '+1': '👍', heart: '❤️', joy: '😂', tada: '🎉',
  eyes: '👀', white_check_mark: '✅', rocket: '🚀', smile: '😄',
  pray: '🙏', fire: '🔥', thinking_face: '🤔',
};
export const PICKER = ['thumbsup', 'heart', 'joy', 'tada', 'eyes',
  'white_check_mark', 'rocket'];

export function emoji(name) {
  return EMOJI[name] ?? `:${name}:`;
}
