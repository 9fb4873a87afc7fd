// Turns the runs a benchmark script collected (one JSON object a line)
// into its tables on stdout, bench/results/<name>.json and a PNG chart
// drawn with gnuplot.
//
//   node bench/report.mjs fanout RUNS.jsonl MACHINE_JSON
//   node bench/report.mjs markdown     (tables of the results JSON, for
//                                       docs/performance.md)
//   node bench/report.mjs posts-row CLIENTS COMMITS WRITES CEILING
//        < parley-load json: one row of bench/posts.sh, as JSON
//   node bench/report.mjs posts-line < row: the same row as text
import { readFileSync, writeFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';

const [name, runsFile, machineJson] = process.argv.slice(2);
// QUICK runs keep their figures apart from the full run's.
const results = new URL(process.env.QUICK ? './results/quick/' : './results/', import.meta.url).pathname;
mkdirSync(results, { recursive: true });

const runs = name === 'fanout' ? readFileSync(runsFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
const machine = name === 'fanout' ? JSON.parse(machineJson || '{}') : {};

const durable = { 'parley-backend': 'yes', 'parley-edge': 'yes' };
const parleyTargets = ['parley-backend', 'parley-edge', 'parley-wstest'];

function median(xs) {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function fmtRate(x) {
  return Math.round(x).toLocaleString('en-US');
}

function fmtUs(us) {
  if (us === undefined) return '-';
  return us < 1000 ? `${us} us` : `${(us / 1000).toFixed(1)} ms`;
}

function pad(s, n, right = false) {
  s = String(s);
  return right ? s.padStart(n) : s.padEnd(n);
}

function fanout() {
  const sizes = [...new Set(runs.map((r) => r.subscribers))].sort((a, b) => a - b);
  const targets = [...new Set(runs.map((r) => r.target))];
  const table = [];
  const goals = [];
  for (const n of sizes) {
    const rows = [];
    for (const t of targets) {
      const flat = runs.filter((r) => r.target === t && r.subscribers === n && r.kind === 'flat');
      const fixed = runs.find((r) => r.target === t && r.subscribers === n && r.kind === 'fixed');
      if (flat.length === 0 && !fixed) continue;
      const ok = flat.filter((r) => r.result.failed === 0 && r.result.closed === 0);
      rows.push({
        target: t,
        durable: durable[t] || 'no',
        subscribers: n,
        runs: flat.map((r) => Math.round(r.result.rate)),
        failed_runs: flat.length - ok.length,
        deliveries_per_s: Math.round(median(ok.map((r) => r.result.rate))),
        // CPU time of the server process per delivery, from /proc: what
        // a delivery costs the server whatever else ran on the machine.
        server_ns_per_delivery: ok.length ? Math.round(median(ok.map((r) => (r.server_cpu_s * 1e9) / Math.max(1, r.result.count)))) : undefined,
        flat_p99_us: ok.length ? median(ok.map((r) => r.result.latency_us.p99)) : undefined,
        fixed_rate_msgs: fixed ? fixed.result.msg_rate : undefined,
        fixed_deliveries_per_s: fixed ? Math.round(fixed.result.rate) : undefined,
        fixed_p50_us: fixed ? fixed.result.latency_us.p50 : undefined,
        fixed_p99_us: fixed ? fixed.result.latency_us.p99 : undefined,
        fixed_p999_us: fixed ? fixed.result.latency_us.p999 : undefined,
        fixed_lost: fixed ? fixed.result.published * n - fixed.result.count : undefined,
      });
    }
    const redis = rows.find((r) => r.target === 'redis');
    const ws = rows.find((r) => r.target === 'ws');
    for (const r of rows) {
      r.vs_redis = redis && redis.deliveries_per_s ? r.deliveries_per_s / redis.deliveries_per_s : undefined;
      r.vs_ws = ws && ws.deliveries_per_s ? r.deliveries_per_s / ws.deliveries_per_s : undefined;
    }
    console.log(`\nFan-out to ${n.toLocaleString('en-US')} subscribers, ${runs[0].result.size}-byte messages, one run of every target`);
    console.log(`${pad('target', 16)}${pad('durable', 9)}${pad('deliveries/s', 14, true)}${pad('vs redis', 10, true)}${pad('vs ws', 9, true)}${pad('server ns/dlv', 15, true)}   fixed rate        p50        p99      p99.9`);
    for (const r of rows) {
      console.log(`${pad(r.target, 16)}${pad(r.durable, 9)}${pad(fmtRate(r.deliveries_per_s), 14, true)}` +
        `${pad(r.vs_redis ? r.vs_redis.toFixed(2) + 'x' : '-', 10, true)}${pad(r.vs_ws ? r.vs_ws.toFixed(1) + 'x' : '-', 9, true)}` +
        `${pad(r.server_ns_per_delivery ?? '-', 15, true)}` +
        `   ${pad(r.fixed_rate_msgs ? `${r.fixed_rate_msgs} msg/s` : '-', 12)}${pad(fmtUs(r.fixed_p50_us), 10, true)}` +
        `${pad(fmtUs(r.fixed_p99_us), 11, true)}${pad(fmtUs(r.fixed_p999_us), 11, true)}` +
        (r.failed_runs ? `   (${r.failed_runs} run(s) lost connections)` : ''));
    }
    if (n <= 1000) {
      for (const r of rows.filter((x) => parleyTargets.includes(x.target))) {
        if (r.vs_redis !== undefined) goals.push({ subscribers: n, target: r.target, goal: 'at least Redis pub/sub', ratio: r.vs_redis, met: r.vs_redis >= 1 });
        if (r.vs_ws !== undefined) goals.push({ subscribers: n, target: r.target, goal: 'at least 10x the ws server', ratio: r.vs_ws, met: r.vs_ws >= 10 });
      }
    }
    table.push(...rows);
  }
  if (goals.length) {
    console.log('\nGoals (ratios from this run):');
    for (const g of goals) {
      console.log(`  ${g.target} at ${g.subscribers}: ${g.goal}: ${g.ratio.toFixed(2)}x, ${g.met ? 'met' : 'NOT met'}`);
    }
  }
  const out = { scenario: 'fanout', machine, message_bytes: runs[0].result.size, rows: table, goals };
  writeFileSync(path.join(results, 'fanout.json'), JSON.stringify(out, null, 1) + '\n');
  chartFanout(sizes, targets, table);
}

// A bar chart of deliveries/s per target, grouped by subscriber count.
function chartFanout(sizes, targets, rows) {
  const dir = mkdtempSync(path.join(tmpdir(), 'parley-chart-'));
  const dat = path.join(dir, 'fanout.dat');
  const lines = ['# subscribers ' + targets.join(' ')];
  for (const n of sizes) {
    lines.push([n, ...targets.map((t) => {
      const r = rows.find((x) => x.target === t && x.subscribers === n);
      return r ? (r.deliveries_per_s / 1e6).toFixed(3) : 0;
    })].join(' '));
  }
  writeFileSync(dat, lines.join('\n') + '\n');
  const png = path.join(results, 'fanout.png');
  const script = [
    'set terminal pngcairo size 900,500 noenhanced',
    `set output '${png}'`,
    "set title 'Fan-out of 100-byte messages, one run on loopback (higher is better)'",
    "set ylabel 'million deliveries/s'",
    "set xlabel 'subscribers'",
    'set style data histograms',
    'set style histogram clustered gap 1',
    'set style fill solid 0.8 border -1',
    'set key top right',
    'set grid ytics',
    'set yrange [0:*]',
    `plot ${targets.map((t, i) => `'${dat}' using ${i + 2}:xtic(1) title '${t}'`).join(', ')}`,
  ].join('\n');
  const r = spawnSync('gnuplot', [], { input: script, encoding: 'utf8' });
  if (r.status !== 0) {
    console.log(`chart: gnuplot failed: ${r.stderr || r.error}`);
  } else {
    console.log(`\nchart: ${path.relative(process.cwd(), png)}; figures: ${path.relative(process.cwd(), path.join(results, 'fanout.json'))}`);
  }
  rmSync(dir, { recursive: true, force: true });
}

// Markdown tables of bench/results/fanout.json.
function markdown() {
  const j = JSON.parse(readFileSync(path.join(results, 'fanout.json'), 'utf8'));
  const m = j.machine;
  console.log(`Machine: ${m.cpu}, ${m.cores} cores, ${m.memory}, Linux ${m.kernel}; load average ${m.loadavg_at_start} at the start; ${m.date}.\n`);
  const sizes = [...new Set(j.rows.map((r) => r.subscribers))];
  for (const n of sizes) {
    console.log(`${n.toLocaleString('en-US')} subscribers:\n`);
    console.log('| target | durable | deliveries/s (median) | runs | vs Redis | vs ws | server CPU ns/delivery | fixed rate | p50 | p99 | p99.9 |');
    console.log('| --- | --- | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |');
    for (const r of j.rows.filter((x) => x.subscribers === n)) {
      console.log(`| ${r.target} | ${r.durable} | ${fmtRate(r.deliveries_per_s)} | ${r.runs.map((x) => (x / 1e6).toFixed(2) + 'M').join(', ')} | ` +
        `${r.vs_redis ? r.vs_redis.toFixed(2) + 'x' : '-'} | ${r.vs_ws ? r.vs_ws.toFixed(1) + 'x' : '-'} | ${r.server_ns_per_delivery ?? '-'} | ` +
        `${r.fixed_rate_msgs} msg/s | ${fmtUs(r.fixed_p50_us)} | ${fmtUs(r.fixed_p99_us)} | ${fmtUs(r.fixed_p999_us)} |`);
    }
    console.log('');
  }
  for (const g of j.goals) console.log(`- ${g.target} at ${g.subscribers}: ${g.goal}: ${g.ratio.toFixed(2)}x, ${g.met ? 'met' : '**not met**'}`);
}

function stdinJson() {
  return JSON.parse(readFileSync(0, 'utf8'));
}

// A row of bench/posts.sh from parley-load's figures, the commits and
// writes the backend counted meanwhile, and the ceiling at that level.
function postsRow(args) {
  const j = stdinJson();
  const [c, commits, writes, ceil] = args.map(Number);
  const batch = commits > 0 ? writes / commits : 0;
  console.log(JSON.stringify({
    clients: c, posts_per_s: j.rate, errors: j.errors,
    p50_us: j.latency_us.p50, p99_us: j.latency_us.p99,
    batch: +batch.toFixed(1), ceiling_per_s: ceil,
    ratio: ceil > 0 ? +(j.rate / ceil).toFixed(3) : 0,
  }));
}

function postsLine() {
  const r = stdinJson();
  console.log([pad(r.clients, 8), pad(Math.round(r.posts_per_s), 10, true),
    pad(r.p50_us, 9, true), pad(r.p99_us, 9, true),
    pad(r.batch.toFixed(1), 7, true), pad(r.ceiling_per_s, 11, true),
    pad(`${Math.round(r.ratio * 100)}%`, 7, true)].join(' ') +
    (r.errors ? `  (${r.errors} errors)` : ''));
}

if (name === 'fanout') fanout();
else if (name === 'markdown') markdown();
else if (name === 'posts-row') postsRow(process.argv.slice(3));
else if (name === 'posts-line') postsLine();
else {
  console.error(`report: unknown scenario ${name}`);
  process.exit(2);
}
