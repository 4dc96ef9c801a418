/**
 * Path checks that run before any route: a path that is not valid percent-encoding, and the TRACE method, are refused
 * for every route (including the embedded IdP's), a browser's `/favicon.ico` is a plain 404 rather than a failed authentication,
 * and the paths the bridge serves itself are never taken for Konnect client ids.
 */
import type { RequestHandler } from 'express';
import { BridgeError, InvalidRequestError, NotFoundError } from '../errors.js';
import { malformedPathDescription } from './errors.js';

export const refuseMalformedPath: RequestHandler = (req, _res, next) => {
  const path = req.url.split('?', 1)[0]!;
  try {
    decodeURIComponent(path);
  } catch {
    return next(new InvalidRequestError(malformedPathDescription));
  }
  next();
};

/** `TRACE` echoes a request (cross-site tracing); no route has it, so it is a 405 everywhere, never a 404. */
export const refuseTrace: RequestHandler = (req, res, next) => {
  if (req.method !== 'TRACE') return next();
  res.locals.route = req.path;
  res.set('Allow', 'GET, HEAD, POST, PUT, DELETE');
  next(new BridgeError(405, 'invalid_request', 'The bridge does not answer TRACE.'));
};

/** Browsers ask for it on their own; it must not count against the failed-authentication limit. */
export const answerFaviconNotFound: RequestHandler = (req, res, next) => {
  if (req.path !== '/favicon.ico') return next();
  res.locals.route = '/favicon.ico';
  next(new NotFoundError('The bridge serves no favicon.'));
};

/** First path segments the bridge serves itself (lower case; routing ignores case). */
export const bridgePathSegments: ReadonlySet<string> = new Set([
  'clients',
  'register',
  'healthz',
  'readyz',
  'metrics',
  'docs',
  'openapi.yaml',
  'version',
  'operator',
  'local-idp',
  '.well-known',
  'favicon.ico',
]);

/** A Konnect route step: `DELETE /clients` is not the deletion of a client called `clients`. */
export const refuseBridgePathAsClientId: RequestHandler = (req, _res, next) => {
  const clientId = req.params.client_id;
  const segment = typeof clientId === 'string' ? clientId.toLowerCase() : '';
  // The segment named in the sentence comes from the fixed set, never from the caller.
  if (bridgePathSegments.has(segment))
    return next(new NotFoundError(`No bridge endpoint has this path and method; /${segment} is not a client id.`));
  next();
};
