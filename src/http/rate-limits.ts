/**
 * express-rate-limit on the key-protected routes: a per-key limit for portals, and a stricter per-address limit on
 * failed authentications. Both answer through the error renderer (429 `rate_limited` with Retry-After).
 */
import type { Request, RequestHandler } from 'express';
import { MemoryStore, rateLimit, type RateLimitInfo } from 'express-rate-limit';
import { RateLimitedError } from '../errors.js';

export interface RateLimits {
  perApiKey: RequestHandler;
  failedAuth: RequestHandler;
  close(): Promise<void>;
}

const windowMs = 60_000;
/**
 * Behind a proxy every caller shares one address; that is acceptable here because only failed authentications are
 * counted by address, so the library's X-Forwarded-For warning (a stack on stderr, outside the JSON logs) is off.
 */
const validate = { xForwardedForHeader: false };

function secondsUntilReset(info: RateLimitInfo | undefined): number {
  const resetTime = info?.resetTime?.getTime();
  return resetTime === undefined ? windowMs / 1000 : Math.max(1, Math.ceil((resetTime - Date.now()) / 1000));
}

export function createRateLimits(options: { perMinute: number; failedAuthPerMinute: number }): RateLimits {
  const perApiKeyStore = new MemoryStore();
  const failedAuthStore = new MemoryStore();
  const perApiKey = rateLimit({
    windowMs,
    limit: options.perMinute,
    store: perApiKeyStore,
    validate,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: (_req, res) => `key-${String(res.locals.apiKeyIndex)}`,
    handler: (req, _res, next) => next(new RateLimitedError(secondsUntilReset((req as Request & { rateLimit?: RateLimitInfo }).rateLimit))),
  });
  const failedAuth = rateLimit({
    windowMs,
    limit: options.failedAuthPerMinute,
    store: failedAuthStore,
    validate,
    standardHeaders: false,
    legacyHeaders: false,
    requestPropertyName: 'failedAuthRateLimit',
    handler: (req, _res, next) =>
      next(new RateLimitedError(secondsUntilReset((req as Request & { failedAuthRateLimit?: RateLimitInfo }).failedAuthRateLimit))),
  });
  return {
    perApiKey,
    failedAuth,
    async close() {
      perApiKeyStore.shutdown();
      failedAuthStore.shutdown();
    },
  };
}
