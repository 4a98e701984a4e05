// Sends telemetry as Avro object container files, one file per event, routed with the ADX
// application property Format=<format>, with the official producer. The files are written here
// from the Avro 1.11 specification ("Object Container Files", codec null), so no Avro library
// decides what the bytes look like.
//   node produce_avro.js <connection string> <format> <first> <events>
// Event k carries two records: the test lines (tests/support/node) first + 2k and first + 2k + 1.
'use strict';
const crypto = require('node:crypto');
const { line, sendEvents, runMain } = require('../../support/node');

function long(n) { // zig-zag varint
  let v = n >= 0 ? 2 * n : -2 * n - 1;
  const out = [];
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Buffer.from(out);
}
function bytes(text) {
  const b = Buffer.from(text, 'utf8');
  return Buffer.concat([long(b.length), b]);
}
function double(x) {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(x);
  return b;
}

const schema = JSON.stringify({
  type: 'record', name: 'Telemetry',
  fields: [{ name: 'deviceId', type: 'string' }, { name: 'temperature', type: 'double' },
           { name: 'humidity', type: 'long' }, { name: 'line', type: 'long' }],
});

function containerFile(lines) {
  const sync = crypto.randomBytes(16);
  const header = Buffer.concat([Buffer.from([0x4f, 0x62, 0x6a, 0x01]), long(2),
    bytes('avro.schema'), bytes(schema), bytes('avro.codec'), bytes('null'), long(0), sync]);
  const data = Buffer.concat(lines.map(line).map((r) => Buffer.concat([
    bytes(r.deviceId), double(r.temperature), long(r.humidity), long(r.line)])));
  return Buffer.concat([header, long(lines.length), long(data.length), data, sync]);
}

runMain(async () => {
  const [connectionString, format, first, count] = process.argv.slice(2);
  const events = [];
  for (let k = 0; k < Number(count); ++k) {
    const n = Number(first) + 2 * k;
    events.push({ body: containerFile([n, n + 1]), properties: { Format: format } });
  }
  await sendEvents(connectionString, events);
  console.log('sent');
});
