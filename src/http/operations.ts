/**
 * Endpoints that answer without a key: liveness, readiness (the driver reaches its IdP; cached briefly so probes do
 * not load the IdP), Prometheus metrics, and the API description with its rendered reference page.
 */
import { Router } from 'express';
import type { DcrDriver } from '../driver/contract.js';
import { BridgeError, IdpUnavailableError } from '../errors.js';
import type { BridgeMetrics } from '../metrics.js';
import { renderReferencePage } from './docs.js';
import { sendError } from './errors.js';
import { labelRoute } from './request-context.js';
import type { ApiSpec } from './spec.js';

const readinessCacheMs = 2_000;

/** One connection as `/readyz` reports it (DCR_CONFIG_FILE): its driver, and whether its failure fails the bridge. */
export interface ReadinessTarget {
  name: string;
  driver: DcrDriver;
  required: boolean;
}

/** The driver's readiness, cached briefly: every failure is an error of status 5xx. */
function cachedReadiness(driver: DcrDriver, now: () => number): () => Promise<BridgeError | undefined> {
  let readiness: { checkedAt: number; outcome: Promise<BridgeError | undefined> } | undefined;
  return () => {
    if (readiness && now() - readiness.checkedAt < readinessCacheMs) return readiness.outcome;
    const outcome = driver.checkReadiness().then(
      () => undefined,
      (error: unknown) => (error instanceof BridgeError && error.status >= 500 ? error : new IdpUnavailableError()),
    );
    readiness = { checkedAt: now(), outcome };
    return outcome;
  };
}

/**
 * Several connections: each one's readiness in `connections` (`ok` or its error code); the bridge is ready unless a
 * required one fails, and then the error names those (names only, never a host).
 */
function connectionsReadiness(
  targets: readonly ReadinessTarget[],
  now: () => number,
): () => Promise<{ report: Record<string, string>; failure?: BridgeError }> {
  const checks = targets.map((target) => ({ ...target, check: cachedReadiness(target.driver, now) }));
  return async () => {
    const outcomes = await Promise.all(checks.map(({ check }) => check()));
    const report: Record<string, string> = {};
    const failed: string[] = [];
    let retryAfterSeconds: number | undefined;
    checks.forEach(({ name, required }, index) => {
      const failure = outcomes[index];
      report[name] = failure ? failure.code : 'ok';
      if (!failure || !required) return;
      failed.push(name);
      if (failure.retryAfterSeconds !== undefined)
        retryAfterSeconds = Math.max(retryAfterSeconds ?? 0, failure.retryAfterSeconds);
    });
    if (failed.length === 0) return { report };
    const failure = new IdpUnavailableError(
      `The identity provider of connection ${failed.join(', ')} cannot be reached with the bridge credentials; retry later.`,
      retryAfterSeconds !== undefined ? { retryAfterSeconds } : undefined,
    );
    return { report, failure };
  };
}

export function operationsRouter({
  driver,
  connections,
  metrics,
  spec,
  now = Date.now,
}: {
  driver?: DcrDriver;
  /** Instead of `driver`: the connections of DCR_CONFIG_FILE, each reported by `/readyz`. */
  connections?: readonly ReadinessTarget[];
  /** Only its registry's exposition is served (several connections' registries merged, src/connections-app.ts). */
  metrics: { registry: Pick<BridgeMetrics['registry'], 'contentType' | 'metrics'> };
  spec: ApiSpec;
  now?: () => number;
}): Router {
  const router = Router();
  const referencePage = renderReferencePage(spec.document);
  const checkReadiness = driver ? cachedReadiness(driver, now) : async () => undefined;
  const checkConnections = connections ? connectionsReadiness(connections, now) : undefined;

  router.get('/healthz', labelRoute, (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', labelRoute, async (_req, res) => {
    if (checkConnections) {
      const { report, failure } = await checkConnections();
      if (!failure) return void res.json({ status: 'ok', connections: report });
      return void sendError(res, failure);
    }
    const failure = await checkReadiness();
    if (!failure) return void res.json({ status: 'ok' });
    const unavailable = new IdpUnavailableError(
      'The identity provider cannot be reached with the bridge credentials; retry later.',
      failure.retryAfterSeconds !== undefined ? { retryAfterSeconds: failure.retryAfterSeconds } : undefined,
    );
    sendError(res, unavailable);
  });
  router.get('/metrics', labelRoute, async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  router.get('/openapi.yaml', labelRoute, (_req, res) => {
    res.type('application/yaml').send(spec.text);
  });
  router.get('/docs', labelRoute, (_req, res) => {
    res.type('html').send(referencePage);
  });
  return router;
}
