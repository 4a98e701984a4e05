// Sends one device-to-cloud message through the emulator's IoT Hub front end, as a device
// would (rhea, an IoT Hub SAS token made by azure-iot-common), for the hub consumer's IoT Hub
// test: the front end stamps the iothub-* annotations the consumer must carry.
//   node device_telemetry.js <iothub port> <policy> <base64 key> <device id>
// Prints "sent" and exits 0.
'use strict';
const { SharedAccessSignature, encodeUriComponentStrict } = require('azure-iot-common');
const { connect } = require('../../conformance/eventhubs/amqp_client.js');

async function main() {
  const [port, policy, key, deviceId] = process.argv.slice(2);
  const host = 'myhub.azure-devices.net';
  const device = await connect(Number(port), host);
  try {
    const expiry = Math.floor(Date.now() / 1000) + 300;
    const token = SharedAccessSignature.create(encodeUriComponentStrict(host), policy, key,
                                               expiry).toString();
    const status = await device.putToken(host, token);
    if (status !== 202) throw new Error(`put-token answered ${status}`);
    const sender = device.connection.open_sender({ target: { address: `/devices/${deviceId}/messages/events` } });
    await new Promise((resolve, reject) => {
      sender.once('sendable', () => {
        sender.send({ body: JSON.stringify({ temp: 22.5 }), content_type: 'application/json',
                      application_properties: { alert: 'no' } });
      });
      sender.once('accepted', resolve);
      sender.once('rejected', (ctx) => reject(ctx.delivery.remote_state.error));
      sender.once('sender_error', (ctx) => reject(ctx.sender.error));
    });
  } finally {
    await device.close();
  }
  console.log('sent');
}

main().catch((e) => {
  console.error(e.message ?? e);
  process.exit(1);
});
