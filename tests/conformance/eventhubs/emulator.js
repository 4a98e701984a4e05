// Starts tests/emulators/eventhubs as a child process on a free port and stops it.
'use strict';
const readline = require('node:readline');
const { spawnOwned, stopChild } = require('../children.js');

const binary = process.env.HUB2KUSTO_EVENTHUBS_EMULATOR;

async function startEmulator(args = []) {
  if (!binary) {
    throw new Error('HUB2KUSTO_EVENTHUBS_EMULATOR is not set (ctest sets it)');
  }
  // Strict as the service: every management request must carry its own security_token.
  const child = spawnOwned(binary, ['--port', '0', '--management-token', 'required', ...args]);
  const lines = readline.createInterface({ input: child.stdout });
  // First line: the AMQP port; then "tls <port>" with --tls-port, "iothub <port>" with --iothub.
  const wanted = 1 + ['--tls-port', '--iothub', '--control-port'].filter((f) => args.includes(f)).length;
  const printed = await new Promise((resolve, reject) => {
    const got = [];
    child.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
    lines.on('line', (line) => {
      got.push(line);
      if (got.length === wanted) resolve(got);
    });
  });
  const port = Number(printed[0]);
  const extra = Object.fromEntries(printed.slice(1).map((l) => [l.split(' ')[0], Number(l.split(' ')[1])]));
  const tlsPort = extra.tls;
  const iothubPort = extra.iothub;
  // POSTs a fault to the control API (--control-port) and returns its JSON answer.
  const fault = async (pathAndQuery) => {
    const response = await fetch(`http://127.0.0.1:${extra.control}${pathAndQuery}`, { method: 'POST' });
    const body = await response.json();
    if (!response.ok) throw new Error(`control API: ${body.error}`);
    return body.applied;
  };
  const stop = () => stopChild(child);
  const connectionString = (hub = 'telemetry', key = 'SAS_KEY_VALUE') =>
    `Endpoint=sb://127.0.0.1:${port};SharedAccessKeyName=RootManageSharedAccessKey;` +
    `SharedAccessKey=${key};EntityPath=${hub};UseDevelopmentEmulator=true`;
  const controlUrl = `http://127.0.0.1:${extra.control}`;
  return { port, tlsPort, iothubPort, controlUrl, fault, stop, connectionString, pid: child.pid };
}

module.exports = { startEmulator };
