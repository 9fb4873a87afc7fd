// The launcher behind `make run`: it brings the stack up on a port base
// and run directory of its own, HAProxy answers the Web API, a second
// launcher on the same directory refuses, and stopping leaves no process:
// with -s for a stack in the background, and with Ctrl-C (SIGINT to the
// terminal's process group) for one in the foreground.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const top = new URL('../..', import.meta.url).pathname;
const launcher = join(top, 'tools/run-stack.sh');
const offsets = [80, 90, 101, 102, 201, 202, 301, 302, 401, 402, 403, 443];

function run(args, timeout = 60000) {
	return new Promise((resolve) => {
		execFile('bash', [launcher, ...args], { timeout },
		    (err, stdout, stderr) => resolve({
			code: err ? (err.code ?? 1) : 0, stdout, stderr }));
	});
}

function portFree(port) {
	return new Promise((resolve) => {
		const s = createServer();
		s.once('error', () => resolve(false));
		s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
	});
}

// A base whose every port is free now.  Bases lie below the kernel's
// range for automatic ports (32768 and up), where other tests' client
// sockets come and go.
async function freeBase() {
	const busy = [];
	for (let i = 0; i < 100; i++) {
		const base = 10000 + Math.floor(Math.random() * 90) * 100;
		let ok = true;
		for (const o of offsets) {
			if (!(await portFree(base + o))) {
				busy.push(base + o);
				ok = false;
				break;
			}
		}
		if (ok)
			return base;
	}
	throw new Error(`no free port base; busy: ${busy.join(' ')}`);
}

// A process that has exited but not been reaped (a zombie) is gone.
function alive(pid) {
	try {
		return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`,
		    'utf8'));
	} catch {
		return false;
	}
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('make run launcher: up, answered through HAProxy, refused twice, ' +
    'stopped clean', { timeout: 120000 }, async () => {
	const base = await freeBase();
	const dir = mkdtempSync(join(tmpdir(), 'parley-stack-'));
	let pids = [];
	try {
		const up = await run(['-p', String(base), '-d', dir, '-b']);
		assert.equal(up.code, 0, up.stderr);
		assert.match(up.stdout, new RegExp(
		    `http://127\\.0\\.0\\.1:${base + 80}/`));
		assert.match(up.stdout, /demo sign-ins/);
		pids = readdirSync(join(dir, 'pids'))
		    .filter((f) => f.endsWith('.pid')).map((f) =>
		    Number(readFileSync(join(dir, 'pids', f), 'utf8')));
		assert.ok(pids.length >= 3, 'daemons started');

		const r = await fetch(`http://127.0.0.1:${base + 80}/api/api.test`,
		    { method: 'POST', signal: AbortSignal.timeout(5000) });
		assert.equal(r.status, 200);
		assert.equal((await r.json()).ok, true);

		// A forged token is answered by HAProxy as Slack would.
		const f = await fetch(
		    `http://127.0.0.1:${base + 80}/api/auth.test`,
		    { method: 'POST', signal: AbortSignal.timeout(5000),
		      headers: { authorization:
			'Bearer xoxp.k1.T1.U1.a.0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } });
		assert.equal(f.status, 200);
		assert.equal((await f.json()).error, 'invalid_auth');

		const again = await run(['-p', String(base), '-d', dir, '-b']);
		assert.notEqual(again.code, 0);
		assert.match(again.stderr, /already running/);
	} finally {
		await run(['-d', dir, '-s']);
		for (const pid of pids)
			assert.equal(alive(pid), false, `pid ${pid} stopped`);
		rmSync(dir, { recursive: true, force: true });
	}
});

test('make run in the foreground: Ctrl-C stops every daemon',
    { timeout: 120000 }, async () => {
	const base = await freeBase();
	const dir = mkdtempSync(join(tmpdir(), 'parley-stack-fg-'));
	// Its own process group, as a terminal's foreground job.
	const child = spawn('bash', [launcher, '-p', String(base), '-d', dir],
	    { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
	let out = '';
	child.stdout.on('data', (d) => (out += d));
	child.stderr.on('data', (d) => (out += d));
	const exited = new Promise((resolve) => child.once('exit',
	    (code, sig) => resolve({ code, sig })));
	let pids = [];
	try {
		const end = Date.now() + 90000;
		while (!out.includes('press Ctrl-C') && Date.now() < end &&
		    child.exitCode === null)
			await sleep(100);
		assert.match(out, /press Ctrl-C/);
		assert.match(out, new RegExp(
		    `https://127\.0\.0\.1:${base + 443}/`));
		pids = readdirSync(join(dir, 'pids'))
		    .filter((f) => f.endsWith('.pid')).map((f) => Number(
			readFileSync(join(dir, 'pids', f), 'utf8')));
		assert.ok(pids.length >= 4, 'daemons started');
		const r = await fetch(`http://127.0.0.1:${base + 80}/api/api.test`,
		    { method: 'POST', signal: AbortSignal.timeout(5000) });
		assert.equal(r.status, 200);

		process.kill(-child.pid, 'SIGINT');
		const { code } = await Promise.race([exited, sleep(60000)
		    .then(() => ({ code: 'timeout' }))]);
		assert.equal(code, 0, out);
		for (const pid of pids)
			assert.equal(alive(pid), false, `pid ${pid} stopped`);
		assert.deepEqual(readdirSync(join(dir, 'pids'))
		    .filter((f) => f.endsWith('.pid')), []);
	} finally {
		if (child.exitCode === null)
			await run(['-d', dir, '-s']);
		try { process.kill(-child.pid, 'SIGKILL'); } catch { }
		rmSync(dir, { recursive: true, force: true });
	}
});
