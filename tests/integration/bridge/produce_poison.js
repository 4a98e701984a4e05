// Sends, with the official producer, to partition 0: test lines 0-9 (tests/support/node), then
// an event whose AMQP-value body nests 70 deep (bodyType "value"), then lines 10-19.
//   node produce_poison.js <connection string>
'use strict';
const { line, sendEvents, runMain } = require('../../support/node');

runMain(async () => {
  const [connectionString] = process.argv.slice(2);
  let nested = 1;
  for (let i = 0; i < 70; ++i) nested = [nested];
  const events = [];
  for (let i = 0; i < 10; ++i) events.push({ body: line(i) });
  events.push({ body: nested, bodyType: 'value' });
  for (let i = 10; i < 20; ++i) events.push({ body: line(i) });
  await sendEvents(connectionString, events, { partitionId: '0' });
  console.log('sent');
});
