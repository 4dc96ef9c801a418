/**
 * deploy/helm/dcr-bridge: `helm lint` and `helm template` with a real helm, built once from the Go module proxy into
 * a cache outside the clone (~/.cache/dcr-bridge/helm, or DCR_HELM_CACHE_DIR); every rendered manifest is validated
 * against the Kubernetes API schema of its kind (kubernetes-models), and the Deployment's variables are accepted by
 * the bridge's own configuration. Without Go on the machine the test fails with the reason.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Secret, Service } from 'kubernetes-models/v1';
import type { IContainer } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config.js';
import { root } from '../fleet/bridge-process.js';
import { onPath } from '../support/debian-package.js';

const helmVersion = 'v3.16.4';
const chart = join(root, 'deploy', 'helm', 'dcr-bridge');
const cacheDir = process.env.DCR_HELM_CACHE_DIR ?? join(homedir(), '.cache', 'dcr-bridge', 'helm');
const models: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1 Deployment': Deployment,
  'autoscaling/v2 HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1 PodDisruptionBudget': PodDisruptionBudget,
  'v1 Secret': Secret,
  'v1 Service': Service,
};

/** helm from the cache, built there first with `go install` when missing (minutes, once). */
function ensureHelm(): string {
  const helm = join(cacheDir, 'bin', 'helm');
  if (existsSync(helm)) return helm;
  const go = onPath('go');
  assert.ok(go, 'the Helm test builds helm with Go, which is not installed (apt-get install -y golang-go)');
  mkdirSync(cacheDir, { recursive: true });
  const built = spawnSync(go, ['install', `helm.sh/helm/v3/cmd/helm@${helmVersion}`], {
    stdio: 'inherit',
    timeout: 1_800_000,
    env: {
      ...process.env,
      GOFLAGS: '-mod=mod',
      GOBIN: join(cacheDir, 'bin'),
      GOPATH: join(cacheDir, 'gopath'),
      GOCACHE: join(cacheDir, 'gocache'),
    },
  });
  assert.equal(built.status, 0, `go install helm.sh/helm/v3/cmd/helm@${helmVersion} failed`);
  return helm;
}

interface Rendered {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec?: Record<string, unknown>;
}

const secretValues = [
  '--set',
  'secrets.values.api-keys=api7:portal-key-0123456789',
  '--set',
  'secrets.values.okta-api-token=t0k3n',
];

describe('the Helm chart', () => {
  let helm = '';
  const run = (...args: string[]) => spawnSync(helm, args, { encoding: 'utf8', timeout: 120_000 });
  const render = (...args: string[]): Rendered[] => {
    const result = run('template', 'acme', chart, ...args);
    assert.equal(result.status, 0, result.stderr);
    return parseAllDocuments(result.stdout)
      .map((document) => document.toJS() as Rendered | null)
      .filter((document): document is Rendered => document !== null);
  };
  const container = (documents: Rendered[]) =>
    (
      documents.find((document) => document.kind === 'Deployment')!.spec as {
        template: { spec: { containers: IContainer[] } };
      }
    ).template.spec.containers[0]!;

  before(() => {
    helm = ensureHelm();
  });

  it('passes helm lint', () => {
    const result = run('lint', '--strict', chart, ...secretValues);
    assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
  });

  it('renders manifests that are each valid against the Kubernetes API schema of their kind', () => {
    for (const values of [
      secretValues,
      [...secretValues, '--set', 'autoscaling.enabled=true', '--set', 'redisUrl=redis://redis:6379'],
      ['--set', 'secrets.existingSecret=mine', '--set', 'driver=local', '--set', 'replicaCount=1', '--set', 'env=null'],
    ]) {
      const documents = render(...values);
      assert.ok(documents.some((document) => document.kind === 'Deployment'));
      for (const document of documents) {
        const Model = models[`${document.apiVersion} ${document.kind}`];
        assert.ok(Model, `a model for ${document.apiVersion} ${document.kind}`);
        new Model(document as never).validate();
      }
    }
  });

  it("renders variables the bridge's configuration accepts, and a grace period covering its shutdown", () => {
    const documents = render(...secretValues);
    const env: Record<string, string> = {};
    for (const variable of container(documents).env ?? []) env[variable.name] = variable.value ?? '';
    assert.equal(env.DCR_API_KEYS_FILE, '/run/secrets/dcr-bridge/api-keys');
    assert.equal(env.OKTA_API_TOKEN_FILE, '/run/secrets/dcr-bridge/okta-api-token');
    const { DCR_API_KEYS_FILE: _file, OKTA_API_TOKEN_FILE: _token, ...plain } = env;
    const config = loadConfig({ ...plain, DCR_API_KEYS: 'portal-key-0123456789' });
    assert.equal(config.driverName, 'okta');
    assert.equal(config.shutdownGraceSeconds, 40);
    const pod = (
      documents.find((document) => document.kind === 'Deployment')!.spec as {
        template: { spec: { terminationGracePeriodSeconds: number } };
      }
    ).template.spec;
    assert.ok(pod.terminationGracePeriodSeconds >= 5 + 40 + 35, 'preStop + grace + the cut calls');
    const secret = documents.find((document) => document.kind === 'Secret') as unknown as {
      stringData: Record<string, string>;
    };
    assert.deepEqual(Object.keys(secret.stringData).sort(), ['api-keys', 'okta-api-token']);
  });

  it('refuses what cannot work: local with several replicas, a grace under the retry budget, a missing secret', () => {
    for (const [values, reason] of [
      [['--set', 'driver=local', ...secretValues], /local driver/],
      [['--set', 'shutdownGraceSeconds=10', ...secretValues], /retry budget/],
      [[], /secrets.values.api-keys/],
    ] as const) {
      const result = run('template', 'acme', chart, ...values);
      assert.notEqual(result.status, 0);
      assert.match(result.stderr, reason);
    }
  });
});
