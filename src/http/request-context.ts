/**
 * Request ids and per-request observation: an `X-Request-Id` the caller sent is kept when it is sane, otherwise one
 * is generated; it is echoed on the response and put on every log line of the request. Each answered request is
 * counted and timed by route template (never by raw path, which carries client ids).
 */
import { randomUUID } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import { runWithRequestId, type Logger } from '../logging.js';
import type { BridgeMetrics } from '../metrics.js';

const saneRequestId = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestIdOf(res: Response): string {
  return res.locals.requestId as string;
}

export function assignRequestId(): RequestHandler {
  return (req, res, next) => {
    const offered = req.get('X-Request-Id');
    const requestId = offered !== undefined && saneRequestId.test(offered) ? offered : randomUUID();
    res.locals.requestId = requestId;
    res.set('X-Request-Id', requestId);
    runWithRequestId(requestId, next);
  };
}

/** Re-enters the request's log context; stream callbacks (body parsing) run outside it. */
export function restoreRequestContext(): RequestHandler {
  return (_req, res, next) => runWithRequestId(requestIdOf(res), next);
}

/** The first step of every route: records its template for logs and metrics. */
export const labelRoute: RequestHandler = (req, res, next) => {
  const path = (req.route as { path: string } | undefined)?.path ?? '';
  res.locals.route = req.baseUrl !== '' && path === '/' ? req.baseUrl : `${req.baseUrl}${path}` || '/';
  // For the audit trail, which records the client even when the route refuses it.
  if (typeof req.params.client_id === 'string') res.locals.clientId = req.params.client_id;
  next();
};

function routeLabel(res: Response): string {
  if (typeof res.locals.route === 'string') return res.locals.route;
  if (res.statusCode === 401) return 'unauthenticated';
  return res.statusCode === 429 ? 'rate_limited' : 'unmatched';
}

export function observeRequests(metrics: BridgeMetrics, logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const labels = { method: req.method, route: routeLabel(res), status: String(res.statusCode) };
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe(labels, seconds);
      logger.http('request answered', { requestId: requestIdOf(res), ...labels, durationMs: Math.round(seconds * 1000) });
    });
    next();
  };
}
