// Small helpers over the official @azure/event-hubs SDK shared by the conformance tests.
'use strict';
const assert = require('node:assert/strict');
const { EventHubProducerClient, EventHubConsumerClient } = require('@azure/event-hubs');

// Receives `count` events from one partition, starting at `startPosition`.
async function receive(connectionString, partitionId, startPosition, count, options = {}) {
  const consumer = new EventHubConsumerClient(options.consumerGroup ?? '$Default', connectionString);
  const events = [];
  try {
    await new Promise((resolve, reject) => {
      const subscription = consumer.subscribe(
        partitionId,
        {
          processEvents: async (batch) => {
            events.push(...batch);
            if (events.length >= count) {
              await subscription.close();
              resolve();
            }
          },
          processError: async (err) => reject(err),
        },
        { startPosition, maxBatchSize: 100, maxWaitTimeInSeconds: 1 },
      );
    });
  } finally {
    await consumer.close();
  }
  return events;
}

async function send(connectionString, batches) {
  const producer = new EventHubProducerClient(connectionString);
  try {
    for (const { options, events } of batches) {
      const batch = await producer.createBatch(options);
      for (const e of events) assert.ok(batch.tryAdd(e), 'event fits the batch');
      await producer.sendBatch(batch);
    }
  } finally {
    await producer.close();
  }
}

module.exports = { receive, send };
