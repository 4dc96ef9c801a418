/**
 * Endpoints that answer without a key: liveness, readiness (the driver reaches its IdP within a deadline; cached
 * briefly so probes do not load the IdP), Prometheus metrics, and the API description with its rendered reference page.
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
/**
 * How long `/readyz` waits for the IdP before it answers 503: under the 3 s `timeoutSeconds` of the shipped probes,
 * whatever the driver's own timeouts and retries would take (an IdP down could take several seconds of retries).
 */
export const readinessDeadlineMs = 1_500;

function realTimer(callback: () => void, ms: number): () => void {
  const timer = setTimeout(callback, ms);
  timer.unref();
  return () => clearTimeout(timer);
}

export function operationsRouter({
  driver,
  metrics,
  spec,
  now = Date.now,
  setTimer = realTimer,
}: {
  driver: DcrDriver;
  metrics: BridgeMetrics;
  spec: ApiSpec;
  now?: () => number;
  /** The timer of the readiness deadline; tests pass a virtual clock's. */
  setTimer?: (callback: () => void, ms: number) => () => void;
}): Router {
  const router = Router();
  const referencePage = renderReferencePage(spec.document);
  let readiness: { checkedAt: number; outcome: Promise<BridgeError | undefined> } | undefined;

  const checkReadiness = (): Promise<BridgeError | undefined> => {
    if (readiness && now() - readiness.checkedAt < readinessCacheMs) return readiness.outcome;
    const checked = driver.checkReadiness().then(
      () => undefined,
      (error: unknown) => (error instanceof BridgeError && error.status >= 500 ? error : new IdpUnavailableError()),
    );
    let cancel = (): void => undefined;
    const deadline = new Promise<BridgeError>((resolve) => {
      cancel = setTimer(() => resolve(new IdpUnavailableError()), readinessDeadlineMs);
    });
    const outcome = Promise.race([checked, deadline]).finally(() => cancel());
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
