// scripts/demo's Azure side, done with the official SDKs only:
//   node demo.js setup <kusto url> <database>
//     creates table Telemetry with the example mapping (mappings/examples) and streaming on
//   node demo.js send <event hubs connection string> <events>
//     sends sample telemetry with the official producer, spread over the hub's partitions
//   node demo.js wait <kusto url> <database> <events> <seconds>
//     waits until the table holds <events> rows, then prints the count and the first rows
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { EventHubProducerClient } = require('@azure/event-hubs');
const { Client, KustoConnectionStringBuilder } = require('azure-kusto-data');

const examples = path.join(__dirname, '..', '..', 'mappings', 'examples');

async function setup(url, database) {
  const client = new Client(new KustoConnectionStringBuilder(url));
  try {
    const schema = fs.readFileSync(path.join(examples, 'telemetry.schema'), 'utf8').trim();
    const mapping = JSON.stringify(JSON.parse(
        fs.readFileSync(path.join(examples, 'telemetry_mapping.json'), 'utf8')));
    await client.execute(database, `.create table Telemetry (${schema})`);
    await client.execute(database,
                         `.create table Telemetry ingestion json mapping 'telemetry_mapping' '${mapping}'`);
    await client.execute(database, '.alter table Telemetry policy streamingingestion enable');
    console.log(`table Telemetry (${schema}) with mapping 'telemetry_mapping', streaming on`);
  } finally {
    client.close();
  }
}

function sample(i) {
  const statuses = ['ok', 'ok', 'ok', 'warning', 'ok', 'error'];
  return {
    deviceId: `dev-${String(i % 50).padStart(5, '0')}`,
    ts: new Date(Date.UTC(2026, 10, 24, 10, 0, 0) + i * 1000).toISOString(),
    temperature: Math.round((20 + 5 * Math.sin(i / 10)) * 100) / 100,
    humidity: 40 + (i % 20),
    status: statuses[i % statuses.length],
    battery: Math.round((1 - (i % 100) / 200) * 1000) / 1000,
    location: { site: `plant-${1 + (i % 3)}`, line: i % 10 },
    tags: { fw: '1.2.3', mode: i % 2 ? 'eco' : 'auto' },
  };
}

async function send(connectionString, count) {
  const producer = new EventHubProducerClient(connectionString);
  try {
    const partitions = await producer.getPartitionIds();
    let sent = 0;
    for (const [p, partitionId] of partitions.entries()) {
      let batch = await producer.createBatch({ partitionId });
      for (let i = p; i < count; i += partitions.length) {
        if (!batch.tryAdd({ body: sample(i) })) {
          await producer.sendBatch(batch);
          batch = await producer.createBatch({ partitionId });
          batch.tryAdd({ body: sample(i) });
        }
        ++sent;
      }
      await producer.sendBatch(batch);
    }
    console.log(`sent ${sent} events over ${partitions.length} partitions (@azure/event-hubs)`);
  } finally {
    await producer.close();
  }
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
    const first = await client.execute(database, 'Telemetry | order by Timestamp asc | take 5');
    console.log('Telemetry | order by Timestamp asc | take 5');
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

async function main() {
  const [command, ...a] = process.argv.slice(2);
  if (command === 'setup') return setup(a[0], a[1]);
  if (command === 'send') return send(a[0], Number(a[1]));
  if (command === 'wait') return wait(a[0], a[1], Number(a[2]), Number(a[3]));
  throw new Error(`unknown command '${command}': setup, send or wait`);
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
