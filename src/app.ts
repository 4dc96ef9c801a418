/**
 * The app factory: both portal dialects and the operations endpoints in one Express app. Order matters and reads
 * top to bottom: request id → trace span (when tracing is on) → security headers → path checks → the driver's public
 * routes → operations (no key) → standard DCR → no-store → audit → API key → rate limit → dialect routes (which then read and
 * validate bodies) → the one error renderer.
 */
import type { Writable } from 'node:stream';
import express from 'express';
import helmet from 'helmet';
import { wrapDriver, type DriverObserver } from './core/driver.js';
import type { DcrDriver, DriverImplementation } from './driver/contract.js';
import { auditRequests, auditSweeps, writeAuditTrail } from './audit.js';
import { apiKeyFingerprint, type BridgeConfig } from './config.js';
import { NotFoundError } from './errors.js';
import { BridgeEvents, type BridgeEventMap, type BridgeEventName } from './events.js';
import { api7Router } from './http/api7.js';
import { requireApiKey } from './http/auth.js';
import { forbidCaching } from './http/caching.js';
import { errorRenderer } from './http/errors.js';
import { konnectRouter } from './http/konnect.js';
import { operationsRouter } from './http/operations.js';
import { operatorRouter } from './http/operator.js';
import { answerFaviconNotFound, refuseMalformedPath, refuseTrace } from './http/paths.js';
import { withPublicOrigin } from './http/public-origin.js';
import { createRateLimits } from './http/rate-limits.js';
import { standardDcrFor } from './http/register.js';
import { precomputedHeaders } from './http/security-headers.js';
import { assignRequestId, observeRequests } from './http/request-context.js';
import { loadApiSpec, type ApiSpec } from './http/spec.js';
import { createLogger, type Logger } from './logging.js';
import { memoryJournal, openPendingJournal, PendingRegistrations } from './pending.js';
import { countEvents, createMetrics, driverMetrics, type BridgeMetrics } from './metrics.js';
import type { Tracing } from './tracing.js';

export interface AppOptions {
  logger?: Logger;
  metrics?: BridgeMetrics;
  /** Lets the caller listen to what the bridge does (main's sweep emits here too). */
  events?: BridgeEvents;
  /** OpenTelemetry (src/tracing.ts), when it is on; main loads it only then. */
  tracing?: Pick<Tracing, 'traceRequests' | 'driverSpans'>;
  /** Observers put around every driver operation after metrics and tracing (main's shutdown tracking). */
  driverObservers?: readonly DriverObserver[];
  /** Where audit records go instead of `config.auditLog` (tests read them). */
  auditStream?: Writable;
  /** The time the readiness cache reads; tests pass a virtual clock's. */
  now?: () => number;
  /** False for a connection's app (DCR_CONFIG_FILE): the operations endpoints are the root app's, for all connections. */
  operations?: boolean;
}

const releaseResources = 'dcrBridgeReleaseResources';

/** Audit records have their own stream; a failed sweep is logged by the sweep itself. */
const notLogged = new Set<BridgeEventName>(['audit.recorded', 'secrets.sweep_failed']);

/** Events become log lines; payloads carry ids and names only. */
function logEvents(events: BridgeEvents, logger: Logger): void {
  events.onAny(<Name extends BridgeEventName>(name: Name, payload: BridgeEventMap[Name]) => {
    if (notLogged.has(name)) return;
    const level =
      name === 'auth.failed' ||
      name === 'event_hook.ignored' ||
      name === 'idp.attempt_failed' ||
      name === 'registration.undone' ||
      name === 'secret.undone'
        ? 'warn'
        : 'info';
    logger.log(level, name, { event: name, ...payload });
  });
}

let sharedSpec: ApiSpec | undefined;

/** The app and the one wrapped driver it serves (main's sweep and shutdown use the same one). */
export interface Bridge {
  app: express.Express;
  driver: DcrDriver;
  /** Registrations between the IdP's create and their answer (src/pending.ts); main sweeps them. */
  pending: PendingRegistrations;
}

export function createApp(
  config: BridgeConfig,
  implementation: DriverImplementation,
  options: AppOptions = {},
): express.Express {
  return createBridge(config, implementation, options).app;
}

export function createBridge(
  config: BridgeConfig,
  implementation: DriverImplementation,
  options: AppOptions = {},
): Bridge {
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const metrics = options.metrics ?? createMetrics();
  const events = options.events ?? new BridgeEvents();
  sharedSpec ??= loadApiSpec();
  const spec = sharedSpec;
  const driver = wrapDriver(implementation, [
    driverMetrics(metrics),
    ...(options.tracing ? [options.tracing.driverSpans] : []),
    ...(options.driverObservers ?? []),
  ]);
  const rateLimits = createRateLimits({
    perMinute: config.rateLimitPerMinute,
    failedAuthPerMinute: config.authFailureLimitPerMinute,
    registry: metrics.registry,
    apiKeyIds: config.apiKeys.map(apiKeyFingerprint),
    ...(config.redisUrl ? { redisUrl: config.redisUrl } : {}),
  });
  const journalFile = config.pendingRegistrations?.journalFile;
  const pending = new PendingRegistrations({
    openJournal: () => (journalFile === undefined ? Promise.resolve(memoryJournal()) : openPendingJournal(journalFile)),
    driver,
    events,
    logger,
    timeoutMs: (config.pendingRegistrations?.timeoutSeconds ?? 300) * 1000,
    ...(options.now ? { now: options.now } : {}),
  });
  logEvents(events, logger);
  countEvents(events, metrics);
  const auditDestination = options.auditStream ? { kind: 'stdout' as const } : config.auditLog;
  const auditSink = auditDestination ? writeAuditTrail(events, auditDestination, options.auditStream) : undefined;
  const audit = auditRequests(events, config.apiKeyNames ?? config.apiKeys.map(apiKeyFingerprint));
  auditSweeps(events);

  const app = express();
  app.disable('x-powered-by');
  // Client answers are never cached (Cache-Control: no-store), so hashing their bodies for an ETag is wasted work.
  app.set('etag', false);
  app.set('query parser', false);
  // Off unless DCR_TRUST_PROXY: only then do X-Forwarded-For and friends decide the client address (rate limits).
  app.set('trust proxy', config.trustProxy);
  app.use(assignRequestId());
  if (options.tracing) app.use(options.tracing.traceRequests);
  // Without TLS in front (the quick start), upgrade-insecure-requests would send the docs page's links to https.
  // Helmet's headers depend on its options only: worked out once, set on each answer.
  app.use(precomputedHeaders(helmet({ contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } } })));
  app.use(observeRequests(metrics, logger));
  app.use(refuseMalformedPath, refuseTrace, answerFaviconNotFound);
  app.use(['/register', '/admin'], audit.record);
  app.use(
    standardDcrFor(config, driver, {
      events,
      spec,
      logger,
      pending,
      failedAuthLimit: rateLimits.failedAuth,
      perCallerLimit: rateLimits.perApiKey,
    }),
  );
  if (driver.publicRoutes) {
    const { path, handler } = driver.publicRoutes;
    app.use(
      path,
      (_req, res, next) => {
        res.locals.route = path;
        next();
      },
      withPublicOrigin(config.publicUrl, handler),
    );
  }
  if (options.operations !== false)
    app.use(operationsRouter({ driver, metrics, spec, ...(options.now ? { now: options.now } : {}) }));

  // The operator's keys, never the portals': mounted before the portal key check.
  app.use(
    '/operator',
    forbidCaching,
    operatorRouter({
      driver,
      operatorKeys: config.operatorKeys ?? [],
      failedAuthLimit: rateLimits.failedAuth,
      events,
    }),
  );
  app.use(forbidCaching, audit.record);
  app.use(requireApiKey(config.apiKeys, rateLimits.failedAuth, events));
  app.use(rateLimits.perApiKey);
  const dialect = { driver, events, spec, bodyLimitBytes: config.bodyLimitBytes, pending };
  app.use('/clients', api7Router(dialect));
  app.use(konnectRouter(dialect));
  app.use((_req, _res, next) => next(new NotFoundError()));
  app.use(audit.rememberError);
  app.use(errorRenderer(logger));

  app.locals[releaseResources] = async () => {
    await rateLimits.close();
    await auditSink?.close();
    await pending.close();
  };
  return { app, driver, pending };
}

/** Releases what the app holds (rate-limit timers); not the driver, which its creator closes. */
export async function closeApp(app: express.Express): Promise<void> {
  const release = app.locals[releaseResources] as (() => Promise<void>) | undefined;
  await release?.();
}
