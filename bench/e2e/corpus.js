// The benchmark corpora: JSON telemetry of about 200 bytes (the shape of
// mappings/examples/telemetry_events.jsonl) and of about 1 KB (the same with a block of
// readings), deterministic, one event per line. Both map to the 7-column table of
// mappings/examples/telemetry.schema with mappings/examples/telemetry_mapping.json.
'use strict';
const fs = require('node:fs');

function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function event(i, random, large) {
  const statuses = ['ok', 'ok', 'ok', 'warning', 'ok', 'error'];
  const e = {
    deviceId: `dev-${String(i % 5000).padStart(5, '0')}`,
    ts: new Date(Date.UTC(2026, 10, 24, 10, 0, 0) + i * 37).toISOString(),
    temperature: Math.round((15 + random() * 15) * 100) / 100,
    humidity: Math.floor(30 + random() * 40),
    status: statuses[i % statuses.length],
    battery: Math.round(random() * 1000) / 1000,
    location: { site: `plant-${1 + (i % 9)}`, line: i % 12 },
    tags: { fw: `1.${i % 4}.${i % 10}`, mode: i % 2 ? 'eco' : 'auto' },
  };
  if (large) {
    e.readings = Array.from({ length: 60 }, () => Math.round(random() * 100000) / 1000);
    e.note = 'x'.repeat(Math.max(0, 1024 - JSON.stringify(e).length - 10));
  }
  return e;
}

// Writes `lines` distinct events to `file`; returns their mean size in bytes.
function writeCorpus(file, lines, large) {
  const random = rng(large ? 7 : 3);
  let bytes = 0;
  const out = [];
  for (let i = 0; i < lines; ++i) {
    const text = JSON.stringify(event(i, random, large));
    bytes += text.length;
    out.push(text);
  }
  fs.writeFileSync(file, out.join('\n') + '\n');
  return bytes / lines;
}

module.exports = { event, rng, writeCorpus };
