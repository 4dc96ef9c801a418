/**
 * The admin-call wrapper every vendor driver sends its IdP calls through: the retry layer (caller.ts), the
 * admin token (token-cache.ts, fetched with retries of its own before the call, so it never spends the call's
 * timeout), one renewal of that token after a 401, and nothing raw out of it: a failure the retry layer does not know
 * becomes `IdpError`. Every failed attempt is reported with its cause class and the IdP host, never a body or a secret.
 * It owns the driver's IdP HTTP client (http.ts), whose pool the driver's `close` closes with `call.close()`. Failures
 * are classified once, in failure.ts.
 *
 *   const call = createAdminCall({ host: new URL(url).host, describe: describeSdkError, fetchToken: fetchAdminToken, ...settings });
 *   const sdk = new VendorSdk({ url, fetch: call.http.fetch });
 *   const app = await call('read client', 'idempotent', (signal, token) => sdk.get(id, { signal, token }));
 */
import { BridgeError, IdpError, IdpUnavailableError } from '../../errors.js';
import type { Clock, IdpCallPolicy, IdpFailureReport } from '../contract.js';
import { IdpCaller, systemClock, type CallSafety } from './caller.js';
import {
  IdpStatusError,
  UnusableAnswerError,
  carriedFailure,
  causeOf,
  describeNetworkError,
  upstreamStatusOf,
  withCauseClass,
  type UpstreamFailure,
} from './failure.js';
import { createIdpHttpClient, type IdpHttpClient } from './http.js';
import { AdminTokenCache, type IssuedToken } from './token-cache.js';

/** The settings of the wrapper a driver passes on from its options (`DriverSettings` carries the same three). */
export interface AdminCallSettings {
  idpCallPolicy?: Partial<IdpCallPolicy>;
  onIdpFailure?: (report: IdpFailureReport) => void;
  /** `DCR_IDP_MAX_CONNECTIONS`: connections open at once to each IdP host. */
  idpMaxConnections?: number;
}

export interface AdminCallOptions extends AdminCallSettings {
  /** `host[:port]` the admin calls go to. */
  host: string;
  /** The vendor SDK's errors as upstream failures; `IdpStatusError` and socket failures are known already. */
  describe?: (error: unknown) => UpstreamFailure | undefined;
  /** Fetches a new admin token over `http`; without it, calls get no token from the kit (e.g. Okta's static API token). */
  fetchToken?: (signal: AbortSignal, http: IdpHttpClient) => Promise<IssuedToken>;
  /** `host[:port]` of the token endpoint, when it is not `host` (Entra's login host). */
  tokenHost?: string;
}

export interface AdminCall {
  /** One admin call; `attempt` gets the attempt's abort signal and the admin token (`''` without `fetchToken`). */
  <T>(operation: string, safety: CallSafety, attempt: (signal: AbortSignal, token: string) => Promise<T>): Promise<T>;
  readonly policy: IdpCallPolicy;
  /** The token cache, when the driver has `fetchToken` (benchmarks read `tokenRequests`; SDK token hooks call `get`). */
  readonly tokens: AdminTokenCache | undefined;
  /** The pooled HTTP client every IdP request of the driver goes through, its SDK's included. */
  readonly http: IdpHttpClient;
  /**
   * Runs `attempt` again while it fails with a status `isPassing` names, for at most `waitMs`, on the policy's clock:
   * a state the IdP leaves on its own within seconds (`retryWhilePassing`).
   */
  retryWhilePassing<T>(
    attempt: () => Promise<T>,
    isPassing: (status: number | undefined) => boolean,
    waitMs: number,
  ): Promise<T>;
  /** Closes the pool (the driver's `close`). */
  close(): Promise<void>;
}

export function createAdminCall(options: AdminCallOptions): AdminCall {
  const describe = (error: unknown): UpstreamFailure | undefined => {
    const failure =
      error instanceof IdpStatusError
        ? { kind: 'status' as const, status: error.status, retryAfterMs: error.retryAfterMs }
        : (carriedFailure(error) ?? options.describe?.(error) ?? describeNetworkError(error));
    return failure && withCauseClass(failure, error);
  };
  const callerFor = (host: string) =>
    new IdpCaller({
      describe,
      policy: options.idpCallPolicy,
      onFailedAttempt: ({ operation, attempt, failure, retrying }) =>
        options.onIdpFailure?.({
          operation,
          attempt,
          cause: causeOf(failure),
          host,
          ...(failure.status === undefined ? {} : { status: failure.status }),
          retrying,
        }),
    });
  const caller = callerFor(options.host);
  const tokenCaller = options.tokenHost ? callerFor(options.tokenHost) : caller;
  const http = createIdpHttpClient({ maxConnections: options.idpMaxConnections });
  const fetchToken = options.fetchToken;
  // The token's lifetime runs on the call policy's clock too, so a test can let it expire without waiting.
  const tokens = fetchToken
    ? new AdminTokenCache(() => tokenCaller.call('admin token', 'idempotent', (signal) => fetchToken(signal, http)), {
        now: caller.policy.clock?.now,
      })
    : undefined;

  let closed = false;
  const call = async <T>(
    operation: string,
    safety: CallSafety,
    attempt: (signal: AbortSignal, token: string) => Promise<T>,
  ): Promise<T> => {
    // A closed pool never answers: fail at once, not after retrying it through the whole budget.
    if (closed) throw new IdpUnavailableError('The driver is closed; it sends no more calls to the identity provider.');
    for (let renewed = false; ; renewed = true) {
      const token = tokens ? await tokens.get().catch(tokenFailure) : '';
      try {
        return await caller.call(operation, safety, (signal) => attempt(signal, token));
      } catch (error) {
        // A 401 means the cached token went stale (a restarted realm, a revoked session): replace it, once.
        if (tokens && !renewed && upstreamStatusOf(error) === 401) {
          tokens.invalidate(token);
          continue;
        }
        rethrowTyped(error);
      }
    }
  };
  const close = () => {
    closed = true;
    return http.close();
  };
  const retryWhilePassingOnPolicyClock = <T>(
    attempt: () => Promise<T>,
    isPassing: (status: number | undefined) => boolean,
    waitMs: number,
  ) => retryWhilePassing(attempt, isPassing, waitMs, caller.policy.clock);
  return Object.assign(call, {
    policy: caller.policy,
    tokens,
    http,
    retryWhilePassing: retryWhilePassingOnPolicyClock,
    close,
  });
}

/** What an attempt threw that is neither an IdP status nor a socket failure is the SDK failing on a 2xx answer it got. */
function rethrowTyped(error: unknown): never {
  throw error instanceof BridgeError ? error : new UnusableAnswerError(undefined, { cause: error });
}

/** A failed token request acted on nothing: even an unusable token answer is a plain `IdpError` (no clean-up, no re-read). */
function tokenFailure(error: unknown): never {
  if (error instanceof BridgeError && !(error instanceof UnusableAnswerError)) throw error;
  throw new IdpError(error instanceof UnusableAnswerError ? error.message : undefined, { cause: error });
}

/**
 * Waiting out a state the IdP leaves on its own within seconds — Entra's replication: a new object answers as if it
 * did not exist until it has replicated. Runs `attempt` again while it fails with a status `isPassing` names (delays
 * doubling from 100 ms to 2 s), until the next delay would pass `waitMs` from the start; then, or on any other
 * failure, the failure is thrown. The waits run on `clock` (the call policy's), so a test on a virtual clock waits out
 * no real time.
 */
async function retryWhilePassing<T>(
  attempt: () => Promise<T>,
  isPassing: (status: number | undefined) => boolean,
  waitMs: number,
  clock: Clock = systemClock,
): Promise<T> {
  const deadline = clock.now() + waitMs;
  for (let delay = 100; ; delay = Math.min(delay * 2, 2_000)) {
    try {
      return await attempt();
    } catch (error) {
      if (!isPassing(upstreamStatusOf(error)) || clock.now() + delay > deadline) throw error;
      await clock.sleep(delay);
    }
  }
}
