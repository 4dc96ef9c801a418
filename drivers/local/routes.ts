/**
 * The embedded IdP's HTTP surface under `/local-idp`, around oidc-provider's own handler: a per-address rate limit
 * on the endpoints where client secrets are tried (`/token`, its introspection and revocation), a cacheable
 * discovery document and key set (their URLs come from `DCR_PUBLIC_URL` alone, so every caller sees the same), endpoint
 * URLs under the public URL's path, and unknown paths answered in the bridge's error shape.
 */
import type { Request, RequestHandler } from 'express';
import { MemoryStore, rateLimit, type RateLimitInfo } from 'express-rate-limit';
import { NotFoundError, RateLimitedError, renderError } from '../../src/errors.js';

/** The part of oidc-provider (a Koa application) this module uses. */
export interface KoaProvider {
  proxy: boolean;
  use(
    middleware: (
      ctx: { status: number; body: unknown; set(headers: Record<string, string>): void },
      next: () => Promise<void>,
    ) => Promise<void>,
  ): unknown;
  callback(): RequestHandler;
}

export const DISCOVERY_CACHE_CONTROL = 'public, max-age=300';
const windowMs = 60_000;
const cacheablePaths = new Set(['/.well-known/openid-configuration', '/jwks']);
const noEndpoint = renderError(
  new NotFoundError('The local identity provider has no endpoint at this path and method.'),
);

export interface LocalIdpRoutes {
  handler: RequestHandler;
  close(): void;
}

export function localIdpRoutes(
  provider: KoaProvider,
  options: { publicUrl: string; tokenRateLimitPerMinute: number },
): LocalIdpRoutes {
  // The bridge replaces the request's origin headers by the public URL's before this handler (src/http/public-origin.ts).
  provider.proxy = true;
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.status === 404 && ctx.body == null) {
      ctx.set(noEndpoint.headers);
      ctx.body = noEndpoint.body;
      ctx.status = noEndpoint.status;
    }
  });
  const store = new MemoryStore();
  const tokenRateLimit = rateLimit({
    windowMs,
    limit: options.tokenRateLimitPerMinute,
    store,
    validate: { xForwardedForHeader: false },
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    requestPropertyName: 'tokenRateLimit',
    skip: (req) => !req.path.startsWith('/token'),
    handler: (req, _res, next) => {
      const resetTime = (req as Request & { tokenRateLimit?: RateLimitInfo }).tokenRateLimit?.resetTime?.getTime();
      next(
        new RateLimitedError(
          resetTime === undefined ? windowMs / 1000 : Math.max(1, Math.ceil((resetTime - Date.now()) / 1000)),
        ),
      );
    },
  });
  // oidc-provider resolves its endpoint paths against the mount path it finds in `originalUrl`.
  const publicPath = new URL(options.publicUrl).pathname.replace(/\/+$/, '');
  const providerHandler = provider.callback();
  const serve: RequestHandler = (req, res) => {
    if (req.method === 'GET' && cacheablePaths.has(req.path)) res.setHeader('Cache-Control', DISCOVERY_CACHE_CONTROL);
    if (publicPath !== '') req.originalUrl = `${publicPath}${req.originalUrl}`;
    providerHandler(req, res, () => undefined);
  };
  return {
    handler: (req, res, next) =>
      tokenRateLimit(req, res, (error?: unknown) => (error ? next(error) : serve(req, res, next))),
    close: () => store.shutdown(),
  };
}
