// Checker latency of parley-health as a Route 53 checker sees it: a new
// connection per check, GET the check path, read to the end.  Prints
// p50/p99/max in milliseconds over N sequential checks, first alone and
// then with LORIS slow-loris connections held open.
//
//   node bench/health-checker.mjs PORT N LORIS
import net from 'node:net';

const [port, n, loris] = process.argv.slice(2).map(Number);
const UA = 'Amazon-Route53-Health-Check-Service (ref ' +
	'6f2d8c1e-3b4a-4f5e-9d7c-2a1b0c9d8e7f; report http://amzn.to/1vsZADi)';

function check() {
	return new Promise((resolve, reject) => {
		const t0 = process.hrtime.bigint();
		const s = net.connect({ host: '127.0.0.1', port }, () => {
			s.write('GET /health HTTP/1.1\r\nHost: health.example.test' +
				`\r\nUser-Agent: ${UA}\r\nConnection: close\r\n\r\n`);
		});
		let got = '';
		s.setTimeout(5000, () => s.destroy(new Error('timeout')));
		s.on('data', (d) => { got += d; });
		s.on('error', reject);
		s.on('close', () => {
			if (!got.startsWith('HTTP/1.1 200'))
				reject(new Error(`bad answer: ${got.slice(0, 40)}`));
			resolve(Number(process.hrtime.bigint() - t0) / 1e6);
		});
	});
}

async function series(label) {
	const ms = [];
	for (let i = 0; i < n; i++) ms.push(await check());
	ms.sort((a, b) => a - b);
	const q = (p) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))];
	console.log(`${label.padEnd(34)} p50 ${q(0.5).toFixed(3)} ms  ` +
		`p99 ${q(0.99).toFixed(3)} ms  max ${ms[ms.length - 1].toFixed(3)} ms`);
}

await series('checker, alone');
const held = [];
for (let i = 0; i < loris; i++) {
	const s = net.connect({ host: '127.0.0.1', port });
	s.on('error', () => {});
	s.on('connect', () => s.write('GET /health HTTP/1.1\r\nHo'));
	held.push(s);
}
await new Promise((r) => setTimeout(r, 200));
const open = held.filter((s) => s.readyState === 'open').length;
await series(`checker, ${open} slow-loris held`);
for (const s of held) s.destroy();
