// A steady producer for the latency and stall parts of scripts/bench: <rate> events per
// second for <seconds> seconds with the official producer (@azure/event-hubs), in sends every
// 20 ms spread over the partitions. Prints one JSON line: {"sent": n, "seconds": s}.
//   node producer.js <connection string> <rate> <seconds> <large: 0|1>
'use strict';
const { EventHubProducerClient } = require('@azure/event-hubs');
const { event, rng } = require('./corpus.js');

async function main() {
  const [connectionString, rate, seconds, large] = process.argv.slice(2);
  const producer = new EventHubProducerClient(connectionString);
  const partitions = await producer.getPartitionIds();
  const random = rng(11);
  const tick = 20;
  const perTick = Number(rate) * tick / 1000;
  const start = Date.now();
  const end = start + Number(seconds) * 1000;
  let sent = 0;
  let due = 0;
  let p = 0;
  try {
    while (Date.now() < end) {
      due += perTick;
      const n = Math.floor(due - sent);
      if (n > 0) {
        const batch = await producer.createBatch({ partitionId: partitions[p++ % partitions.length] });
        for (let i = 0; i < n; ++i) batch.tryAdd({ body: event(sent + i, random, large === '1') });
        await producer.sendBatch(batch);
        sent += batch.count;
      }
      const next = start + Math.round((due / perTick) * tick);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - Date.now())));
    }
  } finally {
    await producer.close();
  }
  console.log(JSON.stringify({ sent, seconds: (Date.now() - start) / 1000 }));
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
