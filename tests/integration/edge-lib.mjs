// Shared by the edge*.test.mjs files: a backend with its stream listener
// (real TLS 1.3 with certificates from tests/certs.sh) and parley-edge
// processes from build/bin, each on a kernel-chosen loopback port with
// its own parley.conf, linked to that backend's stream.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RTMClient } from '@slack/rtm-api';
import { WebClient } from '@slack/web-api';
import { Backend, freePort, sleep } from './rtm-lib.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname),
  '../..');
const bin = process.env.PARLEY_BIN || path.join(root, 'build/bin');

// A backend whose stream listens on a free port with the test CA's
// server certificate; extra is added to [backend].
export async function streamBackend(certs, extra = '') {
  const streamPort = await freePort();
  const b = new Backend(`stream_listen = 127.0.0.1:${streamPort}\n` +
    `stream_tls_cert = ${path.join(certs, 'server.pem')}\n` +
    `stream_tls_key = ${path.join(certs, 'server.key')}\n` +
    `stream_tls_ca = ${path.join(certs, 'ca.pem')}\n` +
    'stream_keepalive = 1s\nstream_timeout = 5s\n' + extra);
  b.streamPort = streamPort;
  await b.start();
  return b;
}

// One parley-edge linked to backend b.  opts: name, cert (the client
// certificate's base name in certs, default "client"), ca, extra (added
// to [edge]).
export class Edge {
  constructor(b, certs, opts = {}) {
    this.b = b;
    this.certs = certs;
    this.opts = opts;
    this.name = opts.name ?? 'edge';
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-edge-'));
    this.proc = null;
  }

  confText() {
    const cert = this.opts.cert ?? 'client';
    const ca = this.opts.ca ?? 'ca';
    return `[edge]\nname = ${this.name}\nlisten = 127.0.0.1:${this.port}\n` +
      `stream_tls_cert = ${path.join(this.certs, `${cert}.pem`)}\n` +
      `stream_tls_key = ${path.join(this.certs, `${cert}.key`)}\n` +
      `stream_tls_ca = ${path.join(this.certs, `${ca}.pem`)}\n` +
      'stream_tls_server_name = localhost\n' +
      'stream_keepalive = 1s\nstream_timeout = 5s\n' +
      'stream_backoff_min = 50ms\nstream_backoff_max = 500ms\n' +
      `rtm_heartbeat = 30s\n${this.opts.extra ?? ''}\n` +
      `[tokens]\nkeys = ${path.join(this.b.dir, 'keys')}\n` +
      `[shard s1]\nhttp = 127.0.0.1:${this.b.port}\n` +
      `stream = 127.0.0.1:${this.b.streamPort}\n`;
  }

  // Starts the process; with waitLink, waits until its link is up.
  async start({ waitLink = true } = {}) {
    if (!this.port)
      this.port = await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    this.conf = path.join(this.dir, 'parley.conf');
    fs.writeFileSync(this.conf, this.confText());
    this.logPath = path.join(this.dir, 'edge.log');
    const log = fs.openSync(this.logPath, 'a');
    this.proc = spawn(path.join(bin, 'parley-edge'), ['-c', this.conf],
      { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.exited = null;
    this.proc.on('exit', (code, sig) => { this.exited = { code, sig }; });
    for (let i = 0; ; i++) {
      if (this.exited)
        throw new Error(`edge exited: ${this.log()}`);
      if (i > 400)
        throw new Error(`edge did not start: ${this.log()}`);
      try {
        const r = await fetch(`${this.url}/healthz`,
          { signal: AbortSignal.timeout(1000) });
        const h = await r.json();
        if (!waitLink || h.links?.s1?.state === 'up')
          break;
      } catch { /* not yet */ }
      await sleep(50);
    }
  }

  log() {
    try {
      return fs.readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  async health() {
    const r = await fetch(`${this.url}/healthz`,
      { signal: AbortSignal.timeout(5000) });
    return { http: r.status, ...(await r.json()) };
  }

  async metrics() {
    const r = await fetch(`${this.url}/metrics`,
      { signal: AbortSignal.timeout(5000) });
    const out = {};
    for (const line of (await r.text()).split('\n')) {
      const m = /^(parley_edge_[a-z_]+(?:\{[^}]*\})?) (\d+)$/.exec(line);
      if (m)
        out[m[1]] = Number(m[2]);
    }
    return out;
  }

  // A Web API call with a JSON body; returns { status, body, headers }.
  async call(method, token, args = {}) {
    const headers = { 'Content-Type': 'application/json; charset=utf-8' };
    if (token)
      headers.Authorization = `Bearer ${token}`;
    const r = await fetch(`${this.url}/api/${method}`, {
      method: 'POST', headers, body: JSON.stringify(args),
      signal: AbortSignal.timeout(15000),
    });
    return { status: r.status, headers: r.headers, body: await r.json() };
  }

  async api(method, token, args = {}) {
    return (await this.call(method, token, args)).body;
  }

  async signal(sig) {
    if (!this.proc || this.exited)
      return;
    const done = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill(sig);
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await done;
    clearTimeout(t);
  }

  async kill9() {
    await this.signal('SIGKILL');
  }

  async stop() {
    await this.signal('SIGTERM');
    const bad = this.exited && this.exited.code !== 0 &&
      this.exited.sig !== 'SIGTERM' && this.exited.sig !== 'SIGKILL';
    const log = bad ? this.log() : '';
    fs.rmSync(this.dir, { recursive: true, force: true });
    if (bad)
      throw new Error(`edge exited with ${JSON.stringify(this.exited)}:\n` +
        log);
  }
}

// The official Web API client on server s (a Backend or an Edge).
export function webClient(s, token) {
  return new WebClient(token, {
    slackApiUrl: `${s.url}/api/`,
    retryConfig: { retries: 0 },
    timeout: 10000,
    logLevel: 'error',
  });
}

// An official RTMClient on server s that never reconnects by itself, so
// a failure ends the test instead of hanging it.
export function rtmClient(s, token) {
  return new RTMClient(token, {
    slackApiUrl: `${s.url}/api/`,
    webClient: webClient(s, token),
    autoReconnect: false,
    replyAckOnReconnectTimeout: 200,
    logLevel: 'error',
  });
}

// Starts rtm and waits for its hello.
export async function startRtm(rtm) {
  const ready = new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('RTMClient not ready')),
      15000);
    rtm.once('ready', () => { clearTimeout(t); resolve(); });
  });
  await rtm.start();
  await ready;
}

// @slack/rtm-api 7.0.4 walks its sparse list of sends awaiting a reply
// with for...of when it disconnects, and throws on the holes; the list
// is compacted first so that disconnect() works.
export async function closeRtm(rtm) {
  rtm.awaitingReplyList = rtm.awaitingReplyList.filter((p) => p);
  await rtm.disconnect();
}

// Resolves with the next event of type on rtm that pred accepts.
export function nextEvent(rtm, type, pred = () => true, ms = 10000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      rtm.off(type, h);
      reject(new Error(`no ${type} event`));
    }, ms);
    const h = (ev) => {
      if (!pred(ev))
        return;
      clearTimeout(t);
      rtm.off(type, h);
      resolve(ev);
    };
    rtm.on(type, h);
  });
}
