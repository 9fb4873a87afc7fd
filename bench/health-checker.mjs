// Checker latency of parley-health as a Route 53 checker sees it: a new
// connection per check (a new TLS session with TLSPORT), GET the check
// path, read to the end.  Prints p50/p99/max in milliseconds over N
// sequential checks, first alone and then with LORIS slow-loris
// connections held open on the HTTP port.
//
//   node bench/health-checker.mjs PORT TLSPORT N LORIS
import net from 'node:net';
import tls from 'node:tls';

const [port, tlsPort, n, loris] = process.argv.slice(2).map(Number);
const UA = 'Amazon-Route53-Health-Check-Service (ref ' +
	'6f2d8c1e-3b4a-4f5e-9d7c-2a1b0c9d8e7f; report http://amzn.to/1vsZADi)';

function check(secure) {
	return new Promise((resolve, reject) => {
		const t0 = process.hrtime.bigint();
		const opts = { host: '127.0.0.1', port: secure ? tlsPort : port,
			rejectUnauthorized: false };
		const s = (secure ? tls : net).connect(opts, () => {
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

async function series(label, secure) {
	const ms = [];
	for (let i = 0; i < n; i++) ms.push(await check(secure));
	ms.sort((a, b) => a - b);
	const q = (p) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))];
	console.log(`${label.padEnd(40)} p50 ${q(0.5).toFixed(3)} ms  ` +
		`p99 ${q(0.99).toFixed(3)} ms  max ${ms[ms.length - 1].toFixed(3)} ms`);
}

await series('HTTP checker, alone', false);
await series('HTTPS checker, alone', true);
const held = [];
for (let i = 0; i < loris; i++) {
	const s = net.connect({ host: '127.0.0.1', port });
	s.on('error', () => {});
	s.on('connect', () => s.write('GET /health HTTP/1.1\r\nHo'));
	held.push(s);
}
await new Promise((r) => setTimeout(r, 200));
const open = held.filter((s) => s.readyState === 'open').length;
await series(`HTTP checker, ${open} slow-loris held`, false);
await series(`HTTPS checker, ${open} slow-loris held`, true);
for (const s of held) s.destroy();
