// Run as a child process so that NODE_EXTRA_CA_CERTS (read at start-up) applies: signs in with
// @azure/identity's ClientSecretCredential at the Kusto emulator's token endpoint (behind a TLS
// front: MSAL takes only https authorities) and uses the token with each official SDK.
//   node identity_client.js '<json>'
// The JSON names authorityHost, tenantId, clientId, clientSecret, kusto (the cluster URL),
// eventHubs ({namespace, endpoint, hub}) and blob (an account URL); with "audience" every token
// is asked for that audience instead of the one each SDK asks for. Prints one JSON line:
// {"kusto": "ok" | "<error>", "eventhubs": ..., "storage": ...}.
'use strict';
const { ClientSecretCredential } = require('@azure/identity');
const { Client, KustoConnectionStringBuilder } = require('azure-kusto-data');
const { EventHubConsumerClient } = require('@azure/event-hubs');
const { BlobServiceClient } = require('@azure/storage-blob');

async function outcome(use) {
  try {
    await use();
    return 'ok';
  } catch (e) {
    return `${e.code ?? e.name}: ${e.message}`;
  }
}

(async () => {
  const o = JSON.parse(process.argv[2]);
  const identity = new ClientSecretCredential(o.tenantId, o.clientId, o.clientSecret, {
    authorityHost: o.authorityHost, disableInstanceDiscovery: true,
  });
  const credential = o.audience
    ? { getToken: (scopes, options) => identity.getToken(`${o.audience}/.default`, options) }
    : identity;
  const result = {};
  result.kusto = await outcome(async () => {
    const client = new Client(KustoConnectionStringBuilder.withTokenCredential(o.kusto, credential));
    try {
      await client.executeMgmt('db', '.show version');
    } finally {
      client.close();
    }
  });
  result.eventhubs = await outcome(async () => {
    const client = new EventHubConsumerClient('$Default', o.eventHubs.namespace, o.eventHubs.hub,
                                              credential, {
      customEndpointAddress: o.eventHubs.endpoint,
      retryOptions: { maxRetries: 0, timeoutInMs: 10_000 },
    });
    try {
      const ids = await client.getPartitionIds();
      if (ids.length !== 2) throw new Error(`partitions: ${ids}`);
    } finally {
      await client.close();
    }
  });
  result.storage = await outcome(async () => {
    const service = new BlobServiceClient(o.blob, credential, { retryOptions: { maxTries: 1 } });
    await service.getContainerClient('identity').createIfNotExists();
    await service.getContainerClient('identity').uploadBlockBlob('b', 'x', 1);
  });
  process.stdout.write(JSON.stringify(result) + '\n');
})().catch((err) => {
  process.stderr.write(`identity_client: ${err.stack}\n`);
  process.exit(1);
});
