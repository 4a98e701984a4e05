// The Kusto emulator's fault-injection control API, each fault seen by the official SDKs, and
// its authentication (required bearer tokens, the local token endpoints) and its data directory.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Readable } = require('node:stream');
const { Client, KustoConnectionStringBuilder } = require('azure-kusto-data');
const { StreamingIngestClient, IngestClient, IngestionProperties, DataFormat } = require('azure-kusto-ingest');
const { startKusto } = require('../../support/node');

const props = new IngestionProperties({ database: 'db', table: 'T', format: DataFormat.CSV });

async function withTable(k, fn, { streaming = true } = {}) {
  const cs = new KustoConnectionStringBuilder(k.url);
  const client = new Client(cs);
  await client.execute('db', '.create table T (Name:string, Value:long)');
  if (streaming) await client.execute('db', '.alter table T policy streamingingestion enable');
  const ingest = new StreamingIngestClient(cs, props);
  try {
    await fn({ client, ingest, send: (text) => ingest.ingestFromStream(Readable.from([text])) });
  } finally {
    ingest.close();
    client.close();
  }
}

const count = async (client) => (await client.execute('db', 'T | count')).primaryResults[0].toJSON().data[0].Count;

test('injected streaming failures reach the SDK with their status, code and Retry-After', async () => {
  const k = await startKusto([], { queued: false });
  try {
    await withTable(k, async ({ client, send }) => {
      const cases = [
        ['throttled', 429, 'TooManyRequests', false],
        ['internal', 500, 'General_InternalServerError', false],
        ['unavailable', 503, 'General_ServiceUnavailable', false],
        ['policy-not-enabled', 400, 'BadRequest_StreamingIngestionPolicyNotEnabled', true],
        ['too-large', 413, 'Stream_InputStreamTooLarge', true],
      ];
      for (const [kind, status, code, permanent] of cases) {
        assert.match(await k.fault(`/faults/streaming?kind=${kind}&count=1&retry_after=7`),
                     new RegExp(`answer ${status} ${code}`));
        await assert.rejects(send('a,1\n'), (err) => {
          // The SDK turns 429 into its ThrottlingError, the axios error kept as `inner`.
          const response = status === 429 ? err.inner.response : err.response;
          if (status === 429) assert.equal(err.name, 'ThrottlingError');
          assert.equal(response.status, status);
          assert.equal(response.data.error.code, code);
          assert.equal(response.data.error['@permanent'], permanent);
          assert.equal(response.headers['retry-after'], '7');
          return true;
        }, kind);
      }
      // The faults were for one request each: the next one succeeds.
      await send('b,2\n');
      assert.equal(await count(client), 1);
      assert.equal((await k.status()).streaming_faults_answered, cases.length);
    });
  } finally {
    await k.stop();
  }
});

test('latency delays every streaming request; streaming disabled cluster-wide is a 404', async () => {
  const k = await startKusto([], { queued: false });
  try {
    await withTable(k, async ({ client, send }) => {
      assert.equal(await k.fault('/faults/latency?ms=400'), 'streaming latency 400 ms');
      const started = Date.now();
      await send('a,1\n');
      assert.ok(Date.now() - started >= 400, `took ${Date.now() - started} ms`);
      assert.equal(await k.fault('/faults/streaming-disabled?on=true'),
                   'streaming ingestion disabled cluster-wide');
      await assert.rejects(send('b,2\n'), (err) => {
        assert.equal(err.response.status, 404);
        assert.equal(err.response.data.error.code, 'StreamingIngestionFunctionalityDisabled');
        return true;
      });
      assert.equal(await k.fault('/faults/reset'), 'faults cleared');
      await send('c,3\n');
      assert.equal(await count(client), 2);
    });
    await assert.rejects(k.fault('/faults/streaming?kind=gremlins'), /needs kind=/);
    await assert.rejects(k.fault('/faults/latency?ms=soon'), /needs ms>=0/);
  } finally {
    await k.stop();
  }
});

// As many concurrent streaming requests as a process reading hundreds of partitions sends: each
// is answered, none waits on another (the emulator never blocks the threads that read bodies).
test('three hundred concurrent streaming requests are all answered', { timeout: 60_000 }, async () => {
  const k = await startKusto([], { queued: false });
  try {
    await withTable(k, async ({ client, send }) => {
      await k.fault('/faults/latency?ms=200'); // so that they overlap
      const sends = [];
      for (let i = 0; i < 300; ++i) sends.push(send(`r${i},${i}\n`));
      await Promise.all(sends);
      assert.equal(await count(client), 300);
      const status = await k.status();
      assert.equal(status.streaming_requests, 300);
      assert.ok(status.streaming_in_flight_peak > 40, `peak ${status.streaming_in_flight_peak}`);
    });
  } finally {
    await k.stop();
  }
});

test('a small cluster serves its concurrency limit and answers the rest 429 at once', async () => {
  const k = await startKusto([], { queued: false });
  try {
    await withTable(k, async ({ client, send }) => {
      await k.fault('/faults/latency?ms=300');
      assert.equal(await k.fault('/faults/concurrency?streaming=2'),
                   'at most 2 concurrent streaming requests; more answer 429');
      const results = await Promise.allSettled(
          Array.from({ length: 10 }, (_, i) => send(`c${i},${i}\n`)));
      const served = results.filter((r) => r.status === 'fulfilled');
      const refused = results.filter((r) => r.status === 'rejected');
      assert.equal(served.length, 2);
      for (const { reason } of refused) {
        assert.equal(reason.name, 'ThrottlingError');
        assert.equal(reason.inner.response.status, 429);
        assert.equal(reason.inner.response.data.error.code, 'TooManyRequests');
        assert.equal(reason.inner.response.headers['retry-after'], '1');
      }
      const status = await k.status();
      assert.equal(status.streaming_throttled, 8);
      assert.equal(status.streaming_in_flight_peak, 2);
      assert.equal(status.streaming_in_flight, 0);
      assert.equal(await count(client), 2);
      // One at a time, each is served.
      await send('d,1\n');
      await send('e,2\n');
      assert.equal(await count(client), 4);
      assert.equal(await k.fault('/faults/concurrency?streaming=0'),
                   'no limit on concurrent streaming requests');
    });
    await assert.rejects(k.fault('/faults/concurrency?streaming=many'), /needs streaming=N/);
  } finally {
    await k.stop();
  }
});

test('queued ingestion paused: messages wait in Azurite and land after resume', async () => {
  const k = await startKusto();
  try {
    await withTable(k, async ({ client }) => {
      const queued = new IngestClient(new KustoConnectionStringBuilder(k.url), props);
      try {
        assert.equal(await k.fault('/faults/queued?paused=true'), 'queued ingestion paused');
        await queued.ingestFromStream(Readable.from(['a,1\nb,2\n']));
        // The message is in Azurite; the paused worker has taken nothing.
        assert.equal((await k.status()).queued_messages, 0);
        assert.equal(await count(client), 0);
        assert.equal(await k.fault('/faults/queued?paused=false'), 'queued ingestion resumed');
        while ((await count(client)) < 2) await new Promise((r) => setTimeout(r, 25));
        assert.equal((await k.status()).queued_succeeded, 1);
      } finally {
        queued.close();
      }
    });
  } finally {
    await k.stop();
  }
});

test('a required token: static and issued tokens pass, missing and wrong ones get 401', async () => {
  const k = await startKusto(['--require-token', '--static-token', 'fixed-test-token',
                              '--app', 'app-1=app-secret', '--federated', 'app-2=federated-assertion',
                              '--identity-header', 'hdr-1'],
                             { queued: false });
  try {
    const withToken = (token) => new Client(KustoConnectionStringBuilder.withAccessToken(k.url, token));
    const good = withToken('fixed-test-token');
    await good.execute('db', '.create table T (Name:string)');
    await assert.rejects(withToken('not-a-token').execute('db', 'T | count'),
                         (err) => err.response?.status === 401);
    await assert.rejects(new Client(new KustoConnectionStringBuilder(k.url)).execute('db', 'T | count'),
                         (err) => err.response?.status === 401);
    // Client credentials (secret and assertion), IMDS and App Service each issue a token.
    const form = (fields) => ({ method: 'POST', body: new URLSearchParams(fields) });
    const secret = await (await fetch(`${k.url}/tenant-1/oauth2/v2.0/token`, form({
      grant_type: 'client_credentials', client_id: 'app-1', client_secret: 'app-secret',
      scope: 'https://kusto.kusto.windows.net/.default' }))).json();
    assert.equal(secret.token_type, 'Bearer');
    assert.equal(secret.expires_in, 3600);
    const assertion = await (await fetch(`${k.url}/tenant-1/oauth2/v2.0/token`, form({
      grant_type: 'client_credentials', client_id: 'app-2', client_assertion: 'federated-assertion',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      scope: 'https://kusto.kusto.windows.net/.default' }))).json();
    const imds = await (await fetch(`${k.url}/metadata/identity/oauth2/token?api-version=2018-02-01` +
                                    '&resource=https://kusto.kusto.windows.net', { headers: { Metadata: 'true' } })).json();
    assert.equal(imds.expires_in, '3600');
    const appService = await (await fetch(`${k.url}/msi/token?api-version=2019-08-01` +
                                          '&resource=https://kusto.kusto.windows.net',
                                          { headers: { 'X-IDENTITY-HEADER': 'hdr-1' } })).json();
    for (const t of [secret, assertion, imds, appService]) {
      assert.equal((await withToken(t.access_token).execute('db', '.show tables')).primaryResults[0].toJSON().data.length, 1);
    }
    // Refusals: a wrong secret, a wrong assertion, IMDS without its header.
    const refused = await fetch(`${k.url}/tenant-1/oauth2/v2.0/token`, form({
      grant_type: 'client_credentials', client_id: 'app-1', client_secret: 'wrong' }));
    assert.equal(refused.status, 401);
    assert.equal((await refused.json()).error, 'invalid_client');
    const badAssertion = await fetch(`${k.url}/tenant-1/oauth2/v2.0/token`, form({
      grant_type: 'client_credentials', client_id: 'app-2', client_assertion: 'forged' }));
    assert.equal(badAssertion.status, 401);
    assert.equal((await fetch(`${k.url}/metadata/identity/oauth2/token?resource=x`)).status, 400);
  } finally {
    await k.stop();
  }
});

test('an issued token for another audience gets 401; one for the cluster expires after its lifetime', async () => {
  const k = await startKusto(['--require-token', '--app', 'app-1=app-secret', '--token-lifetime', '1'],
                             { queued: false });
  try {
    const ask = (scope) => fetch(`${k.url}/tenant-1/oauth2/v2.0/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'app-1',
                                  client_secret: 'app-secret', scope }),
    }).then((r) => r.json());
    // A token for another audience is refused, as by the service.
    const other = await ask('https://other-cluster.kusto.example.net/.default');
    await assert.rejects(
      new Client(KustoConnectionStringBuilder.withAccessToken(k.url, other.access_token))
        .execute('db', '.show tables'),
      (err) => err.response?.status === 401);
    const issuedAt = Date.now();
    const token = await ask('https://kusto.kusto.windows.net/.default');
    const receivedAt = Date.now(); // the emulator issued it before this
    assert.equal(token.expires_in, 1);
    const client = new Client(KustoConnectionStringBuilder.withAccessToken(k.url, token.access_token));
    // Accepted only while it lives, refused after: a request the emulator accepted started
    // before the token's issue time plus one second, and so before receivedAt + 1000.
    let refusedAfter = null;
    while (refusedAfter === null) {
      const started = Date.now();
      try {
        await client.execute('db', '.show tables');
        assert.ok(started - receivedAt < 1000, `accepted ${started - receivedAt} ms after issue`);
      } catch (err) {
        assert.equal(err.response?.status, 401);
        refusedAfter = Date.now() - issuedAt;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(refusedAfter >= 1000, `refused ${refusedAfter} ms after issue`);
  } finally {
    await k.stop();
  }
});

test('with a data directory, tables, mappings, policies and rows survive a restart', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hub2kusto-kusto-'));
  try {
    let k = await startKusto(['--data-dir', dir], { queued: false });
    try {
      await withTable(k, async ({ client, send }) => {
        await client.execute('db', `.create table T ingestion csv mapping 'm' '[{"column":"Name","Properties":{"Ordinal":"0"}}]'`);
        await send('a,1\nb,2\n');
      });
    } finally {
      await k.stop();
    }
    k = await startKusto(['--data-dir', dir], { queued: false });
    try {
      const client = new Client(new KustoConnectionStringBuilder(k.url));
      const rows = (await client.execute('db', 'T | order by Value asc')).primaryResults[0].toJSON().data;
      assert.deepEqual(rows, [{ Name: 'a', Value: 1 }, { Name: 'b', Value: 2 }]);
      const [policy] = (await client.execute('db', '.show table T policy streamingingestion')).primaryResults[0].toJSON().data;
      assert.equal(JSON.parse(policy.Policy).IsEnabled, true);
      const [mapping] = (await client.execute('db', '.show table T ingestion csv mappings')).primaryResults[0].toJSON().data;
      assert.equal(mapping.Name, 'm');
      client.close();
    } finally {
      await k.stop();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('wait answers once a table holds the rows asked for, or when its time is up', async () => {
  const k = await startKusto([], { queued: false });
  try {
    await withTable(k, async ({ send }) => {
      assert.equal(await k.waitRows('db.T', 0, 1), 0);
      const started = Date.now();
      assert.equal(await k.waitRows('db.T', 1, 1), 0); // nothing ingested: the second runs out
      assert.ok(Date.now() - started >= 900);
      // Asked before the rows exist, answered by the ingestion that brings them.
      const waiting = k.waitRows('db.T', 3, 30);
      await send('a,1\nb,2\n');
      await send('c,3\n');
      assert.equal(await waiting, 3);
      assert.equal(await k.waitRows('db.Nope', 1, 0), -1); // no such table
      await assert.rejects(k.waitRows('T', 1, 1), /wait needs table=<db>.<table>/);
    });
  } finally {
    await k.stop();
  }
});
