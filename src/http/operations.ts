/**
 * Endpoints that answer without a key: where to start (`GET /`), liveness, readiness (the driver reaches its IdP within
 * a deadline; cached briefly so probes do not load the IdP), Prometheus metrics, the version, and the API description
 * with its rendered reference page.
 */
import { Router } from 'express';
import { readBuildInfo, type BuildInfo } from '../build-info.js';
import type { DcrDriver } from '../driver/contract.js';
import { BridgeError, IdpUnavailableError } from '../errors.js';
import type { BridgeMetrics } from '../metrics.js';
import { referenceRouter } from './docs.js';
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

/** What `GET /` answers: relative links, so they hold behind any public URL. */
export const startLinks = {
  name: 'dcr-bridge',
  docs: 'docs',
  openapi: 'openapi.yaml',
  health: 'healthz',
  readiness: 'readyz',
  version: 'version',
  readme: 'README.md at the root of the repository: set-up, walkthrough, pointing a portal at the bridge',
} as const;

const startPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dcr-bridge</title></head><body>
<h1>dcr-bridge</h1>
<p>An HTTP Dynamic Client Registration bridge. Portals call it with an API key; nothing here needs one.</p>
<ul>
<li><a href="docs">API reference</a> (<a href="openapi.yaml">openapi.yaml</a>)</li>
<li><a href="healthz">healthz</a>, <a href="readyz">readyz</a>, <a href="version">version</a></li>
<li>README.md at the root of the repository: set-up, walkthrough, pointing a portal at the bridge</li>
</ul>
</body></html>
`;

/** One connection as `/readyz` reports it (DCR_CONFIG_FILE): its driver, and whether its failure fails the bridge. */
export interface ReadinessTarget {
  name: string;
  driver: DcrDriver;
  required: boolean;
}

/** The driver's readiness, cached briefly: every failure is an error of status 5xx. */
function cachedReadiness(
  driver: DcrDriver,
  now: () => number,
  setTimer: (callback: () => void, ms: number) => () => void,
): () => Promise<BridgeError | undefined> {
  let readiness: { checkedAt: number; outcome: Promise<BridgeError | undefined> } | undefined;
  return () => {
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
}

/**
 * Several connections: each one's readiness in `connections` (`ok` or its error code); the bridge is ready unless a
 * required one fails, and then the error names those (names only, never a host).
 */
function connectionsReadiness(
  targets: readonly ReadinessTarget[],
  now: () => number,
  setTimer: (callback: () => void, ms: number) => () => void,
): () => Promise<{ report: Record<string, string>; failure?: BridgeError }> {
  const checks = targets.map((target) => ({ ...target, check: cachedReadiness(target.driver, now, setTimer) }));
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
  setTimer = realTimer,
  buildInfo = readBuildInfo(),
}: {
  driver?: DcrDriver;
  /** Instead of `driver`: the connections of DCR_CONFIG_FILE, each reported by `/readyz`. */
  connections?: readonly ReadinessTarget[];
  /** Only its registry's exposition is served (several connections' registries merged, src/connections-app.ts). */
  metrics: { registry: Pick<BridgeMetrics['registry'], 'contentType' | 'metrics'> };
  spec: ApiSpec;
  now?: () => number;
  /** The timer of the readiness deadline; tests pass a virtual clock's. */
  setTimer?: (callback: () => void, ms: number) => () => void;
  buildInfo?: BuildInfo;
}): Router {
  const router = Router();
  const checkReadiness = driver ? cachedReadiness(driver, now, setTimer) : async () => undefined;
  const checkConnections = connections ? connectionsReadiness(connections, now, setTimer) : undefined;

  // A browser pointed at the bridge, or a curl without a key, learns where to go instead of meeting a 401.
  router.get('/', labelRoute, (_req, res) => {
    res.format({
      json: () => void res.json(startLinks),
      html: () => void res.send(startPage),
      default: () => void res.json(startLinks),
    });
  });
  router.get('/version', labelRoute, (_req, res) => {
    res.json({ version: buildInfo.version, commit: buildInfo.commit });
  });
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
  router.use(referenceRouter(spec.document.info.title));
  return router;
}
