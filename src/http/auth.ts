/**
 * The portal's API key, checked before anything reads the body: from `X-API-Key` or `Authorization: Bearer` (both may
 * be sent, and then both must be right), compared in constant time against every configured key (both sides hashed to
 * the same length first). Failed attempts count against a stricter per-address limit; a correct key is never slowed
 * by them.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { InvalidApiKeyError } from '../errors.js';
import type { BridgeEvents } from '../events.js';

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** The configured keys as `matchApiKey` compares them. */
export function apiKeyDigests(apiKeys: string[]): Buffer[] {
  return apiKeys.map(digest);
}

/** The token of an `Authorization: Bearer` header (RFC 6750 §2.1), if there is one. */
export function bearerToken(req: Request): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(req.get('Authorization') ?? '')?.[1];
}

function presentedKeys(req: Request): string[] {
  const keys: string[] = [];
  const headerKey = req.get('X-API-Key');
  if (headerKey !== undefined && headerKey !== '') keys.push(headerKey);
  const bearer = bearerToken(req);
  if (bearer !== undefined) keys.push(bearer);
  return keys;
}

/** The index of the configured key that matches, or -1; every configured key is compared every time. */
export function matchApiKey(configuredDigests: Buffer[], presented: string): number {
  const presentedDigest = digest(presented);
  let matched = -1;
  configuredDigests.forEach((configured, index) => {
    if (timingSafeEqual(configured, presentedDigest) && matched === -1) matched = index;
  });
  return matched;
}

export function requireApiKey(
  apiKeys: string[],
  failedAuthLimit: RequestHandler,
  events: BridgeEvents,
): RequestHandler {
  const configuredDigests = apiKeyDigests(apiKeys);
  return (req, res, next) => {
    const presented = presentedKeys(req);
    // Every key presented must be right: one right key does not excuse a wrong one beside it.
    const matched = presented.map((key) => matchApiKey(configuredDigests, key));
    if (matched.length > 0 && matched.every((index) => index !== -1)) {
      res.locals.apiKeyIndex = matched[0];
      return next();
    }
    events.emit('auth.failed', {
      reason: presented.length === 0 ? 'missing' : 'wrong',
      ...(req.ip !== undefined ? { address: req.ip } : {}),
    });
    failedAuthLimit(req, res, (error?: unknown) => next(error ?? new InvalidApiKeyError()));
  };
}
