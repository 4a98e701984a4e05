// Run as a child process by faults.test.js: subscribes to partition 0, asks the emulator's
// control API for a retriable detach after the first two events, sends two more and prints
// the sequence numbers and errors the subscription saw as one JSON line.
//   node detach_client.js <connection string> <control base URL>
// A child process because the SDK leaks a timer here: on re-attach, withAuth starts a new
// 45-minute token-refresh loop and the old one is never stopped (partitionReceiver.js replaces
// state.authLoop), which keeps a test process alive after every client is closed.
'use strict';
const { EventHubProducerClient, EventHubConsumerClient } = require('@azure/event-hubs');

(async () => {
  const [cs, control] = process.argv.slice(2);
  const producer = new EventHubProducerClient(cs);
  // core-amqp retries a receive after a fixed 30 s by default; shorten it so the re-attach
  // comes quickly.
  const consumer = new EventHubConsumerClient('$Default', cs, { retryOptions: { retryDelayInMs: 100 } });
  const events = [];
  const errors = [];
  let wake = () => {};
  const until = async (predicate) => {
    while (!predicate()) await new Promise((r) => { wake = r; });
  };
  const subscription = consumer.subscribe('0', {
    processEvents: async (batch) => { events.push(...batch); wake(); },
    processError: async (err) => { errors.push(`${err.code}: ${err.message}`); wake(); },
  }, { startPosition: { sequenceNumber: -1 }, maxWaitTimeInSeconds: 1 });
  await producer.sendBatch([0, 1].map((n) => ({ body: n })), { partitionId: '0' });
  await until(() => events.length >= 2);
  const response = await fetch(`${control}/faults/detach?hub=telemetry&partition=0`, { method: 'POST' });
  const applied = (await response.json()).applied;
  await producer.sendBatch([2, 3].map((n) => ({ body: n })), { partitionId: '0' });
  await until(() => events.length >= 4);
  await subscription.close();
  await consumer.close();
  await producer.close();
  process.stdout.write(JSON.stringify({ applied, sequenceNumbers: events.map((e) => e.sequenceNumber), errors }) + '\n');
  process.exit(0);
})().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
