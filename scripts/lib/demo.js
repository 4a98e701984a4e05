// scripts/demo's Azure side, done with the official SDKs only:
//   node demo.js send <event hubs connection string> <events>
//     sends sample telemetry with the official producer, spread over the hub's partitions
//   node demo.js wait <kusto url> <database> <events> <seconds>
//     waits until the table holds <events> rows, then prints the count and the first rows
'use strict';
const { Client, KustoConnectionStringBuilder } = require('azure-kusto-data');
const { reading, rng, runMain, sendSpread } = require('../../tests/support/node');

async function send(connectionString, count) {
  const random = rng(1);
  const { sent, partitions } = await sendSpread(connectionString, count, (i) => ({ body: reading(i, random) }));
  console.log(`sent ${sent} events over ${partitions} partitions (@azure/event-hubs)`);
}

async function wait(url, database, count, seconds) {
  const client = new Client(new KustoConnectionStringBuilder(url));
  try {
    const deadline = Date.now() + seconds * 1000;
    let rows = 0;
    for (;;) {
      const r = await client.execute(database, 'Telemetry | count');
      rows = r.primaryResults[0].toJSON().data[0].Count;
      if (rows >= count || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    console.log(`Telemetry | count  ->  ${rows}`);
    const first = await client.execute(database, 'Telemetry | order by ts asc | take 5');
    console.log('Telemetry | order by ts asc | take 5');
    const table = first.primaryResults[0];
    const columns = table.columns.map((c) => c.name);
    const cells = [...table.rows()].map((row) => columns.map((c) => {
      const v = row[c];
      if (v instanceof Date) return v.toISOString();
      if (v !== null && typeof v === 'object') return JSON.stringify(v);
      return String(v);
    }));
    const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
    const line = (values) => values.map((v, i) => v.padEnd(widths[i])).join('  ');
    console.log(line(columns));
    for (const r of cells) console.log(line(r));
    if (rows < count) {
      console.error(`only ${rows} of ${count} rows arrived in ${seconds} s`);
      process.exitCode = 1;
    }
  } finally {
    client.close();
  }
}

runMain(async () => {
  const [command, ...a] = process.argv.slice(2);
  if (command === 'send') return send(a[0], Number(a[1]));
  if (command === 'wait') return wait(a[0], a[1], Number(a[2]), Number(a[3]));
  throw new Error(`unknown command '${command}': send or wait`);
});
