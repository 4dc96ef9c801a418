/**
 * `npm start`: read the configuration, build the driver, serve both portal dialects over HTTP or HTTPS, sweep
 * expired rotation grace periods, and shut down gracefully on SIGTERM/SIGINT. A bad variable stops the start with
 * one line naming it.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createDriverFromEnv } from './driver/registry.js';
import { closeApp, createApp } from './app.js';
import { loadConfig, type BridgeConfig } from './config.js';
import { ConfigurationError } from './env.js';
import { BridgeError } from './errors.js';
import { BridgeEvents } from './events.js';
import { createLogger } from './logging.js';
import { createMetrics } from './metrics.js';
import { startSecretSweep } from './sweep.js';

const shutdownGraceMs = 10_000;

function createServer(config: BridgeConfig, app: http.RequestListener): http.Server {
  if (!config.tls) return http.createServer(app);
  const readPem = (file: string, variable: string): Buffer => {
    try {
      return readFileSync(file);
    } catch {
      throw new ConfigurationError(variable, 'must name a readable PEM file');
    }
  };
  return https.createServer({ cert: readPem(config.tls.certFile, 'TLS_CERT_FILE'), key: readPem(config.tls.keyFile, 'TLS_KEY_FILE') }, app);
}

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger({ level: config.logLevel });
  const events = new BridgeEvents();
  const driver = await createDriverFromEnv(process.env, {
    rotationGraceSeconds: config.rotationGraceSeconds,
    idpCallPolicy: { timeoutMs: config.idpTimeoutMs, budgetMs: config.idpRetryBudgetMs },
    onIdpFailure: (report) => events.emit('idp.attempt_failed', report),
    publicUrl: config.publicUrl,
  });
  const app = createApp(config, driver, { logger, metrics: createMetrics({ processMetrics: true }), events });
  const server = createServer(config, app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  logger.info('dcr-bridge listening', { host: config.host, port, driver: driver.name, tls: Boolean(config.tls), publicUrl: config.publicUrl });
  if (config.apiKeyGenerated) {
    // Printed once on stdout, never through the logger: the operator needs it to call the bridge at all.
    process.stdout.write(`DCR_API_KEYS was not set; generated API key for this run: ${config.apiKeys[0]}\n`);
  }
  const stopSweep = startSecretSweep(config, driver, events, logger);

  let shuttingDown = false;
  // Responses still being written when the shutdown starts close their connection, so keep-alive does not hold it.
  const inFlight = new Set<http.ServerResponse>();
  server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    if (shuttingDown) res.shouldKeepAlive = false;
    inFlight.add(res);
    res.on('close', () => inFlight.delete(res));
  });
  const shutdown = (signal: string): void => {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info('shutting down', { signal });
    stopSweep();
    for (const res of inFlight) if (!res.headersSent) res.shouldKeepAlive = false;
    const forceClose = setTimeout(() => server.closeAllConnections(), shutdownGraceMs);
    forceClose.unref();
    server.close(() => {
      clearTimeout(forceClose);
      void closeApp(app)
        .then(() => driver.close())
        .then(
          () => process.exit(0),
          () => {
            logger.error('driver failed to close cleanly');
            process.exit(1);
          },
        );
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

function reportStartFailure(error: unknown): never {
  if (error instanceof ConfigurationError) {
    process.stderr.write(`${error.message}\n`);
  } else {
    // Only the bridge's own errors have descriptions safe to print; others may carry upstream text.
    const detail = error instanceof BridgeError ? `: ${error.message}` : '';
    process.stderr.write(`dcr-bridge failed to start: ${error instanceof Error ? error.name : 'unknown error'}${detail}\n`);
  }
  process.exit(1);
}

main().catch(reportStartFailure);
