// Sends events with the official producer (@azure/event-hubs), as many batches as they need;
// the test producers build the events, this sends them.
'use strict';
const { EventHubProducerClient } = require('@azure/event-hubs');

async function sendEvents(connectionString, events) {
  const producer = new EventHubProducerClient(connectionString);
  try {
    let batch = await producer.createBatch();
    for (const event of events) {
      if (!batch.tryAdd(event)) {
        await producer.sendBatch(batch);
        batch = await producer.createBatch();
        if (!batch.tryAdd(event)) throw new Error('an event is larger than a batch may be');
      }
    }
    await producer.sendBatch(batch);
  } finally {
    await producer.close();
  }
}

module.exports = { sendEvents };
