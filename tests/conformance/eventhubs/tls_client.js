// Run as a child process so that NODE_EXTRA_CA_CERTS (read at start-up) applies: sends one
// event over AMQPS to the emulator's TLS listener and reads it back.
//   node tls_client.js <connection string>
'use strict';
const { EventHubProducerClient, EventHubConsumerClient } = require('@azure/event-hubs');

(async () => {
  const cs = process.argv[2];
  const retryOptions = { maxRetries: 0, timeoutInMs: 10_000 };
  const producer = new EventHubProducerClient(cs, { retryOptions });
  await producer.sendBatch([{ body: 'over tls' }], { partitionId: '0' });
  await producer.close();
  const consumer = new EventHubConsumerClient('$Default', cs, { retryOptions });
  const body = await new Promise((resolve, reject) => {
    const sub = consumer.subscribe('0', {
      processEvents: async (events) => { if (events.length) { await sub.close(); resolve(events[0].body); } },
      processError: async (err) => reject(err),
    }, { startPosition: { sequenceNumber: -1 }, maxWaitTimeInSeconds: 1 });
  });
  await consumer.close();
  process.stdout.write(JSON.stringify({ body }) + '\n');
})().catch((err) => {
  process.stderr.write(`tls_client: ${err.code ?? err.name}: ${err.message}\n`);
  process.exit(1);
});
