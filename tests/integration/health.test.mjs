// parley-health played by Route 53: 16 checkers poll the check over HTTP
// and HTTPS (with and without SNI) while the stack behind it comes and
// goes, HAProxy 2.6 follows the agent-check listener into DRAIN and back,
// and 200 slow-loris connections do not keep the checkers from their
// answers.
//
// Probed targets: the shard is the real build/bin/parley-backend when it is
// built (a small Node HTTP server answering /healthz stands in otherwise);
// the edges are real build/bin/parley-edge processes linked to that
// backend's stream over TLS when both are built (Node HTTP servers stand
// in otherwise), so "backend and edges killed" kills and restarts the
// real daemons; HAProxy is the real /usr/sbin/haproxy; the agent is the
// real build/bin/parley-spoa when it is built (its subtest is skipped
// otherwise).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { Edge } from './edge-lib.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname),
	'../..');
const healthBin = path.join(root, 'build/bin/parley-health');
const spoaBin = path.join(root, 'build/bin/parley-spoa');
const backendBin = path.join(root, 'build/bin/parley-backend');
const edgeBin = path.join(root, 'build/bin/parley-edge');
const haproxyBin = '/usr/sbin/haproxy';

const MARKER = 'PARLEY-ROUTE53-OK';
const USER_AGENT = 'Amazon-Route53-Health-Check-Service (ref ' +
	'6f2d8c1e-3b4a-4f5e-9d7c-2a1b0c9d8e7f; report http://amzn.to/1vsZADi)';
const HOST = 'health.example.test';
const RISE = 2;
const FALL = 2;

let dir;
let ports = {};
const children = [];
const standIns = [];
let spoa = null;
let haproxy = null;
let health = null;
let player = null;

async function freePort() {
	const srv = net.createServer();
	await new Promise((res) => srv.listen(0, '127.0.0.1', res));
	const { port } = srv.address();
	await new Promise((res) => srv.close(res));
	return port;
}

// An HTTP server answering /healthz, standing in for a shard or an edge.
function standIn(name, port) {
	const sockets = new Set();
	const srv = http.createServer((req, res) => {
		if (req.url === '/healthz') {
			res.writeHead(200, { 'content-type': 'text/plain' });
			res.end(`${name} ok\n`);
		} else {
			res.writeHead(404);
			res.end();
		}
	});
	srv.on('connection', (s) => {
		sockets.add(s);
		s.on('close', () => sockets.delete(s));
	});
	return {
		name,
		port,
		async start() {
			await new Promise((res, rej) => {
				srv.once('error', rej);
				srv.listen(port, '127.0.0.1', res);
			});
		},
		async stop() {
			const closed = new Promise((res) => srv.close(res));
			for (const s of sockets) s.destroy();
			await closed;
		},
	};
}

// The real parley-backend as a shard, started and stopped like a stand-in.
function realBackend(name) {
	let child = null;
	return {
		name,
		async start() {
			child = startChild('backend', backendBin,
				['-c', path.join(dir, 'parley.conf')]);
		},
		async stop() {
			if (child) await stopChild(child, 'SIGKILL');
			child = null;
		},
	};
}

// A real parley-edge on port, linked to the real backend's stream (as
// tests/integration/edge-lib.mjs starts it); stop() is a SIGKILL.
function realEdge(name, port) {
	let edge = null;
	return {
		name,
		port,
		async start() {
			edge = new Edge({ dir, port: ports.shard1,
				streamPort: ports.stream }, path.join(dir, 'certs'),
				{ name });
			edge.port = port;
			await edge.start();
		},
		async stop() {
			if (!edge) return;
			await edge.kill9();
			await edge.stop();
			edge = null;
		},
	};
}

function startChild(name, bin, args) {
	const log = fs.openSync(path.join(dir, `${name}.log`), 'a');
	const child = spawn(bin, args, { stdio: ['ignore', log, log] });
	fs.closeSync(log);
	child.exited = new Promise((res) => child.once('exit', res));
	children.push(child);
	return child;
}

async function stopChild(child, signal = 'SIGTERM') {
	if (child.exitCode !== null || child.signalCode !== null) return;
	child.kill(signal);
	const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
	await child.exited;
	clearTimeout(killer);
}

async function waitFor(what, pred, timeoutMs = 20000) {
	const end = Date.now() + timeoutMs;
	for (;;) {
		const v = await pred();
		if (v) return v;
		if (Date.now() > end)
			throw new Error(`timed out waiting for ${what}`);
		await sleep(50);
	}
}

// One HTTP GET on loopback with a bounded time; resolves to
// { status, body } or null.
function get(port, p, timeoutMs = 3000) {
	return new Promise((resolve) => {
		const req = http.get({ host: '127.0.0.1', port, path: p,
			agent: false, timeout: timeoutMs }, (res) => {
			let body = '';
			res.setEncoding('utf8');
			res.on('data', (d) => { body += d; });
			res.on('end', () => resolve({ status: res.statusCode,
				body }));
			res.on('error', () => resolve(null));
		});
		req.on('timeout', () => req.destroy());
		req.on('error', () => resolve(null));
	});
}

async function status() {
	const r = await get(ports.http, '/health.json');
	return r && r.status === 200 ? JSON.parse(r.body) : null;
}

function probe(st, name) {
	const p = st.probes.find((x) => x.name === name);
	assert.ok(p, `probe ${name} listed`);
	return p;
}

// Asks HAProxy's stats socket for `show stat` and returns the rows as
// objects keyed by column name.
function haproxyStat() {
	return new Promise((resolve, reject) => {
		const s = net.connect(path.join(dir, 'haproxy.sock'));
		let data = '';
		s.setTimeout(3000, () => s.destroy(new Error('stats timeout')));
		s.on('connect', () => s.write('show stat\n'));
		s.on('data', (d) => { data += d; });
		s.on('error', reject);
		s.on('close', () => {
			const lines = data.split('\n').filter((l) => l);
			if (!lines.length || !lines[0].startsWith('# ')) {
				resolve([]);
				return;
			}
			const cols = lines[0].slice(2).split(',');
			resolve(lines.slice(1).map((l) => {
				const f = l.split(',');
				return Object.fromEntries(cols.map((c, i) =>
					[c, f[i]]));
			}));
		});
	});
}

// One Route 53 style check: connection within 4 s, status within 2 s of
// connecting, the marker in the first 5,120 bytes of the body.
function route53Check({ proto, sni }) {
	return new Promise((resolve) => {
		const t0 = performance.now();
		let tConn = 0;
		let done = false;
		let buf = Buffer.alloc(0);
		let sock;
		const finish = (r) => {
			if (done) return;
			done = true;
			clearTimeout(connTimer);
			clearTimeout(statusTimer);
			sock.destroy();
			resolve({ ...r, ms: performance.now() - t0 });
		};
		const connTimer = setTimeout(() => finish({ ok: false,
			reason: 'connect over 4 s' }), 4000);
		let statusTimer = null;
		const onConnect = () => {
			tConn = performance.now();
			clearTimeout(connTimer);
			statusTimer = setTimeout(() => finish({ ok: false,
				reason: 'status over 2 s' }), 2000);
			sock.write(`GET /health HTTP/1.1\r\nHost: ${HOST}\r\n` +
				`User-Agent: ${USER_AGENT}\r\n` +
				'Accept: */*\r\nConnection: close\r\n\r\n');
		};
		const judge = (final) => {
			const s = buf.toString('latin1');
			const m = /^HTTP\/1\.[01] (\d{3})/.exec(s);
			if (!m) {
				if (final)
					finish({ ok: false, reason: 'no status' });
				return;
			}
			const code = Number(m[1]);
			const hEnd = s.indexOf('\r\n\r\n');
			if (hEnd < 0) {
				if (final)
					finish({ ok: false, status: code,
						reason: 'cut headers' });
				return;
			}
			const body = s.slice(hEnd + 4, hEnd + 4 + 5120);
			if (!final && body.length < 5120) return;
			const healthy = code >= 200 && code < 400 &&
				body.includes(MARKER);
			finish({ ok: healthy, status: code, body,
				statusMs: performance.now() - tConn,
				reason: healthy ? '' : `HTTP ${code}` });
		};
		if (proto === 'http') {
			sock = net.connect({ host: '127.0.0.1',
				port: ports.http }, onConnect);
		} else {
			// An IP address as host sends no SNI; servername
			// sends one.  Route 53 does not check the certificate.
			const opts = { host: '127.0.0.1', port: ports.https,
				rejectUnauthorized: false };
			if (sni) opts.servername = HOST;
			sock = tls.connect(opts, onConnect);
		}
		sock.on('data', (d) => {
			buf = Buffer.concat([buf, d]);
			judge(false);
		});
		sock.on('end', () => judge(true));
		sock.on('close', () => judge(true));
		sock.on('error', (e) => finish({ ok: false,
			reason: e.code || e.message }));
	});
}

// 16 checkers, each polling every second, as Route 53 does from its
// regions: 6 over HTTP, 5 over HTTPS with SNI, 5 over HTTPS without.
function startPlayer() {
	const kinds = [];
	for (let i = 0; i < 16; i++)
		kinds.push(i < 6 ? { proto: 'http' }
			: { proto: 'https', sni: i < 11 });
	const results = kinds.map(() => []);
	let running = true;
	const loops = kinds.map(async (kind, i) => {
		await sleep(i * 60);
		while (running) {
			const start = Date.now();
			const r = await route53Check(kind);
			results[i].push({ ...r, at: start, kind });
			const left = 1000 - (Date.now() - start);
			if (left > 0) await sleep(left);
		}
	});
	return {
		results,
		async stop() {
			running = false;
			await Promise.all(loops);
		},
		// Results of every checker started at or after t.
		since(t) {
			return results.map((rs) => rs.filter((r) => r.at >= t));
		},
	};
}

// Waits until every checker has made n checks since t; returns them.
async function rounds(t, n, what) {
	return waitFor(what, () => {
		const s = player.since(t);
		return s.every((rs) => rs.length >= n) ? s : null;
	}, 20000 + n * 3000);
}

// Waits until every checker's latest check (started after t) says ok.
async function allLatest(t, ok, what) {
	return waitFor(what, () => {
		const s = player.since(t);
		return s.every((rs) => rs.length > 0 &&
			rs[rs.length - 1].ok === ok) ? s : null;
	}, 30000);
}

function writeConfig(withAgent) {
	const keys = path.join(dir, 'keys');
	fs.writeFileSync(keys, `k1 ${'ab'.repeat(32)}\n`, { mode: 0o600 });
	const lines = [
		'[health]',
		`listen = 127.0.0.1:${ports.http}`,
		`listen_tls = 127.0.0.1:${ports.https}`,
		'tls_cert = certs/server.pem',
		'tls_key = certs/server.key',
		`agent_check_listen = 127.0.0.1:${ports.agentCheck}`,
		`marker = ${MARKER}`,
		`haproxy_stats = ${path.join(dir, 'haproxy.sock')}`,
		'haproxy_backends = be_app/0',
		`edges = e1=127.0.0.1:${ports.edge1} e2=127.0.0.1:${ports.edge2}`,
		`shards = s1=127.0.0.1:${ports.shard1}`,
		`store_path = ${dir}`,
		'disk_min_free = 1M',
		`drain_file = ${path.join(dir, 'drain')}`,
		'interval = 500ms',
		'timeout = 400ms',
		`rise = ${RISE}`,
		`fall = ${FALL}`,
		'header_timeout = 5s',
		'idle_timeout = 5s',
	];
	if (withAgent) {
		lines.push(`agent = 127.0.0.1:${ports.spoa}`);
		lines.push('', '[spoa]', `listen = 127.0.0.1:${ports.spoa}`,
			`stats_listen = 127.0.0.1:${ports.spoaStats}`);
	}
	if (haveBackend) {
		fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
		lines.push('', '[backend]', `listen = 127.0.0.1:${ports.shard1}`,
			'data_dir = data', 'map_initial = 16M');
		if (haveEdge)
			lines.push(`stream_listen = 127.0.0.1:${ports.stream}`,
				`stream_tls_cert = ${path.join(dir, 'certs/server.pem')}`,
				`stream_tls_key = ${path.join(dir, 'certs/server.key')}`,
				`stream_tls_ca = ${path.join(dir, 'certs/ca.pem')}`,
				'stream_keepalive = 1s', 'stream_timeout = 5s');
	}
	if (withAgent || haveBackend)
		lines.push('', '[tokens]', `keys = ${keys}`);
	fs.writeFileSync(path.join(dir, 'parley.conf'), lines.join('\n') + '\n');

	fs.writeFileSync(path.join(dir, 'haproxy.cfg'), [
		'global',
		`  stats socket ${path.join(dir, 'haproxy.sock')} mode 600 level admin`,
		'  maxconn 1000',
		'defaults',
		'  mode http',
		'  timeout connect 1s',
		'  timeout client 5s',
		'  timeout server 5s',
		'frontend fe',
		`  bind 127.0.0.1:${ports.haproxy}`,
		'  default_backend be_app',
		'backend be_app',
		`  server app1 127.0.0.1:${ports.edge1} weight 100 check inter 500ms ` +
		`agent-check agent-addr 127.0.0.1 agent-port ${ports.agentCheck} ` +
		'agent-inter 300ms',
		'',
	].join('\n'));
}

const haveSpoa = fs.existsSync(spoaBin);
const haveBackend = fs.existsSync(backendBin);
const haveEdge = haveBackend && fs.existsSync(edgeBin);

before(async () => {
	dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-health-'));
	execFileSync('bash', [path.join(root, 'tests/certs.sh'),
		path.join(dir, 'certs')]);
	for (const k of ['http', 'https', 'agentCheck', 'edge1', 'edge2',
		'shard1', 'stream', 'spoa', 'spoaStats', 'haproxy'])
		ports[k] = await freePort();
	writeConfig(haveSpoa);

	// The shard first: real edges wait for their link to it.
	standIns.push(haveBackend ? realBackend('shard s1')
		: standIn('shard s1', ports.shard1));
	for (const [n, port] of [['e1', ports.edge1], ['e2', ports.edge2]])
		standIns.push(haveEdge ? realEdge(`edge ${n}`, port)
			: standIn(`edge ${n}`, port));
	for (const s of standIns) await s.start();
	if (haveSpoa)
		spoa = startChild('spoa', spoaBin,
			['-c', path.join(dir, 'parley.conf')]);
	haproxy = startChild('haproxy', haproxyBin,
		['-db', '-f', path.join(dir, 'haproxy.cfg')]);
	health = startChild('health', healthBin,
		['-c', path.join(dir, 'parley.conf')]);
	await waitFor('parley-health to answer', () => get(ports.http,
		'/health'));
	await waitFor('every probe up', async () => {
		const st = await status();
		return st && st.probes.every((p) => p.state === 'up');
	});
	player = startPlayer();
});

after(async () => {
	if (player) await player.stop();
	for (const c of children) await stopChild(c);
	for (const s of standIns) await s.stop().catch(() => {});
	if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('all checkers report healthy while the stack is up', async () => {
	const t = Date.now();
	const s = await rounds(t, 2, 'two rounds of checks');
	for (const rs of s)
		for (const r of rs) {
			assert.ok(r.ok, `check failed: ${r.reason} ` +
				`(${r.kind.proto}${r.kind.sni ? ' SNI' : ''})`);
			assert.equal(r.status, 200);
			assert.ok(r.body.startsWith(`${MARKER} ok`));
		}
	const st = await status();
	assert.equal(st.status, 'ok');
	assert.equal(probe(st, 'haproxy:be_app').state, 'up');
	assert.match(probe(st, 'haproxy:be_app').last_result,
		/1 of 1 servers UP/);
});

test('the agent killed: still healthy, shown as degraded', async (t) => {
	if (!haveSpoa) {
		t.skip('build/bin/parley-spoa is not built in this tree, ' +
			'so there is no agent to probe');
		return;
	}
	await stopChild(spoa, 'SIGKILL');
	await waitFor('the agent probe to go down', async () => {
		const st = await status();
		return st && probe(st, 'agent').state === 'down';
	});
	const t0 = Date.now();
	const s = await rounds(t0, 2, 'two rounds with the agent down');
	for (const rs of s)
		for (const r of rs) {
			assert.ok(r.ok, `check failed: ${r.reason}`);
			assert.match(r.body, /degraded: agent/);
		}
	const st = await status();
	assert.equal(st.status, 'degraded');
	assert.equal(st.http_status, 200);
	const m = await get(ports.http, '/metrics');
	assert.match(m.body, /parley_health_status 1\n/);
	assert.match(m.body,
		/parley_health_probe_up\{probe="agent",group="agent",class="degraded"\} 0/);

	spoa = startChild('spoa', spoaBin,
		['-c', path.join(dir, 'parley.conf')]);
	await waitFor('the agent probe back up', async () => {
		const x = await status();
		return x && probe(x, 'agent').state === 'up' &&
			x.status === 'ok';
	});
});

async function drainCycle(drain, undrain, how) {
	await drain();
	const t = Date.now();
	await allLatest(t, false, `every checker unhealthy (${how})`);
	const t1 = Date.now();
	const s = await rounds(t1, 1, 'a round while drained');
	for (const rs of s)
		for (const r of rs) {
			assert.equal(r.ok, false);
			assert.equal(r.status, 503);
			assert.match(r.body, /^draining/);
		}
	// Nothing stopped: every probe is still up, the edges answer.
	const st = await status();
	assert.equal(st.draining, true);
	assert.ok(st.probes.every((p) => p.state === 'up'));
	const direct = await get(ports.edge1, '/healthz');
	assert.equal(direct.status, 200);
	// HAProxy follows the agent-check into DRAIN.
	await waitFor('HAProxy to mark app1 DRAIN', async () => {
		const rows = await haproxyStat();
		const app = rows.find((r) => r.svname === 'app1');
		return app && app.status.startsWith('DRAIN');
	});

	await undrain();
	const t2 = Date.now();
	await allLatest(t2, true, `every checker healthy again (${how})`);
	await waitFor('HAProxy to mark app1 UP again', async () => {
		const rows = await haproxyStat();
		const app = rows.find((r) => r.svname === 'app1');
		return app && app.status === 'UP';
	});
	const st2 = await status();
	assert.equal(st2.draining, false);
}

test('drain by signal flips the checkers and HAProxy, and back',
	async () => {
		await drainCycle(async () => health.kill('SIGUSR1'),
			async () => health.kill('SIGUSR2'), 'SIGUSR1');
	});

test('drain by the drain file flips the checkers, and back', async () => {
	const f = path.join(dir, 'drain');
	await drainCycle(async () => fs.writeFileSync(f, ''),
		async () => fs.unlinkSync(f), 'drain_file');
});

test('backend and edges killed: unhealthy after the fall count, back ' +
	'after the rise count', async () => {
	const names = ['edge:e1', 'edge:e2', 'shard:s1'];
	let st = await status();
	const fail0 = Object.fromEntries(names.map((n) =>
		[n, probe(st, n).failures]));
	for (const s of standIns) await s.stop();
	const t = Date.now();
	await allLatest(t, false, 'every checker unhealthy');
	st = await status();
	assert.equal(st.status, 'critical');
	for (const n of names) {
		const p = probe(st, n);
		assert.equal(p.state, 'down');
		assert.ok(p.failures - fail0[n] >= FALL,
			`${n} went down after ${p.failures - fail0[n]} failures`);
	}
	const s1 = await rounds(Date.now(), 1, 'a round while down');
	for (const rs of s1)
		for (const r of rs) {
			assert.equal(r.status, 503);
			assert.match(r.body, /^critical: /);
			assert.ok(!r.body.includes(MARKER));
		}

	st = await status();
	const ok0 = Object.fromEntries(names.map((n) => {
		const p = probe(st, n);
		return [n, p.checks - p.failures];
	}));
	for (const s of standIns) await s.start();
	if (haveEdge)
		for (const port of [ports.edge1, ports.edge2]) {
			const h = await get(port, '/healthz');
			assert.equal(JSON.parse(h.body).links.s1.state, 'up',
				'a real edge, linked to the restarted backend');
		}
	await allLatest(Date.now(), true, 'every checker healthy again');
	st = await status();
	assert.equal(st.status, 'ok');
	for (const n of names) {
		const p = probe(st, n);
		assert.equal(p.state, 'up');
		assert.ok(p.checks - p.failures - ok0[n] >= RISE,
			`${n} came up after ${p.checks - p.failures - ok0[n]} ` +
			'successes');
	}
});

test('200 slow-loris connections: checkers keep their answers; the ' +
	'slow ones are closed', async () => {
	const loris = [];
	for (let i = 0; i < 200; i++) {
		const s = net.connect({ host: '127.0.0.1', port: ports.http });
		s.on('error', () => {});
		s.gone = new Promise((res) => s.on('close', res));
		s.got = '';
		s.on('data', (d) => { s.got += d; });
		s.on('connect', () => s.write('GET /health HTTP/1.1\r\nHo'));
		loris.push(s);
	}
	await waitFor('slow-loris connections open', () =>
		loris.every((s) => s.readyState === 'open' || s.destroyed));
	const t = Date.now();
	const s = await rounds(t, 2, 'two rounds under slow-loris');
	for (const rs of s)
		for (const r of rs)
			assert.ok(r.ok, `check failed under slow-loris: ${r.reason}`);
	// The server's header timeout closes every slow client, with 408.
	await Promise.race([Promise.all(loris.map((x) => x.gone)),
		sleep(20000).then(() => { throw new Error('slow-loris ' +
			'connections not closed'); })]);
	assert.ok(loris.every((x) => x.got === '' ||
		x.got.startsWith('HTTP/1.1 408')));
});

test('garbage, oversized headers and unknown paths get their errors',
	async () => {
		const raw = (bytes) => new Promise((resolve) => {
			const s = net.connect({ host: '127.0.0.1',
				port: ports.http });
			let got = '';
			s.setTimeout(5000, () => s.destroy());
			s.on('connect', () => s.write(bytes));
			s.on('data', (d) => { got += d; });
			s.on('error', () => {});
			s.on('close', () => resolve(got));
		});
		assert.match(await raw('\x16\x03\x01garbage\r\n\r\n'),
			/^HTTP\/1\.1 400 /);
		assert.match(await raw('GET /health HTTP/1.1\r\nX-Big: ' +
			'a'.repeat(20000) + '\r\n\r\n'), /^HTTP\/1\.1 431 /);
		const nf = await get(ports.http, '/nope');
		assert.equal(nf.status, 404);
		const live = await get(ports.http, '/healthz');
		assert.equal(live.status, 200);
		const head = await new Promise((resolve) => {
			const req = http.request({ host: '127.0.0.1',
				port: ports.http, path: '/health', method: 'HEAD',
				agent: false, timeout: 3000 }, (res) => {
				res.resume();
				res.on('end', () => resolve(res.statusCode));
			});
			req.on('error', () => resolve(0));
			req.end();
		});
		assert.equal(head, 200);
		const post = await new Promise((resolve) => {
			const req = http.request({ host: '127.0.0.1',
				port: ports.http, path: '/health', method: 'POST',
				agent: false, timeout: 3000 }, (res) => {
				res.resume();
				res.on('end', () => resolve(res.statusCode));
			});
			req.on('error', () => resolve(0));
			req.end('x');
		});
		assert.equal(post, 405);
	});

test('HAProxy down is critical; back is healthy', async () => {
	await stopChild(haproxy, 'SIGKILL');
	await allLatest(Date.now(), false, 'every checker unhealthy');
	let st = await status();
	assert.equal(st.status, 'critical');
	assert.equal(probe(st, 'haproxy:be_app').state, 'down');
	assert.match(st.detail, /^haproxy:be_app \(connect: /);

	haproxy = startChild('haproxy', haproxyBin,
		['-db', '-f', path.join(dir, 'haproxy.cfg')]);
	await allLatest(Date.now(), true, 'every checker healthy again');
	st = await status();
	assert.equal(st.status, 'ok');
});
