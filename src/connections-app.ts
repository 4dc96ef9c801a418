/**
 * Several connections behind one listener (DCR_CONFIG_FILE). Each connection is a whole bridge as `createBridge`
 * builds it — its own wrapped driver, key set, rate limits, audit, open registration and its cap — reached under its
 * path: the dispatcher strips the path, so the connection's app sees the request as a one-connection bridge behind a
 * prefix-stripping proxy sees it, with `DCR_PUBLIC_URL` + path as its public URL. Nothing in the dialects knows of
 * connections, and no request of one connection ever reaches another's app.
 *
 * The operations endpoints (`/healthz`, `/readyz` reporting each connection, `/metrics` with every connection's
 * series labelled `connection`, `/openapi.yaml`, `/docs`) are the root app's. Logs, audit events and traces of a
 * connection carry its name.
 */
import type { RequestListener } from 'node:http';
import type { Writable } from 'node:stream';
import express from 'express';
import helmet from 'helmet';
import type { Registry } from 'prom-client';
import { closeApp, createBridge, type AppOptions, type Bridge } from './app.js';
import { writeAuditTrail } from './audit.js';
import type { AuditDestination } from './config.js';
import { inConnection, type Connection } from './connections.js';
import type { DriverObserver } from './core/driver.js';
import type { DriverImplementation } from './driver/contract.js';
import { NotFoundError } from './errors.js';
import { BridgeEvents } from './events.js';
import { errorRenderer } from './http/errors.js';
import { operationsRouter } from './http/operations.js';
import { answerFaviconNotFound, refuseMalformedPath } from './http/paths.js';
import { precomputedHeaders } from './http/security-headers.js';
import { assignRequestId, observeRequests } from './http/request-context.js';
import { loadApiSpec } from './http/spec.js';
import type { Logger } from './logging.js';
import { createMetrics, type BridgeMetrics } from './metrics.js';
import type { Tracing } from './tracing.js';

/** One connection as it runs: its settings, its bridge and what observes it. */
export interface ConnectedBridge {
  connection: Connection;
  bridge: Bridge;
  events: BridgeEvents;
  logger: Logger;
  metrics: BridgeMetrics;
}

export interface ConnectionsAppOptions {
  logger: Logger;
  /** The root app's own metrics (the operations endpoints, unmatched paths; main adds the process metrics). */
  metrics?: BridgeMetrics;
  /** Tracing, when it is on: each connection's spans get its name (src/tracing.ts `tracingForConnection`). */
  tracing?: Pick<Tracing, 'traceRequests' | 'driverSpans'>;
  tracingForConnection?: (name: string) => Pick<Tracing, 'traceRequests' | 'driverSpans'>;
  /** Observers put around each connection's driver operations (main's shutdown tracking, one per connection). */
  driverObservers?: (connection: Connection) => readonly DriverObserver[];
  /** Where audit records go instead of the configured destination (tests read them). */
  auditStream?: Writable;
  auditLog?: AuditDestination;
  now?: () => number;
  /** The events object of each connection, when the caller made it first (main: the driver reports IdP failures to it). */
  eventsFor?: (connection: Connection) => BridgeEvents;
}

export interface ConnectionsApp {
  /** The server's request listener: the dispatcher in front of the connections' apps and the root app. */
  listener: RequestListener;
  root: express.Express;
  connections: ConnectedBridge[];
  /** Releases every connection's app and the audit trail; not the drivers, which their creator closes. */
  close(): Promise<void>;
}

/** Paths the root app answers whatever the connections' paths are (a connection at `/` included). */
const operationsPaths = new Set(['/healthz', '/readyz', '/metrics', '/version', '/openapi.yaml', '/docs']);

/** Whether the root app answers this request: an operations path, the reference page's assets, or `GET /`. */
function isOperations(method: string, path: string): boolean {
  const normalised = path.toLowerCase().replace(/\/+$/, '') || '/';
  if (operationsPaths.has(normalised) || normalised.startsWith('/docs/')) return true;
  // `GET /` points a browser at the docs; every other method on `/` is a root connection's Konnect call.
  return normalised === '/' && (method === 'GET' || method === 'HEAD');
}
const absoluteFormTarget = /^[A-Za-z][A-Za-z\d+.-]*:\/\/[^/?#]*/;
/** RFC 8414 puts the issuer's path after the well-known name: `/.well-known/oauth-authorization-server{issuer path}`. */
const pathInsertedWellKnown = /^\/\.well-known\/[^/]+(\/.*)$/;

/** The connection a request target belongs to, and the target as that connection's app sees it. */
function dispatcher(
  connections: readonly { path: string; app: express.Express }[],
): (method: string, target: string) => { app: express.Express; url: string } | undefined {
  // Longest path first; `/` (when a connection has it) last, catching what no other connection's path matches.
  const ordered = [...connections].sort((a, b) => b.path.length - a.path.length);
  return (method, target) => {
    const url = target.replace(absoluteFormTarget, '') || '/';
    const path = url.split('?', 1)[0]!;
    if (isOperations(method, path)) return undefined;
    for (const connection of ordered) {
      if (connection.path === '/') return { app: connection.app, url };
      if (path === connection.path || path.startsWith(`${connection.path}/`)) {
        const rest = url.slice(connection.path.length);
        return { app: connection.app, url: rest.startsWith('/') ? rest : `/${rest}` };
      }
      // The connection's issuer lies under its path (the local IdP's does): its RFC 8414 document is its app's.
      const inserted = pathInsertedWellKnown.exec(path)?.[1];
      if (inserted !== undefined && (inserted === connection.path || inserted.startsWith(`${connection.path}/`)))
        return { app: connection.app, url };
    }
    return undefined;
  };
}

/** Every registry's exposition as one: each metric's HELP and TYPE once, then every registry's samples of it. */
function mergedRegistry(registries: readonly Registry[]): Pick<Registry, 'contentType' | 'metrics'> {
  return {
    contentType: registries[0]!.contentType,
    async metrics() {
      const families = new Map<string, { header: string[]; samples: string[] }>();
      for (const registry of registries) {
        for (const metric of registry.getMetricsAsArray()) {
          const lines = (await registry.getSingleMetricAsString(metric.name)).split('\n');
          const family = families.get(metric.name) ?? {
            header: lines.filter((line) => line.startsWith('#')),
            samples: [],
          };
          family.samples.push(...lines.filter((line) => line !== '' && !line.startsWith('#')));
          families.set(metric.name, family);
        }
      }
      return `${[...families.values()].map(({ header, samples }) => [...header, ...samples].join('\n')).join('\n\n')}\n`;
    },
  };
}

export function createConnectionsApp(
  connections: readonly { connection: Connection; implementation: DriverImplementation }[],
  options: ConnectionsAppOptions,
): ConnectionsApp {
  const auditEvents = new BridgeEvents();
  const auditDestination = options.auditStream ? { kind: 'stdout' as const } : options.auditLog;
  const auditSink = auditDestination ? writeAuditTrail(auditEvents, auditDestination, options.auditStream) : undefined;

  const connected = connections.map(({ connection, implementation }): ConnectedBridge => {
    const logger = options.logger.child({ connection: connection.name });
    const metrics = createMetrics();
    metrics.registry.setDefaultLabels({ connection: connection.name });
    const events = options.eventsFor?.(connection) ?? new BridgeEvents();
    events.on('audit.recorded', (record) =>
      auditEvents.emit('audit.recorded', { ...record, connection: connection.name }),
    );
    const tracing = options.tracing ? (options.tracingForConnection?.(connection.name) ?? options.tracing) : undefined;
    const appOptions: AppOptions = {
      logger,
      metrics,
      events,
      operations: false,
      ...(tracing ? { tracing } : {}),
      ...(options.driverObservers ? { driverObservers: options.driverObservers(connection) } : {}),
      ...(options.now ? { now: options.now } : {}),
    };
    // The audit trail is the root's, so every record gets the connection's name on one stream.
    let bridge: Bridge;
    try {
      bridge = createBridge({ ...connection.config, auditLog: undefined }, implementation, appOptions);
    } catch (error) {
      throw inConnection(connection, error, 'app');
    }
    return { connection, bridge, events, logger, metrics };
  });

  const rootMetrics = options.metrics ?? createMetrics();
  const root = express();
  root.disable('x-powered-by');
  root.set('etag', false);
  root.set('query parser', false);
  root.use(assignRequestId());
  if (options.tracing) root.use(options.tracing.traceRequests);
  root.use(precomputedHeaders(helmet({ contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } } })));
  root.use(observeRequests(rootMetrics, options.logger));
  root.use(refuseMalformedPath, answerFaviconNotFound);
  root.use(
    operationsRouter({
      connections: connected.map(({ connection, bridge }) => ({
        name: connection.name,
        driver: bridge.driver,
        required: connection.readiness === 'required',
      })),
      metrics: {
        registry: mergedRegistry([rootMetrics.registry, ...connected.map(({ metrics }) => metrics.registry)]),
      },
      spec: loadApiSpec(),
      ...(options.now ? { now: options.now } : {}),
    }),
  );
  root.use((_req, _res, next) =>
    next(new NotFoundError('No connection of this bridge has this path; each serves its dialects under its own.')),
  );
  root.use(errorRenderer(options.logger));

  const route = dispatcher(connected.map(({ connection, bridge }) => ({ path: connection.path, app: bridge.app })));
  const listener: RequestListener = (req, res) => {
    const target = route(req.method ?? 'GET', req.url ?? '/');
    if (!target) return void root(req, res);
    // The connection's app sees the target without the path, as behind a proxy that strips it.
    req.url = target.url;
    target.app(req, res);
  };
  return {
    listener,
    root,
    connections: connected,
    close: async () => {
      await Promise.all(connected.map(({ bridge }) => closeApp(bridge.app)));
      await auditSink?.close();
    },
  };
}
