// The benchmark corpora: device telemetry of about 200 bytes and of about 1 KB (the `reading`
// sample of tests/support/node), deterministic, one event per line. Both map to the 7-column
// table of mappings/examples/telemetry.schema with mappings/examples/telemetry_mapping.json.
'use strict';
const fs = require('node:fs');
const { reading, rng } = require('../../tests/support/node');

// Writes `lines` distinct events to `file`; returns their mean size in bytes.
function writeCorpus(file, lines, large) {
  const random = rng(large ? 7 : 3);
  let bytes = 0;
  const out = [];
  for (let i = 0; i < lines; ++i) {
    const text = JSON.stringify(reading(i, random, large));
    bytes += text.length;
    out.push(text);
  }
  fs.writeFileSync(file, out.join('\n') + '\n');
  return bytes / lines;
}

module.exports = { writeCorpus };
