// Sends events with the official producer (@azure/event-hubs), for the hub consumer's
// integration tests: an independent client decides how events, properties and partition keys
// look on the wire.
//   node produce.js <connection string> <events per partition> <partitions> [keyed events]
// Event i of partition p has body {"partition":p,"i":i}, application properties
// index=i (a number), source="produce.js", flag=true, message id "m-<p>-<i>", content type
// application/json and correlation id "c-<i>". `keyed events` more go with partition key
// "device-7". Prints "sent <n>" and exits 0.
'use strict';
const { sendEvents, runMain } = require('../../support/node');

runMain(async () => {
  const [connectionString, perPartition, partitions, keyed = '0'] = process.argv.slice(2);
  let sent = 0;
  for (let p = 0; p < Number(partitions); ++p) {
    const events = Array.from({ length: Number(perPartition) }, (_, i) => ({
      body: { partition: p, i },
      properties: { index: i, source: 'produce.js', flag: true },
      messageId: `m-${p}-${i}`,
      contentType: 'application/json',
      correlationId: `c-${i}`,
    }));
    sent += await sendEvents(connectionString, events, { partitionId: String(p) });
  }
  if (Number(keyed) > 0) {
    const events = Array.from({ length: Number(keyed) }, (_, i) => ({ body: { keyed: i } }));
    sent += await sendEvents(connectionString, events, { partitionKey: 'device-7' });
  }
  console.log(`sent ${sent}`);
});
