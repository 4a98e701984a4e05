// A plain AMQP 1.0 client (rhea) for what the SDKs do not let a test control: when a CBS token
// is put, with which lifetime, and a device's telemetry link on the IoT Hub front end.
'use strict';
const rhea = require('rhea');
const { createSasTokenProvider } = require('@azure/core-amqp');

// An Event Hubs SAS token for `audience`, made by the SDK's own token code.
async function eventHubsToken(audience, keyName = 'RootManageSharedAccessKey', key = 'SAS_KEY_VALUE') {
  return (await createSasTokenProvider({ name: keyName, key }).getToken(audience)).token;
}

// Opens a connection; resolves with helpers once it is open. `closed` resolves with the
// connection's error (or null) when the peer closes it.
function connect(port, hostname = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const container = rhea.create_container();
    const connection = container.connect({ host: '127.0.0.1', port, hostname, reconnect: false });
    let cbs = null;
    let nextId = 0;
    const pending = new Map();
    const closed = new Promise((done) => {
      connection.on('connection_close', (ctx) => done(ctx.connection.error ?? null));
      connection.on('disconnected', (ctx) => done(ctx.error ?? null));
    });
    connection.on('connection_error', () => {}); // surfaced through `closed`
    connection.once('connection_open', () => resolve({
      connection,
      closed,
      // put-token on $cbs; resolves with the reply's status-code.
      putToken(audience, token, type = 'servicebus.windows.net:sastoken') {
        if (!cbs) {
          const replies = connection.open_receiver({ source: { address: '$cbs' } });
          const requests = connection.open_sender({ target: { address: '$cbs' } });
          replies.on('message', (ctx) => {
            const done = pending.get(ctx.message.correlation_id);
            pending.delete(ctx.message.correlation_id);
            done?.(ctx.message.application_properties['status-code']);
          });
          cbs = { replies, requests };
        }
        const id = `put-${nextId++}`;
        return new Promise((done) => {
          pending.set(id, done);
          const send = () => cbs.requests.send({
            message_id: id, reply_to: cbs.replies.name, to: '$cbs', body: token,
            application_properties: { operation: 'put-token', name: audience, type },
          });
          if (cbs.requests.sendable()) send(); else cbs.requests.once('sendable', send);
        });
      },
      // A receiver with `credit` credit; events are pushed onto `events`, and `next()` resolves
      // with the next one.
      receiver(address, credit = 10) {
        const events = [];
        const waiters = [];
        const link = connection.open_receiver({ source: { address }, credit_window: 0, autoaccept: true });
        link.add_credit(credit);
        link.on('message', (ctx) => {
          events.push(ctx.message);
          for (const w of waiters.splice(0)) w();
        });
        const next = async (count) => {
          while (events.length < count) await new Promise((r) => waiters.push(r));
          return events.slice(0, count);
        };
        return { link, events, next };
      },
      close() { connection.close(); return closed; },
    }));
    connection.once('connection_error', (ctx) => reject(ctx.connection.error));
  });
}

module.exports = { connect, eventHubsToken };
