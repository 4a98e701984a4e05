// Reads and writes Event Hubs checkpoints with the official blob checkpoint store
// (@azure/eventhubs-checkpointstore-blob over @azure/storage-blob), to check hub2kusto's
// BlobCheckpointStore against it:
//   node checkpoints.js list <storage connection string> <container> <namespace> <hub> <group>
//     prints one JSON line: [{"partitionId","sequenceNumber","offset"}, ...] sorted by partition
//   node checkpoints.js update <storage cs> <container> <namespace> <hub> <group> <partition>
//                              <sequence number> <offset>
//     prints "updated"
//   node checkpoints.js owners <storage cs> <container> <namespace> <hub> <group>
//     prints one JSON line: [{"partitionId","ownerId"}, ...] sorted by partition
//   node checkpoints.js claim <storage cs> <container> <namespace> <hub> <group> <owner>
//                             <partition>...
//     claims the partitions for <owner> as an SDK processor does (with the ETag it listed, if
//     any); prints one JSON line: the partition ids it won, sorted
//   node checkpoints.js create <storage connection string> <container>
//     creates the container if it is missing (as an operator does before the first
//     processor starts); prints "created"
//   node checkpoints.js blobs <storage connection string> <container>
//     prints one JSON line: {"<blob name>": "<content>", ...} for every blob in the container
//   node checkpoints.js put-blob <storage connection string> <container> <blob> <key>=<value>...
//     writes an empty blob with exactly that metadata (a checkpoint no SDK would write, as a
//     hand-edit or another tool leaves one); prints "put"
'use strict';
const { ContainerClient } = require('@azure/storage-blob');
const { BlobCheckpointStore } = require('@azure/eventhubs-checkpointstore-blob');

async function main() {
  const [command, connectionString, container, namespace, hub, group, ...rest] =
      process.argv.slice(2);
  if (command === 'create') {
    await new ContainerClient(connectionString, container).createIfNotExists();
    console.log('created');
    return;
  }
  if (command === 'blobs') {
    const client = new ContainerClient(connectionString, container);
    const out = {};
    for await (const blob of client.listBlobsFlat()) {
      out[blob.name] = (await client.getBlobClient(blob.name).downloadToBuffer()).toString('utf8');
    }
    console.log(JSON.stringify(out));
    return;
  }
  if (command === 'put-blob') {
    const [blob, ...pairs] = [namespace, hub, group, ...rest].filter((a) => a !== undefined);
    const metadata = Object.fromEntries(pairs.map((kv) => [kv.slice(0, kv.indexOf('=')),
                                                           kv.slice(kv.indexOf('=') + 1)]));
    await new ContainerClient(connectionString, container).getBlockBlobClient(blob)
        .upload('', 0, { metadata });
    console.log('put');
    return;
  }
  const store = new BlobCheckpointStore(new ContainerClient(connectionString, container));
  if (command === 'list') {
    const checkpoints = await store.listCheckpoints(namespace, hub, group);
    checkpoints.sort((a, b) => Number(a.partitionId) - Number(b.partitionId));
    console.log(JSON.stringify(checkpoints.map((c) => ({
      partitionId: c.partitionId, sequenceNumber: c.sequenceNumber, offset: c.offset,
    }))));
  } else if (command === 'update') {
    const [partitionId, sequenceNumber, offset] = rest;
    await store.updateCheckpoint({
      fullyQualifiedNamespace: namespace, eventHubName: hub, consumerGroup: group, partitionId,
      sequenceNumber: Number(sequenceNumber), offset,
    });
    console.log('updated');
  } else if (command === 'owners') {
    const ownerships = await store.listOwnership(namespace, hub, group);
    ownerships.sort((a, b) => Number(a.partitionId) - Number(b.partitionId));
    console.log(JSON.stringify(ownerships.map((o) => ({
      partitionId: o.partitionId, ownerId: o.ownerId,
    }))));
  } else if (command === 'claim') {
    const [ownerId, ...partitionIds] = rest;
    const listed = new Map((await store.listOwnership(namespace, hub, group))
        .map((o) => [o.partitionId, o.etag]));
    const claimed = await store.claimOwnership(partitionIds.map((partitionId) => ({
      fullyQualifiedNamespace: namespace, eventHubName: hub, consumerGroup: group, ownerId,
      partitionId, etag: listed.get(partitionId),
    })));
    console.log(JSON.stringify(claimed.map((o) => o.partitionId).sort()));
  } else {
    throw new Error(`unknown command '${command}': list, update, owners or claim`);
  }
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
