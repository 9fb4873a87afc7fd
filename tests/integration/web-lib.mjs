// Shared by the web*.test.mjs browser tests: the stack of `make run`
// (tools/run-stack.sh) with its demo team, TCP proxies in front of
// HAProxy that a test can cut and restore (a network loss seen from
// outside the browser), and headless Debian chromium driven by
// playwright-core.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startLauncherStack } from './stack-lib.mjs';

export const root = path.resolve(path.dirname(new URL(import.meta.url)
  .pathname), '../..');

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

// The whole stack as `make run` starts it (the launcher, on a free port
// base; HAProxy in front of the shard, the edges, the agent and the
// health daemon) with its demo team.  Pages reach HAProxy through a
// proxy of their own; the RTM URL is relative ("/rtm") on the shard and
// the edges, so each page opens its WebSocket through the proxy that
// served it, and HAProxy's agent sends the web client (a slim client)
// to an edge.
export async function startStack() {
  const stack = await startLauncherStack([20000, 23000]);
  const port = stack.base + 80;
  const url = `http://127.0.0.1:${port}/`;
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
    dir: stack.dir, port, url, browser, stack,
    log: () => stack.logs(),
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
    // Web API call with a token, through HAProxy.
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
    // The sum over both edges of an edge counter (0 for an edge that
    // does not answer).
    async edgeCounter(name) {
      let sum = 0;
      for (const off of [201, 202]) {
        try {
          const r = await fetch(stack.url(off, '/metrics'),
            { signal: AbortSignal.timeout(5000) });
          const m = new RegExp(`^${name} (\\d+)$`, 'm')
            .exec(await r.text());
          sum += m ? Number(m[1]) : 0;
        } catch { /* no such edge */ }
      }
      return sum;
    },
    async stop() {
      await browser.close().catch(() => {});
      for (const p of proxies)
        await p.close();
      await stack.stop();
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
