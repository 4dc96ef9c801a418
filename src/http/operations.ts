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

export function operationsRouter({
  driver,
  metrics,
  spec,
  now = Date.now,
}: {
  driver: DcrDriver;
  metrics: BridgeMetrics;
  spec: ApiSpec;
  now?: () => number;
}): Router {
  const router = Router();
  const referencePage = renderReferencePage(spec.document);
  let readiness: { checkedAt: number; outcome: Promise<BridgeError | undefined> } | undefined;

  const checkReadiness = (): Promise<BridgeError | undefined> => {
    if (readiness && now() - readiness.checkedAt < readinessCacheMs) return readiness.outcome;
    const outcome = driver.checkReadiness().then(
      () => undefined,
      (error: unknown) => (error instanceof BridgeError && error.status >= 500 ? error : new IdpUnavailableError()),
    );
    readiness = { checkedAt: now(), outcome };
    return outcome;
  };

  router.get('/healthz', labelRoute, (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', labelRoute, async (_req, res) => {
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
