// Sends, with the official producer, to partition 0: telemetry lines 0-9, then an event whose
// AMQP-value body nests 70 deep (bodyType "value"), then lines 10-19.
//   node produce_poison.js <connection string>
'use strict';
const { EventHubProducerClient } = require('@azure/event-hubs');

async function main() {
  const [connectionString] = process.argv.slice(2);
  const producer = new EventHubProducerClient(connectionString);
  const line = (i) => ({ body: { deviceId: `dev-${i}`, temperature: 21.5, humidity: 40, line: i } });
  let nested = 1;
  for (let i = 0; i < 70; ++i) nested = [nested];
  try {
    const events = [];
    for (let i = 0; i < 10; ++i) events.push(line(i));
    events.push({ body: nested, bodyType: 'value' });
    for (let i = 10; i < 20; ++i) events.push(line(i));
    await producer.sendBatch(events, { partitionId: '0' });
  } finally {
    await producer.close();
  }
  console.log('sent');
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
