/**
 * Request ids and per-request observation: an `X-Request-Id` the caller sent is kept when it is sane, otherwise one
 * is generated; it is echoed on the response and put on every log line of the request. Each answered request is
 * counted and timed by route template (never by raw path, which carries client ids).
 */
import { randomUUID } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import { runWithRequestId, type Logger } from '../logging.js';
import { boundLabels, type BridgeMetrics } from '../metrics.js';

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
  const answered = boundLabels((method: string, route: string, status: string) => ({
    count: metrics.httpRequests.labels(method, route, status),
    duration: metrics.httpDuration.labels(method, route, status),
  }));
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const route = routeLabel(res);
      const status = String(res.statusCode);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const { count, duration } = answered(req.method, route, status);
      count.inc();
      duration.observe(seconds);
      // Winston formats a line before its transport drops it by level: below `http`, build nothing.
      if (!logger.isLevelEnabled('http')) return;
      logger.http('request answered', {
        requestId: requestIdOf(res),
        method: req.method,
        route,
        status,
        durationMs: Math.round(seconds * 1000),
      });
    });
    next();
  };
}
