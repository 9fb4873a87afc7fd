// Shared by the stream*.test.mjs files: a small msgpack writer and
// reader (maps, strings, unsigned integers: what stream frames hold),
// and an edge-side client of the backend's stream over real TLS with
// certificates made by tests/certs.sh.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { until } from './rtm-lib.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname),
  '../..');

// Certificates in a new temporary directory; returns its path.
export function makeCerts() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-certs-'));
  execFileSync('bash', [path.join(root, 'tests/certs.sh'), dir]);
  return dir;
}

function packStr(s) {
  const b = Buffer.from(s, 'utf8');
  let h;
  if (b.length < 32)
    h = Buffer.from([0xa0 | b.length]);
  else if (b.length < 256)
    h = Buffer.from([0xd9, b.length]);
  else if (b.length < 65536)
    h = Buffer.from([0xda, b.length >> 8, b.length & 255]);
  else {
    h = Buffer.alloc(5);
    h[0] = 0xdb;
    h.writeUInt32BE(b.length, 1);
  }
  return Buffer.concat([h, b]);
}

function packUint(n) {
  if (n < 128)
    return Buffer.from([n]);
  const b = Buffer.alloc(9);
  b[0] = 0xcf;
  b.writeBigUInt64BE(BigInt(n), 1);
  return b;
}

// One frame: 4-byte big-endian length and a map of string or number
// values.
export function frame(obj) {
  const keys = Object.keys(obj);
  const parts = [Buffer.from([0x80 | keys.length])];
  for (const k of keys) {
    parts.push(packStr(k));
    const v = obj[k];
    parts.push(typeof v === 'number' ? packUint(v) : packStr(String(v)));
  }
  const body = Buffer.concat(parts);
  const h = Buffer.alloc(4);
  h.writeUInt32BE(body.length);
  return Buffer.concat([h, body]);
}

// Reads one msgpack value at b[o]; returns [value, next offset].
function unpack(b, o) {
  const t = b[o];
  const str = (n, at) => [b.toString('utf8', at, at + n), at + n];
  const map = (n, at) => {
    const out = {};
    for (let i = 0; i < n; i++) {
      const [k, a] = unpack(b, at);
      const [v, a2] = unpack(b, a);
      out[k] = v;
      at = a2;
    }
    return [out, at];
  };
  const arr = (n, at) => {
    const out = [];
    for (let i = 0; i < n; i++) {
      const [v, a] = unpack(b, at);
      out.push(v);
      at = a;
    }
    return [out, at];
  };
  if (t < 0x80)
    return [t, o + 1];
  if ((t & 0xf0) === 0x80)
    return map(t & 15, o + 1);
  if ((t & 0xf0) === 0x90)
    return arr(t & 15, o + 1);
  if ((t & 0xe0) === 0xa0)
    return str(t & 31, o + 1);
  switch (t) {
  case 0xc0: return [null, o + 1];
  case 0xc2: return [false, o + 1];
  case 0xc3: return [true, o + 1];
  case 0xcc: return [b[o + 1], o + 2];
  case 0xcd: return [b.readUInt16BE(o + 1), o + 3];
  case 0xce: return [b.readUInt32BE(o + 1), o + 5];
  case 0xcf: return [Number(b.readBigUInt64BE(o + 1)), o + 9];
  case 0xd9: return str(b[o + 1], o + 2);
  case 0xda: return str(b.readUInt16BE(o + 1), o + 3);
  case 0xdb: return str(b.readUInt32BE(o + 1), o + 5);
  case 0xdc: return arr(b.readUInt16BE(o + 1), o + 3);
  case 0xde: return map(b.readUInt16BE(o + 1), o + 3);
  case 0xdf: return map(b.readUInt32BE(o + 1), o + 5);
  default: throw new Error(`msgpack type 0x${t.toString(16)} not read`);
  }
}

// An edge's end of the stream: frames received are kept in order.
export class StreamClient {
  constructor(port, certs, opts = {}) {
    this.frames = [];
    this.closed = false;
    this.buf = Buffer.alloc(0);
    const cert = opts.cert ?? 'client';
    const o = {
      host: '127.0.0.1', port, servername: 'localhost',
      ca: fs.readFileSync(path.join(certs, 'ca.pem')),
      minVersion: 'TLSv1.3',
    };
    if (cert) {
      o.cert = fs.readFileSync(path.join(certs, `${cert}.pem`));
      o.key = fs.readFileSync(path.join(certs, `${cert}.key`));
    }
    this.sock = tls.connect(o);
    this.sock.on('data', (d) => this.onData(d));
    this.sock.on('close', () => { this.closed = true; });
    this.sock.on('error', (e) => { this.error = e; });
    this.opened = new Promise((resolve, reject) => {
      this.sock.once('secureConnect', resolve);
      this.sock.once('error', reject);
    });
  }

  onData(d) {
    this.buf = Buffer.concat([this.buf, d]);
    while (this.buf.length >= 4) {
      const n = this.buf.readUInt32BE(0);
      if (this.buf.length < 4 + n)
        break;
      const [v] = unpack(this.buf.subarray(4, 4 + n), 0);
      this.frames.push(v);
      this.buf = this.buf.subarray(4 + n);
    }
  }

  send(obj) {
    this.sock.write(frame(obj));
  }

  async hello(name = 'test-edge') {
    await this.opened;
    this.send({ t: 'hello', v: 1, vmin: 1, name });
    return this.waitFor((f) => f.t === 'hello', 5000, 'hello');
  }

  async waitFor(pred, ms = 5000, what = 'a frame') {
    return until(() => this.frames.find(pred), ms, what);
  }

  async waitClosed(ms = 5000) {
    return until(() => this.closed, ms, 'close');
  }

  // Persisted events of team, as parsed objects with their seq.
  events(team) {
    return this.frames.filter((f) => f.t === 'event' && f.team === team)
      .map((f) => ({ seq: f.seq, ...JSON.parse(f.json) }));
  }

  // The parts of the last snapshot of team, by kind, records joined.
  snapshot(team) {
    let i = this.frames.findLastIndex((f) => f.t === 'snapshot' &&
      f.team === team);
    if (i < 0)
      return null;
    const out = { head: this.frames[i], parts: {} };
    for (i++; i < this.frames.length; i++) {
      const f = this.frames[i];
      if (f.team !== team)
        continue;
      if (f.t === 'snapshot_end') {
        out.end = f;
        break;
      }
      if (f.t === 'snapshot_part')
        out.parts[f.kind] = (out.parts[f.kind] ?? [])
          .concat(JSON.parse(f.json));
    }
    return out;
  }

  close() {
    this.sock.destroy();
  }
}
