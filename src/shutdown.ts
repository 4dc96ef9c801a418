/**
 * Graceful shutdown on SIGTERM/SIGINT. The server stops accepting connections and every request in flight may finish
 * within `DCR_SHUTDOWN_GRACE_SECONDS` (by default the IdP retry budget plus one call timeout, so a request retrying a
 * slow IdP is not cut). A request still unanswered when the grace ends is answered `503 idp_unavailable` — never a
 * reset connection — and counted; the exit code is then 1 and a log line says how many were cut.
 *
 * What the IdP is left with: the driver calls of cut requests are not abandoned. The process waits (at most the retry
 * budget plus one timeout more) for them to finish, compensation included, before it exits. A registration that
 * completes after its request was cut is deleted again, since the portal never learned its id or secret; a cut
 * update, delete or rotation is applied (or not) as a whole, and the portal's retry converges (delete is idempotent,
 * update replaces, rotation issues another secret).
 */
import type http from 'node:http';
import type { DriverObserver } from './core/driver.js';
import type { DcrDriver, RegisteredClientWithSecret } from './driver/contract.js';
import { IdpUnavailableError, renderError } from './errors.js';
import type { Logger } from './logging.js';

/** Runs `action` after `ms`; returns a function that cancels it. Tests pass their own to fire it on demand. */
export type Schedule = (ms: number, action: () => void) => () => void;

const realSchedule: Schedule = (ms, action) => {
  const timer = setTimeout(action, ms);
  timer.unref();
  return () => clearTimeout(timer);
};

/** The shutdown grace in seconds when `DCR_SHUTDOWN_GRACE_SECONDS` is not set: the retry budget plus one call timeout. */
export function derivedShutdownGraceSeconds(idpRetryBudgetMs: number, idpTimeoutMs: number): number {
  return Math.ceil((idpRetryBudgetMs + idpTimeoutMs) / 1000);
}

export interface DriverCallTracker {
  /** Counts the driver's pending calls; the app puts it around every operation. */
  observer: DriverObserver;
  /** From now on, a registration that completes is one whose request was cut: it is deleted again. */
  markRequestsCut(): void;
  /** Resolves once no driver call is pending. */
  settled(): Promise<void>;
}

export function trackDriverCalls(logger: Logger): DriverCallTracker {
  let pending = 0;
  let cut = false;
  const waiters: (() => void)[] = [];
  const undoCutRegistration = async (driver: DcrDriver, client: RegisteredClientWithSecret): Promise<void> => {
    await driver.deleteClient(client.clientId).then(
      () => logger.warn('a registration cut by the shutdown was deleted again', { clientId: client.clientId }),
      () =>
        logger.error('a registration cut by the shutdown could not be deleted again', { clientId: client.clientId }),
    );
  };
  return {
    observer: {
      observe(driver, operation) {
        // Closing the driver is the shutdown's own last step, not a call it waits for.
        if (operation === 'close') return (proceed) => proceed();
        const registers = operation === 'registerClient';
        return async (proceed) => {
          pending += 1;
          try {
            const result = await proceed();
            if (registers && cut) await undoCutRegistration(driver, result as RegisteredClientWithSecret);
            return result;
          } finally {
            pending -= 1;
            if (pending === 0) for (const wake of waiters.splice(0)) wake();
          }
        };
      },
    },
    markRequestsCut: () => {
      cut = true;
    },
    settled: () => (pending === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve))),
  };
}

/** Several connections' trackers as one (DCR_CONFIG_FILE): a shutdown cuts the requests of all, and waits for all. */
export function combinedCallTrackers(
  trackers: readonly Pick<DriverCallTracker, 'markRequestsCut' | 'settled'>[],
): Pick<DriverCallTracker, 'markRequestsCut' | 'settled'> {
  return {
    markRequestsCut: () => {
      for (const tracker of trackers) tracker.markRequestsCut();
    },
    settled: () => Promise.all(trackers.map((tracker) => tracker.settled())).then(() => undefined),
  };
}

export interface ShutdownDependencies {
  server: http.Server;
  calls: Pick<DriverCallTracker, 'markRequestsCut' | 'settled'>;
  graceSeconds: number;
  /** How long, after the grace, the driver calls of cut requests may still take: the retry budget plus one timeout. */
  settleMs: number;
  logger: Logger;
  /** Stops background work (the rotation sweep). */
  stopBackgroundWork(): void;
  /** Releases the app and the driver once the server is closed. */
  release(): Promise<void>;
  exit(code: number): void;
  schedule?: Schedule;
}

const cutAnswer = renderError(
  new IdpUnavailableError('The bridge is shutting down and could not finish this request in time; retry it.'),
);

/** Answers every request still without a response `503`; returns how many it answered. */
function answerUnanswered(inFlight: Set<http.ServerResponse>): number {
  let cut = 0;
  const { status, headers, body } = cutAnswer;
  for (const res of inFlight) {
    if (res.headersSent) continue;
    cut += 1;
    res.writeHead(status, { ...headers, 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
    res.end(body);
  }
  return cut;
}

/**
 * Installs the request bookkeeping on `server` and returns the function to call on a signal. Calling it again
 * while a shutdown runs does nothing.
 */
export function prepareShutdown(deps: ShutdownDependencies): (signal: string) => Promise<void> {
  const schedule = deps.schedule ?? realSchedule;
  const inFlight = new Set<http.ServerResponse>();
  let shuttingDown = false;
  deps.server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    // Keep-alive would hold a connection open past the shutdown.
    if (shuttingDown) res.shouldKeepAlive = false;
    inFlight.add(res);
    res.on('close', () => inFlight.delete(res));
  });
  const wait = (ms: number) => new Promise<'timeout'>((resolve) => schedule(ms, () => resolve('timeout')));

  return async (signal) => {
    if (shuttingDown) return;
    shuttingDown = true;
    deps.logger.info('shutting down', { signal, inFlight: inFlight.size, graceSeconds: deps.graceSeconds });
    deps.stopBackgroundWork();
    for (const res of inFlight) if (!res.headersSent) res.shouldKeepAlive = false;
    const closed = new Promise<'closed'>((resolve) => deps.server.close(() => resolve('closed')));
    deps.server.closeIdleConnections();

    let cancelGrace = (): void => undefined;
    const graceOver = new Promise<'grace'>((resolve) => {
      cancelGrace = schedule(deps.graceSeconds * 1000, () => resolve('grace'));
    });
    let cut = 0;
    if ((await Promise.race([closed, graceOver])) === 'grace') {
      deps.calls.markRequestsCut();
      cut = answerUnanswered(inFlight);
      deps.logger.warn('shutdown grace ended: requests still unanswered were answered 503', {
        cut,
        graceSeconds: deps.graceSeconds,
      });
      if ((await Promise.race([deps.calls.settled(), wait(deps.settleMs)])) === 'timeout') {
        deps.logger.error('identity provider calls were still running when the shutdown gave up on them');
      }
      deps.server.closeAllConnections();
      await closed;
    } else {
      cancelGrace();
    }
    try {
      await deps.release();
    } catch {
      deps.logger.error('driver failed to close cleanly');
      deps.exit(1);
      return;
    }
    deps.logger.info('shut down', { cut });
    deps.exit(cut > 0 ? 1 : 0);
  };
}
