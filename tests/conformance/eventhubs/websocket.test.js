// Conformance: the official @azure/event-hubs SDK carries AMQP over WebSockets (its
// webSocketOptions, with the `ws` package as Node's WebSocket) to the emulator's WebSocket
// listener, plain and TLS. If the SDK reads and writes through it, the listener is faithful to
// the service's `wss://<host>:443/$servicebus/websocket` with subprotocol AMQPWSB10
// (docs/protocols.md, "AMQP over WebSockets").
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const WebSocket = require('ws');
const { EventHubProducerClient, EventHubConsumerClient } = require('@azure/event-hubs');
const { startEventHubs, makeCertificates } = require('../../support/node');

const retryOptions = { maxRetries: 0, timeoutInMs: 10_000 };

// The SDK always builds a wss:// URL; the plain listener is reached by taking the TLS layer
// away and nothing else: the SDK still chooses the path, the subprotocol and every frame.
class PlainWebSocket extends WebSocket {
  constructor(url, protocols, options) {
    super(url.replace(/^wss:/, 'ws:'), protocols, options);
  }
}

function connectionString(port) {
  return `Endpoint=sb://localhost:${port};SharedAccessKeyName=RootManageSharedAccessKey;` +
         'SharedAccessKey=SAS_KEY_VALUE;EntityPath=telemetry';
}

// Sends `bodies` to partition 0 and reads them back, both over `webSocketOptions`.
async function roundTrip(cs, webSocketOptions, bodies) {
  const producer = new EventHubProducerClient(cs, { retryOptions, webSocketOptions });
  const hub = await producer.getEventHubProperties();
  await producer.sendBatch(bodies.map((body) => ({ body })), { partitionId: '0' });
  await producer.close();
  const consumer = new EventHubConsumerClient('$Default', cs, { retryOptions, webSocketOptions });
  const received = [];
  await new Promise((resolve, reject) => {
    const sub = consumer.subscribe('0', {
      processEvents: async (events) => {
        received.push(...events.map((e) => e.body));
        if (received.length >= bodies.length) { await sub.close(); resolve(); }
      },
      processError: async (err) => reject(err),
    }, { startPosition: { sequenceNumber: -1 }, maxWaitTimeInSeconds: 1 });
  });
  await consumer.close();
  return { hub: hub.name, received };
}

test('the SDK reads and writes through the plain WebSocket listener', async () => {
  const em = await startEventHubs(['--hub', 'telemetry:2', '--websocket-port', '0']);
  try {
    const bodies = Array.from({ length: 50 }, (_, n) => ({ n, pad: 'x'.repeat(n * 100) }));
    const got = await roundTrip(connectionString(em.websocketPort),
                                { webSocket: PlainWebSocket }, bodies);
    assert.equal(got.hub, 'telemetry');
    assert.deepEqual(got.received, bodies);
  } finally {
    await em.stop();
  }
});

test('the SDK reads and writes through the TLS WebSocket listener and verifies it', async () => {
  const certs = makeCertificates();
  const em = await startEventHubs(['--hub', 'telemetry:1', '--websocket-tls-port', '0',
                                  '--tls-cert', certs.cert, '--tls-key', certs.key]);
  try {
    const cs = connectionString(em.websocketTlsPort);
    const trusted = { webSocket: WebSocket,
                      webSocketConstructorOptions: { ca: fs.readFileSync(certs.ca) } };
    const got = await roundTrip(cs, trusted, [{ over: 'wss' }]);
    assert.deepEqual(got.received, [{ over: 'wss' }]);
    // Without the CA the certificate is not trusted: the listener really serves TLS.
    const producer = new EventHubProducerClient(cs, { retryOptions,
                                                      webSocketOptions: { webSocket: WebSocket } });
    await assert.rejects(producer.getEventHubProperties(), /certificate/i);
    await producer.close();
  } finally {
    await em.stop();
    certs.remove();
  }
});

// What a WebSocket client sees when the upgrade is refused: the HTTP status.
function upgradeStatus(url, protocols) {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, protocols);
    socket.on('unexpected-response', (_req, res) => { resolve(res.statusCode); socket.terminate(); });
    socket.on('open', () => { resolve(101); socket.terminate(); });
    socket.on('error', () => {});
  });
}

test('the listener upgrades only $servicebus/websocket with the AMQPWSB10 subprotocol', async () => {
  const em = await startEventHubs(['--hub', 'telemetry:1', '--websocket-port', '0']);
  try {
    const base = `ws://127.0.0.1:${em.websocketPort}`;
    assert.equal(await upgradeStatus(`${base}/$servicebus/websocket`, ['AMQPWSB10']), 101);
    assert.equal(await upgradeStatus(`${base}/$servicebus/websocket`, ['mqtt']), 400);
    assert.equal(await upgradeStatus(`${base}/elsewhere`, ['AMQPWSB10']), 404);
  } finally {
    await em.stop();
  }
});
