/**
 * deploy/kubernetes: every manifest validated against the Kubernetes API schemas (kubernetes-models), and what they
 * promise checked against what the bridge does: probes on its endpoints, the grace period covering its shutdown,
 * security settings, and the Deployment's own variables and Secret files accepted by the bridge's configuration.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Secret, Service } from 'kubernetes-models/v1';
import type { IContainer, IPodSpec } from 'kubernetes-models/v1';
import { completeDriver } from '../../src/core/driver.js';
import { loadDriver } from '../../src/drivers.js';
import { loadConfig } from '../../src/config.js';
import { root } from './bridge-process.js';

const dir = join(root, 'deploy/kubernetes');
const models: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1 Deployment': Deployment,
  'autoscaling/v2 HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1 NetworkPolicy': NetworkPolicy,
  'policy/v1 PodDisruptionBudget': PodDisruptionBudget,
  'v1 Secret': Secret,
  'v1 Service': Service,
};

interface Manifest {
  file: string;
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  stringData?: Record<string, string>;
}

const manifests: Manifest[] = readdirSync(dir)
  .filter((file) => file.endsWith('.yaml'))
  .sort()
  .flatMap((file) =>
    parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((document) => {
      assert.deepEqual(document.errors, [], `${file} is valid YAML`);
      return { file, ...(document.toJS() as Omit<Manifest, 'file'>) };
    }),
  );

const find = (kind: string, name: string): Manifest => {
  const found = manifests.find((manifest) => manifest.kind === kind && manifest.metadata.name === name);
  assert.ok(found, `${kind} ${name} exists`);
  return found;
};
const bridgeDeployment = () => find('Deployment', 'dcr-bridge');
const podSpec = (deployment: Manifest) => (deployment.spec as { template: { spec: IPodSpec } }).template.spec;
const bridgeContainer = (): IContainer => podSpec(bridgeDeployment()).containers[0]!;
const envOf = (container: IContainer): Record<string, string> =>
  Object.fromEntries((container.env ?? []).map((entry) => [entry.name, entry.value ?? '']));

describe('Kubernetes manifests', () => {
  it('are each valid against the Kubernetes API schema of their kind', () => {
    assert.ok(manifests.length >= 8);
    for (const manifest of manifests) {
      const Model = models[`${manifest.apiVersion} ${manifest.kind}`];
      assert.ok(Model, `${manifest.file}: ${manifest.apiVersion} ${manifest.kind} has a schema here`);
      const { file: _file, ...body } = manifest;
      assert.doesNotThrow(
        () => new Model(body as never).validate(),
        `${manifest.file}: ${manifest.kind} ${manifest.metadata.name}`,
      );
    }
  });

  it('rejects a manifest the API would reject (the validation is real)', () => {
    const { file: _file, ...body } = bridgeDeployment();
    const broken = structuredClone(body) as unknown as { spec: { replicas: unknown } };
    broken.spec.replicas = 'two';
    assert.throws(() => new Deployment(broken as never).validate());
  });

  it('run two replicas, probe /healthz and /readyz, and give the shutdown its whole grace', () => {
    const deployment = bridgeDeployment();
    assert.equal((deployment.spec as { replicas: number }).replicas, 2);
    const container = bridgeContainer();
    assert.equal(container.livenessProbe?.httpGet?.path, '/healthz');
    assert.equal(container.startupProbe?.httpGet?.path, '/healthz');
    assert.equal(container.readinessProbe?.httpGet?.path, '/readyz');
    const env = envOf(container);
    const shutdownGrace = Number(env.DCR_SHUTDOWN_GRACE_SECONDS);
    const defaults = loadConfig({});
    assert.ok(shutdownGrace >= defaults.idpRetryBudgetMs / 1000, 'the shutdown grace covers the IdP retry budget');
    const preStop = container.lifecycle?.preStop?.sleep?.seconds ?? 0;
    // After the grace, the IdP calls of cut requests settle for at most the retry budget plus one timeout.
    const settle = (defaults.idpRetryBudgetMs + defaults.idpTimeoutMs) / 1000;
    assert.ok(
      (podSpec(deployment).terminationGracePeriodSeconds ?? 30) > preStop + shutdownGrace + settle,
      'Kubernetes waits longer than the bridge',
    );
    assert.ok(
      container.resources?.requests?.cpu && container.resources.requests.memory && container.resources.limits?.memory,
    );
  });

  it('run as a non-root user with a read-only root filesystem and no capabilities', () => {
    for (const deployment of manifests.filter((manifest) => manifest.kind === 'Deployment')) {
      const spec = podSpec(deployment);
      assert.equal(spec.securityContext?.runAsNonRoot, true, deployment.metadata.name);
      assert.notEqual(spec.securityContext?.runAsUser, 0);
      assert.equal(spec.automountServiceAccountToken, false);
      for (const container of spec.containers) {
        assert.equal(
          container.securityContext?.readOnlyRootFilesystem,
          true,
          `${deployment.metadata.name}/${container.name}`,
        );
        assert.equal(container.securityContext?.allowPrivilegeEscalation, false);
        assert.deepEqual(container.securityContext?.capabilities?.drop, ['ALL']);
      }
    }
  });

  it('point the Service, the PodDisruptionBudget and the HorizontalPodAutoscaler at the Deployment', () => {
    const labels = (bridgeDeployment().spec as { template: { metadata: { labels: Record<string, string> } } }).template
      .metadata.labels;
    const matches = (selector: Record<string, string>) =>
      Object.entries(selector).every(([key, value]) => labels[key] === value);
    assert.ok(matches((find('Service', 'dcr-bridge').spec as { selector: Record<string, string> }).selector));
    const pdb = find('PodDisruptionBudget', 'dcr-bridge').spec as {
      selector: { matchLabels: Record<string, string> };
      minAvailable: number;
    };
    assert.ok(matches(pdb.selector.matchLabels));
    assert.ok(pdb.minAvailable < 2, 'a drain can proceed with two replicas');
    const hpa = find('HorizontalPodAutoscaler', 'dcr-bridge').spec as {
      scaleTargetRef: { kind: string; name: string };
      minReplicas: number;
    };
    assert.deepEqual([hpa.scaleTargetRef.kind, hpa.scaleTargetRef.name], ['Deployment', 'dcr-bridge']);
    assert.ok(hpa.minReplicas >= 2);
    const redisService = find('Service', 'dcr-bridge-redis');
    assert.equal(envOf(bridgeContainer()).DCR_REDIS_URL, `redis://${redisService.metadata.name}:6379`);
  });

  it("give the bridge settings it accepts: the Secret's files through the _FILE variables", async () => {
    const container = bridgeContainer();
    const secretMount = container.volumeMounts!.find((mount) => mount.name === 'secrets')!;
    const secret = find('Secret', 'dcr-bridge');
    const files = mkdtempSync(join(tmpdir(), 'dcr-k8s-secret-'));
    try {
      for (const [key, value] of Object.entries(secret.stringData ?? {})) writeFileSync(join(files, key), value);
      const env = envOf(container);
      for (const [name, value] of Object.entries(env)) {
        if (!name.endsWith('_FILE')) continue;
        assert.ok(value.startsWith(`${secretMount.mountPath}/`), `${name} is a file of the mounted Secret`);
        env[name] = join(files, value.slice(secretMount.mountPath.length + 1));
      }
      const config = loadConfig(env);
      assert.deepEqual(config.apiKeyNames, ['api7', 'konnect']);
      assert.equal(config.redisUrl, 'redis://dcr-bridge-redis:6379');
      assert.equal(config.port, container.ports![0]!.containerPort);
      const driver = completeDriver(
        await loadDriver(config.driverName, env, { rotationGraceSeconds: 0, publicUrl: config.publicUrl }),
      );
      assert.equal(driver.name, 'okta');
      await driver.close();
    } finally {
      rmSync(files, { recursive: true, force: true });
    }
  });
});
