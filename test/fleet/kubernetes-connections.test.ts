/**
 * deploy/kubernetes/connections: the bridge with several connections — DCR_CONFIG_FILE from a ConfigMap, the keys and
 * credentials from a Secret. Every manifest is validated against the Kubernetes API schemas, the Deployment is the
 * base one but for its variables and the ConfigMap's volume, and the file with the Secret's files is what the bridge
 * accepts: its connections load and each driver's factory takes its settings.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, Secret } from 'kubernetes-models/v1';
import type { IContainer, IPodSpec } from 'kubernetes-models/v1';
import { loadConnections } from '../../src/connections.js';
import { completeDriver } from '../../src/core/driver.js';
import { loadDriver } from '../../src/drivers.js';
import { root } from './bridge-process.js';

interface Manifest {
  file: string;
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

const models: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1 Deployment': Deployment,
  'v1 ConfigMap': ConfigMap,
  'v1 Secret': Secret,
};

function manifestsIn(dir: string): Manifest[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.yaml'))
    .sort()
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((document) => {
        assert.deepEqual(document.errors, [], `${file} is valid YAML`);
        return { file, ...(document.toJS() as Omit<Manifest, 'file'>) };
      }),
    );
}

const manifests = manifestsIn(join(root, 'deploy/kubernetes/connections'));
const base = manifestsIn(join(root, 'deploy/kubernetes'));
const find = (from: Manifest[], kind: string, name: string): Manifest => {
  const found = from.find((manifest) => manifest.kind === kind && manifest.metadata.name === name);
  assert.ok(found, `${kind} ${name} exists`);
  return found;
};
const podSpec = (deployment: Manifest) => (deployment.spec as { template: { spec: IPodSpec } }).template.spec;
const container = (deployment: Manifest): IContainer => podSpec(deployment).containers[0]!;

describe('Kubernetes manifests for several connections', () => {
  it('are each valid against the Kubernetes API schema of their kind', () => {
    assert.deepEqual(manifests.map(({ kind }) => kind).sort(), ['ConfigMap', 'Deployment', 'Secret']);
    for (const manifest of manifests) {
      const Model = models[`${manifest.apiVersion} ${manifest.kind}`];
      assert.ok(Model, `${manifest.file}: ${manifest.apiVersion} ${manifest.kind} has a schema here`);
      const { file: _file, ...body } = manifest;
      assert.doesNotThrow(() => new Model(body as never).validate(), `${manifest.file}: ${manifest.kind}`);
    }
  });

  it('are the base Deployment but for the variables and the ConfigMap volume', () => {
    const strip = (deployment: Manifest) => {
      const copy = structuredClone(deployment) as Manifest;
      const spec = podSpec(copy);
      const first = spec.containers[0]!;
      first.env = [];
      first.volumeMounts = first.volumeMounts?.filter((mount) => mount.name !== 'connections');
      spec.volumes = spec.volumes?.filter((volume) => volume.name !== 'connections');
      return { spec: copy.spec, metadata: copy.metadata };
    };
    assert.deepEqual(strip(find(manifests, 'Deployment', 'dcr-bridge')), strip(find(base, 'Deployment', 'dcr-bridge')));
  });

  it('give the bridge a file it accepts: ConfigMap mounted, Secret files through VAR references and _FILE settings', async () => {
    const deployment = find(manifests, 'Deployment', 'dcr-bridge');
    const bridge = container(deployment);
    const mountOf = (volume: string) => bridge.volumeMounts!.find((mount) => mount.name === volume)!.mountPath;
    const configMap = find(manifests, 'ConfigMap', 'dcr-bridge-connections');
    assert.equal(
      podSpec(deployment).volumes!.find((volume) => volume.name === 'connections')?.configMap?.name,
      configMap.metadata.name,
    );
    const secretMount = mountOf('secrets');
    const files = mkdtempSync(join(tmpdir(), 'dcr-k8s-connections-'));
    try {
      const secret = find(manifests, 'Secret', 'dcr-bridge');
      for (const [key, value] of Object.entries(secret.stringData ?? {})) writeFileSync(join(files, key), value);
      // The mounted paths, as this test's folder: the file's own _FILE settings name the Secret's files too.
      const local = (path: string) =>
        path.replace(`${secretMount}/`, `${files}/`).replace(`${mountOf('connections')}/`, `${files}/`);
      for (const [key, value] of Object.entries(configMap.data ?? {}))
        writeFileSync(join(files, key), value.replaceAll(`${secretMount}/`, `${files}/`));
      const env = Object.fromEntries((bridge.env ?? []).map((entry) => [entry.name, local(entry.value ?? '')]));
      const loaded = loadConnections(env);
      assert.ok(loaded, 'DCR_CONFIG_FILE is set');
      assert.deepEqual(
        loaded.connections.map(({ name, path, driverName }) => [name, path, driverName]),
        [
          ['partners', '/partners', 'okta'],
          ['staff', '/staff', 'keycloak'],
        ],
      );
      assert.deepEqual(loaded.connections[0]!.config.apiKeyNames, ['api7']);
      assert.deepEqual(loaded.connections[1]!.config.apiKeyNames, ['konnect']);
      assert.equal(loaded.config.port, bridge.ports![0]!.containerPort);
      for (const connection of loaded.connections) {
        const driver = completeDriver(
          await loadDriver(connection.driverName, connection.driverEnv, {
            rotationGraceSeconds: 0,
            publicUrl: connection.config.publicUrl,
          }),
        );
        assert.equal(driver.name, connection.driverName);
        await driver.close();
      }
    } finally {
      rmSync(files, { recursive: true, force: true });
    }
  });
});
