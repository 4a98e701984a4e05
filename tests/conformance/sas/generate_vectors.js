#!/usr/bin/env node
// Produces SAS token test vectors with the official Node SDKs' own token code, for fixed
// inputs, so that hub2kusto's C++ tokens can be compared with them byte for byte.
//
//   Event Hubs: @azure/core-amqp createSasTokenProvider({name, key}).getToken(audience), the code
//               @azure/event-hubs uses for CBS (expiry = floor(Date.now()/1000) + 3600, so
//               Date.now is pinned to make the expiry fixed).
//   IoT Hub:    azure-iot-common SharedAccessSignature.create(encodeUriComponentStrict(resource),
//               keyName, key, expiry), as azure-iothub builds service tokens (the key is
//               base64-decoded).
//
// Usage: node generate_vectors.js > sas_vectors.json
// The keys below are made up for the test; none is a real credential.
'use strict';

const { createSasTokenProvider } = require('@azure/core-amqp');
const { SharedAccessSignature, encodeUriComponentStrict } = require('azure-iot-common');
const coreAmqpVersion = require('@azure/core-amqp/package.json').version;
const iotCommonVersion = require('azure-iot-common/package.json').version;

const eventHubsInputs = [
  // The golden vector of docs/protocols.md, "SAS tokens" (C++ and Rust SDK tests) with the Node encoding.
  { resource: 'sb://fake.servicebus.windows.net/eventhub1', keyName: 'FakeKeyName',
    key: 'ZmFrZWtleWZha2VrZXlmYWtla2V5ZmFrZWtleQ==', expiry: 1735689600 },
  { resource: 'amqps://example.servicebus.windows.net/myhub', keyName: 'RootManageSharedAccessKey',
    key: 'mykey', expiry: 1700000000 },
  { resource: 'sb://localhost/telemetry', keyName: 'RootManageSharedAccessKey',
    key: 'SAS_KEY_VALUE', expiry: 2000000000 },
  // Characters that the two URL-encoders treat differently: ! * ' ( ) ~ space + / = and UTF-8.
  { resource: "sb://ns.servicebus.windows.net/hub-(a)!*'~ b", keyName: 'rule with space+plus',
    key: 'k+/=ey with spaces and ünïcode', expiry: 1234567890 },
  { resource: 'sb://ns.servicebus.windows.net/hub/ConsumerGroups/$Default/Partitions/0',
    keyName: 'listen', key: 'abc/def+ghi==', expiry: 1893456000 },
];

const iotHubInputs = [
  { resource: 'myhub.azure-devices.net/messages/events', keyName: 'iothubowner',
    key: 'ZmFrZWtleWZha2VrZXlmYWtla2V5ZmFrZWtleQ==', expiry: 1735689600 },
  { resource: 'myhub.azure-devices.net', keyName: 'service',
    key: 'c2VydmljZWtleXNlcnZpY2VrZXlzZXJ2aWNla2V5', expiry: 1700000300 },
  { resource: "hub-(1)!*'.azure-devices.net/messages/events", keyName: "pol(icy)!*'",
    key: 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=', expiry: 2000000000 },
];

async function eventHubsVector(input) {
  const realNow = Date.now;
  Date.now = () => (input.expiry - 3600) * 1000;
  try {
    const provider = createSasTokenProvider({ sharedAccessKeyName: input.keyName,
                                              sharedAccessKey: input.key });
    const token = await provider.getToken(input.resource);
    if (token.expiresOnTimestamp !== input.expiry) {
      throw new Error(`unexpected expiry ${token.expiresOnTimestamp}`);
    }
    return { ...input, token: token.token };
  } finally {
    Date.now = realNow;
  }
}

function iotHubVector(input) {
  const sas = SharedAccessSignature.create(encodeUriComponentStrict(input.resource), input.keyName,
                                           input.key, input.expiry);
  return { ...input, token: sas.toString() };
}

async function main() {
  const out = {
    generated_by: 'tests/conformance/sas/generate_vectors.js',
    sdks: { '@azure/core-amqp': coreAmqpVersion, 'azure-iot-common': iotCommonVersion },
    event_hubs: [],
    iot_hub: [],
  };
  for (const input of eventHubsInputs) {
    out.event_hubs.push(await eventHubsVector(input));
  }
  for (const input of iotHubInputs) {
    out.iot_hub.push(iotHubVector(input));
  }
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

main().catch((err) => {
  console.error(`generate_vectors: ${err.message}`);
  process.exit(1);
});
