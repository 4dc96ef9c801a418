/** Shared set-up for the HTTP tests: an app over the memory driver whose log lines are captured. */
import type { BridgeEvents } from '../../src/events.js';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import type { BridgeConfig } from '../../src/config.js';
import { createLogger, type Logger } from '../../src/logging.js';
import { createMetrics, type BridgeMetrics } from '../../src/metrics.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { MemoryDriver } from '../support/memory-driver.js';

export interface ObservedApp extends TestApp {
  driver: MemoryDriver;
  metrics: BridgeMetrics;
  logger: Logger;
  /** Every log line written so far, as text. */
  logLines: string[];
}

/** Logs at `silly` (every line) unless `logLevel` says otherwise. */
export async function createObservedApp(
  overrides: Partial<BridgeConfig> = {},
  options: { now?: () => number; logLevel?: string; events?: BridgeEvents } = {},
): Promise<ObservedApp> {
  const driver = new MemoryDriver();
  const logLines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      logLines.push(
        ...String(chunk)
          .split('\n')
          .filter((line) => line !== ''),
      );
      callback();
    },
  });
  const metrics = createMetrics();
  const { logLevel = 'silly', ...appOptions } = options;
  const logger = createLogger({ level: logLevel, stream });
  const testApp = await createTestApp(driver, overrides, { logger, metrics, ...appOptions });
  return { ...testApp, driver, metrics, logger, logLines };
}

/** The bridge's error body: the expected code and one non-empty sentence. */
export function assertErrorShape(body: unknown, code: string): void {
  const { error, error_description: description } = body as { error?: unknown; error_description?: unknown };
  assert.equal(error, code, `error body ${JSON.stringify(body)}`);
  assert.equal(typeof description, 'string');
  assert.match(description as string, /^[^\n]{10,300}$/);
  assert.deepEqual(Object.keys(body as object).sort(), ['error', 'error_description']);
}
