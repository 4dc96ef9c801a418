/**
 * Every absolute URL the bridge writes comes from `DCR_PUBLIC_URL` alone, never from the caller's `Host`,
 * `X-Forwarded-Host`/`-Proto`, `Forwarded` or an absolute-form request target — whatever `DCR_TRUST_PROXY` says
 * (which only decides whose address the rate limits see). A driver's public routes (the embedded IdP builds its
 * endpoint URLs from the request's origin) therefore get a request whose origin headers are the public URL's.
 */
import type { RequestHandler } from 'express';

const absoluteFormTarget = /^[A-Za-z][A-Za-z\d+.-]*:\/\/[^/?#]*/;

function toOriginForm(target: string): string {
  if (!absoluteFormTarget.test(target)) return target;
  const rest = target.replace(absoluteFormTarget, '');
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/**
 * Wraps a driver's public handler. An absolute-form target (`GET http://evil.example/local-idp/...`, which Express
 * routes by its path but hands on whole) loses its authority here, in the same step as the handler, because Express
 * rebuilds `req.url` from the original target between its own steps.
 */
export function withPublicOrigin(publicUrl: string, handler: RequestHandler): RequestHandler {
  const { host, protocol } = new URL(publicUrl);
  return (req, res, next) => {
    req.url = toOriginForm(req.url);
    req.originalUrl = toOriginForm(req.originalUrl);
    req.headers.host = host;
    req.headers['x-forwarded-host'] = host;
    req.headers['x-forwarded-proto'] = protocol.slice(0, -1);
    delete req.headers.forwarded;
    return handler(req, res, next);
  };
}
