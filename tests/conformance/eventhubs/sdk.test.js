// Conformance: the official @azure/event-hubs SDK against tests/emulators/eventhubs.
// If the SDK works against the emulator, the emulator is faithful (DEVELOPERS.md).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { EventHubProducerClient, EventHubConsumerClient } = require('@azure/event-hubs');
const { startEmulator } = require('./emulator.js');

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

test('hub and partition properties', async () => {
  const em = await startEmulator(['--hub', 'telemetry:4']);
  try {
    const producer = new EventHubProducerClient(em.connectionString());
    const hub = await producer.getEventHubProperties();
    assert.equal(hub.name, 'telemetry');
    assert.deepEqual(hub.partitionIds, ['0', '1', '2', '3']);
    const empty = await producer.getPartitionProperties('2');
    assert.equal(empty.isEmpty, true);
    assert.equal(empty.lastEnqueuedSequenceNumber, -1);
    await producer.sendBatch([{ body: 'a' }, { body: 'b' }, { body: 'c' }], { partitionId: '2' });
    const full = await producer.getPartitionProperties('2');
    assert.equal(full.isEmpty, false);
    assert.equal(full.beginningSequenceNumber, 0);
    assert.equal(full.lastEnqueuedSequenceNumber, 2);
    assert.equal(typeof full.lastEnqueuedOffset, 'string');
    assert.ok(full.lastEnqueuedOnUtc.getTime() > Date.now() - 60_000);
    await assert.rejects(producer.getPartitionProperties('9'), /partition is invalid/);
    await producer.close();
  } finally {
    await em.stop();
  }
});

test('batches with partition keys and properties arrive in order with positions', async () => {
  const em = await startEmulator(['--hub', 'telemetry:4']);
  try {
    const cs = em.connectionString();
    await send(cs, [
      { options: { partitionKey: 'device-7' },
        events: [0, 1, 2].map((n) => ({ body: { n }, properties: { Table: 'T', n } })) },
      { options: { partitionKey: 'device-7' },
        events: [3, 4].map((n) => ({ body: { n }, properties: { n } })) },
    ]);
    const producer = new EventHubProducerClient(cs);
    const ids = await producer.getPartitionIds();
    const owners = [];
    for (const id of ids) {
      if (!(await producer.getPartitionProperties(id)).isEmpty) owners.push(id);
    }
    await producer.close();
    assert.equal(owners.length, 1, 'one partition key lands on one partition');
    const events = await receive(cs, owners[0], { sequenceNumber: -1 }, 5);
    assert.deepEqual(events.map((e) => e.body.n), [0, 1, 2, 3, 4]);
    assert.deepEqual(events.map((e) => e.sequenceNumber), [0, 1, 2, 3, 4]);
    assert.deepEqual(events.map((e) => e.properties.n), [0, 1, 2, 3, 4]);
    assert.equal(events[0].properties.Table, 'T');
    for (const e of events) {
      assert.equal(e.partitionKey, 'device-7');
      assert.equal(typeof e.offset, 'string');
      assert.ok(e.enqueuedTimeUtc instanceof Date);
    }
    const offsets = events.map((e) => Number(e.offset));
    assert.deepEqual([...offsets].sort((a, b) => a - b), offsets, 'offsets grow');
  } finally {
    await em.stop();
  }
});

test('start positions: offset, sequence number and enqueued time', async () => {
  const em = await startEmulator(['--hub', 'telemetry:1']);
  try {
    const cs = em.connectionString();
    await send(cs, [{ options: {}, events: [0, 1, 2].map((n) => ({ body: n })) }]);
    await send(cs, [{ options: {}, events: [3, 4].map((n) => ({ body: n })) }]);
    const all = await receive(cs, '0', { sequenceNumber: -1 }, 5);
    assert.deepEqual(all.map((e) => e.body), [0, 1, 2, 3, 4]);

    const afterOffset = await receive(cs, '0', { offset: all[1].offset }, 1);
    assert.equal(afterOffset[0].body, 2, 'an offset is exclusive by default');
    const atOffset = await receive(cs, '0', { offset: all[1].offset, isInclusive: true }, 1);
    assert.equal(atOffset[0].body, 1);
    const afterSequence = await receive(cs, '0', { sequenceNumber: 2 }, 1);
    assert.equal(afterSequence[0].body, 3);
    const atSequence = await receive(cs, '0', { sequenceNumber: 2, isInclusive: true }, 1);
    assert.equal(atSequence[0].body, 2);
    // Enqueued time (the SDK's filter is always exclusive): the first event after a moment just
    // before event 3, computed from what was read since several events may share a millisecond.
    const t = all[3].enqueuedTimeUtc.getTime() - 1;
    const expected = all.find((e) => e.enqueuedTimeUtc.getTime() > t).body;
    const atTime = await receive(cs, '0', { enqueuedOn: new Date(t) }, 1);
    assert.equal(atTime[0].body, expected);
  } finally {
    await em.stop();
  }
});

// Subscribes to partition 0 and resolves `attached` with the first delivered batch and
// `failed` with the first error.
function subscriber(connectionString, options) {
  const client = new EventHubConsumerClient('$Default', connectionString);
  let attached;
  let failed;
  const attachedP = new Promise((r) => (attached = r));
  const failedP = new Promise((r) => (failed = r));
  const subscription = client.subscribe('0', {
    processEvents: async (events) => { if (events.length > 0) attached(events); },
    processError: async (err) => failed(err),
  }, { startPosition: { sequenceNumber: -1 }, maxWaitTimeInSeconds: 1, ...options });
  return { attached: attachedP, failed: failedP,
           close: async () => { await subscription.close(); await client.close(); } };
}

test('a consumer with a higher owner level takes the partition and the first is told why', async () => {
  const em = await startEmulator(['--hub', 'telemetry:1']);
  const cs = em.connectionString();
  const readers = [];
  try {
    await send(cs, [{ options: {}, events: [{ body: 'x' }] }]);
    const first = subscriber(cs, { ownerLevel: 1 });
    readers.push(first);
    await first.attached;
    const second = subscriber(cs, { ownerLevel: 2 });
    readers.push(second);
    await second.attached;
    const err = await first.failed;
    assert.equal(err.code, 'ReceiverDisconnectedError');
    assert.match(err.message, /with higher epoch of '2' is created hence current receiver .* with epoch '1' is getting disconnected/);

    const plain = subscriber(cs, {});
    readers.push(plain);
    const refused = await plain.failed;
    assert.match(refused.message, /non-epoch receiver is not allowed/);
  } finally {
    for (const r of readers) await r.close();
    await em.stop();
  }
});

test('a bad key is refused', async () => {
  const em = await startEmulator(['--hub', 'telemetry:1']);
  try {
    const producer = new EventHubProducerClient(em.connectionString('telemetry', 'not-the-key'),
                                                { retryOptions: { maxRetries: 0 } });
    await assert.rejects(producer.getEventHubProperties(), /InvalidSignature/);
    await producer.close();
  } finally {
    await em.stop();
  }
});
