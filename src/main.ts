/**
 * `npm start`: read the configuration, build the driver, serve both portal dialects over HTTP or HTTPS, sweep
 * expired rotation grace periods, and shut down gracefully on SIGTERM/SIGINT. A bad variable stops the start with
 * one line naming it.
 */
import { realpathSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { closeApp, createBridge } from './app.js';
import { loadConfig, type BridgeConfig } from './config.js';
import { ConfigurationError } from './env.js';
import { BridgeError } from './errors.js';
import { BridgeEvents } from './events.js';
import { createLogger } from './logging.js';
import { createMetrics } from './metrics.js';
import { loadDriver } from './drivers.js';
import { createBridgeServer } from './server.js';
import { prepareShutdown, trackDriverCalls } from './shutdown.js';
import { startSecretSweep } from './sweep.js';

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
  const config = loadConfig(io.env);
  const logger = createLogger({ level: config.logLevel, stream: io.stdout });
  const events = new BridgeEvents();
  const implementation = await loadDriver(config.driverName, io.env, {
    rotationGraceSeconds: config.rotationGraceSeconds,
    idpCallPolicy: { timeoutMs: config.idpTimeoutMs, budgetMs: config.idpRetryBudgetMs },
    idpMaxConnections: config.idpMaxConnections,
    onIdpFailure: (report) => events.emit('idp.attempt_failed', report),
    publicUrl: config.publicUrl,
    warn: (message, fields) => logger.warn(message, fields),
  });
  const calls = trackDriverCalls(logger);
  // OpenTelemetry loads only when an OTLP endpoint is configured.
  const tracing = config.tracing ? await (await import('./tracing.js')).startTracing() : undefined;
  const { app, driver } = createBridge(config, implementation, {
    logger,
    metrics: createMetrics({ processMetrics: true }),
    events,
    driverObservers: [calls.observer],
    ...(tracing ? { tracing } : {}),
  });
  const server = createBridgeServer(config, app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(listenFailure(error, config)));
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  logger.info('dcr-bridge listening', {
    host: config.host,
    port,
    driver: driver.name,
    tls: Boolean(config.tls),
    publicUrl: config.publicUrl,
  });
  if (config.apiKeyGenerated) {
    // Printed once on stdout, never through the logger: the operator needs it to call the bridge at all.
    io.stdout.write(`DCR_API_KEYS was not set; generated API key for this run: ${config.apiKeys[0]}\n`);
  }
  const stopSweep = startSecretSweep(config, driver, events, logger);

  const shutdown = prepareShutdown({
    server,
    calls,
    graceSeconds: config.shutdownGraceSeconds,
    settleMs: config.idpRetryBudgetMs + config.idpTimeoutMs,
    logger,
    stopBackgroundWork: stopSweep,
    release: () =>
      closeApp(app)
        .then(() => driver.close())
        .then(() => tracing?.shutdown()),
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
