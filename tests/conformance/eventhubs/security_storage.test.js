// The emulator's security timing (token lifetime, the 20-second rule), device telemetry on the
// IoT Hub front end, and its storage options (data directory, retention, config file), seen by
// the official SDK or, where the SDK gives a test no control, a plain AMQP client (rhea).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { EventHubProducerClient } = require('@azure/event-hubs');
const { SharedAccessSignature, encodeUriComponentStrict } = require('azure-iot-common');
const { startEventHubs, receive, sendBatches: send } = require('../../support/node');
const { connect, eventHubsToken } = require('./amqp_client.js');

async function status(em) {
  return (await fetch(`${em.controlUrl}/status`)).json();
}

// Polls the control API's status until `predicate` holds for it (the emulator's own view).
async function untilStatus(em, predicate) {
  for (;;) {
    const s = await status(em);
    if (predicate(s)) return s;
    await new Promise((r) => setImmediate(r));
  }
}

test('a lapsed token stops delivery until a new put-token renews it', async () => {
  const em = await startEventHubs(['--hub', 'telemetry:1', '--token-lifetime', '1',
                                  '--control-port', '0']);
  const client = await connect(em.port);
  try {
    const audience = `sb://127.0.0.1:${em.port}/telemetry`;
    assert.equal(await client.putToken(audience, await eventHubsToken(audience)), 202);
    const receiver = client.receiver('telemetry/ConsumerGroups/$Default/Partitions/0');
    // The token is honoured for one second; then the emulator holds the receiver back.
    await untilStatus(em, (s) => s.hubs.telemetry['0'].blocked_receivers === 1);
    await send(em.connectionString(), [{ options: { partitionId: '0' },
                                         events: [{ body: 'a' }, { body: 'b' }] }]);
    const held = await untilStatus(em, (s) => s.hubs.telemetry['0'].events === 2);
    assert.equal(held.hubs.telemetry['0'].deliveries, 0);
    assert.equal(receiver.events.length, 0);
    // A renewal on the same connection: delivery starts on the same link, nothing skipped.
    assert.equal(await client.putToken(audience, await eventHubsToken(audience)), 202);
    const events = await receiver.next(2);
    assert.deepEqual(events.map((e) => e.message_annotations['x-opt-sequence-number']), [0, 1]);
    assert.equal((await status(em)).hubs.telemetry['0'].consumer_attaches, 1);
  } finally {
    await client.close();
    await em.stop();
  }
});

test('a connection that puts no token within the grace period is closed', async () => {
  // Long enough for the SDK's own connection to put its token even on a loaded machine.
  const em = await startEventHubs(['--hub', 'telemetry:1', '--auth-grace-ms', '2000']);
  try {
    const idle = await connect(em.port);
    const error = await idle.closed;
    assert.equal(error.condition, 'amqp:unauthorized-access');
    assert.match(error.description, /no valid token was put on \$cbs within 2000 ms/);
    // The SDK puts its token at once, so the rule never bites it.
    await send(em.connectionString(), [{ options: { partitionId: '0' }, events: [{ body: 1 }] }]);
    const [event] = await receive(em.connectionString(), '0', { sequenceNumber: -1 }, 1);
    assert.equal(event.body, 1);
  } finally {
    await em.stop();
  }
});

test('device telemetry through the IoT Hub front end carries the iothub-* annotations', async () => {
  const key = 'c2VydmljZWtleXNlcnZpY2VrZXlzZXJ2aWNla2V5';
  const em = await startEventHubs(['--hub', 'iotevents:2', '--iothub', 'myhub',
                                  '--iothub-policy', `service=${key}`, '--control-port', '0']);
  const device = await connect(em.iothubPort, 'myhub.azure-devices.net');
  try {
    const expiry = Math.floor(Date.now() / 1000) + 300;
    const token = SharedAccessSignature.create(encodeUriComponentStrict('myhub.azure-devices.net'),
                                               'service', key, expiry).toString();
    assert.equal(await device.putToken('myhub.azure-devices.net', token), 202);
    const sender = device.connection.open_sender({ target: { address: '/devices/dev-7/messages/events' } });
    await new Promise((resolve, reject) => {
      sender.once('sendable', () => {
        sender.send({ body: JSON.stringify({ temp: 22.5 }), content_type: 'application/json',
                      application_properties: { alert: 'no' } });
      });
      sender.once('accepted', resolve);
      sender.once('rejected', (ctx) => reject(ctx.delivery.remote_state.error));
      sender.once('sender_error', (ctx) => reject(ctx.sender.error));
    });
    const cs = `Endpoint=sb://127.0.0.1:${em.port}/;SharedAccessKeyName=service;` +
               `SharedAccessKey=${key};EntityPath=iotevents;UseDevelopmentEmulator=true`;
    // IoT Hub partitions by device: the event is in exactly one partition.
    const counts = (await status(em)).hubs.iotevents;
    assert.deepEqual([counts['0'].events, counts['1'].events].sort(), [0, 1]);
    const [e] = await receive(cs, counts['0'].events === 1 ? '0' : '1', { sequenceNumber: -1 }, 1);
    assert.equal(e.systemProperties['iothub-connection-device-id'], 'dev-7');
    assert.equal(e.systemProperties['iothub-message-source'], 'Telemetry');
    assert.equal(JSON.parse(e.systemProperties['iothub-connection-auth-method']).scope, 'hub');
    // An AMQP timestamp; the SDK turns dates in systemProperties into ms numbers.
    assert.equal(e.systemProperties['iothub-enqueuedtime'], e.enqueuedTimeUtc.getTime());
    assert.equal(e.properties.alert, 'no');
    assert.equal(e.contentType, 'application/json');
  } finally {
    await device.close();
    await em.stop();
  }
});

test('with a data directory, events and their positions survive a restart', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hub2kusto-ehdata-'));
  const args = ['--hub', 'telemetry:2', '--data-dir', dir, '--control-port', '0'];
  // Every event of the hub, partition by partition (counts from the emulator's status).
  const readAll = async (em) => {
    const counts = (await status(em)).hubs.telemetry;
    const out = [];
    for (const id of ['0', '1']) {
      out.push(await receive(em.connectionString(), id, { sequenceNumber: -1 }, counts[id].events));
    }
    return out;
  };
  let em = await startEventHubs(args);
  let before;
  try {
    await send(em.connectionString(), [
      { options: { partitionId: '1' }, events: [{ body: 'x' }, { body: 'y', properties: { n: 2 } }] },
      { options: { partitionKey: 'k' }, events: [{ body: 'z' }] },
    ]);
    before = await readAll(em);
    assert.equal(before.flat().length, 3);
  } finally {
    await em.stop();
  }
  em = await startEventHubs(args);
  try {
    const shape = (e) => [e.partitionKey ?? null, e.sequenceNumber, e.offset,
                          e.enqueuedTimeUtc.getTime(), e.body, e.properties ?? null];
    const after = await readAll(em);
    assert.deepEqual(after.map((p) => p.map(shape)), before.map((p) => p.map(shape)));
    // New events continue each partition's sequence.
    await send(em.connectionString(), [{ options: { partitionId: '1' }, events: [{ body: 'w' }] }]);
    const [w] = await receive(em.connectionString(), '1',
                              { sequenceNumber: before[1].length - 1 }, 1);
    assert.equal(w.body, 'w');
    assert.equal(w.sequenceNumber, before[1].length);
    assert.ok(Number(w.offset) > Number(before[1].at(-1).offset));
  } finally {
    await em.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('retention keeps the newest events and moves the beginning sequence number', async () => {
  const em = await startEventHubs(['--hub', 'telemetry:1', '--retention-events', '3']);
  try {
    await send(em.connectionString(),
               [{ options: { partitionId: '0' }, events: [0, 1, 2, 3, 4].map((n) => ({ body: n })) }]);
    const producer = new EventHubProducerClient(em.connectionString());
    try {
      const p = await producer.getPartitionProperties('0');
      assert.equal(p.beginningSequenceNumber, 2);
      assert.equal(p.lastEnqueuedSequenceNumber, 4);
    } finally {
      await producer.close();
    }
    const events = await receive(em.connectionString(), '0', { sequenceNumber: -1 }, 3);
    assert.deepEqual(events.map((e) => [e.sequenceNumber, e.body]), [[2, 2], [3, 3], [4, 4]]);
  } finally {
    await em.stop();
  }
});

test('a JSON config file sets hubs, consumer groups and rules; a bad one names the key', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hub2kusto-ehconfig-'));
  try {
    const file = path.join(dir, 'emulator.json');
    fs.writeFileSync(file, JSON.stringify({
      namespace: 'fromfile',
      hubs: [{ name: 'orders', partitions: 3, consumer_groups: ['audit'] }],
      rules: [{ name: 'listen-send', key: 'file-key' }],
    }));
    const em = await startEventHubs(['--config', file]);
    try {
      const cs = `Endpoint=sb://127.0.0.1:${em.port}/;SharedAccessKeyName=listen-send;` +
                 'SharedAccessKey=file-key;EntityPath=orders;UseDevelopmentEmulator=true';
      const producer = new EventHubProducerClient(cs);
      try {
        assert.deepEqual((await producer.getEventHubProperties()).partitionIds, ['0', '1', '2']);
      } finally {
        await producer.close();
      }
      await send(cs, [{ options: { partitionId: '2' }, events: [{ body: 'o' }] }]);
      const [e] = await receive(cs, '2', { sequenceNumber: -1 }, 1, { consumerGroup: 'audit' });
      assert.equal(e.body, 'o');
    } finally {
      await em.stop();
    }
    fs.writeFileSync(file, JSON.stringify({ hubs: [{ name: 'h', partitions: 0 }], colour: 'red' }));
    const bad = spawnSync(process.env.HUB2KUSTO_EVENTHUBS_EMULATOR, ['--config', file]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr.toString(), /emulator\.json': colour: is not a setting/);
    fs.writeFileSync(file, JSON.stringify({ hubs: [{ name: 'h', partitions: 0 }] }));
    const zero = spawnSync(process.env.HUB2KUSTO_EVENTHUBS_EMULATOR, ['--config', file]);
    assert.equal(zero.status, 2);
    assert.match(zero.stderr.toString(), /hubs\[0\]\.partitions: must be from 1 to 1024/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('receivers must ask for the georeplication capability: the SDK does, a bare attach is refused', async () => {
  const capability = 'com.microsoft:georeplication';
  const em = await startEventHubs(['--hub', 'telemetry:1', '--require-receiver-capability',
                                  capability]);
  const client = await connect(em.port);
  try {
    await send(em.connectionString(), [{ options: { partitionId: '0' }, events: [{ body: 'a' }] }]);
    // The official SDK asks for it on every receiver link: the emulator admits it.
    const events = await receive(em.connectionString(), '0', { sequenceNumber: -1 }, 1);
    assert.equal(events[0].body, 'a');
    // A receiver whose attach does not name it is refused, saying which capability it lacks.
    const audience = `sb://127.0.0.1:${em.port}/telemetry`;
    assert.equal(await client.putToken(audience, await eventHubsToken(audience)), 202);
    const bare = client.receiver('telemetry/ConsumerGroups/$Default/Partitions/0');
    const error = await new Promise((r) => bare.link.once('receiver_error', (c) => r(c.receiver.error)));
    assert.equal(error.condition, 'amqp:precondition-failed');
    assert.match(error.description, new RegExp(`desired capability '${capability}'`));
    assert.equal(bare.events.length, 0);
  } finally {
    await client.close();
    await em.stop();
  }
});
