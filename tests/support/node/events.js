// Events for the Node side of the tests, the benchmark and the demo: the sample bodies, and
// sending and receiving them with the official @azure/event-hubs SDK, so an independent client
// decides what the events look like on the wire.
'use strict';
const assert = require('node:assert/strict');
const { EventHubProducerClient, EventHubConsumerClient } = require('@azure/event-hubs');

// ---- Sample bodies -------------------------------------------------------------------------

// The test line: event `i` is
//   {"deviceId":"dev-<i>","temperature":<20 + (i % 50) / 10>,"humidity":<i % 100>,"line":i},
// the columns the integration tests map (deviceId, temperature, humidity, line); the values
// vary with `i`, so a row whose columns were mixed up does not match its line.
function line(i) {
  return { deviceId: `dev-${i}`, temperature: 20 + (i % 50) / 10, humidity: i % 100, line: i };
}

// A deterministic pseudo-random source in [0, 1) (a linear congruential generator).
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

// Device telemetry of about 200 bytes (about 1 KB with `large`: a block of readings), the shape
// of mappings/examples/telemetry_events.jsonl, which maps to mappings/examples/telemetry.schema
// with mappings/examples/telemetry_mapping.json.
function reading(i, random, large = false) {
  const statuses = ['ok', 'ok', 'ok', 'warning', 'ok', 'error'];
  const e = {
    deviceId: `dev-${String(i % 5000).padStart(5, '0')}`,
    ts: new Date(Date.UTC(2026, 10, 24, 10, 0, 0) + i * 37).toISOString(),
    temperature: Math.round((15 + random() * 15) * 100) / 100,
    humidity: Math.floor(30 + random() * 40),
    status: statuses[i % statuses.length],
    battery: Math.round(random() * 1000) / 1000,
    location: { site: `plant-${1 + (i % 9)}`, line: i % 12 },
    tags: { fw: `1.${i % 4}.${i % 10}`, mode: i % 2 ? 'eco' : 'auto' },
  };
  if (large) {
    e.readings = Array.from({ length: 60 }, () => Math.round(random() * 100000) / 1000);
    e.note = 'x'.repeat(Math.max(0, 1024 - JSON.stringify(e).length - 10));
  }
  return e;
}

// ---- Sending -------------------------------------------------------------------------------

async function withProducer(connectionString, work) {
  const producer = new EventHubProducerClient(connectionString);
  try {
    return await work(producer);
  } finally {
    await producer.close();
  }
}

// Sends `events` in order, in as many batches as they need; `options` are the batches' options
// (partitionId, partitionKey). Returns how many were sent.
async function sendOn(producer, events, options = {}) {
  let batch = await producer.createBatch(options);
  for (const event of events) {
    if (!batch.tryAdd(event)) {
      await producer.sendBatch(batch);
      batch = await producer.createBatch(options);
      if (!batch.tryAdd(event)) throw new Error('an event is larger than a batch may be');
    }
  }
  if (batch.count > 0) await producer.sendBatch(batch);
  return events.length;
}

function sendEvents(connectionString, events, options = {}) {
  return withProducer(connectionString, (producer) => sendOn(producer, events, options));
}

// Sends events first .. first + count - 1, event i to the ((i - first) % P)-th of P partitions
// (P: `partitions`, or all of the hub's), each partition's events in order; `make(i)` builds
// event i. Returns how many were sent and over how many partitions.
function sendSpread(connectionString, count, make, { first = 0, partitions } = {}) {
  return withProducer(connectionString, async (producer) => {
    const ids = partitions === undefined
        ? await producer.getPartitionIds()
        : Array.from({ length: partitions }, (_, p) => String(p));
    let sent = 0;
    for (const [p, partitionId] of ids.entries()) {
      const events = [];
      for (let i = first + p; i < first + count; i += ids.length) events.push(make(i));
      sent += await sendOn(producer, events, { partitionId });
    }
    return { sent, partitions: ids.length };
  });
}

// Sends `batches` ([{options, events}]), each as exactly one batch: the tests that need to know
// where the batch boundaries are.
function sendBatches(connectionString, batches) {
  return withProducer(connectionString, async (producer) => {
    for (const { options, events } of batches) {
      const batch = await producer.createBatch(options);
      for (const e of events) assert.ok(batch.tryAdd(e), 'event fits the batch');
      await producer.sendBatch(batch);
    }
  });
}

// A steady producer: `rate` events per second for `seconds` seconds, a send every 20 ms spread
// round robin over the hub's partitions; `make(i)` builds event i. Returns {sent, seconds}.
function sendSteady(connectionString, rate, seconds, make) {
  return withProducer(connectionString, async (producer) => {
    const partitions = await producer.getPartitionIds();
    const tick = 20;
    const perTick = rate * tick / 1000;
    const start = Date.now();
    const end = start + seconds * 1000;
    let sent = 0;
    let due = 0;
    let p = 0;
    while (Date.now() < end) {
      due += perTick;
      const n = Math.floor(due - sent);
      if (n > 0) {
        const batch = await producer.createBatch({ partitionId: partitions[p++ % partitions.length] });
        for (let i = 0; i < n; ++i) batch.tryAdd(make(sent + i));
        await producer.sendBatch(batch);
        sent += batch.count;
      }
      const next = start + Math.round((due / perTick) * tick);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - Date.now())));
    }
    return { sent, seconds: (Date.now() - start) / 1000 };
  });
}

// ---- Receiving -----------------------------------------------------------------------------

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

module.exports = {
  line, rng, reading, sendEvents, sendSpread, sendBatches, sendSteady, receive,
};
