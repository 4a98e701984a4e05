// A steady producer for the latency and stall parts of scripts/bench: <rate> events per
// second for <seconds> seconds with the official producer (@azure/event-hubs), in sends every
// 20 ms spread over the partitions. A process of its own, so its CPU is not the benchmark's.
// Prints one JSON line: {"sent": n, "seconds": s}.
//   node producer.js <connection string> <rate> <seconds> <large: 0|1>
'use strict';
const { reading, rng, sendSteady, runMain } = require('../../tests/support/node');

runMain(async () => {
  const [connectionString, rate, seconds, large] = process.argv.slice(2);
  const random = rng(11);
  const result = await sendSteady(connectionString, Number(rate), Number(seconds),
                                  (i) => ({ body: reading(i, random, large === '1') }));
  console.log(JSON.stringify(result));
});
