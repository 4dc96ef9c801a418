/**
 * Structured JSON logs (winston). Every line written while a request is handled carries its request id, taken from
 * the async context, so nothing has to thread it through. Callers log names, codes and ids — never bodies, headers
 * or secrets.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Writable } from 'node:stream';
import winston from 'winston';

export type Logger = winston.Logger;

const requestContext = new AsyncLocalStorage<{ requestId: string }>();

export function runWithRequestId<T>(requestId: string, action: () => T): T {
  return requestContext.run({ requestId }, action);
}

export function currentRequestId(): string | undefined {
  return requestContext.getStore()?.requestId;
}

const addRequestId = winston.format((info) => {
  const requestId = currentRequestId();
  if (requestId !== undefined && info.requestId === undefined) info.requestId = requestId;
  return info;
});

export const logLevels = ['silent', 'error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] as const;

/** `level` is a winston npm level or `silent`; `stream` replaces stdout (tests capture the lines). */
export function createLogger(options: { level?: string; stream?: Writable } = {}): Logger {
  const level = options.level ?? 'info';
  const transport = options.stream
    ? new winston.transports.Stream({ stream: options.stream })
    : new winston.transports.Console();
  return winston.createLogger({
    level: level === 'silent' ? 'error' : level,
    silent: level === 'silent',
    format: winston.format.combine(addRequestId(), winston.format.timestamp(), winston.format.json()),
    transports: [transport],
  });
}
