// Sends events with the official producer (@azure/event-hubs), for the hub consumer's
// integration tests: an independent client decides how events, properties and partition keys
// look on the wire.
//   node produce.js <connection string> <events per partition> <partitions> [keyed events]
// Event i of partition p has body {"partition":p,"i":i}, application properties
// index=i (a number), source="produce.js", flag=true, message id "m-<p>-<i>", content type
// application/json and correlation id "c-<i>". `keyed events` more go with partition key
// "device-7". Prints "sent <n>" and exits 0.
'use strict';
const { EventHubProducerClient } = require('@azure/event-hubs');

async function main() {
  const [connectionString, perPartition, partitions, keyed = '0'] = process.argv.slice(2);
  const producer = new EventHubProducerClient(connectionString);
  let sent = 0;
  try {
    for (let p = 0; p < Number(partitions); ++p) {
      let batch = await producer.createBatch({ partitionId: String(p) });
      for (let i = 0; i < Number(perPartition); ++i) {
        const event = {
          body: { partition: p, i },
          properties: { index: i, source: 'produce.js', flag: true },
          messageId: `m-${p}-${i}`,
          contentType: 'application/json',
          correlationId: `c-${i}`,
        };
        if (!batch.tryAdd(event)) {
          await producer.sendBatch(batch);
          batch = await producer.createBatch({ partitionId: String(p) });
          batch.tryAdd(event);
        }
        ++sent;
      }
      await producer.sendBatch(batch);
    }
    if (Number(keyed) > 0) {
      const batch = await producer.createBatch({ partitionKey: 'device-7' });
      for (let i = 0; i < Number(keyed); ++i) {
        batch.tryAdd({ body: { keyed: i } });
        ++sent;
      }
      await producer.sendBatch(batch);
    }
  } finally {
    await producer.close();
  }
  console.log(`sent ${sent}`);
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
