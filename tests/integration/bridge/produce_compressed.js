// Sends telemetry events whose bodies are gzip, marked with the ADX application property
// Compression=gzip, with the official producer; then one event so marked whose body is not gzip.
//   node produce_compressed.js <connection string> <first> <count>
// Event i: gzip of {"deviceId":"dev-<i>","temperature":21.5,"humidity":40,"line":i}.
'use strict';
const zlib = require('zlib');
const { sendEvents } = require('./send_events');

async function main() {
  const [connectionString, first, count] = process.argv.slice(2);
  const events = [];
  for (let i = Number(first); i < Number(first) + Number(count); ++i) {
    const json = JSON.stringify({ deviceId: `dev-${i}`, temperature: 21.5, humidity: 40, line: i });
    events.push({ body: zlib.gzipSync(Buffer.from(json)), properties: { Compression: 'gzip' } });
  }
  events.push({ body: Buffer.from('{"line":-1} is not gzip'), properties: { Compression: 'gzip' } });
  await sendEvents(connectionString, events);
  console.log('sent');
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
