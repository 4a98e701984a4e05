// A free loopback port, for a program that must be told its port before it starts.
'use strict';
const net = require('node:net');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

module.exports = { freePort };
