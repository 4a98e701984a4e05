// deploy/kubernetes checked without a cluster:
//  - the base and every overlay render with kustomize (`kubectl kustomize`, when kubectl is
//    installed) into the same objects as the renderer here, which the other checks read;
//  - every manifest validates against the Kubernetes API schemas (kubernetes-models, generated
//    from the Kubernetes OpenAPI definitions);
//  - the base's kustomization lists exactly its manifests, and its namespace and image exist;
//  - the base deploys hub2kusto alone; each overlay changes what it says it does;
//  - the pieces agree: probes hit the ops port the config sets, every Secret and ConfigMap key
//    a pod uses exists, every secret file the config reads is mounted, the grace period
//    outlasts the drain deadline, containers run as the image's non-root user with a
//    read-only root filesystem and no privilege escalation, with requests and limits;
//  - the ConfigMap's config passes `hub2kusto check-config` of this build;
//  - the same for the overlays (deploy/kubernetes/overlays/*); workload-identity: no Secret,
//    the federated service account, identity everywhere.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const YAML = require('yaml');
const { jsonc } = require('../support/node');

const root = path.join(__dirname, '..', '..');
const top = path.join(root, 'deploy', 'kubernetes');
const dir = path.join(top, 'base');
const overlays = path.join(top, 'overlays');

// The documents of one YAML file, each with the file it came from.
function parse(file) {
  // YAML 1.1, as Kubernetes reads manifests: 0440 is octal there.
  return YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'), { version: '1.1' }).map((doc) => {
    assert.equal(doc.errors.length, 0, `${file}: ${doc.errors.join('; ')}`);
    return { file: path.relative(dir, file), object: doc.toJSON() };
  });
}

// RFC 6902 operations (add, replace, remove) on `doc`, as kustomize applies a JSON patch.
function applyJsonPatch(doc, operations) {
  for (const { op, path: pointer, value } of operations) {
    const keys = pointer.split('/').slice(1).map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = keys.pop();
    let parent = doc;
    for (const k of keys) {
      parent = parent[k];
      assert.ok(parent !== undefined, `${pointer}: nothing at ${k}`);
    }
    const index = Array.isArray(parent) ? (last === '-' ? parent.length : Number(last)) : last;
    if (op === 'add') {
      if (Array.isArray(parent)) parent.splice(index, 0, value);
      else parent[index] = value;
    } else {
      assert.ok(index in parent, `${pointer}: nothing to ${op}`);
      if (op === 'replace') parent[index] = value;
      else if (op === 'remove' && Array.isArray(parent)) parent.splice(index, 1);
      else if (op === 'remove') delete parent[index];
      else assert.fail(`${pointer}: op ${op} is not used here`);
    }
  }
}

// `kustomize build <kdir>` for what our kustomizations use: resources (files, and directories
// with a kustomization of their own) and patches by target kind and name (JSON patches, or a
// strategic-merge `$patch: delete`). The namespace and image settings are checked apart.
function build(kdir) {
  const k = YAML.parse(fs.readFileSync(path.join(kdir, 'kustomization.yaml'), 'utf8'));
  let out = [];
  for (const r of k.resources) {
    const p = path.join(kdir, r);
    out.push(...(fs.statSync(p).isDirectory() ? build(p) : parse(p)));
  }
  for (const patch of k.patches || []) {
    const text = patch.path ? fs.readFileSync(path.join(kdir, patch.path), 'utf8') : patch.patch;
    const body = YAML.parse(text);
    const targets = out.filter((d) => d.object.kind === patch.target.kind &&
                                      d.object.metadata.name === patch.target.name);
    assert.equal(targets.length, 1, `patch target ${patch.target.kind} ${patch.target.name}`);
    if (Array.isArray(body)) applyJsonPatch(targets[0].object, body);
    else if (body.$patch === 'delete') out = out.filter((d) => d !== targets[0]);
    else assert.fail(`${kdir}: a patch kind this renderer does not know`);
  }
  return out;
}

// The model class for apiVersion/kind, from kubernetes-models.
function model(apiVersion, kind) {
  const group = apiVersion.includes('/') ? apiVersion : `core/${apiVersion}`;
  const [g, v] = group.split('/');
  const module = g === 'core' ? `kubernetes-models/${v}` : `kubernetes-models/${g}/${v}`;
  const cls = require(module)[kind];
  assert.ok(cls, `no schema for ${apiVersion} ${kind}`);
  return cls;
}

function seconds(duration) {
  const m = /^(\d+)(ms|s|m|h)$/.exec(duration);
  assert.ok(m, `not a duration: ${duration}`);
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2]];
}

// Every `*_file` setting of a config: the files hub2kusto reads at start.
function filesRead(config) {
  const files = [];
  (function walk(o) {
    for (const [k, v] of Object.entries(o)) {
      if (k.endsWith('_file')) files.push(v);
      else if (v && typeof v === 'object') walk(v);
    }
  })(config);
  return files;
}

// One rendering of the manifests, and the pieces the checks look at.
function rendering(kdir) {
  const docs = build(kdir);
  const byKind = (kind) => docs.filter((d) => d.object.kind === kind).map((d) => d.object);
  const configMaps = new Map(byKind('ConfigMap').map((c) => [c.metadata.name, c]));
  return {
    docs,
    byKind,
    configMaps,
    secrets: new Map(byKind('Secret').map((s) => [s.metadata.name, s])),
    deployments: byKind('Deployment'),
    config: jsonc(configMaps.get('hub2kusto-config').data['config.jsonc']),
  };
}
const base = rendering(dir);
const workloadIdentity = rendering(path.join(overlays, 'workload-identity'));
const sidecar = rendering(path.join(overlays, 'sidecar'));
const singleReplica = rendering(path.join(overlays, 'single-replica'));
const replicas = rendering(path.join(overlays, 'replicas'));
const { byKind, deployments } = base;
const renderings = [['base', base], ['workload-identity', workloadIdentity], ['sidecar', sidecar],
                    ['single-replica', singleReplica], ['replicas', replicas]];

// What kustomize itself makes of a directory: its objects by kind and name, or null without
// kubectl.
function kustomize(kdir) {
  let out;
  try {
    out = execFileSync('kubectl', ['kustomize', kdir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    if (e.code === 'ENOENT') return null;
    assert.fail(`kubectl kustomize ${path.relative(root, kdir)}: ${e.stderr || e.message}`);
  }
  return YAML.parseAllDocuments(out, { version: '1.1' }).map((d) => d.toJS());
}

const key = (o) => `${o.kind}/${o.metadata.name}`;
for (const kdir of [top, dir, ...fs.readdirSync(overlays).map((o) => path.join(overlays, o))]) {
  const label = path.relative(top, kdir) || 'deploy/kubernetes';
  test(`${label}: kustomize renders it, into the objects checked here`, (t) => {
    const rendered = kustomize(kdir);
    if (rendered === null) {
      t.skip('kubectl is not installed: rendered by this test\'s renderer only');
      return;
    }
    const ours = build(kdir).map((d) => d.object);
    assert.deepEqual(rendered.map(key).sort(), ours.map(key).sort());
    for (const o of rendered.filter((x) => x.kind === 'Deployment')) {
      const mine = ours.find((x) => key(x) === key(o));
      assert.equal(o.metadata.namespace, 'hub2kusto', key(o));
      assert.equal(o.spec.replicas, mine.spec.replicas, key(o));
      assert.deepEqual(o.spec.template.spec.volumes, mine.spec.template.spec.volumes, key(o));
    }
  });
}

test('the base deploys hub2kusto alone; the sidecar example only with its overlay', () => {
  assert.deepEqual(base.deployments.map((d) => d.metadata.name), ['hub2kusto']);
  assert.deepEqual(sidecar.deployments.map((d) => d.metadata.name).sort(),
                   ['hub2kusto', 'telemetry-app']);
  assert.deepEqual(build(top).map((d) => key(d.object)).sort(),
                   base.docs.map((d) => key(d.object)).sort());
});

test('single-replica: one pod and no disruption budget; replicas: four, all but one kept', () => {
  const one = singleReplica.deployments.find((d) => d.metadata.name === 'hub2kusto');
  assert.equal(one.spec.replicas, 1);
  assert.equal(singleReplica.byKind('PodDisruptionBudget').length, 0);
  const four = replicas.deployments.find((d) => d.metadata.name === 'hub2kusto');
  assert.equal(four.spec.replicas, 4);
  const [pdb] = replicas.byKind('PodDisruptionBudget');
  assert.equal(pdb.spec.minAvailable, 3);
});

for (const [label, r] of renderings) {
  test(`${label}: every manifest validates against the Kubernetes API schemas`, () => {
    assert.ok(r.docs.length >= 5);
    for (const { file, object } of r.docs) {
      const Model = model(object.apiVersion, object.kind);
      assert.doesNotThrow(() => new Model(object).validate(), `${file} ${object.kind}`);
    }
  });
}

test('the schema validation catches a broken manifest (so the check above can fail)', () => {
  const broken = structuredClone(deployments[0]);
  broken.spec.template.spec.containers[0].ports[0].containerPort = 'eighty';
  delete broken.spec.selector;
  const Model = model(broken.apiVersion, broken.kind);
  assert.throws(() => new Model(broken).validate(), /containerPort|selector/);
});

test('the kustomization lists exactly the manifests, its namespace and its image', () => {
  const k = YAML.parse(fs.readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8'));
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
  assert.deepEqual([...k.resources].sort(), files.sort());
  assert.ok(byKind('Namespace').some((n) => n.metadata.name === k.namespace));
  const images = deployments.flatMap((d) => d.spec.template.spec.containers.map((c) => c.image.split(':')[0]));
  for (const image of k.images) assert.ok(images.includes(image.name), `image ${image.name} unused`);
});

for (const [label, { configMaps, secrets, config: hub2kustoConfig, ...r }] of renderings) {
for (const deployment of r.deployments) {
  const name = `${label} ${deployment.metadata.name}`;
  const pod = deployment.spec.template.spec;
  const container = pod.containers.find((c) => c.name === 'hub2kusto');

  test(`${name}: selector matches the pod labels`, () => {
    for (const [k, v] of Object.entries(deployment.spec.selector.matchLabels)) {
      assert.equal(deployment.spec.template.metadata.labels[k], v);
    }
  });

  test(`${name}: probes and ports use the ops port the config sets`, () => {
    const env = Object.fromEntries((container.env || []).map((e) => [e.name, e.value]));
    const opsPort = Number(env.HUB2KUSTO_OPS_PORT || hub2kustoConfig.ops.port);
    const ports = new Map(container.ports.map((p) => [p.name, p.containerPort]));
    for (const [probe, path_] of [['livenessProbe', '/healthz'], ['readinessProbe', '/readyz']]) {
      const get = container[probe].httpGet;
      assert.equal(get.path, path_, probe);
      const port = typeof get.port === 'string' ? ports.get(get.port) : get.port;
      assert.equal(port, opsPort, `${probe} port`);
    }
  });

  test(`${name}: mounted secrets are readable by the pod's user and group only`, () => {
    for (const v of pod.volumes || []) {
      if (v.secret) assert.equal(v.secret.defaultMode, 0o440, `${v.name}: mode 0${v.secret.defaultMode.toString(8)}`);
    }
  });

  test(`${name}: the grace period outlasts the drain deadline`, () => {
    const drain = seconds(hub2kustoConfig.shutdown.drain_deadline);
    assert.ok(pod.terminationGracePeriodSeconds >= drain + 5,
              `${pod.terminationGracePeriodSeconds}s grace for a ${drain}s drain`);
  });

  test(`${name}: every ConfigMap and Secret key it uses exists`, () => {
    for (const v of pod.volumes || []) {
      if (v.configMap) {
        const cm = configMaps.get(v.configMap.name);
        assert.ok(cm, `ConfigMap ${v.configMap.name}`);
        for (const item of v.configMap.items || []) assert.ok(item.key in cm.data, item.key);
      }
      if (v.secret) {
        const s = secrets.get(v.secret.secretName);
        assert.ok(s, `Secret ${v.secret.secretName}`);
        const keys = { ...s.data, ...s.stringData };
        for (const item of v.secret.items || []) assert.ok(item.key in keys, item.key);
      }
    }
    for (const c of pod.containers) {
      for (const e of c.env || []) {
        const ref = e.valueFrom && e.valueFrom.secretKeyRef;
        if (ref) {
          const s = secrets.get(ref.name);
          assert.ok(s && ref.key in { ...s.data, ...s.stringData }, `${ref.name}/${ref.key}`);
        }
      }
    }
  });

  test(`${name}: every file the config reads is mounted`, () => {
    const mounts = container.volumeMounts.map((m) => ({
      ...m, volume: pod.volumes.find((v) => v.name === m.name),
    }));
    const mounted = (file) => mounts.some((m) => {
      if (!file.startsWith(m.mountPath + '/')) return false;
      const items = (m.volume.secret || m.volume.configMap || {}).items;
      return !items || items.some((i) => path.join(m.mountPath, i.path) === file);
    });
    for (const f of filesRead(hub2kustoConfig)) assert.ok(mounted(f), `${f} is not mounted`);
    const configArg = container.args[container.args.indexOf('--config') + 1];
    assert.ok(mounted(configArg), `--config ${configArg} is not mounted`);
    // A read-only root filesystem: the stores must not need a local directory.
    assert.equal(hub2kustoConfig.checkpoint.store, 'blob');
    assert.equal(hub2kustoConfig.dead_letter.store, 'blob');
  });

  test(`${name}: runs as the image's non-root user, locked down, with requests and limits`, () => {
    const dockerfile = fs.readFileSync(path.join(root, 'deploy', 'Dockerfile'), 'utf8');
    const user = /^USER (\d+):(\d+)$/m.exec(dockerfile);
    assert.ok(user, 'the Dockerfile sets a numeric USER');
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.runAsUser, Number(user[1]));
    // No API token: hub2kusto never calls the Kubernetes API (workload identity's token is a
    // projected volume of its own, which the webhook adds).
    assert.equal(pod.automountServiceAccountToken, false);
    for (const c of pod.containers) {
      assert.equal(c.securityContext.allowPrivilegeEscalation, false, c.name);
      assert.equal(c.securityContext.readOnlyRootFilesystem, true, c.name);
      assert.deepEqual(c.securityContext.capabilities.drop, ['ALL'], c.name);
      for (const kind of ['requests', 'limits']) {
        assert.ok(c.resources[kind].cpu && c.resources[kind].memory, `${c.name} ${kind}`);
      }
    }
  });
}

}

test('base: the replicas share the hub: rolling updates, a disruption budget, owner ids from pod names', () => {
  const d = deployments.find((x) => x.metadata.name === 'hub2kusto');
  assert.ok(d.spec.replicas >= 2, 'replicas');
  assert.equal(d.spec.strategy.type, 'RollingUpdate');
  assert.equal(d.spec.strategy.rollingUpdate.maxUnavailable, 0);
  const container = d.spec.template.spec.containers.find((c) => c.name === 'hub2kusto');
  const owner = (container.env || []).find((e) => e.name === 'HUB2KUSTO_OWNERSHIP_OWNER_ID');
  assert.equal(owner && owner.valueFrom.fieldRef.fieldPath, 'metadata.name');
  // Ownership needs blob checkpoints, and the config must not turn it off.
  assert.equal(base.config.checkpoint.store, 'blob');
  assert.notEqual((base.config.ownership || {}).enabled, false);
  const pdb = byKind('PodDisruptionBudget').find((p) => p.metadata.name === 'hub2kusto');
  assert.ok(pdb, 'a PodDisruptionBudget');
  assert.ok(pdb.spec.minAvailable >= 1 && pdb.spec.minAvailable < d.spec.replicas);
  for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels)) {
    assert.equal(d.spec.template.metadata.labels[k], v, `PodDisruptionBudget selector ${k}`);
  }
});

test('base: the files the config reads are at least the three connection strings', () => {
  assert.ok(filesRead(base.config).length >= 3, filesRead(base.config).join(', '));
});

test('the ConfigMap config passes hub2kusto check-config', () => {
  const binary = process.env.HUB2KUSTO_BINARY;
  assert.ok(binary, 'HUB2KUSTO_BINARY names the hub2kusto build to check with');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hub2kusto-manifests-'));
  try {
    const config = path.join(work, 'config.jsonc');
    fs.writeFileSync(config, base.configMaps.get('hub2kusto-config').data['config.jsonc']);
    // The Secret's placeholders stand for real strings: well-formed ones in their place.
    const strings = {
      'hub-connection-string': 'Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=a2V5;EntityPath=telemetry',
      'kusto-connection-string': 'Data Source=https://c.westeurope.kusto.windows.net;Initial Catalog=db;AAD Federated Security=True;Application Client Id=app;Application Key=secret;Authority Id=tenant',
      'storage-connection-string': 'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net',
    };
    for (const [k, v] of Object.entries(strings)) fs.writeFileSync(path.join(work, k), v);
    const env = {
      PATH: process.env.PATH,
      HUB2KUSTO_CONNECTIONS_0_SOURCE_CONNECTION_STRING_FILE: path.join(work, 'hub-connection-string'),
      HUB2KUSTO_CONNECTIONS_0_TARGET_CONNECTION_STRING_FILE: path.join(work, 'kusto-connection-string'),
      HUB2KUSTO_CHECKPOINT_BLOB_CONNECTION_STRING_FILE: path.join(work, 'storage-connection-string'),
      HUB2KUSTO_DEAD_LETTER_BLOB_CONNECTION_STRING_FILE: path.join(work, 'storage-connection-string'),
    };
    const out = execFileSync(binary, ['check-config', '--config', config], { env, encoding: 'utf8' });
    const effective = JSON.parse(out.slice(out.indexOf('{')));
    assert.equal(effective.ops.port, base.config.ops.port);
    assert.equal(effective.checkpoint.store, 'blob');
    assert.equal(effective.ownership.enabled, true);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});

// The variables the kubelet injects into every pod of the namespace for a Service, as the
// Kubernetes documentation lists them ("Services", "Environment variables").
function serviceLinkVariables(service, ip = '10.0.12.7') {
  const name = service.metadata.name.toUpperCase().replace(/-/g, '_');
  const vars = { [`${name}_SERVICE_HOST`]: ip };
  service.spec.ports.forEach((p, i) => {
    const proto = (p.protocol || 'TCP').toUpperCase();
    const base = `${name}_PORT_${p.port}_${proto}`;
    if (i === 0) {
      vars[`${name}_SERVICE_PORT`] = String(p.port);
      vars[`${name}_PORT`] = `${proto.toLowerCase()}://${ip}:${p.port}`;
    }
    if (p.name) vars[`${name}_SERVICE_PORT_${p.name.toUpperCase().replace(/-/g, '_')}`] = String(p.port);
    vars[base] = `${proto.toLowerCase()}://${ip}:${p.port}`;
    vars[`${base}_PROTO`] = proto.toLowerCase();
    vars[`${base}_PORT`] = String(p.port);
    vars[`${base}_ADDR`] = ip;
  });
  return vars;
}

test('pods take no service links, and hub2kusto ignores them where a cluster injects them', () => {
  for (const d of deployments) {
    assert.equal(d.spec.template.spec.enableServiceLinks, false, `${d.metadata.name}: enableServiceLinks`);
  }
  const binary = process.env.HUB2KUSTO_BINARY;
  assert.ok(binary, 'HUB2KUSTO_BINARY names the hub2kusto build to check with');
  const links = Object.assign({}, ...byKind('Service').map((s) => serviceLinkVariables(s)));
  assert.ok(Object.keys(links).some((k) => k.startsWith('HUB2KUSTO_')), 'a Service makes HUB2KUSTO_* variables');
  const env = {
    PATH: process.env.PATH,
    ...links,
    HUB2KUSTO_CONNECTIONS_0_SOURCE_CONNECTION_STRING: 'Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=a2V5;EntityPath=telemetry',
    HUB2KUSTO_CONNECTIONS_0_TARGET_CONNECTION_STRING: 'Data Source=http://127.0.0.1:8080;Initial Catalog=db',
    HUB2KUSTO_CONNECTIONS_0_TARGET_TABLE: 'T',
  };
  const out = execFileSync(binary, ['check-config'], { env, encoding: 'utf8' });
  const effective = JSON.parse(out.slice(out.indexOf('{')));
  assert.equal(effective.ops.port, 8080);
});

test('workload-identity: the pod runs as the federated service account, with no Secret', () => {
  const [deployment] = workloadIdentity.deployments;
  assert.equal(workloadIdentity.deployments.length, 1);
  const pod = deployment.spec.template;
  assert.equal(pod.metadata.labels['azure.workload.identity/use'], 'true');
  const account = workloadIdentity.byKind('ServiceAccount')
    .find((a) => a.metadata.name === pod.spec.serviceAccountName);
  assert.ok(account, `ServiceAccount ${pod.spec.serviceAccountName}`);
  assert.match(account.metadata.annotations['azure.workload.identity/client-id'],
               /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.equal(workloadIdentity.secrets.size, 0);
  assert.ok(pod.spec.volumes.every((v) => !v.secret), 'a Secret volume');
  assert.deepEqual(filesRead(workloadIdentity.config), []);
});

test('workload-identity: check-config takes the config with the webhook\'s variables alone', () => {
  const binary = process.env.HUB2KUSTO_BINARY;
  assert.ok(binary, 'HUB2KUSTO_BINARY names the hub2kusto build to check with');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hub2kusto-manifests-'));
  try {
    // The placeholders stand for an operator's names.
    const text = workloadIdentity.configMaps.get('hub2kusto-config').data['config.jsonc']
      .replace(/<namespace>/g, 'ns').replace(/<hub>/g, 'telemetry').replace(/<cluster>/g, 'c')
      .replace(/<region>/g, 'westeurope').replace(/<database>/g, 'db')
      .replace(/<account>/g, 'acct');
    assert.doesNotMatch(text, /</);
    const config = path.join(work, 'config.jsonc');
    fs.writeFileSync(config, text);
    fs.writeFileSync(path.join(work, 'azure-identity-token'), 'projected-token');
    const env = { // what the AKS workload identity webhook injects
      PATH: process.env.PATH,
      AZURE_CLIENT_ID: '00000000-0000-0000-0000-000000000000',
      AZURE_TENANT_ID: '11111111-1111-1111-1111-111111111111',
      AZURE_FEDERATED_TOKEN_FILE: path.join(work, 'azure-identity-token'),
      AZURE_AUTHORITY_HOST: 'https://login.microsoftonline.com/',
    };
    const out = execFileSync(binary, ['check-config', '--config', config], { env, encoding: 'utf8' });
    const effective = JSON.parse(out.slice(out.indexOf('{')));
    const credentials = [effective.connections[0].source.credential,
                         effective.connections[0].target.credential,
                         effective.checkpoint.credential, effective.dead_letter.credential];
    for (const c of credentials) {
      assert.equal(c.kind, 'workload_identity', JSON.stringify(c));
      assert.equal(c.client_id, `${env.AZURE_CLIENT_ID} (environment AZURE_CLIENT_ID)`);
    }
    assert.equal(effective.checkpoint.blob_endpoint, 'https://acct.blob.core.windows.net');
    assert.equal(effective.secret_sources, undefined);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});

// KEDA's resources have no schema in kubernetes-models: their shape is checked here, against
// KEDA's Azure Event Hubs scaler documentation, and against the base they scale.
test('keda: the ScaledObject scales the hub2kusto Deployment on the checkpoints hub2kusto writes', () => {
  const keda = rendering(path.join(overlays, 'keda'));
  const [scaled] = keda.byKind('ScaledObject');
  assert.ok(scaled, 'a ScaledObject');
  assert.equal(scaled.apiVersion, 'keda.sh/v1alpha1');
  const target = keda.deployments.find((d) => d.metadata.name === scaled.spec.scaleTargetRef.name);
  assert.ok(target, `scaleTargetRef ${scaled.spec.scaleTargetRef.name} is a Deployment`);
  assert.ok(scaled.spec.minReplicaCount >= 1, 'never scaled to zero: /readyz and metrics stay up');
  assert.ok(scaled.spec.maxReplicaCount >= scaled.spec.minReplicaCount);
  const [trigger] = scaled.spec.triggers;
  assert.equal(trigger.type, 'azure-eventhub');
  // Reads the checkpoints where hub2kusto keeps them, for the group it reads.
  assert.equal(trigger.metadata.checkpointStrategy, 'blobMetadata');
  assert.equal(trigger.metadata.blobContainer, keda.config.checkpoint.container);
  assert.equal(trigger.metadata.consumerGroup, keda.config.connections[0].source.consumer_group);
  assert.ok(Number(trigger.metadata.unprocessedEventThreshold) > 0);
  const auth = keda.byKind('TriggerAuthentication')
      .find((a) => a.metadata.name === trigger.authenticationRef.name);
  assert.ok(auth, `TriggerAuthentication ${trigger.authenticationRef.name}`);
  const refs = Object.fromEntries(auth.spec.secretTargetRef.map((r) => [r.parameter, r]));
  assert.deepEqual(Object.keys(refs).sort(), ['connection', 'storageConnection']);
  for (const r of Object.values(refs)) {
    const secret = keda.secrets.get(r.name);
    assert.ok(secret, `Secret ${r.name}`);
    assert.ok(r.key in (secret.stringData || secret.data || {}), `Secret key ${r.key}`);
  }
  // The same strings hub2kusto reads: the hub's and the checkpoint account's.
  const mounted = (file) => path.basename(file);
  assert.equal(refs.connection.key, mounted(keda.config.connections[0].source.connection_string_file));
  assert.equal(refs.storageConnection.key, mounted(keda.config.checkpoint.blob_connection_string_file));
});
