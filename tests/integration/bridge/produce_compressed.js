// Sends telemetry events whose bodies are gzip, marked with the ADX application property
// Compression=gzip, with the official producer; then one event so marked whose body is not gzip.
//   node produce_compressed.js <connection string> <first> <count>
// Event i: gzip of the test line i (tests/support/node).
'use strict';
const zlib = require('node:zlib');
const { line, sendEvents, runMain } = require('../../support/node');

runMain(async () => {
  const [connectionString, first, count] = process.argv.slice(2);
  const events = [];
  for (let i = Number(first); i < Number(first) + Number(count); ++i) {
    events.push({ body: zlib.gzipSync(Buffer.from(JSON.stringify(line(i)))), properties: { Compression: 'gzip' } });
  }
  events.push({ body: Buffer.from('{"line":-1} is not gzip'), properties: { Compression: 'gzip' } });
  await sendEvents(connectionString, events);
  console.log('sent');
});
