// Shared by the web*.test.mjs browser tests: a real parley-backend with
// the demo team (parleyctl init + seed-demo) serving web/, TCP proxies
// in front of it that a test can cut and restore (a network loss seen
// from outside the browser), and headless Debian chromium driven by
// playwright-core.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { freePort } from './webapi-lib.mjs';

export const root = path.resolve(path.dirname(new URL(import.meta.url)
  .pathname), '../..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The demo people (tools/parleyctl.c seed-demo).
export const PEOPLE = {
  zoe: { user: 'zoe', password: 'zoe-demo-2', real: 'Zoë Lefèvre-Dubois',
    display: 'Zoë' },
  amelie: { user: 'amelie', password: 'amelie-demo-6',
    real: 'Amélie Poulain', display: 'Amélie 🎨' },
  ana: { user: 'ana', password: 'ana-demo-1', real: 'Ana Núñez',
    display: 'Ana' },
};
export const TEAM = 'parley-demo';

// A TCP proxy to port on loopback.  cut() drops every connection and
// refuses new ones until restore().
export async function startProxy(target) {
  const socks = new Set();
  let down = false;
  const srv = net.createServer((c) => {
    if (down) {
      c.destroy();
      return;
    }
    const s = net.createConnection(target, '127.0.0.1');
    socks.add(c);
    socks.add(s);
    const end = () => {
      c.destroy();
      s.destroy();
      socks.delete(c);
      socks.delete(s);
    };
    c.on('error', end);
    s.on('error', end);
    c.on('close', end);
    s.on('close', end);
    c.pipe(s);
    s.pipe(c);
  });
  await new Promise((res) => srv.listen(0, '127.0.0.1', res));
  const port = srv.address().port;
  return {
    port,
    url: `http://127.0.0.1:${port}/`,
    cut() {
      down = true;
      for (const s of socks)
        s.destroy();
      socks.clear();
    },
    restore() {
      down = false;
    },
    close() {
      this.cut();
      return new Promise((res) => srv.close(res));
    },
  };
}

// The backend with the demo team, serving web/.  The RTM URL is given
// relative ("/rtm"), so each page opens its WebSocket through the proxy
// that served it.
export async function startStack() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-web-'));
  const data = path.join(dir, 'data');
  const ctl = path.join(root, 'build/bin/parleyctl');
  execFileSync(ctl, ['-d', data, 'init'], { stdio: 'ignore' });
  execFileSync(ctl, ['-d', data, 'seed-demo'], { stdio: 'ignore' });
  const port = await freePort();
  const conf = path.join(dir, 'parley.conf');
  fs.writeFileSync(conf, `[backend]\nlisten = 127.0.0.1:${port}\n` +
    `data_dir = data\nmap_initial = 16M\nweb_root = ${root}/web\n` +
    'rtm_url = /rtm\nrtm_heartbeat = 5s\nsignin_failures = 100\n' +
    'rate_tier1 = 0\nrate_tier2 = 0\nrate_tier3 = 0\nrate_tier4 = 0\n' +
    'rate_post = 0\n[tokens]\nkeys = data/tokens.key\n');
  const logPath = path.join(dir, 'backend.log');
  const log = fs.openSync(logPath, 'a');
  const proc = spawn(path.join(root, 'build/bin/parley-backend'),
    ['-c', conf], { stdio: ['ignore', log, log] });
  let exited = null;
  proc.on('exit', (code, sig) => { exited = { code, sig }; });
  const url = `http://127.0.0.1:${port}/`;
  for (let i = 0; ; i++) {
    if (exited)
      throw new Error(`backend exited: ${fs.readFileSync(logPath, 'utf8')}`);
    if (i > 200)
      throw new Error('backend did not start');
    try {
      const r = await fetch(`${url}healthz`,
        { signal: AbortSignal.timeout(1000) });
      if (r.status === 200)
        break;
    } catch { /* not yet */ }
    await sleep(50);
  }
  const proxies = [];
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    timeout: 30000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
      '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const st = {
    dir, port, url, proc, browser,
    log: () => fs.readFileSync(logPath, 'utf8'),
    alive: () => exited === null,
    async proxy() {
      const p = await startProxy(port);
      proxies.push(p);
      return p;
    },
    // A fresh browser context (its own storage) on base, with page
    // errors collected in ctx.errors.
    async context(base, { width = 1200, height = 800 } = {}) {
      const ctx = await browser.newContext({ baseURL: base,
        viewport: { width, height } });
      ctx.setDefaultTimeout(10000);
      ctx.errors = [];
      ctx.on('page', (p) => p.on('pageerror', (e) => ctx.errors.push(e)));
      return ctx;
    },
    // Web API call with a token, straight to the backend.
    async call(token, method, args = {}) {
      const r = await fetch(`${url}api/${method}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`,
          'Content-Type': 'application/json; charset=utf-8' },
        body: JSON.stringify(args),
        signal: AbortSignal.timeout(10000),
      });
      const j = await r.json();
      if (!j.ok)
        throw new Error(`${method}: ${j.error}`);
      return j;
    },
    async signinToken(who) {
      const r = await fetch(`${url}api/parley.signin`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json; charset=utf-8' },
        body: JSON.stringify({ team: TEAM, user: PEOPLE[who].user,
          password: PEOPLE[who].password }),
        signal: AbortSignal.timeout(10000),
      });
      const j = await r.json();
      if (!j.ok)
        throw new Error(`signin: ${j.error}`);
      return j;
    },
    async stop() {
      await browser.close().catch(() => {});
      for (const p of proxies)
        await p.close();
      if (exited === null) {
        const done = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await done;
        clearTimeout(t);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return st;
}

// Signs who in on page through the form and waits for the app.
export async function signIn(page, who) {
  await page.goto('/');
  await page.getByLabel('Team').fill(TEAM);
  await page.getByLabel('User name or e-mail').fill(PEOPLE[who].user);
  await page.getByLabel('Password').fill(PEOPLE[who].password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#app:not([hidden])').waitFor();
  await page.locator('#conn-status.online').waitFor();
}

// Opens a conversation from the sidebar by its name.
export async function openConv(page, name) {
  await page.locator('#sidebar .conv', { hasText: name }).first().click();
  await page.locator('#channel-title', { hasText: name }).waitFor();
}

export async function post(page, text) {
  const box = page.locator('#composer-input');
  await box.fill(text);
  await box.press('Enter');
}

// The message <li> whose text is exactly text.
export function message(page, text, scope = '#message-list') {
  return page.locator(`${scope} .msg`, {
    has: page.locator('.msg-text', { hasText: text }) });
}

// Screenshots go to build/screenshots/; with PARLEY_SCREENSHOTS=1 they
// replace the ones under docs/screenshots/ that README.md shows (kept out
// of ordinary runs so that a test run leaves the source tree unchanged).
export function screenshotPath(name) {
  const d = path.join(root, process.env.PARLEY_SCREENSHOTS === '1' ?
    'docs/screenshots' : 'build/screenshots');
  fs.mkdirSync(d, { recursive: true });
  return path.join(d, `${name}.png`);
}
