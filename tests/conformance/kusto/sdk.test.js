// Conformance: the official Kusto SDKs for Node (azure-kusto-data, azure-kusto-ingest) against
// tests/emulators/kusto, with Azurite behind its queued ingestion. If the SDKs work against
// the emulator, the emulator is faithful (tests/README.md).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Readable } = require('node:stream');
const { Client, KustoConnectionStringBuilder } = require('azure-kusto-data');
const {
  IngestClient, StreamingIngestClient, ManagedStreamingIngestClient, IngestStatusQueues,
  IngestionProperties, DataFormat, IngestionMappingKind, ReportLevel, ReportMethod,
} = require('azure-kusto-ingest');
const { startKusto } = require('../../support/node');

const telemetryColumns = '(Timestamp:datetime, DeviceId:string, Temperature:real, Humidity:long, ' +
                         'Ok:bool, Tags:dynamic, Id:guid, Span:timespan)';
const jsonMapping = JSON.stringify([
  { column: 'Timestamp', Properties: { Path: '$.ts' } },
  { column: 'DeviceId', Properties: { Path: '$.device.id' } },
  { column: 'Temperature', Properties: { Path: '$.temp' } },
  { column: 'Humidity', Properties: { Path: '$.hum' } },
  { column: 'Ok', Properties: { Path: '$.ok' } },
  { column: 'Tags', Properties: { Path: '$.tags' } },
]);

// A connected data client, the table T created with a JSON mapping 'telemetry'.
async function setup(k, { streaming = true } = {}) {
  const client = new Client(new KustoConnectionStringBuilder(k.url));
  await client.execute('db', `.create table T ${telemetryColumns}`);
  await client.execute('db', `.create table T ingestion json mapping 'telemetry' '${jsonMapping}'`);
  if (streaming) await client.execute('db', '.alter table T policy streamingingestion enable');
  return client;
}

async function rows(client, query) {
  const response = await client.execute('db', query);
  return response.primaryResults[0].toJSON().data;
}

// Polls the table until `count` rows are there (queued ingestion is asynchronous).
async function untilCount(client, table, count) {
  for (;;) {
    const [{ Count }] = await rows(client, `${table} | count`);
    if (Count >= count) return Count;
    await new Promise((r) => setTimeout(r, 25));
  }
}

function jsonEvents(n, start = 0) {
  let text = '';
  for (let i = start; i < start + n; ++i) {
    text += JSON.stringify({ ts: `2026-11-24T10:00:${String(i % 60).padStart(2, '0')}Z`,
                             device: { id: `dev-${i}` }, temp: 20 + i / 10, hum: i, ok: i % 2 === 0,
                             tags: { n: i } }) + '\n';
  }
  return text;
}

const props = (extra = {}) => new IngestionProperties({ database: 'db', table: 'T', ...extra });
const jsonProps = (extra = {}) => props({ format: DataFormat.JSON, ingestionMappingReference: 'telemetry',
                                          ingestionMappingKind: IngestionMappingKind.JSON, ...extra });

test('azure-kusto-data: management commands and typed v1 and v2 results', async () => {
  const k = await startKusto([], { queued: false });
  const client = await setup(k);
  try {
    assert.deepEqual((await rows(client, '.show tables')).map((r) => r.TableName), ['T']);
    const [schema] = await rows(client, '.show table T cslschema');
    assert.equal(schema.Schema, 'Timestamp:datetime,DeviceId:string,Temperature:real,Humidity:long,' +
                                'Ok:bool,Tags:dynamic,Id:guid,Span:timespan');
    const [mapping] = await rows(client, '.show table T ingestion json mappings');
    assert.equal(mapping.Name, 'telemetry');
    assert.deepEqual(JSON.parse(mapping.Mapping), JSON.parse(jsonMapping));
    const [policy] = await rows(client, '.show table T policy streamingingestion');
    assert.equal(JSON.parse(policy.Policy).IsEnabled, true);
    await client.execute('db', '.create-merge table T (Site:string)');
    assert.match((await rows(client, '.show table T cslschema'))[0].Schema, /,Site:string$/);
    // A bad command is a clear error.
    await assert.rejects(client.execute('db', '.create table T ingestion json mapping \'bad\' \'[{"column":"Nope","Properties":{"Path":"$.x"}}]\''),
                         (err) => {
                           assert.equal(err.response.data.error.code, 'BadRequest_InvalidMapping');
                           assert.match(err.response.data.error['@message'], /names column 'Nope'/);
                           return true;
                         });

    // Rows with every type, in through streaming ingestion, out through v2 and v1.
    const csv = '2026-11-24T10:00:00.1234567Z,dev-1,21.5,40,true,"{""a"":[1,2]}",' +
                '0f8fad5b-d9cb-469f-a165-70867728950e,01:02:03,plant-3\n' +
                '2026-11-24T11:00:00Z,dev-2,,41,false,,,,plant-4\n';
    const streaming = new StreamingIngestClient(new KustoConnectionStringBuilder(k.url), props({ format: DataFormat.CSV }));
    await streaming.ingestFromStream(Readable.from([csv]));
    const v2 = await rows(client, 'T | order by DeviceId asc');
    assert.equal(v2.length, 2);
    assert.equal(v2[0].Timestamp.toISOString(), '2026-11-24T10:00:00.123Z'); // a Date (ms)
    assert.equal(v2[0].Temperature, 21.5);
    assert.equal(v2[0].Humidity, 40);
    assert.equal(v2[0].Ok, true);
    assert.deepEqual(v2[0].Tags, { a: [1, 2] });
    assert.equal(v2[0].Id, '0f8fad5b-d9cb-469f-a165-70867728950e');
    assert.equal(v2[1].Temperature, null);
    assert.equal(v2[1].Site, 'plant-4');
    const v1 = (await client.executeQueryV1('db', 'T | where Humidity > 40')).primaryResults[0].toJSON().data;
    assert.deepEqual(v1.map((r) => r.DeviceId), ['dev-2']);
    const [count] = (await client.executeQueryV1('db', 'T | count')).primaryResults[0].toJSON().data;
    assert.equal(count.Count, 2);
    assert.deepEqual(await rows(client, 'T | summarize count() by Site | order by Site asc'),
                     [{ Site: 'plant-3', count_: 1 }, { Site: 'plant-4', count_: 1 }]);
    assert.deepEqual((await rows(client, "T | where DeviceId == 'dev-2' | take 5")).map((r) => r.Humidity), [41]);
    streaming.close();
  } finally {
    client.close();
    await k.stop();
  }
});

test('streaming client: CSV, and JSON with a mapping reference', async () => {
  const k = await startKusto([], { queued: false });
  const client = await setup(k);
  try {
    const cs = new KustoConnectionStringBuilder(k.url);
    const csvClient = new StreamingIngestClient(cs, props({ format: DataFormat.CSV }));
    await csvClient.ingestFromStream(Readable.from(['2026-11-24T10:00:00Z,dev-a,1.5,1,true,,,\n']));
    const jsonClient = new StreamingIngestClient(cs, jsonProps());
    await jsonClient.ingestFromStream(Readable.from([jsonEvents(3)]));
    const all = await rows(client, 'T | order by DeviceId asc');
    assert.deepEqual(all.map((r) => r.DeviceId), ['dev-0', 'dev-1', 'dev-2', 'dev-a']);
    assert.deepEqual(all[1].Tags, { n: 1 });
    // A missing mapping is the service's permanent error, with its code.
    const bad = new StreamingIngestClient(cs, jsonProps({ ingestionMappingReference: 'nope' }));
    await assert.rejects(bad.ingestFromStream(Readable.from([jsonEvents(1)])), (err) => {
      assert.equal(err.response.status, 400);
      assert.equal(err.response.data.error.code, 'BadRequest_MappingReferenceWasNotFound');
      assert.equal(err.response.data.error['@permanent'], true);
      return true;
    });
    csvClient.close(); jsonClient.close(); bad.close();
  } finally {
    client.close();
    await k.stop();
  }
});

test('queued client: through Azurite into the table, with status queues', async () => {
  const k = await startKusto();
  const client = await setup(k);
  const dm = new KustoConnectionStringBuilder(k.url);
  const queued = new IngestClient(dm, jsonProps({ reportLevel: ReportLevel.FailuresAndSuccesses,
                                                  reportMethod: ReportMethod.Queue }));
  try {
    await queued.ingestFromStream(Readable.from([jsonEvents(5)]));
    assert.equal(await untilCount(client, 'T', 5), 5);
    const statusQueues = new IngestStatusQueues(queued);
    let successes = [];
    while (successes.length === 0) successes = await statusQueues.success.pop(5);
    assert.equal(successes[0].Table, 'T');
    assert.equal(successes[0].Database, 'db');
    // A failure (unknown mapping) lands in the failure queue with the service's code.
    await queued.ingestFromStream(Readable.from([jsonEvents(1)]), jsonProps({ ingestionMappingReference: 'nope' }));
    let failures = [];
    while (failures.length === 0) failures = await statusQueues.failure.pop(5);
    assert.equal(failures[0].ErrorCode, 'BadRequest_MappingReferenceWasNotFound');
    assert.equal(failures[0].FailureStatus, 'Permanent');
    // ingestIfNotExists: a second ingest with the same ingest-by tag is skipped.
    const tagged = jsonProps({ additionalTags: ['ingest-by:batch-1'], ingestIfNotExists: ['batch-1'] });
    for (let i = 0; i < 2; ++i) {
      const before = (await k.status()).queued_messages;
      await queued.ingestFromStream(Readable.from([jsonEvents(1, 200)]), tagged);
      while ((await k.status()).queued_messages === before) await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal((await rows(client, 'T | count'))[0].Count, 6);
  } finally {
    queued.close();
    client.close();
    await k.stop();
  }
});

test('managed streaming client falls back to queued: policy off, and a payload over 4 MB', async () => {
  const k = await startKusto();
  const client = await setup(k, { streaming: false });
  const cs = new KustoConnectionStringBuilder(k.url);
  const managed = new ManagedStreamingIngestClient(cs, cs, jsonProps());
  try {
    // Policy not enabled: streaming answers 400 BadRequest_StreamingIngestionPolicyNotEnabled,
    // the SDK retries, then queues.
    await managed.ingestFromStream(Readable.from([Buffer.from(jsonEvents(10))]));
    assert.equal(await untilCount(client, 'T', 10), 10);
    const before = (await k.status()).streaming_requests;
    assert.ok(before >= 1, 'streaming was tried first');
    // Over the 4 MB streaming limit.
    await client.execute('db', '.alter table T policy streamingingestion enable');
    const big = jsonEvents(40000, 1000);
    assert.ok(Buffer.byteLength(big) > 4 * 1024 * 1024);
    // From a file: for a stream over the limit the SDK re-joins the read part and the rest
    // with a PassThrough it ends by emitting 'end' by hand (streamUtils.js mergeStreams), and
    // the upload never completes. A file is buffered whole and takes the queued path cleanly.
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hub2kusto-big-')), 'big.json');
    fs.writeFileSync(file, big);
    await managed.ingestFromFile(file);
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
    assert.equal(await untilCount(client, "T", 40010), 40010);
    // The SDK does not size-check a buffered file (tryStreamToArray returns a Buffer as is):
    // it streams, the emulator answers 413 Stream_InputStreamTooLarge each time, and after its
    // three attempts the SDK falls back to queued.
    assert.equal((await k.status()).streaming_requests, before + 3);
  } finally {
    managed.close();
    client.close();
    await k.stop();
  }
});
