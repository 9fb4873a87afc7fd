// The RTM WebSocket: connect, resume, reconnect.
//
//   offline --start--> connecting --hello--> online
//   online --close, error, silence--> reconnecting --hello--> online
//   any --resume_failed--> 'reboot' (the app boots again, then start())
//   any --stop--> stopped
//
// Every rtm.connect passes the store epoch and the last sequence number
// the team has seen (parley_epoch, parley_seq), so the server replays
// exactly what was missed; an event whose seq is not above the last one
// applied is dropped, so nothing is applied twice.  Ephemeral events
// (typing, presence) carry no seq and are applied as they come.

import { ApiError } from './api.js';

const PING_EVERY = 10000;   // ms between pings while online
const SILENCE_MAX = 25000;  // ms without any frame before giving up
const BACKOFF = [250, 500, 1000, 2000, 4000];

export class Rtm extends EventTarget {
  constructor(api, team) {
    super();
    this.api = api;
    this.team = team;
    this.ws = null;
    this.state = 'offline';
    this.attempt = 0;
    this.nextId = 1;
    this.acks = new Map();
    this.timer = null;
    this.pinger = null;
    this.lastFrame = 0;
    this.stopped = true;
    this.onOnline = () => {
      if (this.state === 'reconnecting')
        this.reconnectNow();
    };
  }

  setState(state, detail = {}) {
    if (this.state === state)
      return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state,
      ...detail } }));
  }

  start() {
    this.stopped = false;
    window.addEventListener('online', this.onOnline);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.onOnline);
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.close(1000);
      this.ws = null;
    }
    this.setState('offline');
  }

  reconnectNow() {
    clearTimeout(this.timer);
    this.attempt = 0;
    this.connect();
  }

  async connect() {
    if (this.stopped)
      return;
    clearTimeout(this.timer);
    this.setState(this.attempt === 0 && this.state === 'offline' ?
      'connecting' : 'reconnecting');
    // slim: the WebSocket URL carries slim=1, so it reaches an edge too.
    const args = { slim: true };
    if (this.team.epoch) {
      args.parley_epoch = this.team.epoch;
      args.parley_seq = this.team.seq;
    }
    let r;
    try {
      r = await this.api.call('rtm.connect', args, { timeout: 10000 });
    } catch (e) {
      if (e instanceof ApiError && ['invalid_auth', 'token_revoked',
        'account_inactive', 'not_authed'].includes(e.error)) {
        this.stop();
        this.dispatchEvent(new CustomEvent('signedout', { detail: {
          error: e.error } }));
        return;
      }
      if (e instanceof ApiError && e.error === 'invalid_resume') {
        this.dispatchEvent(new CustomEvent('reboot'));
        return;
      }
      this.retry(e.retryAfter ? e.retryAfter * 1000 : 0);
      return;
    }
    if (this.stopped)
      return;
    this.open(r.url);
  }

  retry(atLeast = 0) {
    if (this.stopped)
      return;
    this.setState('reconnecting');
    const base = BACKOFF[Math.min(this.attempt, BACKOFF.length - 1)];
    this.attempt++;
    const wait = Math.max(atLeast, base / 2 + Math.random() * base / 2);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), wait);
  }

  open(url) {
    // The server's URL may be relative to the page (same origin).
    const u = new URL(url, location.href);
    if (u.protocol === 'http:')
      u.protocol = 'ws:';
    else if (u.protocol === 'https:')
      u.protocol = 'wss:';
    let ws;
    try {
      ws = new WebSocket(u.href);
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    this.lastFrame = Date.now();
    ws.onmessage = (e) => this.frame(e.data);
    ws.onclose = () => this.closed(ws);
    ws.onerror = () => { /* onclose follows */ };
  }

  closed(ws) {
    if (ws !== this.ws)
      return;
    this.ws = null;
    clearInterval(this.pinger);
    for (const [, a] of this.acks)
      a.reject(new ApiError('connection_lost'));
    this.acks.clear();
    if (!this.stopped)
      this.retry();
  }

  frame(data) {
    this.lastFrame = Date.now();
    let ev;
    try {
      ev = JSON.parse(data);
    } catch {
      return;
    }
    if (ev.reply_to !== undefined) {
      const a = this.acks.get(ev.reply_to);
      if (a) {
        this.acks.delete(ev.reply_to);
        if (ev.ok === false)
          a.reject(new ApiError(ev.error?.msg ?? 'rtm_error'));
        else
          a.resolve(ev);
      }
      if (ev.type === undefined || ev.type === 'pong')
        return;
    }
    switch (ev.type) {
    case 'hello':
      this.attempt = 0;
      clearInterval(this.pinger);
      this.pinger = setInterval(() => this.heartbeat(), PING_EVERY);
      this.setState('online');
      this.dispatchEvent(new CustomEvent('hello', { detail: ev }));
      return;
    case 'resume_failed':
      this.dropSocket();
      this.dispatchEvent(new CustomEvent('reboot', { detail: ev }));
      return;
    case 'goodbye':
      this.dropSocket();
      if (ev.reason === 'revoked' || ev.reason === 'token_revoked') {
        this.stop();
        this.dispatchEvent(new CustomEvent('signedout', { detail: {
          error: ev.reason } }));
      } else {
        this.retry();
      }
      return;
    case 'pong':
      return;
    default:
      break;
    }
    if (ev.seq !== undefined) {
      const seq = Number(ev.seq);
      if (seq <= this.team.seq)
        return; // already applied
      this.team.seq = seq;
    }
    this.dispatchEvent(new CustomEvent('event', { detail: ev }));
  }

  // Closes the socket without the automatic retry.
  dropSocket() {
    const ws = this.ws;
    this.ws = null;
    clearInterval(this.pinger);
    if (ws) {
      ws.onclose = null;
      ws.close();
    }
  }

  heartbeat() {
    if (!this.ws)
      return;
    if (Date.now() - this.lastFrame > SILENCE_MAX) {
      const ws = this.ws;
      ws.onclose = null;
      ws.close();
      this.closed(ws);
      return;
    }
    this.send({ type: 'ping' }).catch(() => {});
  }

  // Sends a message with a fresh id; resolves with its ack.
  send(msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN)
      return Promise.reject(new ApiError('not_connected'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.acks.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ id, ...msg }));
      setTimeout(() => {
        if (this.acks.delete(id))
          reject(new ApiError('timeout'));
      }, 15000);
    });
  }

  typing(channel) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN)
      this.ws.send(JSON.stringify({ id: this.nextId++, type: 'typing',
        channel }));
  }

  subscribePresence(ids) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN && ids.length)
      this.send({ type: 'presence_sub', ids }).catch(() => {});
  }
}
