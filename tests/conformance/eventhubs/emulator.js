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
  // First line: the AMQP port; with --tls-port, a second line "tls <port>".
  const wanted = args.includes('--tls-port') ? 2 : 1;
  const printed = await new Promise((resolve, reject) => {
    const got = [];
    child.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
    lines.on('line', (line) => {
      got.push(line);
      if (got.length === wanted) resolve(got);
    });
  });
  const port = Number(printed[0]);
  const tlsPort = wanted === 2 ? Number(printed[1].split(' ')[1]) : undefined;
  const stop = () =>
    new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', resolve);
      child.kill('SIGTERM');
    });
  const connectionString = (hub = 'telemetry', key = 'SAS_KEY_VALUE') =>
    `Endpoint=sb://127.0.0.1:${port};SharedAccessKeyName=RootManageSharedAccessKey;` +
    `SharedAccessKey=${key};EntityPath=${hub};UseDevelopmentEmulator=true`;
  return { port, tlsPort, stop, connectionString };
}

module.exports = { startEmulator };
