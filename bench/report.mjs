// Turns the runs a benchmark script collected (one JSON object a line)
// into its tables on stdout, bench/results/<name>.json and a PNG chart
// drawn with gnuplot.
//
//   node bench/report.mjs fanout RUNS.jsonl MACHINE_JSON
//   node bench/report.mjs markdown [SCENARIO...]
//        tables of the results JSON (fanout, idle-memory, posts, spoa,
//        store, edge; all by default), for docs/performance.md
//   node bench/report.mjs doc [FILE]
//        rewrites, in docs/performance.md (or FILE), what stands between
//        each "<!-- bench:NAME -->" and "<!-- /bench:NAME -->" with the
//        tables of NAME (the same as markdown NAME)
//   node bench/report.mjs charts       PNG charts of idle-memory, posts
//                                      and spoa from their JSON
//   node bench/report.mjs store-json MACHINE_JSON < store-bench output
//   node bench/report.mjs edge-json MACHINE_JSON < edge-bench output
//        the text of those benches as bench/results/<name>.json
//   node bench/report.mjs posts-row CLIENTS COMMITS WRITES CEILING
//        < parley-load json: one row of bench/posts.sh, as JSON
//   node bench/report.mjs posts-line < row: the same row as text
import { readFileSync, writeFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';

const [name, runsFile, machineJson] = process.argv.slice(2);
const machineArg = ['store-json', 'edge-json'].includes(name) ? JSON.parse(runsFile || '{}') : undefined;
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

function machineLine(m) {
  if (!m || !m.cpu) return 'Machine: not recorded.\n';
  return `Machine: ${m.cpu}, ${m.cores} cores, ${m.memory}, Linux ${m.kernel}; load average ${m.loadavg_at_start} at the start; ${m.date}.\n`;
}

function readResult(name) {
  try {
    return JSON.parse(readFileSync(path.join(results, `${name}.json`), 'utf8'));
  } catch {
    return undefined;
  }
}

// Markdown tables of bench/results/fanout.json.
function markdownFanout(j) {
  console.log(machineLine(j.machine));
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

function markdownIdle(j) {
  console.log(machineLine(j.machine));
  console.log('| server | connections | heap per connection | RSS per connection |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const r of j.rows) console.log(`| ${r.target} | ${fmtRate(r.connections)} | ${fmtRate(r.heap_per_conn)} B | ${fmtRate(r.rss_per_conn)} B |`);
}

function markdownPosts(j) {
  console.log(machineLine(j.machine));
  console.log('| clients | posts/s | p50 | p99 | messages per commit | ceiling/s | ratio |');
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of j.rows) {
    console.log(`| ${r.clients} | ${fmtRate(r.posts_per_s)} | ${fmtUs(r.p50_us)} | ${fmtUs(r.p99_us)} | ${r.batch.toFixed(1)} | ${fmtRate(r.ceiling_per_s)} | ${Math.round(r.ratio * 100)}% |`);
  }
}

function markdownSpoa(j) {
  console.log(machineLine(j.machine));
  const names = { alone: 'HAProxy alone (no SPOE filter)', null: 'HAProxy + null agent', spoa: 'HAProxy + parley-spoa' };
  console.log('| setup (wrk, 1 thread, 32 connections) | requests/s (median) | runs | latency avg | requests per CPU-second of HAProxy and agent |');
  console.log('| --- | ---: | --- | ---: | ---: |');
  for (const r of j.rows.filter((x) => x.part === 'haproxy')) console.log(`| ${names[r.target] || r.target} | ${fmtRate(r.requests_per_s)} | ${(r.runs || []).map((x) => fmtRate(x)).join(', ')} | ${r.latency_avg} | ${r.requests_per_cpu_s ? fmtRate(r.requests_per_cpu_s) : '-'} |`);
  console.log(`\nparley-spoa / null agent: ${Math.round(j.spoa_vs_null * 100)}% of requests/s` +
    (j.spoa_vs_null_per_cpu ? `, ${Math.round(j.spoa_vs_null_per_cpu * 100)}% of requests per CPU-second` : '') + ' (goal 90%)\n');
  console.log('| agent (parley-spoa-load, 4 connections, 32 in flight) | ACKs/s | p50 | p99 | ACKs per CPU-second |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const r of j.rows.filter((x) => x.part === 'frames')) console.log(`| ${r.target} | ${fmtRate(r.acks_per_s)} | ${r.p50_us} us | ${r.p99_us} us | ${fmtRate(r.acks_per_cpu_s)} |`);
}

function markdownStore(j) {
  console.log(machineLine(j.machine));
  console.log('| clients | store writes/s | p50 | p99 | batch | ceiling/s | ratio (median of the rounds) | rounds |');
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const r of j.rows) console.log(`| ${r.clients} | ${fmtRate(r.writes_per_s)} | ${fmtUs(r.p50_us)} | ${fmtUs(r.p99_us)} | ${r.batch.toFixed(1)} | ${fmtRate(r.ceiling_per_s)} | ${Math.round(r.ratio * 100)}% | ${r.round_ratios.map((x) => Math.round(x * 100) + '%').join(' ')} |`);
}

function markdownEdge(j) {
  console.log(machineLine(j.machine));
  const a = j.autocomplete || {};
  console.log(`Autocomplete on a team of ${fmtRate(a.users ?? 0)} users: ${fmtRate(a.queries_per_core_s ?? 0)} queries/s per core of CPU time (CPU per query p50 ${a.cpu_p50_us} us, p99 ${a.cpu_p99_us} us); paced at 20,000/s, p50 ${a.paced_p50_us} us, p99 ${a.paced_p99_us} us from when each was due; ${fmtRate(j.bytes_per_cached_user ?? 0)} bytes per cached user.\n`);
  console.log('| users | slim boot | full boot | smaller by | slim boots/s per core |');
  console.log('| ---: | ---: | ---: | ---: | ---: |');
  for (const r of j.boots || []) console.log(`| ${fmtRate(r.users)} | ${fmtRate(r.slim_bytes)} B | ${fmtRate(r.full_bytes)} B | ${Math.round(r.full_bytes / r.slim_bytes)}x | ${fmtRate(r.slim_boots_per_core_s)} |`);
}

// The goals of docs/performance.md against the figures of every JSON.
function markdownGoals() {
  const rows = [];
  const yes = (ok) => (ok ? 'met' : '**not met**');
  const f = readResult('fanout');
  if (f) {
    const at = (t, n) => f.rows.find((r) => r.target === t && r.subscribers === n);
    for (const n of [100, 1000]) {
      const parts = [];
      let all = true;
      for (const t of ['parley-backend', 'parley-edge', 'parley-wstest']) {
        const r = at(t, n);
        if (!r || r.vs_redis === undefined) continue;
        parts.push(`${t}${t === 'parley-backend' ? ' (durable)' : ''}: ${r.vs_redis.toFixed(2)}x`);
        all = all && r.vs_redis >= 1;
      }
      if (parts.length) rows.push([`fan-out at ${n} subscribers: at least Redis pub/sub's deliveries/s`, parts.join('; '), yes(all)]);
      const parts10 = [];
      let all10 = true;
      for (const t of ['parley-backend', 'parley-edge', 'parley-wstest']) {
        const r = at(t, n);
        if (!r || r.vs_ws === undefined) continue;
        parts10.push(`${t}: ${r.vs_ws.toFixed(1)}x`);
        all10 = all10 && r.vs_ws >= 10;
      }
      if (parts10.length) rows.push([`fan-out at ${n}: at least 10 times the \`ws\` server's`, parts10.join('; '), yes(all10)]);
    }
    const best = f.rows.filter((r) => ['parley-backend', 'parley-wstest'].includes(r.target) && r.subscribers <= 1000)
      .map((r) => `${r.target} at ${r.subscribers}: ${(r.deliveries_per_s / 1e6).toFixed(2)} M/s`);
    rows.push(['close to 8 million deliveries/s (the best WebSocket server measured)', best.join('; '), 'see the fan-out tables']);
    const p99 = f.rows.filter((r) => r.fixed_p99_us !== undefined && r.subscribers <= 1000 && r.target.startsWith('parley'))
      .map((r) => `${r.target} at ${r.subscribers}: p99 ${fmtUs(r.fixed_p99_us)} at ${r.fixed_rate_msgs} msg/s`);
    rows.push(['p99 delivery latency printed at fixed rates', p99.join('; '), 'printed']);
  }
  const idle = readResult('idle-memory');
  if (idle) {
    const ps = idle.rows.filter((r) => r.target.startsWith('parley'));
    rows.push(['at most 1 KiB of user-space memory per idle authenticated connection',
      ps.map((r) => `${r.target}: ${fmtRate(r.heap_per_conn)} B heap, ${fmtRate(r.rss_per_conn)} B RSS`).join('; '),
      yes(ps.every((r) => r.heap_per_conn <= 1024))]);
  }
  const posts = readResult('posts');
  if (posts) {
    const big = posts.rows.filter((r) => r.clients >= 16);
    rows.push(['durable posts at 80% or more of the LMDB ceiling (Web API, bench/posts.sh)',
      posts.rows.map((r) => `${Math.round(r.ratio * 100)}% at ${r.clients}`).join(', '),
      yes(big.length > 0 && big.every((r) => r.ratio >= 0.8)) + ' (at 16 and 64 clients)']);
  }
  const store = readResult('store');
  if (store) {
    rows.push(['the same, for the store\'s writer alone (bench/store.sh, rounds alternated)',
      store.rows.map((r) => `${Math.round(r.ratio * 100)}% at ${r.clients}`).join(', '),
      yes(store.rows.every((r) => r.ratio >= 0.8))]);
  }
  const spoa = readResult('spoa');
  if (spoa) {
    rows.push(['parley-spoa at 90% or more of the null agent',
      `${Math.round(spoa.spoa_vs_null * 100)}% of requests/s` + (spoa.spoa_vs_null_per_cpu ? `, ${Math.round(spoa.spoa_vs_null_per_cpu * 100)}% of requests per CPU-second` : ''),
      spoa.spoa_vs_null_per_cpu && (spoa.spoa_vs_null >= 0.9) !== (spoa.spoa_vs_null_per_cpu >= 0.9)
        ? `${yes(spoa.spoa_vs_null >= 0.9)} by requests/s, ${yes(spoa.spoa_vs_null_per_cpu >= 0.9)} by CPU`
        : yes(spoa.spoa_vs_null >= 0.9)]);
  }
  const dates = ['fanout', 'idle-memory', 'posts', 'store', 'spoa'].map((n) => readResult(n)).filter(Boolean)
    .map((j) => `${j.scenario} ${j.machine?.date ?? '?'} (load ${j.machine?.loadavg_at_start?.split(' ')[0] ?? '?'})`);
  console.log(`From the JSON of: ${dates.join(', ')}.\n`);
  console.log('| goal | figure | met? |');
  console.log('| --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}

const markdowns = {
  goals: markdownGoals,
  fanout: markdownFanout, 'idle-memory': markdownIdle, posts: markdownPosts,
  spoa: markdownSpoa, store: markdownStore, edge: markdownEdge,
};

function markdown(names) {
  for (const n of names.length ? names : Object.keys(markdowns)) {
    const j = n === 'goals' ? {} : readResult(n);
    if (!markdowns[n]) {
      console.error(`report: no tables for ${n}`);
      process.exit(2);
    }
    console.log(`<!-- ${n}: node bench/report.mjs markdown ${n} -->\n`);
    if (j) markdowns[n](j);
    else console.log(`(no ${path.relative(process.cwd(), path.join(results, n + '.json'))} yet)`);
    console.log('');
  }
}

// The tables of one scenario as a string (markdown NAME's output).
function tablesOf(n) {
  const j = n === 'goals' ? {} : readResult(n);
  const out = [];
  const log = console.log;
  console.log = (...a) => out.push(a.join(' '));
  try {
    if (j) markdowns[n](j);
    else out.push(`(no ${path.relative(process.cwd(), path.join(results, n + '.json'))} yet)`);
  } finally {
    console.log = log;
  }
  return out.join('\n').replace(/\n+$/, '');
}

function docUpdate(file) {
  const doc = file || new URL('../docs/performance.md', import.meta.url).pathname;
  let text = readFileSync(doc, 'utf8');
  let count = 0;
  text = text.replace(/<!-- bench:([a-z-]+) -->\n[\s\S]*?<!-- \/bench:\1 -->/g, (m, n) => {
    if (!markdowns[n]) return m;
    count++;
    return `<!-- bench:${n} -->\n${tablesOf(n)}\n<!-- /bench:${n} -->`;
  });
  writeFileSync(doc, text);
  console.log(`${path.relative(process.cwd(), doc)}: ${count} table block(s) rewritten from ${path.relative(process.cwd(), results)}`);
}

// store-bench's text: the header line, then one line a level.
function storeJson(machine) {
  const rows = [];
  for (const l of readFileSync(0, 'utf8').split('\n')) {
    const f = l.trim().split(/\s+/);
    if (f.length < 7 || !/^\d+$/.test(f[0])) continue;
    rows.push({
      clients: +f[0], writes_per_s: +f[1], p50_us: +f[2], p99_us: +f[3],
      batch: +f[4], ceiling_per_s: +f[5], ratio: parseFloat(f[6]) / 100,
      round_ratios: f.slice(7).map((x) => parseFloat(x) / 100),
    });
  }
  writeFileSync(path.join(results, 'store.json'), JSON.stringify({ scenario: 'store', machine, rows }, null, 1) + '\n');
}

// edge-bench's text: figures picked from its sentences.
function edgeJson(machine) {
  const t = readFileSync(0, 'utf8');
  const num = (re) => { const m = t.match(re); return m ? +m[1] : undefined; };
  const out = {
    scenario: 'edge', machine,
    autocomplete: {
      users: num(/team of (\d+) users and/),
      queries_per_core_s: num(/autocomplete: (\d+) queries\/s per core/),
      cpu_p50_us: num(/CPU per query p50 ([\d.]+) us/),
      cpu_p99_us: num(/CPU per query p50 [\d.]+ us, p99 ([\d.]+) us/),
      paced_p50_us: num(/at 20000\/s: p50 ([\d.]+) us/),
      paced_p99_us: num(/at 20000\/s: p50 [\d.]+ us, p99 ([\d.]+) us/),
    },
    bytes_per_cached_user: num(/memory: (\d+) bytes per cached user/),
    boots: [...t.matchAll(/boot at +(\d+) users .*slim +(\d+) bytes, full +(\d+) bytes.*?; (\d+) slim boots\/s/g)].map((m) => ({
      users: +m[1], slim_bytes: +m[2], full_bytes: +m[3], slim_boots_per_core_s: +m[4],
    })),
  };
  writeFileSync(path.join(results, 'edge.json'), JSON.stringify(out, null, 1) + '\n');
}

// A clustered bar chart with gnuplot: cols are the series, rows the
// groups on the x axis.
function barChart(file, title, ylabel, xlabel, cols, rows) {
  const dir = mkdtempSync(path.join(tmpdir(), 'parley-chart-'));
  const dat = path.join(dir, 'chart.dat');
  writeFileSync(dat, rows.map((r) => [JSON.stringify(String(r.label)), ...r.values].join(' ')).join('\n') + '\n');
  const png = path.join(results, file);
  const script = [
    'set terminal pngcairo size 900,500 noenhanced',
    `set output '${png}'`,
    `set title '${title}'`,
    `set ylabel '${ylabel}'`,
    `set xlabel '${xlabel}'`,
    'set style data histograms',
    'set style histogram clustered gap 1',
    'set style fill solid 0.8 border -1',
    'set key top left',
    'set grid ytics',
    'set yrange [0:*]',
    `plot ${cols.map((c, i) => `'${dat}' using ${i + 2}:xtic(1) title '${c}'`).join(', ')}`,
  ].join('\n');
  const r = spawnSync('gnuplot', [], { input: script, encoding: 'utf8' });
  rmSync(dir, { recursive: true, force: true });
  if (r.status !== 0) console.log(`chart: gnuplot failed: ${r.stderr || r.error}`);
  else console.log(`chart: ${path.relative(process.cwd(), png)}`);
}

function charts() {
  const idle = readResult('idle-memory');
  if (idle) {
    barChart('idle-memory.png', 'Memory per idle WebSocket connection (lower is better)', 'bytes per connection', 'server',
      ['heap', 'RSS'], idle.rows.map((r) => ({ label: r.target, values: [r.heap_per_conn, r.rss_per_conn] })));
  }
  const posts = readResult('posts');
  if (posts) {
    barChart('posts.png', 'Durable chat.postMessage against the raw LMDB ceiling', 'posts/s', 'clients',
      ['chat.postMessage over HTTP', 'LMDB ceiling'], posts.rows.map((r) => ({ label: r.clients, values: [Math.round(r.posts_per_s), r.ceiling_per_s] })));
  }
  const spoa = readResult('spoa');
  if (spoa) {
    const names = { alone: 'HAProxy alone', null: '+ null agent', spoa: '+ parley-spoa' };
    barChart('spoa.png', 'HAProxy 2.6 requests/s with and without the SPOE agent', 'requests/s', 'setup',
      ['requests/s'], spoa.rows.filter((r) => r.part === 'haproxy').map((r) => ({ label: names[r.target] || r.target, values: [r.requests_per_s] })));
  }
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
else if (name === 'markdown') markdown(process.argv.slice(3));
else if (name === 'charts') charts();
else if (name === 'doc') docUpdate(process.argv[3]);
else if (name === 'store-json') storeJson(machineArg);
else if (name === 'edge-json') edgeJson(machineArg);
else if (name === 'posts-row') postsRow(process.argv.slice(3));
else if (name === 'posts-line') postsLine();
else {
  console.error(`report: unknown scenario ${name}`);
  process.exit(2);
}
