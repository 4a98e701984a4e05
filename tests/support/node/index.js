// What the Node side of the tests, the benchmark (bench/e2e) and the demo (scripts/lib/demo.js)
// share: the emulators and Azurite as child processes (emulators.js, over children.js), sample
// events and the official SDK's producer and consumer (events.js), table set-up (kusto.js),
// throw-away certificates with a TLS front for an HTTP emulator (tls.js), free ports (net.js)
// and configuration files read as hub2kusto reads them (config.js).
//   const { startEventHubs, startKusto, sendSpread, line } = require('<root>/tests/support/node');
'use strict';

// Runs a command-line script's main(): an error ends the process with its message and status 1.
function runMain(main) {
  main().catch((e) => {
    console.error(e.message);
    process.exit(1);
  });
}

module.exports = {
  ...require('./children.js'),
  ...require('./config.js'),
  ...require('./emulators.js'),
  ...require('./events.js'),
  ...require('./kusto.js'),
  ...require('./net.js'),
  ...require('./tls.js'),
  runMain,
};
