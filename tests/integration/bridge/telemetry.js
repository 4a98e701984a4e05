// The end-to-end telemetry corpus, sent and checked with the official SDKs only:
//   node telemetry.js produce <event hubs connection string> <events> <partitions> [mapping]
//                             [first]
//     sends the test lines (tests/support/node) first .. first + events - 1 (first: 0 by
//     default), line i to partition (i - first) % partitions, with the official producer
//     (@azure/event-hubs), with the application property IngestionMappingReference=<mapping>
//     when given (not empty); prints "sent <n>"
//   node telemetry.js verify <kusto url> <database> <table> <events>
//     reads the whole table with the official query client (azure-kusto-data) and prints one
//     JSON line: {"rows", "distinct", "missing", "duplicates", "wrong", "example"}, where wrong
//     counts rows whose mapped values are not what line `line` carried
'use strict';
const { Client, KustoConnectionStringBuilder } = require('azure-kusto-data');
const { line, sendSpread, runMain } = require('../../support/node');

async function produce(connectionString, count, partitions, mapping, first = 0) {
  const make = (i) => (mapping ? { body: line(i), properties: { IngestionMappingReference: mapping } }
                               : { body: line(i) });
  const { sent } = await sendSpread(connectionString, count, make, { first, partitions });
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
      seen.set(row.line, (seen.get(row.line) || 0) + 1);
      const want = line(row.line);
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

runMain(async () => {
  const [command, ...args] = process.argv.slice(2);
  if (command === 'produce') {
    return produce(args[0], Number(args[1]), Number(args[2]), args[3], Number(args[4] || 0));
  }
  if (command === 'verify') return verify(args[0], args[1], args[2], Number(args[3]));
  throw new Error(`unknown command '${command}': produce or verify`);
});
