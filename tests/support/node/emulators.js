// The emulators (tests/emulators/) and Azurite as child processes on free ports, for the Node
// side of the tests, the benchmark and the demo. Each start function resolves once the process
// has printed the ports it listens on, and returns them with a stop().
'use strict';
const path = require('node:path');
const readline = require('node:readline');
const { spawnOwned, stopChild } = require('./children.js');

const root = path.join(__dirname, '..', '..', '..');
const azuriteBin = path.join(root, 'node_modules', '.bin', 'azurite');

// Resolves with the first `count` lines `child` prints, or rejects if it exits before that.
function firstLines(child, name, count) {
  const lines = readline.createInterface({ input: child.stdout });
  return new Promise((resolve, reject) => {
    const got = [];
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
    lines.on('line', (line) => {
      got.push(line);
      if (got.length === count) resolve(got);
    });
  });
}

// POSTs (or GETs) to an emulator's control API and returns its JSON answer.
async function control(url, method = 'POST') {
  const response = await fetch(url, { method });
  const body = await response.json();
  if (!response.ok) throw new Error(`control API: ${body.error}`);
  return body;
}

function required(variable) {
  const value = process.env[variable];
  if (!value) throw new Error(`${variable} is not set (ctest and the scripts set it)`);
  return value;
}

// tests/emulators/eventhubs ($HUB2KUSTO_EVENTHUBS_EMULATOR), strict as the service: every
// management request must carry its own security_token. `args` are the emulator's options
// (--hub name:partitions, --preload, --tls-port, --iothub, --control-port, ...).
async function startEventHubs(args = []) {
  const child = spawnOwned(required('HUB2KUSTO_EVENTHUBS_EMULATOR'),
                           ['--port', '0', '--management-token', 'required', ...args]);
  // First line: the AMQP port; then "tls <port>", "iothub <port>", "control <port>",
  // "websocket <port>", "websocket-tls <port>" for the listeners asked for.
  const wanted = 1 + ['--tls-port', '--iothub', '--control-port', '--websocket-port',
                      '--websocket-tls-port'].filter((f) => args.includes(f)).length;
  const printed = await firstLines(child, 'eventhubs-emulator', wanted);
  const port = Number(printed[0]);
  const extra = Object.fromEntries(printed.slice(1).map((l) => [l.split(' ')[0], Number(l.split(' ')[1])]));
  const controlUrl = `http://127.0.0.1:${extra.control}`;
  return {
    port,
    tlsPort: extra.tls,
    iothubPort: extra.iothub,
    websocketPort: extra.websocket,
    websocketTlsPort: extra['websocket-tls'],
    controlUrl,
    pid: child.pid,
    // Applies a fault through the control API (--control-port); returns what it applied.
    fault: async (pathAndQuery) => (await control(`${controlUrl}${pathAndQuery}`)).applied,
    connectionString: (hub = 'telemetry', key = 'SAS_KEY_VALUE') =>
      `Endpoint=sb://127.0.0.1:${port};SharedAccessKeyName=RootManageSharedAccessKey;` +
      `SharedAccessKey=${key};EntityPath=${hub};UseDevelopmentEmulator=true`,
    stop: () => stopChild(child),
  };
}

// Azurite, the real Azure Storage emulator, in memory on three free ports. With `tls`
// ({cert, key}: PEM files) it serves HTTPS, and with `oauth` it also takes bearer tokens,
// checking their issuer, audience and lifetime (Azurite's --oauth basic, HTTPS only).
async function startAzurite({ tls = null, oauth = false } = {}) {
  const extra = tls ? ['--cert', tls.cert, '--key', tls.key] : [];
  if (oauth) extra.push('--oauth', 'basic');
  const child = spawnOwned(azuriteBin, ['--blobPort', '0', '--queuePort', '0', '--tablePort', '0',
                                        '--inMemoryPersistence', '--skipApiVersionCheck', '--loose',
                                        '--disableTelemetry', ...extra]);
  const lines = readline.createInterface({ input: child.stdout });
  const ports = await new Promise((resolve, reject) => {
    const found = {};
    child.once('exit', (code) => reject(new Error(`azurite exited with ${code}`)));
    lines.on('line', (line) => {
      const m = /Azurite (Blob|Queue|Table) service is successfully listening at https?:\/\/127\.0\.0\.1:(\d+)/.exec(line);
      if (m) found[m[1].toLowerCase()] = Number(m[2]);
      if (found.blob && found.queue && found.table) resolve(found);
    });
  });
  const account = 'devstoreaccount1';
  const scheme = tls ? 'https' : 'http';
  return {
    blob: `${scheme}://127.0.0.1:${ports.blob}/${account}`,
    queue: `${scheme}://127.0.0.1:${ports.queue}/${account}`,
    table: `${scheme}://127.0.0.1:${ports.table}/${account}`,
    stop: () => stopChild(child),
  };
}

// tests/emulators/kusto ($HUB2KUSTO_KUSTO_EMULATOR), with queued ingestion through a fresh
// Azurite unless `queued` is false.
async function startKusto(args = [], { queued = true } = {}) {
  const binary = required('HUB2KUSTO_KUSTO_EMULATOR');
  const azurite = queued ? await startAzurite() : null;
  const storageArgs = azurite ? ['--blob-endpoint', azurite.blob, '--queue-endpoint', azurite.queue,
                                 '--table-endpoint', azurite.table] : [];
  const child = spawnOwned(binary, ['--port', '0', ...storageArgs, ...args]);
  const port = Number((await firstLines(child, 'kusto-emulator', 1))[0]);
  const url = `http://127.0.0.1:${port}`;
  return {
    port,
    url,
    azurite,
    pid: child.pid,
    fault: async (pathAndQuery) => (await control(`${url}/_control${pathAndQuery}`)).applied,
    status: () => control(`${url}/_control/status`, 'GET'),
    // Resolves with db.table's row count once it holds `rows`, or after `seconds`.
    waitRows: async (table, rows, seconds = 60) =>
      (await control(`${url}/_control/wait?table=${encodeURIComponent(table)}&rows=${rows}&seconds=${seconds}`,
                     'GET')).rows,
    stop: async () => {
      await stopChild(child);
      if (azurite) await azurite.stop();
    },
  };
}

module.exports = { startEventHubs, startAzurite, startKusto };
