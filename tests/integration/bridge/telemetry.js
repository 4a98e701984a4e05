// The end-to-end telemetry corpus, sent and checked with the official SDKs only:
//   node telemetry.js produce <event hubs connection string> <events> <partitions> [mapping]
//                             [first]
//     sends events first .. first + events - 1 (first: 0 by default), event i to partition
//     (i - first) % partitions, with the official producer (@azure/event-hubs), with the
//     application property IngestionMappingReference=<mapping> when given (not empty);
//     prints "sent <n>"
//   node telemetry.js verify <kusto url> <database> <table> <events>
//     reads the whole table with the official query client (azure-kusto-data) and prints one
//     JSON line: {"rows", "distinct", "missing", "duplicates", "wrong", "example"}, where wrong
//     counts rows whose mapped values are not what event `line` carried
// Event i: {"deviceId":"dev-<i % 100>","temperature":<20 + (i % 50) / 10>,"humidity":<i % 100>,
//           "line":i}
'use strict';
const { EventHubProducerClient } = require('@azure/event-hubs');
const { Client, KustoConnectionStringBuilder } = require('azure-kusto-data');

function telemetry(i) {
  return { deviceId: `dev-${i % 100}`, temperature: 20 + (i % 50) / 10, humidity: i % 100, line: i };
}

async function produce(connectionString, count, partitions, mapping, first = 0) {
  const producer = new EventHubProducerClient(connectionString);
  let sent = 0;
  try {
    for (let p = 0; p < partitions; ++p) {
      let batch = await producer.createBatch({ partitionId: String(p) });
      for (let i = first + p; i < first + count; i += partitions) {
        const event = { body: telemetry(i) };
        if (mapping) event.properties = { IngestionMappingReference: mapping };
        if (!batch.tryAdd(event)) {
          await producer.sendBatch(batch);
          batch = await producer.createBatch({ partitionId: String(p) });
          batch.tryAdd(event);
        }
        ++sent;
      }
      await producer.sendBatch(batch);
    }
  } finally {
    await producer.close();
  }
  console.log(`sent ${sent}`);
}

async function verify(url, database, table, count) {
  const client = new Client(new KustoConnectionStringBuilder(url));
  try {
    const response = await client.execute(database, table);
    const seen = new Map();
    let rows = 0;
    let wrong = 0;
    let example = null;
    for (const row of response.primaryResults[0].rows()) {
      ++rows;
      const line = row.line;
      seen.set(line, (seen.get(line) || 0) + 1);
      const want = telemetry(line);
      const ok = row.deviceId === want.deviceId && Math.abs(row.temperature - want.temperature) < 1e-9 &&
                 row.humidity === want.humidity && typeof row.Seq === 'number' && row.Seq >= 0 &&
                 row.Enqueued instanceof Date && !Number.isNaN(row.Enqueued.getTime());
      if (!ok) {
        ++wrong;
        if (!example) example = row.toJSON();
      }
    }
    let missing = 0;
    let duplicates = 0;
    for (let i = 0; i < count; ++i) {
      const n = seen.get(i) || 0;
      if (n === 0) ++missing;
      if (n > 1) duplicates += n - 1;
    }
    console.log(JSON.stringify({ rows, distinct: seen.size, missing, duplicates, wrong, example }));
  } finally {
    client.close();
  }
}

async function main() {
  const [command, ...args] = process.argv.slice(2);
  if (command === 'produce') {
    return produce(args[0], Number(args[1]), Number(args[2]), args[3], Number(args[4] || 0));
  }
  if (command === 'verify') return verify(args[0], args[1], args[2], Number(args[3]));
  throw new Error(`unknown command '${command}': produce or verify`);
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
