// Starts Azurite (the real Azure Storage emulator) and tests/emulators/kusto on free ports, and
// stops them. The Kusto emulator's data management side uses Azurite for queued ingestion.
'use strict';
const path = require('node:path');
const readline = require('node:readline');
const { spawnOwned, stopChild } = require('../children.js');

const binary = process.env.HUB2KUSTO_KUSTO_EMULATOR;
const azuriteBin = path.join(__dirname, '..', '..', '..', 'node_modules', '.bin', 'azurite');

// Azurite in memory on three free ports; resolves with its endpoints.
async function startAzurite() {
  const child = spawnOwned(azuriteBin, ['--blobPort', '0', '--queuePort', '0', '--tablePort', '0',
                                        '--inMemoryPersistence', '--skipApiVersionCheck', '--loose',
                                        '--disableTelemetry']);
  const lines = readline.createInterface({ input: child.stdout });
  const ports = await new Promise((resolve, reject) => {
    const found = {};
    child.once('exit', (code) => reject(new Error(`azurite exited with ${code}`)));
    lines.on('line', (line) => {
      const m = /Azurite (Blob|Queue|Table) service is successfully listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(line);
      if (m) found[m[1].toLowerCase()] = Number(m[2]);
      if (found.blob && found.queue && found.table) resolve(found);
    });
  });
  lines.on('line', () => {}); // keep draining
  const account = 'devstoreaccount1';
  return {
    blob: `http://127.0.0.1:${ports.blob}/${account}`,
    queue: `http://127.0.0.1:${ports.queue}/${account}`,
    table: `http://127.0.0.1:${ports.table}/${account}`,
    stop: () => stopChild(child),
  };
}

// The Kusto emulator, with queued ingestion through a fresh Azurite unless `queued` is false.
async function startKusto(args = [], { queued = true } = {}) {
  if (!binary) throw new Error('HUB2KUSTO_KUSTO_EMULATOR is not set (ctest sets it)');
  const azurite = queued ? await startAzurite() : null;
  const storageArgs = azurite ? ['--blob-endpoint', azurite.blob, '--queue-endpoint', azurite.queue,
                                 '--table-endpoint', azurite.table] : [];
  const child = spawnOwned(binary, ['--port', '0', ...storageArgs, ...args]);
  const lines = readline.createInterface({ input: child.stdout });
  const port = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`kusto-emulator exited with ${code}`)));
    lines.once('line', (line) => resolve(Number(line)));
  });
  const url = `http://127.0.0.1:${port}`;
  const control = async (method, pathAndQuery) => {
    const response = await fetch(`${url}/_control${pathAndQuery}`, { method });
    const body = await response.json();
    if (!response.ok) throw new Error(`control API: ${body.error}`);
    return body;
  };
  return {
    port,
    url,
    azurite,
    pid: child.pid,
    fault: async (pathAndQuery) => (await control('POST', pathAndQuery)).applied,
    status: () => control('GET', '/status'),
    // Resolves with db.table's row count once it holds `rows`, or after `seconds`.
    waitRows: async (table, rows, seconds = 60) =>
      (await control('GET', `/wait?table=${encodeURIComponent(table)}&rows=${rows}&seconds=${seconds}`)).rows,
    stop: async () => {
      await stopChild(child);
      if (azurite) await azurite.stop();
    },
  };
}

module.exports = { startKusto, startAzurite };
