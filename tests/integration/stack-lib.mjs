// A whole stack started by the launcher behind `make run`
// (tools/run-stack.sh -b) on a free port base and in a temporary run
// directory, stopped and removed by stop().  The port offsets are the
// launcher's (README, "Ports").
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const top = path.resolve(path.dirname(new URL(import.meta.url)
  .pathname), '../..');
const launcher = path.join(top, 'tools/run-stack.sh');

// Every offset from the base that a stack may listen on.
export const OFFSETS = [80, 90, 101, 102, 111, 112, 201, 202, 301, 302,
  401, 402, 403, 443];

export function runLauncher(args, timeout = 180000) {
  return new Promise((resolve) => {
    execFile('bash', [launcher, ...args], { timeout }, (err, stdout,
      stderr) => resolve({ code: err ? (err.code ?? 1) : 0, stdout,
      stderr }));
  });
}

// The TCP ports something listens on, as the launcher sees them (ss);
// null when ss is not there.  A port held only by connections in
// TIME-WAIT from an earlier stack is free for the daemons, which bind
// with SO_REUSEADDR, though a plain test bind may be refused.
function listening() {
  try {
    const out = execFileSync('ss', ['-Hltn'], { encoding: 'utf8' });
    const ports = new Set();
    for (const line of out.split('\n')) {
      const m = /:(\d+)\s/.exec(line.split(/\s+/).slice(3).join(' ') +
        ' ');
      if (m)
        ports.add(Number(m[1]));
    }
    return ports;
  } catch {
    return null;
  }
}

function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

// A port base between lo and hi (multiples of 100) whose ports are all
// free; each test file takes its own range so that files never collide.
// Ranges stay below 32768, where the kernel picks the source ports of
// outgoing connections (net.ipv4.ip_local_port_range), so that a busy
// machine's connections do not take a daemon's port.
export async function freeBase(lo, hi) {
  const n = Math.floor((hi - lo) / 100);
  for (let i = 0; i < 60; i++) {
    const base = lo + Math.floor(Math.random() * n) * 100;
    const busy = listening();
    let ok = true;
    for (const o of OFFSETS)
      if (busy ? busy.has(base + o) : !(await portFree(base + o))) {
        ok = false;
        break;
      }
    if (ok)
      return base;
  }
  throw new Error('no free port base');
}

// Starts a stack; range is [lo, hi) for its port base.  opts.prepare(dir),
// when given, runs before the launcher on the empty run directory (to
// make stores the launcher then keeps, as a soak's seeded team).  The
// result has base, dir, url(offset, path), front (HAProxy's HTTP URL),
// logs() and stop().
export async function startLauncherStack([lo, hi], opts = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-stack-'));
  if (opts.prepare)
    await opts.prepare(dir);
  let base, r;
  for (let attempt = 0; ; attempt++) {
    base = await freeBase(lo, hi);
    r = await runLauncher(['-p', String(base), '-d', dir, '-b', '-q']);
    // another process may take a port between the check and the start
    if (r.code === 0 || attempt >= 2 || !/already in use/.test(r.stderr))
      break;
  }
  const st = {
    base, dir,
    url: (offset, p = '/') => `http://127.0.0.1:${base + offset}${p}`,
    get front() { return `http://127.0.0.1:${base + 80}/`; },
    logs() {
      const d = path.join(dir, 'logs');
      let out = '';
      for (const f of fs.existsSync(d) ? fs.readdirSync(d) : [])
        out += `==> ${f} <==\n${fs.readFileSync(path.join(d, f), 'utf8')}`;
      return out;
    },
    async stop() {
      await runLauncher(['-d', dir, '-s'], 60000);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  if (r.code !== 0) {
    const logs = st.logs();
    await st.stop();
    throw new Error(`launcher failed (${r.code}): ${r.stderr}\n${logs}`);
  }
  return st;
}
