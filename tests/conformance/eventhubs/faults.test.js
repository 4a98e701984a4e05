// The emulator's fault-injection control API, each fault seen by the official SDK.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { EventHubProducerClient, EventHubConsumerClient } = require('@azure/event-hubs');
const path = require('node:path');
const { promisify } = require('node:util');
const execFile = promisify(require('node:child_process').execFile);
const { startEventHubs } = require('../../support/node');

// core-amqp waits a fixed 30 s before it retries an operation (a receive after a dropped
// connection, a send); a test that waits for the retry would take minutes.
const quickRetries = { retryOptions: { retryDelayInMs: 100, maxRetryDelayInMs: 500, timeoutInMs: 5000 } };

// A consumer of partition 0 that records every event and every empty wait (the SDK calls
// processEvents with an empty batch after maxWaitTimeInSeconds without events).
function recorder(connectionString) {
  const client = new EventHubConsumerClient('$Default', connectionString, quickRetries);
  const events = [];
  const errors = [];
  const waiters = [];
  let emptyWaits = 0;
  const notify = () => {
    for (const w of waiters.splice(0)) w();
  };
  const subscription = client.subscribe('0', {
    processEvents: async (batch) => {
      if (batch.length === 0) emptyWaits += 1;
      events.push(...batch);
      notify();
    },
    processError: async (err) => {
      errors.push(err);
      notify();
    },
  }, { startPosition: { sequenceNumber: -1 }, maxWaitTimeInSeconds: 1, maxBatchSize: 50 });
  // Resolves once `predicate()` holds, checked after each batch or error.
  const until = async (predicate) => {
    while (!predicate()) await new Promise((r) => waiters.push(r));
  };
  return {
    events, errors, until, emptyWaits: () => emptyWaits,
    close: async () => { await subscription.close(); await client.close(); },
  };
}

async function withEmulator(fn) {
  const em = await startEventHubs(['--hub', 'telemetry:1', '--control-port', '0']);
  const producer = new EventHubProducerClient(em.connectionString(), quickRetries);
  try {
    await fn(em, producer);
  } finally {
    await producer.close();
    await em.stop();
  }
}

test('drop-connections: the SDK reconnects and resumes with no gap or duplicate', async () => {
  await withEmulator(async (em, producer) => {
    await producer.sendBatch([0, 1, 2].map((n) => ({ body: n })), { partitionId: '0' });
    const r = recorder(em.connectionString());
    try {
      await r.until(() => r.events.length >= 3);
      assert.match(await em.fault('/faults/drop-connections'), /dropping [1-9]/);
      await producer.sendBatch([3, 4].map((n) => ({ body: n })), { partitionId: '0' });
      await r.until(() => r.events.length >= 5);
      assert.deepEqual(r.events.map((e) => e.sequenceNumber), [0, 1, 2, 3, 4]);
    } finally {
      await r.close();
    }
  });
});

test('detach with a retriable condition: the SDK re-attaches and resumes with no gap', async () => {
  const em = await startEventHubs(['--hub', 'telemetry:1', '--control-port', '0']);
  try {
    const { stdout } = await execFile(process.execPath,
                                      [path.join(__dirname, 'detach_client.js'),
                                       em.connectionString(), em.controlUrl],
                                      { timeout: 50_000 });
    const seen = JSON.parse(stdout);
    assert.equal(seen.applied, 'detaching 1 receiver(s) with amqp:link:detach-forced');
    assert.deepEqual(seen.sequenceNumbers, [0, 1, 2, 3]);
    assert.deepEqual(seen.errors, []); // retried inside the SDK, not surfaced
    // The events after the detach came over a second attach, not the detached link.
    const status = await (await fetch(`${em.controlUrl}/status`)).json();
    assert.equal(status.hubs.telemetry['0'].consumer_attaches, 2);
  } finally {
    await em.stop();
  }
});

test('detach with a non-retriable condition reaches the SDK\'s error handler', async () => {
  await withEmulator(async (em, producer) => {
    await producer.sendBatch([{ body: 0 }], { partitionId: '0' });
    const r = recorder(em.connectionString());
    try {
      await r.until(() => r.events.length >= 1);
      const description = 'The entity was disabled by the emulator.';
      assert.match(await em.fault('/faults/detach?hub=telemetry&partition=0' +
                                  '&condition=com.microsoft:entity-disabled' +
                                  `&description=${encodeURIComponent(description)}`),
                   /detaching 1 receiver/);
      await r.until(() => r.errors.length >= 1);
      assert.equal(r.errors[0].code, 'MessagingEntityDisabledError');
      assert.match(r.errors[0].message, /disabled by the emulator/);
    } finally {
      await r.close();
    }
  });
});

test('pause and resume: nothing is delivered while paused, everything after', async () => {
  await withEmulator(async (em, producer) => {
    assert.equal(await em.fault('/faults/pause'), 'delivery paused');
    await producer.sendBatch([{ body: 'held' }], { partitionId: '0' });
    assert.equal((await producer.getPartitionProperties('0')).lastEnqueuedSequenceNumber, 0);
    const r = recorder(em.connectionString());
    try {
      const before = r.emptyWaits();
      await r.until(() => r.emptyWaits() >= before + 2); // two full waits with nothing
      assert.equal(r.events.length, 0);
      assert.equal(await em.fault('/faults/resume'), 'delivery resumed');
      await r.until(() => r.events.length >= 1);
      assert.equal(r.events[0].body, 'held');
    } finally {
      await r.close();
    }
  });
});

test('latency: an event reaches the SDK no sooner than the added latency', async () => {
  await withEmulator(async (em, producer) => {
    assert.equal(await em.fault('/faults/latency?ms=1500'), 'delivery latency 1500 ms');
    const r = recorder(em.connectionString());
    try {
      await producer.sendBatch([{ body: 'late' }], { partitionId: '0' });
      await r.until(() => r.events.length >= 1);
      const arrived = Date.now();
      assert.ok(arrived - r.events[0].enqueuedTimeUtc.getTime() >= 1500,
                `arrived ${arrived - r.events[0].enqueuedTimeUtc.getTime()} ms after enqueue`);
    } finally {
      await r.close();
    }
  });
});

test('refuse-connections: new connections fail until the fault is reset', async () => {
  await withEmulator(async (em) => {
    assert.match(await em.fault('/faults/refuse-connections?seconds=600'), /refusing/);
    const client = new EventHubProducerClient(em.connectionString(),
                                              { retryOptions: { maxRetries: 0, timeoutInMs: 10_000 } });
    try {
      await assert.rejects(client.getEventHubProperties(), (err) => {
        assert.equal(err.code, 'ConnectionForcedError');
        assert.match(err.message, /refuses new connections/);
        return true;
      });
      assert.equal(await em.fault('/faults/reset'), 'faults cleared');
      assert.equal((await client.getEventHubProperties()).name, 'telemetry');
    } finally {
      await client.close();
    }
  });
});

test('the control API rejects unknown faults and bad arguments', async () => {
  await withEmulator(async (em) => {
    await assert.rejects(em.fault('/faults/flood'), /no such fault/);
    await assert.rejects(em.fault('/faults/latency?ms=soon'), /latency needs ms/);
    await assert.rejects(em.fault('/faults/detach?hub=telemetry&partition=9'), /no partition '9'/);
  });
});
