// Another client of the same Kusto cluster, written with the official SDK only
// (azure-kusto-ingest): real clusters share their failed-ingestions queue between all clients.
//   node foreign_client.js fail <kusto url> <database> <table>
//     queues one ingestion the service fails (its mapping does not exist), reported to the
//     failed-ingestions queue; waits until a report is on the queue (peeked, never taken) and
//     prints its source id (the SDK gives the uploaded blob a source id of its own, so the
//     report is the one place to learn it; nothing else reports to the queue before)
//   node foreign_client.js peek <kusto url>
//     prints the source ids of the failure reports on the queue as a JSON array, taking none
'use strict';
const { Readable } = require('stream');
const { KustoConnectionStringBuilder } = require('azure-kusto-data');
const {
  IngestClient, IngestionProperties, IngestStatusQueues, DataFormat, ReportLevel, ReportMethod,
} = require('azure-kusto-ingest');

function client(url, database, table) {
  return new IngestClient(new KustoConnectionStringBuilder(url), new IngestionProperties({
    database, table, format: DataFormat.JSON, ingestionMappingReference: 'no_such_mapping',
    reportLevel: ReportLevel.FailuresOnly, reportMethod: ReportMethod.Queue,
  }));
}

async function sourceIds(queued) {
  const reports = await new IngestStatusQueues(queued).failure.peek(32);
  return reports.map((r) => r.IngestionSourceId);
}

async function fail(url, database, table) {
  const queued = client(url, database, table);
  try {
    await queued.ingestFromStream(Readable.from(['{"a":1}\n']));
    const deadline = Date.now() + 60000;
    let ids = [];
    while ((ids = await sourceIds(queued)).length === 0) {
      if (Date.now() > deadline) throw new Error('the failure report never reached the queue');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    console.log(ids[0]);
  } finally {
    queued.close();
  }
}

async function peek(url) {
  const queued = client(url, 'db', 'T');
  try {
    console.log(JSON.stringify(await sourceIds(queued)));
  } finally {
    queued.close();
  }
}

async function main() {
  const [command, ...args] = process.argv.slice(2);
  if (command === 'fail') return fail(args[0], args[1], args[2]);
  if (command === 'peek') return peek(args[0]);
  throw new Error(`unknown command '${command}': fail or peek`);
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
