/**
 * Prometheus metrics, one registry per app so several apps (tests) never share counters. Labels are route
 * templates, status codes, driver and operation names and error codes — never an id or a secret.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { readBuildInfo, type BuildInfo } from './build-info.js';
import type { DriverObserver } from './core/driver.js';
import { BridgeError } from './errors.js';
import type { BridgeEvents } from './events.js';

export interface BridgeMetrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
  driverOperations: Counter<'driver' | 'operation' | 'outcome'>;
  driverDuration: Histogram<'driver' | 'operation'>;
  bridgeEvents: Counter<'event'>;
}

/**
 * `processMetrics` adds Node's default process metrics (main does; tests leave them out). `dcr_build_info` is always
 * there: 1, labelled with the version and the commit the build recorded.
 */
export function createMetrics(options: { processMetrics?: boolean; buildInfo?: BuildInfo } = {}): BridgeMetrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 50 });
  const registers = [registry];
  const build = options.buildInfo ?? readBuildInfo();
  new Gauge({
    name: 'dcr_build_info',
    help: 'Always 1; its labels name the version and the commit this bridge was built from.',
    labelNames: ['version', 'commit'],
    registers,
  }).set({ version: build.version, commit: build.commit }, 1);
  return {
    registry,
    httpRequests: new Counter({
      name: 'dcr_http_requests_total',
      help: 'HTTP requests answered, by route template and status.',
      labelNames: ['method', 'route', 'status'],
      registers,
    }),
    httpDuration: new Histogram({
      name: 'dcr_http_request_duration_seconds',
      help: 'Time to answer an HTTP request, by route template and status.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    driverOperations: new Counter({
      name: 'dcr_driver_operations_total',
      help: 'Driver operations, by driver, operation and outcome (`success` or the error code).',
      labelNames: ['driver', 'operation', 'outcome'],
      registers,
    }),
    driverDuration: new Histogram({
      name: 'dcr_driver_operation_duration_seconds',
      help: 'Time a driver operation took, retries included.',
      labelNames: ['driver', 'operation'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    bridgeEvents: new Counter({
      name: 'dcr_events_total',
      help: 'Client lifecycle events the bridge emitted (client.registered, client.rotated...).',
      labelNames: ['event'],
      registers,
    }),
  };
}

/**
 * Label children resolved once per label set, so no label object is built and checked on every `inc` and `observe`
 * (prom-client still hashes the set inside). Label values are methods, templates, codes and names: the sets stay few.
 */
export function boundLabels<Values extends string[], Bound>(
  bind: (...values: Values) => Bound,
): (...values: Values) => Bound {
  const bound = new Map<string, Bound>();
  return (...values) => {
    const key = values.join('\u0000');
    let children = bound.get(key);
    if (children === undefined) {
      children = bind(...values);
      bound.set(key, children);
    }
    return children;
  };
}

export function countEvents(events: BridgeEvents, metrics: BridgeMetrics): void {
  const counterFor = boundLabels((event: string) => metrics.bridgeEvents.labels(event));
  events.onAny((name) => counterFor(name).inc());
}

/** Counts and times every driver operation, by driver, operation and outcome. */
export function driverMetrics(metrics: BridgeMetrics): DriverObserver {
  return {
    observe(driver, operation) {
      const duration = metrics.driverDuration.labels(driver.name, operation);
      const succeeded = metrics.driverOperations.labels(driver.name, operation, 'success');
      const failed = boundLabels((outcome: string) => metrics.driverOperations.labels(driver.name, operation, outcome));
      return async (proceed) => {
        const stopTimer = duration.startTimer();
        try {
          const result = await proceed();
          succeeded.inc();
          return result;
        } catch (error) {
          failed(error instanceof BridgeError ? error.code : 'server_error').inc();
          throw error;
        } finally {
          stopTimer();
        }
      };
    },
  };
}
