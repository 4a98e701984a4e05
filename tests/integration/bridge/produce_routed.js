// Sends N JSON telemetry events (default route) and N CSV alerts routed with the ADX
// application properties Table=Alerts and Format=csv, with the official producer.
//   node produce_routed.js <connection string> <N>
'use strict';
const { sendEvents } = require('./send_events');

async function main() {
  const [connectionString, count] = process.argv.slice(2);
  const events = [];
  for (let i = 0; i < Number(count); ++i) {
    events.push({ body: { deviceId: `dev-${i}`, temperature: 20 + i, humidity: 40, line: i } });
    events.push({ body: Buffer.from(`dev-${i},${i % 3}`),
                  properties: { Table: 'Alerts', Format: 'csv' } });
  }
  await sendEvents(connectionString, events);
  console.log('sent');
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
