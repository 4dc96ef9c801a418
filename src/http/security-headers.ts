/**
 * The security headers (helmet's) worked out once, at start: the middleware runs against a recording response, and
 * each request then gets the same headers set (and removed) in the same order, without helmet's dozen steps per
 * request. This holds for a middleware whose headers depend on its options alone; one that reads the request, touches
 * the response otherwise, defers or fails while recorded is used as it is.
 *
 *   app.use(precomputedHeaders(helmet(options)));
 */
import type { RequestHandler } from 'express';

/** `value` undefined: the header is removed. */
type HeaderStep = readonly [name: string, value: string | undefined];

export function precomputedHeaders(middleware: RequestHandler): RequestHandler {
  const steps: HeaderStep[] = [];
  let replayable = true;
  const untouchable = new Proxy({} as object, {
    get: () => {
      replayable = false;
      return undefined;
    },
  });
  const recorder = new Proxy({} as object, {
    get: (_target, property) => {
      if (property === 'setHeader')
        return (name: string, value: unknown) => {
          if (typeof value !== 'string') replayable = false;
          steps.push([name, String(value)]);
        };
      if (property === 'removeHeader') return (name: string) => steps.push([name, undefined]);
      replayable = false;
      return undefined;
    },
  });
  let passedOn = false;
  try {
    middleware(untouchable as never, recorder as never, (error?: unknown) => {
      passedOn = error === undefined;
    });
  } catch {
    replayable = false;
  }
  if (!replayable || !passedOn) return middleware;
  return (_req, res, next) => {
    for (const [name, value] of steps) {
      if (value === undefined) res.removeHeader(name);
      else res.setHeader(name, value);
    }
    next();
  };
}
