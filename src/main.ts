/**
 * `npm start`: read the configuration, build the driver, serve both portal dialects over HTTP or HTTPS, sweep
 * expired rotation grace periods, and shut down gracefully on SIGTERM/SIGINT. With DCR_CONFIG_FILE, the same for
 * each connection of the file (src/connections.ts), behind one listener (src/connections-app.ts). A bad variable or
 * file stops the start with one line naming it.
 */
import { realpathSync } from 'node:fs';
import type { RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { closeApp, createBridge } from './app.js';
import { loadConfig, type BridgeConfig } from './config.js';
import { inConnection, loadConnections, type Connection, type ConnectionsConfig } from './connections.js';
import { createConnectionsApp } from './connections-app.js';
import { ConfigurationError } from './env.js';
import type { DriverImplementation } from './driver/contract.js';
import { BridgeError } from './errors.js';
import { BridgeEvents } from './events.js';
import { createLogger, type Logger } from './logging.js';
import { createMetrics } from './metrics.js';
import { loadDriver } from './drivers.js';
import { createBridgeServer } from './server.js';
import { combinedCallTrackers, prepareShutdown, trackDriverCalls, type DriverCallTracker } from './shutdown.js';
import { startPendingSweep, startSecretSweep } from './sweep.js';

/** What the start reads and writes of its process: the real ones when node runs this file, a test's own otherwise. */
export interface ProcessIo {
  env: NodeJS.ProcessEnv;
  stdout: Writable;
  stderr: Pick<Writable, 'write'>;
  exit(code: number): void;
  onSignal(signal: 'SIGTERM' | 'SIGINT', listener: () => void): void;
}

const processIo: ProcessIo = {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  exit: (code) => process.exit(code),
  onSignal: (signal, listener) => process.on(signal, listener),
};

/** Starts the bridge, or reports in one line on `io.stderr` why it cannot and exits 1. */
export function runBridge(io: ProcessIo): Promise<void> {
  return main(io).catch((error: unknown) => reportStartFailure(error, io));
}

async function main(io: ProcessIo): Promise<void> {
  const connections = loadConnections(io.env);
  await serve(io, connections ? await startConnections(io, connections) : await startOneConnection(io));
}

/** What `serve` listens with and shuts down: the request listener, and what the shutdown waits for and releases. */
interface Started {
  config: BridgeConfig;
  logger: Logger;
  listener: RequestListener;
  /** For the "listening" line: the driver, or each connection's name and driver. */
  describe: Record<string, unknown>;
  calls: Pick<DriverCallTracker, 'markRequestsCut' | 'settled'>;
  settleMs: number;
  /** Once listening: the rotation sweeps (and the generated key's one line); returns their stopper. */
  startBackgroundWork(): () => void;
  release(): Promise<void>;
}

/** Without DCR_CONFIG_FILE: one connection at `/`, configured by the environment. */
async function startOneConnection(io: ProcessIo): Promise<Started> {
  const config = loadConfig(io.env);
  const logger = createLogger({ level: config.logLevel, stream: io.stdout });
  const events = new BridgeEvents();
  const implementation = await loadDriver(config.driverName, io.env, driverSettingsOf(config, events, logger));
  const calls = trackDriverCalls(logger);
  // OpenTelemetry loads only when an OTLP endpoint is configured.
  const tracing = config.tracing ? await (await import('./tracing.js')).startTracing() : undefined;
  const { app, driver, pending } = createBridge(config, implementation, {
    logger,
    metrics: createMetrics({ processMetrics: true }),
    events,
    driverObservers: [calls.observer],
    ...(tracing ? { tracing } : {}),
  });
  return {
    config,
    logger,
    listener: app,
    describe: { driver: driver.name },
    calls,
    settleMs: config.idpRetryBudgetMs + config.idpTimeoutMs,
    startBackgroundWork: () => {
      if (config.apiKeyGenerated) {
        // Printed once on stdout, never through the logger: the operator needs it to call the bridge at all.
        io.stdout.write(`DCR_API_KEYS was not set; generated API key for this run: ${config.apiKeys[0]}\n`);
      }
      const stopSecrets = startSecretSweep(config, driver, events, logger);
      const stopPending = startPendingSweep(config, pending, logger);
      return () => {
        stopSecrets();
        stopPending();
      };
    },
    release: () =>
      closeApp(app)
        .then(() => driver.close())
        .then(() => tracing?.shutdown()),
  };
}

/** With DCR_CONFIG_FILE: each connection its own driver (loaded once), bridge, sweep and shutdown tracking. */
async function startConnections(io: ProcessIo, { config, connections }: ConnectionsConfig): Promise<Started> {
  const logger = createLogger({ level: config.logLevel, stream: io.stdout });
  const loaded: {
    connection: Connection;
    implementation: DriverImplementation;
    events: BridgeEvents;
    calls: DriverCallTracker;
  }[] = [];
  // What the drivers built so far hold (a local IdP's files and timers) is released when the start gives up.
  const closeDrivers = () => Promise.allSettled(loaded.map(({ implementation }) => implementation.close?.()));
  for (const connection of connections) {
    const events = new BridgeEvents();
    const connectionLogger = logger.child({ connection: connection.name });
    const implementation = await loadDriver(
      connection.driverName,
      connection.driverEnv,
      driverSettingsOf(connection.config, events, connectionLogger),
    ).catch(async (error: unknown) => {
      await closeDrivers();
      throw inConnection(connection, error, 'driver');
    });
    loaded.push({ connection, implementation, events, calls: trackDriverCalls(connectionLogger) });
  }
  const tracingModule = config.tracing ? await import('./tracing.js') : undefined;
  const tracing = await tracingModule?.startTracing();
  const app = buildOrRelease(closeDrivers, () =>
    createConnectionsApp(loaded, {
      logger,
      metrics: createMetrics({ processMetrics: true }),
      ...(tracing && tracingModule
        ? { tracing, tracingForConnection: (name: string) => tracingModule.tracingForConnection(tracing, name) }
        : {}),
      driverObservers: (connection) => [loaded.find((entry) => entry.connection === connection)!.calls.observer],
      eventsFor: (connection) => loaded.find((entry) => entry.connection === connection)!.events,
      ...(config.auditLog ? { auditLog: config.auditLog } : {}),
    }),
  );
  return {
    config,
    logger,
    listener: app.listener,
    describe: {
      connections: app.connections.map(({ connection, bridge }) => ({
        name: connection.name,
        path: connection.path,
        driver: bridge.driver.name,
      })),
    },
    calls: combinedCallTrackers(loaded.map(({ calls }) => calls)),
    settleMs: Math.max(...connections.map(({ config: c }) => c.idpRetryBudgetMs + c.idpTimeoutMs)),
    startBackgroundWork: () => {
      const sweeps = app.connections.flatMap(({ connection, bridge, events, logger: connectionLogger }) => [
        startSecretSweep(connection.config, bridge.driver, events, connectionLogger),
        startPendingSweep(connection.config, bridge.pending, connectionLogger),
      ]);
      return () => {
        for (const stop of sweeps) stop();
      };
    },
    release: () =>
      app
        .close()
        .then(() => Promise.all(app.connections.map(({ bridge }) => bridge.driver.close())))
        .then(() => tracing?.shutdown()),
  };
}

/** What every driver factory receives besides its variables. */
function driverSettingsOf(
  config: BridgeConfig,
  events: BridgeEvents,
  logger: Logger,
): Parameters<typeof loadDriver>[2] {
  return {
    rotationGraceSeconds: config.rotationGraceSeconds,
    idpCallPolicy: { timeoutMs: config.idpTimeoutMs, budgetMs: config.idpRetryBudgetMs },
    idpMaxConnections: config.idpMaxConnections,
    onIdpFailure: (report) => events.emit('idp.attempt_failed', report),
    publicUrl: config.publicUrl,
    warn: (message, fields) => logger.warn(message, fields),
  };
}

/** `build()`, or, when it throws, `release()` first (the drivers already built) and then the error. */
function buildOrRelease<T>(release: () => Promise<unknown>, build: () => T): T {
  try {
    return build();
  } catch (error) {
    void release();
    throw error;
  }
}

async function serve(io: ProcessIo, started: Started): Promise<void> {
  const { config, logger } = started;
  const server = createBridgeServer(config, started.listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(listenFailure(error, config)));
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  logger.info('dcr-bridge listening', {
    host: config.host,
    port,
    ...started.describe,
    tls: Boolean(config.tls),
    publicUrl: config.publicUrl,
  });
  const stopBackgroundWork = started.startBackgroundWork();

  const shutdown = prepareShutdown({
    server,
    calls: started.calls,
    graceSeconds: config.shutdownGraceSeconds,
    settleMs: started.settleMs,
    logger,
    stopBackgroundWork,
    release: started.release,
    exit: (code) => io.exit(code),
  });
  io.onSignal('SIGTERM', () => void shutdown('SIGTERM'));
  io.onSignal('SIGINT', () => void shutdown('SIGINT'));
}

/** Why the listen failed, as the same one line a bad variable gets. */
function listenFailure(error: NodeJS.ErrnoException, { port, host }: BridgeConfig): Error {
  switch (error.code) {
    case 'EADDRINUSE':
      return new ConfigurationError('PORT', `${port} is already in use on ${host}`);
    case 'EACCES':
      return new ConfigurationError(
        'PORT',
        `${port} cannot be bound on ${host}: permission denied (ports below 1024 need privileges)`,
      );
    case 'EADDRNOTAVAIL':
      return new ConfigurationError('HOST', `${host} cannot be bound: it is not an address of this machine`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ConfigurationError('HOST', `${host} cannot be resolved to an address to listen on`);
    default:
      return error;
  }
}

function reportStartFailure(error: unknown, io: ProcessIo): void {
  if (error instanceof ConfigurationError) {
    io.stderr.write(`${error.message}\n`);
  } else {
    // Only the bridge's own errors have descriptions safe to print; others may carry upstream text.
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    const detail = error instanceof BridgeError ? `: ${error.message}` : typeof code === 'string' ? ` (${code})` : '';
    io.stderr.write(`dcr-bridge failed to start: ${error instanceof Error ? error.name : 'unknown error'}${detail}\n`);
  }
  io.exit(1);
}

// Node runs this file (npm start, npm run dev); a test imports it and calls runBridge with its own io.
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url))
  void runBridge(processIo);
