// deploy/monitoring checked without a Prometheus server:
//  - the alert rules pass `promtool check rules`, and `promtool test rules` on the series
//    written for each alert in alerts.test.yaml (Debian's `prometheus` package: scripts/bootstrap);
//  - every query of the Grafana dashboard is valid PromQL (promtool checks it as a recording
//    rule's expression);
//  - every series the rules and the dashboard read is one hub2kusto exports: listed in the
//    README's metrics table, which tests/integration/bridge/observability_test.cpp holds to
//    what /metrics serves.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..', '..');
const monitoring = path.join(root, 'deploy', 'monitoring');

function promtool(...args) {
  const run = spawnSync('promtool', args, { cwd: monitoring, encoding: 'utf8' });
  assert.equal(run.error, undefined, 'promtool is not installed (scripts/bootstrap installs it)');
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

function dashboardQueries() {
  const dashboard = JSON.parse(fs.readFileSync(path.join(monitoring, 'dashboard.json'), 'utf8'));
  return dashboard.panels.flatMap((p) => (p.targets || []).map((t) => ({ panel: p.title, expr: t.expr })));
}

// The series names a PromQL text reads: hub2kusto_* and process_*, a histogram's _bucket,
// _sum and _count read as the histogram.
function seriesIn(text) {
  const names = new Set();
  for (const [name] of text.matchAll(/\b(?:hub2kusto|process)_[a-z_]+\b/g)) {
    names.add(name.replace(/_(bucket|sum|count)$/, ''));
  }
  return names;
}

function readmeSeries() {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const start = readme.indexOf('| question | series |');
  assert.ok(start >= 0, "the README's metrics table is missing");
  const table = readme.slice(start, readme.indexOf('\n\n', start));
  return new Set([...table.matchAll(/`((?:hub2kusto|process)_[a-z_]+)/g)].map((m) => m[1]));
}

test('the alert rules pass promtool check rules', () => {
  const r = promtool('check', 'rules', 'alerts.yaml');
  assert.equal(r.status, 0, r.output);
});

test('each alert fires on the series written for it and stays quiet on the others', () => {
  const r = promtool('test', 'rules', 'alerts.test.yaml');
  assert.equal(r.status, 0, r.output);
});

test("every query of the dashboard is valid PromQL", () => {
  const queries = dashboardQueries();
  assert.ok(queries.length >= 10, 'the dashboard has its panels');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hub2kusto-dashboard-'));
  try {
    const rules = queries.map((q, i) => `      - record: dashboard:query_${i}\n        expr: ${JSON.stringify(q.expr)}\n`);
    const file = path.join(dir, 'queries.yaml');
    fs.writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join('')}`);
    const r = promtool('check', 'rules', file);
    assert.equal(r.status, 0, r.output);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the rules and the dashboard read only series hub2kusto exports', () => {
  const exported = readmeSeries();
  const read = new Set([
    ...seriesIn(fs.readFileSync(path.join(monitoring, 'alerts.yaml'), 'utf8')),
    ...dashboardQueries().flatMap((q) => [...seriesIn(q.expr)]),
  ]);
  const unknown = [...read].filter((name) => !exported.has(name));
  assert.deepEqual(unknown, [], 'read by the rules or the dashboard, not in the README table');
  // The alerts an on-call engineer needs, each present.
  const alerts = fs.readFileSync(path.join(monitoring, 'alerts.yaml'), 'utf8');
  for (const series of ['hub2kusto_partition_lag_seconds', 'hub2kusto_events_dead_lettered_total',
    'hub2kusto_kusto_reachable', 'hub2kusto_ingest_fallbacks_total',
    'hub2kusto_ownership_partitions_owned', 'hub2kusto_threads_stuck']) {
    assert.ok(alerts.includes(series), `no alert reads ${series}`);
  }
});
