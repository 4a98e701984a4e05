// An official Event Hubs processor in the consumer group hub2kusto replicas share:
// EventHubConsumerClient with @azure/eventhubs-checkpointstore-blob, balanced load balancing,
// a checkpoint after every batch as the SDK's samples write it, and hub2kusto's default start
// (the earliest event) where a partition has no checkpoint yet.
//   node sdk_processor.js <hub connection string> <storage connection string> <container>
//                         <owner id> <update interval ms> <expiration ms>
// Prints {"checkpointed":"<partition>"} after its first checkpoint in each partition. On SIGTERM
// it finishes the batches in hand, prints one JSON line, {"lines":[...],"checkpoints":
// {"<partition>":<sequence number>,...}}: the `line` of every event it read and the last
// checkpoint it wrote in each partition, then closes the subscription and the client (the SDK
// gives up its ownerships). Each batch of 50 takes 200 ms more, a processor about as fast as
// the bridge against a slow cluster, so its partitions still hold unread events when it stops.
'use strict';
const { EventHubConsumerClient, earliestEventPosition } = require('@azure/event-hubs');
const { ContainerClient } = require('@azure/storage-blob');
const { BlobCheckpointStore } = require('@azure/eventhubs-checkpointstore-blob');

function lineOf(body) {
  const value = Buffer.isBuffer(body) ? JSON.parse(body.toString('utf8')) : body;
  return value.line;
}

async function main() {
  const [hubConnectionString, storage, container, ownerId, interval, expiration] =
      process.argv.slice(2);
  const store = new BlobCheckpointStore(new ContainerClient(storage, container));
  const client = new EventHubConsumerClient('$Default', hubConnectionString, store, {
    identifier: ownerId,
    loadBalancingOptions: {
      strategy: 'balanced',
      updateIntervalInMs: Number(interval),
      partitionOwnershipExpirationIntervalInMs: Number(expiration),
    },
  });
  const lines = [];
  const checkpoints = {};
  // Closing the subscription does not wait for a batch being processed, and gives up the
  // ownerships at once: a batch checkpointed after that would land behind the next owner's
  // reading. So a stop lets the batches in hand finish first and takes no new one.
  let stopping = false;
  const inHand = new Set();
  async function handle(events, context) {
    for (const event of events) lines.push(lineOf(event.body));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const last = events[events.length - 1];
    await context.updateCheckpoint(last);
    const first = !(context.partitionId in checkpoints);
    checkpoints[context.partitionId] = last.sequenceNumber;
    if (first) console.log(JSON.stringify({ checkpointed: context.partitionId }));
  }
  const subscription = client.subscribe({
    processEvents: async (events, context) => {
      if (stopping || events.length === 0) return;
      const batch = handle(events, context);
      inHand.add(batch);
      try {
        await batch;
      } finally {
        inHand.delete(batch);
      }
    },
    processError: async (error, context) => {
      console.error(`partition ${context.partitionId}: ${error.message}`);
    },
  }, { maxBatchSize: 50, maxWaitTimeInSeconds: 1, startPosition: earliestEventPosition });
  const within = (promise, ms, what) => Promise.race([promise, new Promise((resolve) =>
    setTimeout(() => resolve(console.error(`${what}: not done in ${ms} ms`)), ms))]);
  process.on('SIGTERM', async () => {
    // Node exits once nothing is pending, even mid-await: the timer keeps it until the end.
    setInterval(() => {}, 1000);
    stopping = true;
    await within(Promise.allSettled([...inHand]), 20000, 'the batches in hand');
    // Nothing is checkpointed from here on: the summary's checkpoints are the last ones.
    console.log(JSON.stringify({ lines, checkpoints }));
    // Closing gives up the ownerships, as the SDK does; a close that hangs (seen on a loaded
    // machine) is not waited for: the ownerships then expire.
    await within(subscription.close().then(() => client.close()), 10000, 'closing');
    process.exit(0);
  });
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
