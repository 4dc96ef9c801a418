/**
 * A bridge app for tests: one random API key, silent logs, a fresh metrics registry. `close()` releases what the
 * app holds but not the driver — the caller owns it.
 */
import { randomBytes } from 'node:crypto';
import type { Express } from 'express';
import type { DcrDriver } from '../../src/driver/contract.js';
import { closeApp, createApp, type AppOptions } from '../../src/app.js';
import type { BridgeConfig } from '../../src/config.js';
import { createLogger } from '../../src/logging.js';
import { createMetrics } from '../../src/metrics.js';

export interface TestApp {
  app: Express;
  apiKey: string;
  close(): Promise<void>;
}

export function testConfig(overrides: Partial<BridgeConfig> = {}): BridgeConfig {
  return {
    port: 0,
    host: '127.0.0.1',
    apiKeys: [randomBytes(18).toString('hex')],
    apiKeyGenerated: false,
    driverName: 'local',
    logLevel: 'silent',
    publicUrl: 'http://127.0.0.1',
    rotationGraceSeconds: 0,
    idpTimeoutMs: 400,
    idpRetryBudgetMs: 4000,
    idpMaxConnections: 32,
    bodyLimitBytes: 64 * 1024,
    rateLimitPerMinute: 100_000,
    authFailureLimitPerMinute: 100_000,
    sweepIntervalSeconds: 60,
    sweepMaxIdpCalls: 1000,
    trustProxy: false,
    serverLimits: {
      headersTimeoutMs: 20_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 65_000,
      maxConnections: 1024,
      maxConnectionsPerAddress: 256,
    },
    shutdownGraceSeconds: 5,
    ...overrides,
  };
}

export async function createTestApp(
  driver: DcrDriver,
  overrides?: Partial<BridgeConfig>,
  options: AppOptions = {},
): Promise<TestApp> {
  const config = testConfig(overrides);
  const app = createApp(config, driver, {
    logger: options.logger ?? createLogger({ level: 'silent' }),
    metrics: options.metrics ?? createMetrics(),
    ...(options.events ? { events: options.events } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  return { app, apiKey: config.apiKeys[0]!, close: () => closeApp(app) };
}
