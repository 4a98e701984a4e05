// Starts tests/emulators/eventhubs as a child process on a free port and stops it.
'use strict';
const { spawn } = require('node:child_process');
const readline = require('node:readline');

const binary = process.env.HUB2KUSTO_EVENTHUBS_EMULATOR;

async function startEmulator(args = []) {
  if (!binary) {
    throw new Error('HUB2KUSTO_EVENTHUBS_EMULATOR is not set (ctest sets it)');
  }
  const child = spawn(binary, ['--port', '0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout });
  const port = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
    lines.once('line', (line) => resolve(Number(line)));
  });
  const stop = () =>
    new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', resolve);
      child.kill('SIGTERM');
    });
  const connectionString = (hub = 'telemetry', key = 'SAS_KEY_VALUE') =>
    `Endpoint=sb://127.0.0.1:${port};SharedAccessKeyName=RootManageSharedAccessKey;` +
    `SharedAccessKey=${key};EntityPath=${hub};UseDevelopmentEmulator=true`;
  return { port, stop, connectionString };
}

module.exports = { startEmulator };
