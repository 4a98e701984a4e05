// scripts/bench: hub2kusto end to end against the emulators, beside the peer a user would
// otherwise write (peer.js) and the bare receive loop (the ceiling), in one run:
//   1. throughput: a hub preloaded with N events over 8 partitions (200-byte and 1 KB JSON),
//      drained into a 7-column table by streaming ingestion; events/s, MB/s, CPU seconds per
//      million events, peak RSS, for hub2kusto, the Node peer and the bare receive loop;
//   2. latency: a steady producer; enqueue (x-opt-enqueued-time) to the Kusto emulator
//      acknowledging the ingest (--ingestion-time-column), p50/p99/max, for the default
//      linger and a low-latency setting;
//   3. memory under stall: the Kusto emulator paused while the hub keeps receiving; peak RSS
//      against the bound the configuration sets.
// Prints the tables and writes them to bench/REPORT.md (section "End-to-end benchmark").
//   node bench/e2e/run.js [--events N] [--large-events N] [--partitions P] [--latency-seconds S]
//                         [--latency-rate R] [--stall-seconds S] [--stall-budget BYTES] [--no-report]
//   4. --partitions-sweep [--sweep 8,32,128,512] [--sweep-events 400000], on its own: the same
//      drain from hubs of more and more partitions; threads, peak RSS, CPU, Kusto requests and
//      the most in flight, for each (section "Partitions sweep").
// Quicker runs while working on it: --throughput-only (the 200-byte corpus, one JSON line),
// --large-only (the 1 KB corpus), --no-peer, --timeline (rows over time), --stall-only, --latency-only,
// --hub2kusto-env K=V,...
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, execFileSync } = require('node:child_process');
const readline = require('node:readline');
const { Client, KustoConnectionStringBuilder } = require('azure-kusto-data');
const { freePort, startEventHubs, startKusto, createTable, telemetrySchema, telemetryMapping } =
    require('../../tests/support/node');
const { writeCorpus } = require('./corpus.js');

const root = path.join(__dirname, '..', '..');
const binary = process.env.HUB2KUSTO_BINARY;
const receiveBench = process.env.HUB2KUSTO_RECEIVE_BENCH;
const gzipBench = process.env.HUB2KUSTO_GZIP_BENCH;
const devKey =
    'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const settings = {
  events: option('events', 1000000),
  largeEvents: option('large-events', 200000),
  partitions: option('partitions', 8),
  latencySeconds: option('latency-seconds', 30),
  latencyRate: option('latency-rate', 2000),
  stallSeconds: option('stall-seconds', 60),
  // limits.max_buffered_bytes for the stall (bytes); 0: hub2kusto's default (half the container's
  // memory limit, else 1 GiB).
  stallBudget: option('stall-budget', 0),
};
const writeReport = !process.argv.includes('--no-report');
// --hub2kusto-env K=V,K=V: extra settings for hub2kusto in the throughput runs (experiments).
const extraEnv = (() => {
  const i = process.argv.indexOf('--hub2kusto-env');
  if (i < 0) return {};
  return Object.fromEntries(process.argv[i + 1].split(',').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
})();
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hub2kusto-bench-'));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (text) => process.stderr.write(`bench: ${text}\n`);

// CPU seconds (utime + stime) and memory (VmRSS, VmHWM) of a running process.
const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })); // of /proc's times

function usage(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number((new RegExp(`${key}:\\s+(\\d+) kB`).exec(status) || [0, 0])[1]);
  return {
    cpu: (Number(fields[11]) + Number(fields[12])) / ticks,
    rss: kb('VmRSS') * 1024,
    hwm: kb('VmHWM') * 1024,
  };
}

// CPU-seconds the whole machine spent busy (every process, kernel included): /proc/stat.
function machineBusy() {
  const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = cpu[3] + cpu[4]; // idle, iowait
  return (cpu.slice(0, 8).reduce((a, b) => a + b, 0) - idle) / ticks;
}

function run(command, args, env = {}) {
  // hub2kusto refuses HUB2KUSTO_* variables it does not know: pass on only the others.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HUB2KUSTO_')));
  const child = spawn(command, args, { env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = [];
  const err = [];
  readline.createInterface({ input: child.stdout }).on('line', (l) => out.push(l));
  child.stderr.on('data', (d) => err.push(d));
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out, err: () => Buffer.concat(err).toString(), exited };
}

// Polls every 25 ms (a `T | count` costs the emulator next to nothing): the end of a drain is
// seen within about that.
async function until(predicate, seconds, what) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds} s: ${what}`);
    await sleep(25);
  }
}

// Rows in db.<table> as the emulator's control API counts them (--timeline polls this).
async function rowsNow(kusto, table) {
  try {
    return (await kusto.status()).rows[`db.${table}`] ?? -1;
  } catch {
    return -1;
  }
}

// Waits until db.<table> holds `rows` rows: the emulator answers the moment it does
// (GET /_control/wait), so the end of a drain is seen at once and without polling, which
// through azure-kusto-data every 25 ms cost this process 0.4 CPU-seconds of the machine's
// two cores per drain. The final counts are KQL queries.
async function untilRows(kusto, table, rows, seconds, giveUp = () => false) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const n = await kusto.waitRows(`db.${table}`, rows, 1);
    if (n >= rows || giveUp()) return n;
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds} s: ${n} of ${rows} rows in ${table}`);
  }
}

async function count(client, table) {
  try {
    const r = await client.execute('db', `${table} | count`);
    return r.primaryResults[0].toJSON().data[0].Count;
  } catch {
    return -1;
  }
}

function storageConnectionString(kusto) {
  return `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${devKey};` +
         `BlobEndpoint=${kusto.azurite.blob};`;
}

// hub2kusto run with the environment as its whole configuration.
async function startBridge(hub, hubName, kusto, table, extra = {}) {
  const opsPort = await freePort();
  const env = {
    HUB2KUSTO_CONNECTIONS_0_NAME: 'bench',
    HUB2KUSTO_CONNECTIONS_0_SOURCE_CONNECTION_STRING: hub.connectionString(hubName),
    HUB2KUSTO_CONNECTIONS_0_TARGET_CONNECTION_STRING: `Data Source=${kusto.url};Initial Catalog=db`,
    HUB2KUSTO_CONNECTIONS_0_TARGET_TABLE: table,
    HUB2KUSTO_CONNECTIONS_0_TARGET_MAPPING: 'm',
    HUB2KUSTO_CHECKPOINT_STORE: 'blob',
    HUB2KUSTO_CHECKPOINT_BLOB_CONNECTION_STRING: storageConnectionString(kusto),
    HUB2KUSTO_CHECKPOINT_CONTAINER: `h2k-${table.toLowerCase()}`,
    // One replica, and a preloaded hub drained from the start: it claims every partition at once,
    // as the peer does. The default (balanced) claims one a second, so a drain of a few seconds
    // would measure the ramp (265,745 against 127,616 events/s on 2026-12-03).
    HUB2KUSTO_OWNERSHIP_STRATEGY: 'greedy',
    HUB2KUSTO_DEAD_LETTER_DIRECTORY: path.join(work, `dead-letter-${table}`),
    HUB2KUSTO_OPS_ADDRESS: '127.0.0.1',
    HUB2KUSTO_OPS_PORT: String(opsPort),
    HUB2KUSTO_LOG_LEVEL: 'warn',
    ...extra,
  };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  const p = run(binary, ['run'], env);
  p.opsPort = opsPort;
  let why = '';
  await until(async () => {
    try {
      const r = await fetch(`http://127.0.0.1:${opsPort}/readyz`);
      why = await r.text();
      return r.ok;
    } catch (e) {
      why = e.message;
      return false;
    }
  }, 60, 'hub2kusto ready').catch((e) => {
    throw new Error(`${e.message}: ${why} ${p.err()}`);
  });
  return p;
}

async function stop(p) {
  p.child.kill('SIGTERM');
  const code = await p.exited;
  if (code !== 0) throw new Error(`hub2kusto exited with ${code}: ${p.err()}`);
}

function percentile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

// ---- 1. throughput ----

async function throughput(label, large, events) {
  const file = path.join(work, `${label}.jsonl`);
  const meanBytes = writeCorpus(file, 1000, large);
  log(`${label}: ${events} events of ${meanBytes.toFixed(0)} bytes over ${settings.partitions} partitions`);
  // What gzip at the ingestors' level costs on this corpus here: part of the floor below.
  const gzip = JSON.parse(execFileSync(gzipBench, ['--file', file], { encoding: 'utf8' }).trim());
  const hub = await startEventHubs(['--hub', `telemetry:${settings.partitions}`, '--preload', file,
                                   '--preload-events', String(events)]);
  const kusto = await startKusto(['--database', 'db']);
  const client = new Client(new KustoConnectionStringBuilder(kusto.url));
  const schema = telemetrySchema();
  const results = {};
  try {
    await createTable(client, 'db', 'H', schema, { mapping: telemetryMapping() });
    await createTable(client, 'db', 'P', schema, { mapping: telemetryMapping() });

    // The ceiling: the bare Proton receive loop drains the same hub.
    const bare = run(receiveBench, ['--connect', String(hub.port), '--hub', 'telemetry',
                                    '--partitions', String(settings.partitions), '--events', String(events)]);
    if (await bare.exited !== 0) throw new Error(`bare loop: ${bare.err()}`);
    const b = JSON.parse(bare.out[bare.out.length - 1]);
    results.bare = { seconds: b.seconds, cpu: b.cpu_seconds, rss: null };

    // hub2kusto. The emulators' CPU is recorded too: on a small machine they share its cores.
    const emulatorsBefore = [usage(hub.pid).cpu, usage(kusto.pid).cpu];
    const busyBefore = machineBusy();
    const benchBefore = process.cpuUsage();
    let start = Date.now();
    const h = await startBridge(hub, 'telemetry', kusto, 'H', extraEnv);
    // --timeline: (seconds, rows, machine busy CPU-seconds) at ready, then every 25 ms.
    const timeline = [[(Date.now() - start) / 1000, 0, machineBusy() - busyBefore]];
    if (process.argv.includes('--timeline')) {
      await until(async () => {
        const n = await rowsNow(kusto, 'H');
        timeline.push([(Date.now() - start) / 1000, n, machineBusy() - busyBefore]);
        return n >= events;
      }, 600, 'hub2kusto rows');
    } else {
      await untilRows(kusto, 'H', events, 600);
    }
    let seconds = (Date.now() - start) / 1000;
    if (process.argv.includes('--timeline')) {
      if (h.err()) log(`hub2kusto's log:\n${h.err()}`);
      log(`timeline (s, rows, busy CPU-s): ${timeline.map(([t, n, b]) => `${t.toFixed(3)}:${n}:${b.toFixed(2)}`).join(' ')}`);
    }
    const u = usage(h.child.pid);
    const emulators = { hub: usage(hub.pid).cpu - emulatorsBefore[0], kusto: usage(kusto.pid).cpu - emulatorsBefore[1],
                        machine: machineBusy() - busyBefore,
                        bench: (() => { const u = process.cpuUsage(benchBefore); return (u.user + u.system) / 1e6; })() };
    await stop(h);
    results.hub2kusto = { seconds, cpu: u.cpu, rss: u.hwm, rows: await count(client, 'H'), emulators };

    // The Node peer.
    if (process.argv.includes('--no-peer')) return { label, events, meanBytes, gzip, results: finish(results) };
    start = Date.now();
    const peer = run('node', [path.join(__dirname, 'peer.js'), hub.connectionString('telemetry'), kusto.url,
                              'db', 'P', 'm', storageConnectionString(kusto), 'peer-checkpoints',
                              String(events)]);
    await untilRows(kusto, 'P', events, 1800, () => peer.child.exitCode !== null);
    seconds = (Date.now() - start) / 1000;
    if (await peer.exited !== 0) throw new Error(`peer: ${peer.err()}`);
    const pu = JSON.parse(peer.out[peer.out.length - 1]);
    results.peer = { seconds, cpu: pu.cpu_seconds, rss: pu.max_rss_bytes, rows: await count(client, 'P') };
  } finally {
    client.close();
    await kusto.stop();
    await hub.stop();
  }
  return { label, events, meanBytes, gzip, results: finish(results) };

  function finish(all) {
    for (const r of Object.values(all)) {
      r.eventsPerSecond = events / r.seconds;
      r.mbPerSecond = (events * meanBytes) / r.seconds / 1e6;
      r.cpuPerMillion = (r.cpu / events) * 1e6;
      r.eventsPerCpuSecond = events / r.cpu;
    }
    return all;
  }
}

// One line per client for quick runs (--throughput-only): events/s, CPU, share of the ceiling.
function summary(t) {
  const out = { corpus: t.label, events: t.events };
  for (const [name, r] of Object.entries(t.results)) {
    out[name] = { eventsPerSecond: Math.round(r.eventsPerSecond), seconds: r.seconds, cpu: r.cpu,
                  ...(r.emulators ? { emulators: r.emulators } : {}) };
  }
  out.ofCeiling = t.results.hub2kusto.eventsPerSecond / t.results.bare.eventsPerSecond;
  return out;
}

// ---- 2. latency ----

async function latency(name, extra) {
  const hub = await startEventHubs(['--hub', `lat:${settings.partitions}`]);
  const kusto = await startKusto(['--database', 'db', '--ingestion-time-column', 'IngestedAt']);
  const client = new Client(new KustoConnectionStringBuilder(kusto.url));
  const mappingFile = path.join(work, 'latency-mapping.json');
  fs.writeFileSync(mappingFile, JSON.stringify([
    { column: 'Enqueued', Properties: { Path: "$['x-opt-enqueued-time']" } },
    { column: 'DeviceId', Properties: { Path: '$.deviceId' } },
  ]));
  try {
    await createTable(client, 'db', 'L', 'Enqueued:datetime,IngestedAt:datetime,DeviceId:string');
    const h = await startBridge(hub, 'lat', kusto, 'L', {
      HUB2KUSTO_CONNECTIONS_0_TARGET_MAPPING: undefined, // mapped here: no mapping reference
      HUB2KUSTO_CONNECTIONS_0_TARGET_SCHEMA: 'Enqueued:datetime,IngestedAt:datetime,DeviceId:string',
      HUB2KUSTO_CONNECTIONS_0_TARGET_MAPPING_FILE: mappingFile,
      HUB2KUSTO_CONNECTIONS_0_TARGET_SYSTEM_PROPERTIES: 'x-opt-enqueued-time',
      ...extra,
    });
    const producer = run('node', [path.join(__dirname, 'producer.js'), hub.connectionString('lat'),
                                  String(settings.latencyRate), String(settings.latencySeconds), '0']);
    if (await producer.exited !== 0) throw new Error(`producer: ${producer.err()}`);
    const sent = JSON.parse(producer.out[producer.out.length - 1]).sent;
    await untilRows(kusto, 'L', sent, 120);
    await stop(h);
    const r = await client.execute('db', 'L');
    const ms = [];
    for (const row of r.primaryResults[0].rows()) ms.push(row.IngestedAt.getTime() - row.Enqueued.getTime());
    ms.sort((a, b) => a - b);
    return { name, sent, rows: ms.length, p50: percentile(ms, 0.5), p99: percentile(ms, 0.99), max: ms[ms.length - 1] };
  } finally {
    client.close();
    await kusto.stop();
    await hub.stop();
  }
}

// ---- 3. memory under stall ----

async function stall() {
  const hub = await startEventHubs(['--hub', `stall:${settings.partitions}`]);
  const kusto = await startKusto(['--database', 'db']);
  const client = new Client(new KustoConnectionStringBuilder(kusto.url));
  const schema = telemetrySchema();
  const buffered = 2 << 20;
  const batch = 1 << 20;
  try {
    await createTable(client, 'db', 'S', schema, { mapping: telemetryMapping() });
    const h = await startBridge(hub, 'stall', kusto, 'S', {
      HUB2KUSTO_CONNECTIONS_0_SOURCE_MAX_BUFFERED_BYTES: String(buffered),
      HUB2KUSTO_CONNECTIONS_0_BATCHING_MAX_BYTES: String(batch),
      HUB2KUSTO_LIMITS_MAX_BUFFERED_BYTES: settings.stallBudget ? String(settings.stallBudget) : undefined,
    });
    const baseline = usage(h.child.pid).rss;
    // The bound the configuration sets: per partition the buffer, one open batch and one being
    // sent (compressed copy included), on top of the process at rest.
    // Per partition, by design: the receive buffer; the open batch, the next full batch waiting
    // and the batch in flight; and the in-flight batch's compressed body and the HTTP client's
    // copy of it (at most a batch each, for data that does not compress).
    const perPartition = settings.partitions * (buffered + 5 * batch);
    // With a process budget: the budget holds the buffers and the batches not delivered; outside
    // it are the requests out (4 at most: the joined copy, the compressed body and the HTTP
    // client's copy, a batch each) and one event a partition may always take.
    const budgeted = settings.stallBudget + 4 * 3 * batch + settings.partitions * 1024;
    const bound = baseline + (settings.stallBudget ? Math.min(perPartition, budgeted) : perPartition);
    await kusto.fault(`/faults/pause?seconds=${settings.stallSeconds}`);
    const pausedAt = Date.now();
    const producer = run('node', [path.join(__dirname, 'producer.js'), hub.connectionString('stall'),
                                  '5000', String(settings.stallSeconds), '1']);
    let peak = 0;
    let accounted = 0; // what hub2kusto's own gauges say it holds, at the peak
    let budgetUsed = 0; // the most the process's memory budget counted
    while (producer.child.exitCode === null) {
      const rss = usage(h.child.pid).rss;
      const m = await (await fetch(`http://127.0.0.1:${h.opsPort}/metrics`)).text();
      const used = m.split('\n').find((l) => l.startsWith('hub2kusto_memory_budget_used_bytes '));
      if (used) budgetUsed = Math.max(budgetUsed, Number(used.slice(used.lastIndexOf(' ') + 1)));
      if (rss > peak) {
        peak = rss;
        accounted = m.split('\n').filter((l) => /^hub2kusto_(buffered_bytes|in_flight_bytes)\{/.test(l))
            .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
      }
      await sleep(100);
    }
    if (await producer.exited !== 0) throw new Error(`producer: ${producer.err()}`);
    const sent = JSON.parse(producer.out[producer.out.length - 1]).sent;
    peak = Math.max(peak, usage(h.child.pid).hwm);
    const held = (await kusto.status()).paused_requests;
    await untilRows(kusto, 'S', sent, 300);
    await stop(h);
    return { sent, baseline, bound, peak, accounted, budgetUsed, held,
             seconds: (Date.now() - pausedAt) / 1000,
             rows: await count(client, 'S') };
  } finally {
    client.close();
    await kusto.stop();
    await hub.stop();
  }
}

// ---- 4. partitions sweep ----

// The same drain from hubs of more and more partitions (--partitions-sweep; --sweep P,P,...,
// --sweep-events N): what grows with the partition count rather than with the events. Threads
// and RSS are sampled every 100 ms; requests and the most in flight at once are the Kusto
// emulator's counts (it sets no limit here), beside hub2kusto's own peak gauge.
async function sweepPoint(partitions, events, file) {
  const hub = await startEventHubs(['--hub', `sweep:${partitions}`, '--preload', file,
                                   '--preload-events', String(events)]);
  const kusto = await startKusto(['--database', 'db']);
  const client = new Client(new KustoConnectionStringBuilder(kusto.url));
  try {
    await createTable(client, 'db', 'W', telemetrySchema(), { mapping: telemetryMapping() });
    const start = Date.now();
    const h = await startBridge(hub, 'sweep', kusto, 'W', extraEnv);
    let threads = 0;
    const threadsNow = () => {
      try {
        const status = fs.readFileSync(`/proc/${h.child.pid}/status`, 'utf8');
        threads = Math.max(threads, Number((/Threads:\s+(\d+)/.exec(status) || [0, 0])[1]));
      } catch { /* it ended */ }
    };
    const sampler = setInterval(threadsNow, 100);
    try {
      await untilRows(kusto, 'W', events, 900);
    } finally {
      clearInterval(sampler);
    }
    threadsNow();
    const seconds = (Date.now() - start) / 1000;
    const u = usage(h.child.pid);
    const metrics = await (await fetch(`http://127.0.0.1:${h.opsPort}/metrics`)).text();
    const gauge = (name) => metrics.split('\n').filter((l) => l.startsWith(`${name}{`))
        .reduce((most, l) => Math.max(most, Number(l.slice(l.lastIndexOf(' ') + 1))), 0);
    const sum = (name) => metrics.split('\n').filter((l) => l.startsWith(`${name}{`))
        .reduce((all, l) => all + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    await stop(h);
    const status = await kusto.status();
    return { partitions, events, seconds, threads, rss: u.hwm, cpu: u.cpu,
             cpuPerMillion: (u.cpu / events) * 1e6, eventsPerSecond: events / seconds,
             requests: status.streaming_requests, peakAtKusto: status.streaming_in_flight_peak,
             peakAtHub2kusto: gauge('hub2kusto_kusto_requests_in_flight_peak'),
             runs: sum('hub2kusto_batches_delivered_total'),
             limit: gauge('hub2kusto_kusto_requests_limit') };
  } finally {
    client.close();
    await kusto.stop();
    await hub.stop();
  }
}

async function sweep() {
  const i = process.argv.indexOf('--sweep');
  const points = i > 0 ? process.argv[i + 1].split(',').map(Number) : [8, 32, 128, 512];
  const events = option('sweep-events', 400000);
  const file = path.join(work, 'sweep.jsonl');
  writeCorpus(file, 1000, false);
  const out = [];
  for (const partitions of points) {
    log(`sweep: ${events} events over ${partitions} partitions`);
    out.push(await sweepPoint(partitions, events, file));
    log(JSON.stringify(out[out.length - 1]));
  }
  return out;
}

function renderSweep(points) {
  const lines = ['## Partitions sweep (scripts/bench --partitions-sweep)', ''];
  lines.push(`* **What:** the same ${f0(points[0].events)} telemetry events of about 200 bytes ` +
             'preloaded into hubs of each partition count and drained by hub2kusto (default ' +
             'settings, blob checkpoints, greedy ownership) into the Kusto emulator by streaming ingestion. Threads ' +
             'and peak RSS of hub2kusto (threads sampled every 100 ms); Kusto requests and the most ' +
             'in flight at once as the emulator counts them (it sets no limit here) and as ' +
             'hub2kusto\'s `hub2kusto_kusto_requests_in_flight_peak` says. Partition runs: ' +
             'the partitions\' parts of the accepted requests (`hub2kusto_batches_delivered_total`), ' +
             'each followed by that partition\'s checkpoint write.');
  lines.push(`* **Machine:** ${machine()}.`);
  lines.push(`* **Command:** \`scripts/bench ${process.argv.slice(2).join(' ')}\`.`);
  lines.push(`* **Date:** ${new Date().toISOString().slice(0, 10)}.`, '');
  lines.push('| partitions | threads | peak RSS | CPU s per 10^6 events | events/s | Kusto requests | partition runs | most in flight (emulator / hub2kusto) |');
  lines.push('|---|---|---|---|---|---|---|---|');
  for (const p of points) {
    lines.push(`| ${p.partitions} | ${p.threads} | ${mib(p.rss)} MiB | ${f1(p.cpuPerMillion)} | ` +
               `${f0(p.eventsPerSecond)} | ${f0(p.requests)} | ${f0(p.runs)} | ${p.peakAtKusto} / ${p.peakAtHub2kusto} |`);
  }
  const first = points[0];
  const last = points[points.length - 1];
  const targets = [
    [`threads at ${last.partitions} partitions at most 8 more than at ${first.partitions}: ` +
     `${last.threads - first.threads} more`, last.threads - first.threads <= 8],
    [`CPU per million events at ${last.partitions} partitions within 1.3x of ${first.partitions}: ` +
     `${(last.cpuPerMillion / first.cpuPerMillion).toFixed(2)}x`, last.cpuPerMillion <= 1.3 * first.cpuPerMillion],
    [`Kusto requests at ${last.partitions} partitions within 2x of ${first.partitions}: ` +
     `${(last.requests / first.requests).toFixed(2)}x`, last.requests <= 2 * first.requests],
    ['never more requests in flight than target.max_concurrent_requests (4)',
     points.every((p) => p.peakAtKusto <= 4 && p.peakAtHub2kusto <= 4)],
  ];
  lines.push('', 'Targets:', '');
  for (const [what, met] of targets) lines.push(`* ${what}: **${met ? 'met' : 'missed'}**`);
  lines.push('');
  return lines.join('\n');
}

function writeSection(text, heading) {
  const report = path.join(root, 'bench', 'REPORT.md');
  const old = fs.readFileSync(report, 'utf8');
  const start = old.indexOf(heading);
  const rest = start < 0 ? -1 : old.indexOf('\n## ', start + 5);
  const updated = start < 0 ? `${old.trimEnd()}\n\n${text}`
                            : `${old.slice(0, start)}${text}${rest < 0 ? '' : old.slice(rest)}`;
  fs.writeFileSync(report, updated.endsWith('\n') ? updated : `${updated}\n`);
  log(`written to ${path.relative(process.cwd(), report)}`);
}

// ---- report ----

const f0 = (x) => Math.round(x).toLocaleString('en-US');
const f1 = (x) => x.toFixed(1);
const mib = (b) => (b / (1 << 20)).toFixed(0);

function machine() {
  const cpu = (/model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8')) || [0, '?'])[1];
  return `${os.cpus().length} vCPU ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ` +
         `${fs.readFileSync('/etc/debian_version', 'utf8').trim() ? `Debian ${fs.readFileSync('/etc/debian_version', 'utf8').trim()}` : ''}, ` +
         `node ${process.version}`;
}

function render(tp, lat, st) {
  const lines = [];
  lines.push('## End-to-end benchmark (scripts/bench)', '');
  lines.push('* **What:** `scripts/bench` in one run on one machine: the Event Hubs emulator preloaded, ' +
             `${settings.partitions} partitions, drained into a 7-column table (mappings/examples) of the ` +
             'Kusto emulator by streaming ingestion (JSON mapping reference); checkpoints in Azurite. ' +
             'Wall time runs from start to the last row visible in the table; CPU and peak RSS are ' +
             'the client process\'s own (emulators excluded).');
  lines.push('* **Clients:** hub2kusto (`hub2kusto run`, default batching: 4 MiB, 10,000 events, ' +
             '1 s linger; blob checkpoints; `ownership.strategy` greedy, as the peer); the Node peer (`bench/e2e/peer.js`: ' +
             '`EventHubConsumerClient.subscribe` with a batch handler of up to 1,000 events, ' +
             '`ManagedStreamingIngestClient.ingestFromStream` with the mapping reference, ' +
             '`updateCheckpoint` to the blob checkpoint store, the documented greedy load balancing); ' +
             'the bare Proton receive loop (`hub2kusto_receive_bench --connect`, receive only: the ceiling).');
  lines.push(`* **Machine:** ${machine()}.`);
  lines.push(`* **Command:** \`scripts/bench\` (${process.argv.slice(2).join(' ') || 'defaults'}).`);
  lines.push(`* **Date:** ${new Date().toISOString().slice(0, 10)}.`, '');
  for (const t of tp) {
    lines.push(`**Throughput, ${t.label}: ${f0(t.events)} events of ${t.meanBytes.toFixed(0)} bytes**`, '');
    lines.push('| client | events/s | MB/s | CPU s per 10^6 events | events per CPU-second | peak RSS |');
    lines.push('|---|---|---|---|---|---|');
    for (const [name, r] of [['hub2kusto', t.results.hub2kusto], ['Node peer', t.results.peer],
                             ['bare receive loop (ceiling)', t.results.bare]]) {
      lines.push(`| ${name} | ${f0(r.eventsPerSecond)} | ${f1(r.mbPerSecond)} | ${f1(r.cpuPerMillion)} | ` +
                 `${f0(r.eventsPerCpuSecond)} | ${r.rss ? `${mib(r.rss)} MiB` : '-'} |`);
    }
    const h = t.results.hub2kusto;
    const e = h.emulators;
    lines.push('', `Where the time went during hub2kusto's drain: hub2kusto ${f1(h.cpu)}, the Event Hubs ` +
               `emulator ${f1(e.hub)} and the Kusto emulator ${f1(e.kusto)} CPU-seconds, ` +
               `${f1(h.cpu + e.hub + e.kusto)} of the ${f1(os.cpus().length * h.seconds)} the machine's ` +
               `${os.cpus().length} cores had in ${f1(h.seconds)} s; the whole machine was busy ` +
               `${f1(e.machine)} CPU-seconds, this bench process ${f1(e.bench)} of them (the bare loop ` +
               'shares the cores with the hub emulator only).');
    // A floor under any client that receives and gzips the way the SDKs do, on these cores
    // beside both emulators: the bare loop's receive, gzip at level 1 and the emulators' CPU.
    const cores = os.cpus().length;
    const gzipCpu = (t.events * t.meanBytes) / (t.gzip.compress_mb_per_s * 1e6);
    const floor = t.results.bare.cpu + gzipCpu + e.hub + e.kusto;
    const best = t.events / (floor / cores);
    lines.push('', `A floor under any client that receives and gzips like the SDKs here: the bare loop's ` +
               `receive ${f1(t.results.bare.cpu)}, gzip at level 1 ${f1(gzipCpu)} (${f0(t.gzip.compress_mb_per_s)} MB/s ` +
               `on this corpus, \`hub2kusto_gzip_bench\`) and the two emulators ${f1(e.hub + e.kusto)} ` +
               `CPU-seconds: ${f1(floor)} in all, at best ${f1(floor / cores)} s on ${cores} cores, ` +
               `${f0(best)} events/s, ${f0((100 * best) / t.results.bare.eventsPerSecond)} % of the ceiling.`);
    lines.push('', `hub2kusto vs the peer: **${f1(h.eventsPerCpuSecond / t.results.peer.eventsPerCpuSecond)}x** ` +
               `events per CPU-second, ${f1(h.eventsPerSecond / t.results.peer.eventsPerSecond)}x events/s, ` +
               `${f1(t.results.peer.rss / h.rss)}x less peak memory; hub2kusto reaches ` +
               `**${f0((100 * h.eventsPerSecond) / t.results.bare.eventsPerSecond)} %** of the bare receive ` +
               'ceiling in events/s.', '');
  }
  lines.push(`**Latency** (hub2kusto; ${f0(settings.latencyRate)} events/s for ${settings.latencySeconds} s over ` +
             `${settings.partitions} partitions; from x-opt-enqueued-time, stamped by the hub, to the Kusto ` +
             'emulator acknowledging the ingest)', '');
  lines.push('| setting | events | p50 | p99 | max |', '|---|---|---|---|---|');
  for (const l of lat) lines.push(`| ${l.name} | ${f0(l.rows)} | ${f0(l.p50)} ms | ${f0(l.p99)} ms | ${f0(l.max)} ms |`);
  lines.push('', `**Memory under stall** (hub2kusto; the Kusto emulator paused for ${settings.stallSeconds} s ` +
             `while 1 KB events arrive at 5,000/s; \`max_buffered_bytes\` 2 MiB and \`batching.max_bytes\` 1 MiB ` +
             'per partition)', '');
  lines.push('| at rest | bound (rest + partitions x (buffer + 5 x batch)) | peak RSS | hub2kusto\'s gauges at the peak | requests held | events, all arrived after |');
  lines.push('|---|---|---|---|---|---|');
  lines.push(`| ${mib(st.baseline)} MiB | ${mib(st.bound)} MiB | ${mib(st.peak)} MiB | ${f1(st.accounted / (1 << 20))} MiB | ${st.held} | ${f0(st.sent)} / ${f0(st.rows)} |`);
  lines.push('');
  const small = tp[0].results;
  const targets = [
    ['hub2kusto at least 5x the Node peer in events per CPU-second',
     tp.every((t) => t.results.hub2kusto.eventsPerCpuSecond >= 5 * t.results.peer.eventsPerCpuSecond)],
    ...tp.map((t) => {
      const share = t.results.hub2kusto.eventsPerSecond / t.results.bare.eventsPerSecond;
      return [`at least 60 % of the bare receive ceiling in events/s, ${t.label}: ${f0(100 * share)} %`,
              share >= 0.6];
    }),
    ['p99 latency under 1 s with the low-latency setting', lat.some((l) => l.name.startsWith('low') && l.p99 < 1000)],
    ['peak RSS under stall within the configured bound', st.peak <= st.bound && st.rows >= st.sent],
  ];
  lines.push('Targets:', '');
  for (const [what, met] of targets) lines.push(`* ${what}: **${met ? 'met' : 'missed'}**`);
  lines.push('');
  return { text: lines.join('\n'), targets, small };
}

async function main() {
  for (const [name, value] of [['HUB2KUSTO_BINARY', binary], ['HUB2KUSTO_RECEIVE_BENCH', receiveBench],
                               ['HUB2KUSTO_GZIP_BENCH', gzipBench],
                               ['HUB2KUSTO_EVENTHUBS_EMULATOR', process.env.HUB2KUSTO_EVENTHUBS_EMULATOR],
                               ['HUB2KUSTO_KUSTO_EMULATOR', process.env.HUB2KUSTO_KUSTO_EMULATOR]]) {
    if (!value) throw new Error(`${name} is not set (scripts/bench sets it)`);
  }
  if (process.argv.includes('--partitions-sweep')) {
    const text = renderSweep(await sweep());
    process.stdout.write(`\n${text}\n`);
    if (writeReport) writeSection(text, '## Partitions sweep (scripts/bench --partitions-sweep)');
    fs.rmSync(work, { recursive: true, force: true });
    return;
  }
  if (process.argv.includes('--stall-only')) {
    process.stdout.write(`${JSON.stringify(await stall())}\n`);
    return;
  }
  if (process.argv.includes('--latency-only')) {
    process.stdout.write(`${JSON.stringify(await latency('default (linger 1 s)', {}))}\n`);
    process.stdout.write(`${JSON.stringify(await latency('low latency (linger 50 ms)', { HUB2KUSTO_CONNECTIONS_0_BATCHING_LINGER: '50ms' }))}\n`);
    return;
  }
  const tp = [];
  const largeOnly = process.argv.includes('--large-only');
  if (!largeOnly) tp.push(await throughput('telemetry JSON, about 200 bytes', false, settings.events));
  if (largeOnly || !process.argv.includes('--throughput-only')) {
    tp.push(await throughput('telemetry JSON, about 1 KB', true, settings.largeEvents));
  }
  if (process.argv.includes('--throughput-only')) {
    for (const t of tp) process.stdout.write(`${JSON.stringify(summary(t))}\n`);
    return;
  }
  const lat = [];
  log('latency: default linger (1 s)');
  lat.push(await latency('default (linger 1 s)', {}));
  log('latency: low-latency (linger 50 ms)');
  lat.push(await latency('low latency (linger 50 ms)', { HUB2KUSTO_CONNECTIONS_0_BATCHING_LINGER: '50ms' }));
  log(`memory under a ${settings.stallSeconds} s stall`);
  const st = await stall();
  const { text } = render(tp, lat, st);
  process.stdout.write(`\n${text}\n`);
  if (writeReport) writeSection(text, '## End-to-end benchmark (scripts/bench)');
  fs.rmSync(work, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(`bench: ${e.stack || e.message}`);
  process.exit(1);
});
