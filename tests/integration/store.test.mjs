// The store through parleyctl and the crash driver: verify finds each
// injected fault, acknowledged writes survive SIGKILL, backup and restore
// keep the data with a new epoch, a delete leaves no trace, the schema 1
// fixture migrates, a team survives export and import, and the files
// are refused while another process holds them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname),
    '../..');
const ctl = path.join(root, 'build/bin/parleyctl');
const crash = path.join(root, 'build/tests/store_crash');
let tmp;

function run(cmd, args, opts = {}) {
	const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60000,
	    ...opts });
	if (r.error)
		throw r.error;
	return r;
}

function pc(dir, ...args) {
	return run(ctl, ['-d', dir, ...args]);
}

function ok(dir, ...args) {
	const r = pc(dir, ...args);
	assert.equal(r.status, 0, `parleyctl ${args.join(' ')}: ${r.stderr}`);
	return r.stdout;
}

function dump(dir) {
	const r = run('mdb_dump', ['-a', '-p', dir],
	    { maxBuffer: 64 << 20 });
	assert.equal(r.status, 0, r.stderr);
	return r.stdout;
}

function demo(name) {
	const dir = path.join(tmp, name);
	ok(dir, 'init');
	ok(dir, 'seed-demo');
	return dir;
}

before(() => {
	tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-store-'));
});

after(() => {
	fs.rmSync(tmp, { recursive: true, force: true });
});

test('verify is clean on a healthy store and reports each fault',
    () => {
	const base = demo('verify');
	const r = pc(base, 'verify');
	assert.equal(r.status, 0);
	assert.equal(r.stdout, '');

	const faults = {
		'event-without-change':
		    /event without its change: message C\w+\/[\d.]+ is missing/,
		'seq-gap': /gap in sequence between 1 and 3/,
		'one-way-membership': /recorded in one direction only/,
		'orphan-message': /channel CZZZZZZZZZZ does not exist/,
		'orphan-cmid': /client_msg_id "injected-cmid" .* does not exist/,
	};
	for (const [fault, re] of Object.entries(faults)) {
		const dir = path.join(tmp, `verify-${fault}`);
		fs.cpSync(base, dir, { recursive: true });
		ok(dir, '_inject', fault);
		const v = pc(dir, 'verify');
		assert.notEqual(v.status, 0, fault);
		const lines = v.stdout.trim().split('\n');
		assert.equal(lines.length, 1, `${fault}: ${v.stdout}`);
		assert.match(lines[0], re);
	}
});

test('acknowledged writes survive SIGKILL, once and in order',
    async () => {
	const dir = path.join(tmp, 'crash');
	const child = spawn(crash, [dir, 'write', '16'],
	    { stdio: ['ignore', 'pipe', 'pipe'] });
	let out = '';
	await new Promise((resolve, reject) => {
		const timer = setTimeout(() => {
			child.kill('SIGKILL');
			reject(new Error('no acks in time'));
		}, 30000);
		child.stdout.on('data', (d) => {
			out += d;
			if (out.split('\n').length > 600) {
				clearTimeout(timer);
				resolve();
			}
		});
		child.on('exit', () => reject(new Error('driver exited')));
	});

	// While it runs, parleyctl must refuse the files.
	const held = pc(dir, 'verify');
	assert.notEqual(held.status, 0);
	assert.match(held.stderr, new RegExp(
	    `held by a running process \\(pid ${child.pid}\\)`));

	child.kill('SIGKILL');
	await new Promise((resolve) => child.once('close', resolve));
	const acks = out.split('\n').filter((l) => /^ack \d+ \d+ [\d.]+$/
	    .test(l)).map((l) => l.split(' '));
	assert.ok(acks.length >= 600, `only ${acks.length} acks`);

	const chk = run(crash, [dir, 'check'], { maxBuffer: 64 << 20 });
	assert.equal(chk.status, 0, chk.stderr);
	const lines = chk.stdout.trim().split('\n');
	assert.equal(lines.at(-1), 'findings 0');
	const msgs = lines.filter((l) => l.startsWith('msg '))
	    .map((l) => l.split(' '));
	const where = new Map();
	msgs.forEach(([, text, ts], i) => {
		assert.ok(!where.has(text), `${text} stored twice`);
		where.set(text, { ts, i });
	});
	for (const [, w, n, ts] of acks) {
		const m = where.get(`w${w}-${n}`);
		assert.ok(m, `acknowledged write w${w}-${n} lost`);
		assert.equal(m.ts, ts);
	}
	// Each writer's messages appear in the order it wrote them.
	const last = new Map();
	for (const [, text] of msgs) {
		const [w, n] = text.slice(1).split('-').map(Number);
		assert.ok(!last.has(w) || last.get(w) === n - 1,
		    `writer ${w}: ${n} after ${last.get(w)}`);
		last.set(w, n);
	}
});

test('backup then restore keeps every record, with a new epoch', () => {
	const dir = demo('backup');
	const before = dump(dir);
	const epoch = ok(dir, 'init').match(/epoch (\w+)/)[1];
	ok(dir, 'backup', path.join(tmp, 'backup.copy'));
	const restored = path.join(tmp, 'restored');
	const out = ok(restored, 'restore', path.join(tmp, 'backup.copy'));
	const newEpoch = out.match(/new epoch (\w+)/)[1];
	assert.notEqual(newEpoch, epoch);

	const a = before.split('\n'), b = dump(restored).split('\n');
	assert.equal(a.length, b.length);
	const diff = a.map((l, i) => [l, b[i]]).filter(([x, y]) => x !== y);
	// Only the value under meta's "epoch" key differs.
	assert.equal(diff.length, 1);
	const i = a.indexOf(diff[0][0]);
	assert.equal(a[i - 1], ' epoch');
	assert.equal(diff[0][0].trim(), epoch);
	assert.equal(diff[0][1].trim(), newEpoch);
	assert.equal(pc(restored, 'verify').status, 0);
});

test('a deleted message leaves no trace in dump, backup or compact file',
    () => {
	const dir = demo('delete');
	const lines = ok(dir, 'export', 'parley-demo').trim().split('\n')
	    .map((l) => JSON.parse(l));
	const rec = lines.find((r) => r.k === 'message' &&
	    r.message.text.includes('Who wants'));
	assert.ok(rec);
	assert.match(dump(dir), /Who wants/);

	ok(dir, 'message', 'delete', rec.channel, rec.message.ts);
	assert.doesNotMatch(dump(dir), /Who wants/);
	ok(dir, 'backup', path.join(tmp, 'delete.copy'));
	const copy = fs.readFileSync(path.join(tmp, 'delete.copy/data.mdb'));
	assert.equal(copy.indexOf('Who wants'), -1);
	ok(dir, 'compact');
	const live = fs.readFileSync(path.join(dir, 'data.mdb'));
	assert.equal(live.indexOf('Who wants'), -1);
	assert.equal(pc(dir, 'verify').status, 0);
	assert.match(dump(dir), /tombstone/);
});

test('the schema 1 fixture is refused, then migrates and verifies clean',
    () => {
	const dir = path.join(tmp, 'v1');
	fs.cpSync(path.join(root, 'tests/fixtures/store-v1'), dir,
	    { recursive: true });
	const refused = pc(dir, 'verify');
	assert.notEqual(refused.status, 0);
	assert.match(refused.stderr, /schema 1.*run parleyctl migrate/);
	ok(dir, 'migrate');
	assert.ok(fs.readdirSync(dir).some((f) => f.startsWith('backup-v1-')));
	const v = pc(dir, 'verify');
	assert.equal(v.status, 0, v.stdout);
	const exp = ok(dir, 'export', 'fixture');
	assert.match(exp, /"text":"你好"/);
	assert.match(exp, /"k":"event".*"seq":4/);
});

test('a team survives export and import with its epoch', () => {
	const dir = demo('export');
	const file = path.join(tmp, 'team.jsonl');
	const source = ok(dir, 'init').match(/epoch (\w+)/)[1];
	ok(dir, 'export', 'parley-demo', file);
	assert.match(fs.readFileSync(file, 'utf8'),
	    new RegExp(`"k":"epoch".*"epoch":"${source}"`));
	const other = path.join(tmp, 'imported');
	ok(other, 'init');
	const epoch = ok(other, 'init').match(/epoch (\w+)/)[1];
	// The team keeps its epoch (its numbering goes on), and the store
	// keeps its own for its other teams.
	const out = ok(other, 'import', file);
	assert.equal(out.match(/store epoch (\w+)/)[1], epoch);
	assert.equal(pc(other, 'verify').status, 0);
	assert.equal(ok(other, 'export', 'parley-demo'),
	    fs.readFileSync(file, 'utf8'));
	// A second import of the same team is refused and changes nothing.
	const again = pc(other, 'import', file);
	assert.notEqual(again.status, 0);
	assert.match(again.stderr, /already exists/);
});
