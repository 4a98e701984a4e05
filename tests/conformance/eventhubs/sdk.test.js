// Conformance: the official @azure/event-hubs SDK against tests/emulators/eventhubs.
// If the SDK works against the emulator, the emulator is faithful (tests/README.md).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { EventHubProducerClient, EventHubConsumerClient } = require('@azure/event-hubs');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startEventHubs, receive, sendBatches: send, makeCertificates } = require('../../support/node');

test('hub and partition properties', async () => {
  const em = await startEventHubs(['--hub', 'telemetry:4']);
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
  const em = await startEventHubs(['--hub', 'telemetry:4']);
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
  const em = await startEventHubs(['--hub', 'telemetry:1']);
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
  const em = await startEventHubs(['--hub', 'telemetry:1']);
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
  const em = await startEventHubs(['--hub', 'telemetry:1']);
  try {
    const producer = new EventHubProducerClient(em.connectionString('telemetry', 'not-the-key'),
                                                { retryOptions: { maxRetries: 0 } });
    await assert.rejects(producer.getEventHubProperties(), /InvalidSignature/);
    await producer.close();
  } finally {
    await em.stop();
  }
});

test('TLS with a self-signed CA trusted through NODE_EXTRA_CA_CERTS', async () => {
  const certs = makeCertificates();
  const em = await startEventHubs(['--hub', 'telemetry:1', '--tls-port', '0',
                                  '--tls-cert', certs.cert, '--tls-key', certs.key]);
  try {
    // No UseDevelopmentEmulator: the SDK speaks AMQPS and verifies the certificate.
    const cs = `Endpoint=sb://localhost:${em.tlsPort};SharedAccessKeyName=RootManageSharedAccessKey;` +
               'SharedAccessKey=SAS_KEY_VALUE;EntityPath=telemetry';
    const client = path.join(__dirname, 'tls_client.js');
    const trusted = spawnSync(process.execPath, [client, cs], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: certs.ca },
      encoding: 'utf8', timeout: 60_000 });
    assert.equal(trusted.status, 0, trusted.stderr);
    assert.deepEqual(JSON.parse(trusted.stdout), { body: 'over tls' });
    // Without the CA the certificate is not trusted, so the emulator really serves TLS.
    const untrusted = spawnSync(process.execPath, [client, cs], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: '' }, encoding: 'utf8', timeout: 60_000 });
    assert.notEqual(untrusted.status, 0);
    assert.match(untrusted.stderr, /certificate/i);
  } finally {
    await em.stop();
    certs.remove();
  }
});

test('preloaded events are there before any producer', async () => {
  const file = path.join(os.tmpdir(), `hub2kusto-preload-${process.pid}.jsonl`);
  fs.writeFileSync(file, '{"n":1}\n{"n":2}\n{"n":3}\n');
  const em = await startEventHubs(['--hub', 'telemetry:2', '--preload', file,
                                  '--preload-events', '10']);
  try {
    const producer = new EventHubProducerClient(em.connectionString());
    const p0 = await producer.getPartitionProperties('0');
    const p1 = await producer.getPartitionProperties('1');
    await producer.close();
    assert.equal(p0.lastEnqueuedSequenceNumber + p1.lastEnqueuedSequenceNumber + 2, 10);
    const events = await receive(em.connectionString(), '0', { sequenceNumber: -1 }, 5);
    assert.deepEqual(events.map((e) => e.body.n), [1, 3, 2, 1, 3]);
  } finally {
    await em.stop();
    fs.rmSync(file, { force: true });
  }
});

test('the IoT Hub front end redirects a plain AMQP client to the Event Hub-compatible endpoint', async () => {
  const rhea = require('rhea');
  const { SharedAccessSignature, encodeUriComponentStrict } = require('azure-iot-common');
  const key = 'c2VydmljZWtleXNlcnZpY2VrZXlzZXJ2aWNla2V5';
  const em = await startEventHubs(['--hub', 'iotevents:2', '--iothub', 'myhub',
                                  '--iothub-policy', `service=${key}`]);
  try {
    await send(em.connectionString('iotevents'),
               [{ options: { partitionId: '1' }, events: [{ body: { temp: 21 } }] }]);
    // A plain AMQP client: a CBS put-token with an IoT Hub token (key base64-decoded), as
    // public IoT Hub clients do after SASL ANONYMOUS, then a receiver under messages/events
    // that the service redirects (docs/protocols.md, "IoT Hub").
    const expiry = Math.floor(Date.now() / 1000) + 300;
    const token = SharedAccessSignature.create(
      encodeUriComponentStrict('myhub.azure-devices.net/messages/events'), 'service', key,
      expiry).toString();
    const { status, error } = await new Promise((resolve, reject) => {
      const container = rhea.create_container();
      const connection = container.connect({
        host: '127.0.0.1', port: em.iothubPort, hostname: 'myhub.azure-devices.net',
        reconnect: false,
      });
      connection.on('connection_error', (ctx) => reject(ctx.connection.error));
      connection.on('disconnected', (ctx) => { if (ctx.error) reject(ctx.error); });
      const replies = connection.open_receiver({ source: { address: '$cbs' } });
      const requests = connection.open_sender({ target: { address: '$cbs' } });
      requests.once('sendable', () => {
        requests.send({
          message_id: 'put-1', reply_to: replies.name, to: '$cbs', body: token,
          application_properties: { operation: 'put-token', name: 'myhub.azure-devices.net',
                                    type: 'servicebus.windows.net:sastoken' },
        });
      });
      replies.once('message', (ctx) => {
        const code = ctx.message.application_properties['status-code'];
        const receiver = connection.open_receiver({
          source: { address: 'amqps://myhub.azure-devices.net/messages/events/$management' },
        });
        receiver.on('receiver_error', (c) => {
          resolve({ status: code, error: c.receiver.error });
          connection.close();
        });
      });
    });
    assert.equal(status, 202);
    assert.equal(error.condition, 'amqp:link:redirect');
    assert.equal(error.info.hostname, '127.0.0.1');
    assert.equal(error.info.port, em.port);
    const match = /:(\d+)\/(.*)\/\$management/.exec(error.info.address);
    assert.ok(match, `address ${error.info.address}`);
    assert.equal(match[2], 'iotevents');
    // Then an Event Hubs client with the same policy reads through the redirect target.
    const cs = `Endpoint=sb://${error.info.hostname}:${match[1]}/;SharedAccessKeyName=service;` +
               `SharedAccessKey=${key};EntityPath=${match[2]};UseDevelopmentEmulator=true`;
    const events = await receive(cs, '1', { sequenceNumber: -1 }, 1);
    assert.deepEqual(events[0].body, { temp: 21 });
  } finally {
    await em.stop();
  }
});

test('a described value in application properties is forwarded, and the emulator lives on', async () => {
  // AMQP allows any value there; the service keeps what it does not understand.
  const rhea = require('rhea');
  const em = await startEventHubs(['--hub', 'telemetry:1']);
  try {
    const cs = em.connectionString();
    const tag = rhea.types.described(rhea.types.wrap_symbol('com.example:tag'),
                                     rhea.types.wrap_string('v'));
    await send(cs, [{ options: { partitionId: '0' },
                      events: [{ body: { n: 1 }, properties: { tag, plain: 'p' } },
                               { body: { n: 2 } }] }]);
    const events = await receive(cs, '0', { sequenceNumber: -1 }, 2);
    assert.deepEqual(events.map((e) => e.body.n), [1, 2]);
    assert.equal(events[0].properties.plain, 'p');
    assert.ok('tag' in events[0].properties, 'the described property arrives');
    assert.equal(events[0].sequenceNumber, 0);
  } finally {
    await em.stop();
  }
});
