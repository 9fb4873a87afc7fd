// SIGKILL of the backend at random points under steady writes, many times
// (PARLEY_KILL_ROUNDS, 20 by default and 200 under make soak).  Writers
// post with a client_msg_id and send the same post again until it is
// answered, as a client whose connection broke does.  After each kill:
// parleyctl verify is clean, every acknowledged post is in the store once
// with the ts it was answered with, each writer's posts are in the order
// it wrote them, and nothing is there twice.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { Backend, makeTeam, until, sleep } from './rtm-lib.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname),
  '../..');
const ctl = path.join(root, 'build/bin/parleyctl');
const rounds = Number(process.env.PARLEY_KILL_ROUNDS ||
  (process.env.PARLEY_SOAK ? 200 : 20));
let b;

after(async () => {
  await b?.stop();
});

function pc(...args) {
  const r = spawnSync(ctl, ['-d', path.join(b.dir, 'data'), ...args],
    { encoding: 'utf8', timeout: 120000, maxBuffer: 256 << 20 });
  if (r.error)
    throw r.error;
  return r;
}

// A small PRNG with a printed seed, so that a failing run can be redone.
function prng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test(`acknowledged posts survive ${rounds} SIGKILLs once and in order`,
  async (ctx) => {
    const seed = Number(process.env.PARLEY_KILL_SEED ||
      crypto.randomInt(2 ** 31));
    const rand = prng(seed);
    ctx.diagnostic(`seed ${seed} (PARLEY_KILL_SEED)`);
    b = new Backend();
    await b.start();
    const t = await makeTeam(b, 'kill', ['w0', 'w1', 'w2']);

    const acked = new Map(); // text -> ts
    let stop = false, down = false;
    const writer = async (w) => {
      for (let n = 0; !stop; n++) {
        const text = `w${w}-${n}`;
        const cmid = crypto.randomUUID();
        for (let tries = 0; !stop && tries < 100000; tries++) {
          let r = null;
          if (!down) {
            try {
              r = await b.api('chat.postMessage', t.users[`w${w}`].token,
                { channel: t.general, text, client_msg_id: cmid });
            } catch { /* the backend died under it: send it again */ }
          }
          if (r?.ok) {
            acked.set(text, r.ts);
            break;
          }
          assert.ok(r === null, `${text}: ${JSON.stringify(r)}`);
          await sleep(10);
        }
      }
    };
    const writers = [0, 1, 2].map(writer);

    try {
      for (let round = 0; round < rounds; round++) {
        const from = acked.size;
        const want = 3 + Math.floor(rand() * 40);
        await until(() => acked.size >= from + want, 60000,
          `round ${round}: ${want} more acknowledgements`);
        await sleep(Math.floor(rand() * 50));
        down = true;
        await b.kill9();
        const seen = new Map(acked);

        const v = pc('verify');
        assert.equal(v.status, 0, `round ${round}: ${v.stdout}${v.stderr}`);
        const ex = pc('export', 'kill');
        assert.equal(ex.status, 0, ex.stderr);
        const msgs = ex.stdout.trim().split('\n').map((l) => JSON.parse(l))
          .filter((r) => r.k === 'message' && r.channel === t.general)
          .map((r) => r.message)
          .sort((x, y) => (BigInt(x.ts.replace('.', '')) <
            BigInt(y.ts.replace('.', '')) ? -1 : 1));
        const stored = new Map();
        const last = [-1, -1, -1];
        for (const { text, ts } of msgs) {
          assert.ok(!stored.has(text), `round ${round}: ${text} twice`);
          stored.set(text, ts);
          const [w, n] = text.slice(1).split('-').map(Number);
          assert.ok(n > last[w], `round ${round}: ${text} after ` +
            `w${w}-${last[w]}`);
          last[w] = n;
        }
        for (const [text, ts] of seen)
          assert.equal(stored.get(text), ts, `round ${round}: ${text} ` +
            'acknowledged, then lost');
        await b.start();
        down = false;
      }
    } finally {
      stop = true;
      down = false;
      await Promise.all(writers);
    }
    ctx.diagnostic(`${acked.size} posts acknowledged over ${rounds} kills`);
  });
