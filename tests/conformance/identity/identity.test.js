// @azure/identity and the official SDKs against the emulators' token checks: the Kusto emulator
// plays Entra ID (OpenID discovery, JWKS, client credentials; RS256 tokens signed with a
// throw-away key), the Event Hubs emulator verifies the jwt tokens put on $cbs with that key,
// and Azurite (--oauth basic) checks Storage's tokens. Tokens for the right audience are taken;
// the same identity's tokens for another audience are refused by all three.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { startEventHubs, startKusto, startAzurite, makeCertificates, tlsFront } =
  require('../../support/node');

const tenantId = 'tenant-i';
const clientId = 'app-i';

async function withServices(fn) {
  const certs = makeCertificates();
  const kusto = await startKusto(['--require-token', '--signing-key', certs.signingKey,
                                  '--app', `${clientId}=secret-i`], { queued: false });
  const front = await tlsFront(kusto.url, certs);
  const hub = await startEventHubs(['--hub', 'telemetry:2', '--tls-port', '0',
                                   '--tls-cert', certs.cert, '--tls-key', certs.key,
                                   '--jwt-key', certs.signingKey, '--jwt-receiver', clientId,
                                   '--jwt-issuer', `https://sts.windows.net/${tenantId}/`]);
  const storage = await startAzurite({ tls: certs, oauth: true });
  try {
    await fn({ certs, kusto, front, hub, storage });
  } finally {
    await storage.stop();
    await hub.stop();
    await front.close();
    await kusto.stop();
    certs.remove();
  }
}

// Runs identity_client.js (asynchronously: the TLS front serves from this process).
async function signIn(s, audience) {
  const options = {
    authorityHost: s.front.url, tenantId, clientId, clientSecret: 'secret-i', kusto: s.kusto.url,
    eventHubs: { namespace: 'localhost', endpoint: `sb://localhost:${s.hub.tlsPort}`,
                 hub: 'telemetry' },
    blob: s.storage.blob, audience,
  };
  const child = spawn(process.execPath, [path.join(__dirname, 'identity_client.js'),
                                         JSON.stringify(options)], {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: s.certs.ca }, timeout: 90_000,
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const status = await new Promise((resolve) => child.on('close', resolve));
  assert.equal(status, 0, err);
  return JSON.parse(out);
}

test('@azure/identity tokens open Kusto, Event Hubs and Storage', async () => {
  await withServices(async (s) => {
    assert.deepEqual(await signIn(s), { kusto: 'ok', eventhubs: 'ok', storage: 'ok' });
  });
});

test('the same identity with a token for another audience is refused by each service', async () => {
  await withServices(async (s) => {
    const refused = await signIn(s, 'https://management.azure.com');
    assert.match(refused.kusto, /status code 401/, refused.kusto);
    assert.match(refused.eventhubs, /^UnauthorizedError: InvalidAudience/, refused.eventhubs);
    assert.match(refused.storage, /^AuthenticationFailed/, refused.storage);
  });
});

// What a resource server does with an Entra ID token: find the key by the token's kid in the
// tenant's published JWKS (OpenID discovery's jwks_uri) and verify the RS256 signature.
test('the tokens verify against the keys OpenID discovery publishes', async () => {
  await withServices(async (s) => {
    const discovery = await (await fetch(
      `${s.kusto.url}/${tenantId}/v2.0/.well-known/openid-configuration`)).json();
    assert.equal(discovery.token_endpoint, `${s.kusto.url}/${tenantId}/oauth2/v2.0/token`);
    const { keys } = await (await fetch(discovery.jwks_uri)).json();
    const answer = await (await fetch(discovery.token_endpoint, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId,
                                  client_secret: 'secret-i', scope: 'https://storage.azure.com/.default' }),
    })).json();
    const [header, claims, signature] = answer.access_token.split('.');
    const { kid, alg } = JSON.parse(Buffer.from(header, 'base64url'));
    assert.equal(alg, 'RS256');
    const jwk = keys.find((k) => k.kid === kid);
    assert.ok(jwk, `no key ${kid} in ${JSON.stringify(keys)}`);
    const publicKey = crypto.createPublicKey({ key: jwk, format: 'jwk' });
    assert.ok(crypto.verify('RSA-SHA256', Buffer.from(`${header}.${claims}`), publicKey,
                            Buffer.from(signature, 'base64url')));
    assert.ok(!crypto.verify('RSA-SHA256', Buffer.from(`${header}.${claims}x`), publicKey,
                             Buffer.from(signature, 'base64url')));
    const payload = JSON.parse(Buffer.from(claims, 'base64url'));
    assert.equal(payload.aud, 'https://storage.azure.com');
    assert.equal(payload.iss, `https://sts.windows.net/${tenantId}/`);
    assert.equal(payload.appid, clientId);
  });
});
