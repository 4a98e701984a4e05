// The peer: what a user writes to move hub events into Kusto in Node.js, the way the Azure
// documentation shows it (Event Hubs "receive events" quickstart with a blob checkpoint store;
// azure-kusto-ingest's managed streaming client with a JSON mapping reference):
//   EventHubConsumerClient.subscribe() with a batch handler; each batch becomes one JSON-lines
//   stream handed to ManagedStreamingIngestClient.ingestFromStream(); after it is ingested, the
//   batch is checkpointed with @azure/eventhubs-checkpointstore-blob.
//
//   node peer.js <event hubs connection string> <kusto url> <database> <table> <mapping>
//                <storage connection string> <checkpoint container> <events>
// Exits 0 once <events> events were ingested; prints one JSON line with what it ingested and
// the CPU time and peak memory it used (process.cpuUsage, process.resourceUsage).
'use strict';
const { Readable } = require('node:stream');
const { EventHubConsumerClient, earliestEventPosition } = require('@azure/event-hubs');
const { ContainerClient } = require('@azure/storage-blob');
const { BlobCheckpointStore } = require('@azure/eventhubs-checkpointstore-blob');
const { KustoConnectionStringBuilder } = require('azure-kusto-data');
const { ManagedStreamingIngestClient, IngestionProperties, DataFormat } =
    require('azure-kusto-ingest');

async function main() {
  const [hub, kustoUrl, database, table, mapping, storage, container, events] =
      process.argv.slice(2);
  const target = Number(events);
  const containerClient = new ContainerClient(storage, container);
  await containerClient.createIfNotExists();
  const checkpointStore = new BlobCheckpointStore(containerClient);
  // The documented load-balancing strategy 'greedy': one consumer claims every partition at
  // once instead of one per 10 s cycle (the default 'balanced'), which would only slow it.
  const consumer = new EventHubConsumerClient('$Default', hub, checkpointStore, {
    loadBalancingOptions: { strategy: 'greedy' },
  });
  const kcsb = new KustoConnectionStringBuilder(kustoUrl);
  const ingest = new ManagedStreamingIngestClient(kcsb, kcsb, new IngestionProperties({
    database, table, format: DataFormat.JSON, ingestionMappingReference: mapping,
  }), false);
  let ingested = 0;
  await new Promise((resolve, reject) => {
    const subscription = consumer.subscribe({
      processEvents: async (batch, context) => {
        if (batch.length === 0) return;
        const lines = batch.map((e) => JSON.stringify(e.body)).join('\n') + '\n';
        await ingest.ingestFromStream(Readable.from([Buffer.from(lines)]));
        await context.updateCheckpoint(batch[batch.length - 1]);
        ingested += batch.length;
        if (ingested >= target) {
          subscription.close().then(resolve, reject);
        }
      },
      processError: async (err) => {
        console.error(`error: ${err.message}`);
      },
    }, { startPosition: earliestEventPosition, maxBatchSize: 1000, maxWaitTimeInSeconds: 1 });
  });
  await consumer.close();
  ingest.close();
  const cpu = process.cpuUsage();
  console.log(JSON.stringify({
    ingested,
    cpu_seconds: (cpu.user + cpu.system) / 1e6,
    max_rss_bytes: process.resourceUsage().maxRSS * 1024,
  }));
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
