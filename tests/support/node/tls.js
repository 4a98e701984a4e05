// Throw-away TLS material for tests that need HTTPS or AMQPS on loopback, made with the openssl
// command, and a TLS front for an emulator that serves plain HTTP.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');

// A directory with a CA (ca.pem), a server certificate for localhost and 127.0.0.1 signed by it
// (server.pem, server.key), and an RSA key for signing tokens (signing.key).
function makeCertificates() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hub2kusto-tls-'));
  const run = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem',
      '-days', '1', '-subj', '/CN=hub2kusto test CA');
  run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr',
      '-subj', '/CN=localhost');
  fs.writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
      '-CAcreateserial', '-out', 'server.pem', '-days', '1', '-extfile', 'ext.cnf');
  run('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'signing.key');
  return {
    dir,
    ca: path.join(dir, 'ca.pem'),
    cert: path.join(dir, 'server.pem'),
    key: path.join(dir, 'server.key'),
    signingKey: path.join(dir, 'signing.key'),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

// An HTTPS listener on a free port that passes every request on to `target` (http://host:port)
// with X-Forwarded-Proto: https, as a TLS-terminating load balancer does.
async function tlsFront(target, certs) {
  const upstream = new URL(target);
  const server = https.createServer(
    { cert: fs.readFileSync(certs.cert), key: fs.readFileSync(certs.key) },
    (req, res) => {
      const forwarded = http.request({
        host: upstream.hostname, port: upstream.port, method: req.method, path: req.url,
        headers: { ...req.headers, 'x-forwarded-proto': 'https' },
      }, (answer) => {
        res.writeHead(answer.statusCode, answer.headers);
        answer.pipe(res);
      });
      forwarded.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
      req.pipe(forwarded);
    });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://localhost:${server.address().port}`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}

module.exports = { makeCertificates, tlsFront };
