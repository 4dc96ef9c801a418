/**
 * Endpoints that answer without a key: where to start (`GET /`), liveness, readiness (the driver reaches its IdP;
 * cached briefly so probes do not load the IdP), Prometheus metrics, the version, and the API description with its
 * rendered reference page.
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

export function operationsRouter({
  driver,
  metrics,
  spec,
  now = Date.now,
  buildInfo = readBuildInfo(),
}: {
  driver: DcrDriver;
  metrics: BridgeMetrics;
  spec: ApiSpec;
  now?: () => number;
  buildInfo?: BuildInfo;
}): Router {
  const router = Router();
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
