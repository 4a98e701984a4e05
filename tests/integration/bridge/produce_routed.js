// Sends N JSON telemetry events (default route) and N CSV alerts routed with the ADX
// application properties Table=Alerts and Format=csv, with the official producer.
//   node produce_routed.js <connection string> <N>
// Telemetry i is the test line i (tests/support/node); alert i is "dev-<i>,<i % 3>".
'use strict';
const { line, sendEvents, runMain } = require('../../support/node');

runMain(async () => {
  const [connectionString, count] = process.argv.slice(2);
  const events = [];
  for (let i = 0; i < Number(count); ++i) {
    events.push({ body: line(i) });
    events.push({ body: Buffer.from(`dev-${i},${i % 3}`), properties: { Table: 'Alerts', Format: 'csv' } });
  }
  await sendEvents(connectionString, events);
  console.log('sent');
});
