/**
 * The admin-call wrapper every vendor driver sends its IdP calls through: the retry layer (src/idp/call.ts), the
 * admin token (src/idp/token-cache.ts, fetched with retries of its own before the call, so it never spends the call's
 * timeout), one renewal of that token after a 401, and nothing raw out of it: a failure the retry layer does not know
 * becomes `IdpError`. Every failed attempt is reported with its cause class and the IdP host, never a body or a secret.
 * It owns the driver's IdP HTTP client (http.ts), whose pool the driver's `close` closes with `call.close()`.
 *
 *   const call = createAdminCall({ host: new URL(url).host, describe: describeSdkError, fetchToken: fetchAdminToken, ...settings });
 *   const sdk = new VendorSdk({ url, fetch: call.http.fetch });
 *   const app = await call('read client', 'idempotent', (signal, token) => sdk.get(id, { signal, token }));
 */
import { BridgeError, IdpError, IdpUnavailableError } from '../errors.js';
import {
  IdpCaller,
  describeNetworkError,
  retryAfterFromHeaders,
  upstreamStatusOf,
  type CallSafety,
  type HeaderSource,
  type IdpCallPolicy,
  type UpstreamFailure,
} from '../idp/call.js';
import { AdminTokenCache, type IssuedToken } from '../idp/token-cache.js';
import { createIdpHttpClient, type IdpHttpClient } from './http.js';

/** What kind of failure an attempt met, as the log names it. */
export type IdpFailureCause = 'connection refused' | 'connection reset' | 'dns' | 'tls' | 'timeout' | 'status' | 'network';

/** One failed attempt, as the composition root logs it (`idp.attempt_failed`). Ids and names only. */
export interface IdpFailureReport {
  operation: string;
  attempt: number;
  cause: IdpFailureCause;
  /** `host[:port]` of the IdP endpoint called. */
  host: string;
  status?: number;
  retrying: boolean;
}

/** A non-2xx answer of an IdP endpoint the driver calls over plain HTTP (a token endpoint, Graph). */
export class IdpStatusError extends Error {
  readonly status: number;
  readonly retryAfterMs: number | undefined;

  constructor(status: number, headers?: HeaderSource) {
    super(`The identity provider answered ${status}`);
    this.name = 'IdpStatusError';
    this.status = status;
    this.retryAfterMs = retryAfterFromHeaders(headers, status);
  }
}

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
  /** Closes the pool (the driver's `close`). */
  close(): Promise<void>;
}

export function createAdminCall(options: AdminCallOptions): AdminCall {
  const describe = (error: unknown): UpstreamFailure | undefined => {
    const failure = error instanceof IdpStatusError ? { kind: 'status' as const, status: error.status, retryAfterMs: error.retryAfterMs } : (options.describe?.(error) ?? describeNetworkError(error));
    return failure && classified(failure, error);
  };
  const callerFor = (host: string) =>
    new IdpCaller({
      describe,
      policy: options.idpCallPolicy,
      onFailedAttempt: ({ operation, attempt, failure, retrying }) =>
        options.onIdpFailure?.({ operation, attempt, cause: causeOf(failure), host, ...(failure.status === undefined ? {} : { status: failure.status }), retrying }),
    });
  const caller = callerFor(options.host);
  const tokenCaller = options.tokenHost ? callerFor(options.tokenHost) : caller;
  const http = createIdpHttpClient({ maxConnections: options.idpMaxConnections });
  const fetchToken = options.fetchToken;
  // The token's lifetime runs on the call policy's clock too, so a test can let it expire without waiting.
  const tokens = fetchToken ? new AdminTokenCache(() => tokenCaller.call('admin token', 'idempotent', (signal) => fetchToken(signal, http)), { now: caller.policy.clock?.now }) : undefined;

  let closed = false;
  const call = async <T>(operation: string, safety: CallSafety, attempt: (signal: AbortSignal, token: string) => Promise<T>): Promise<T> => {
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
  return Object.assign(call, { policy: caller.policy, tokens, http, close });
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
 * A success answer the driver cannot use (wrong shape, wrong type, empty, HTML — or one the SDK could not parse):
 * `502 idp_error`, never repeated, and the IdP may have acted on the call (`mayHaveBeenApplied` says yes).
 */
export class UnusableAnswerError extends IdpError {}

/**
 * Whether a failed unsafe call may still have been carried out by the IdP: its answer was lost (a timeout, a dropped
 * connection after sending) or it failed after acting (a 5xx). A refusal (4xx) or a request that provably never left
 * (connection refused, DNS, TLS) was not applied. The one answer every driver's lost-answer recovery asks.
 */
export function mayHaveBeenApplied(error: unknown): boolean {
  if (error instanceof UnusableAnswerError) return true;
  const failure = error instanceof BridgeError ? error.cause : undefined;
  if (!isUpstreamFailure(failure) || failure.notSent) return false;
  if (failure.kind === 'timeout' || failure.kind === 'network') return true;
  return failure.status === undefined || failure.status >= 500;
}

/** Runs `step` of a half-made change; if it fails, `undo` takes the change back (best effort) and the step's error is thrown. */
export async function undoOnFailure<T>(step: () => Promise<T>, undo: () => Promise<unknown>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    await undo().catch(() => undefined);
    throw error;
  }
}

/**
 * Runs an unsafe call; if it fails in a way the IdP may have acted on (`mayHaveBeenApplied`), `cleanUp` removes what it
 * may have made (best effort, e.g. the client found by its registration id) before the call's error is thrown.
 */
export async function cleanUpIfApplied<T>(unsafeCall: () => Promise<T>, cleanUp: () => Promise<unknown>): Promise<T> {
  try {
    return await unsafeCall();
  } catch (error) {
    if (mayHaveBeenApplied(error)) await cleanUp().catch(() => undefined);
    throw error;
  }
}

/**
 * An IdP answer the driver cannot use (wrong shape, wrong type, empty, HTML) is `502 idp_error` at once — never a
 * `TypeError` later, never a path with `undefined` in it. Drivers check each answer inside the attempt with this.
 */
export function usableAnswer<T>(value: unknown, isUsable: (value: unknown) => value is T, what: string): T {
  if (isUsable(value)) return value;
  throw new UnusableAnswerError(`The identity provider answered ${what} with something the bridge could not use.`);
}

/** Runs a call whose answer the driver never reads: a 2xx it could not parse (`UnusableAnswerError`) is done all the same. */
export async function answerUnread(call: Promise<unknown>): Promise<void> {
  try {
    await call;
  } catch (error) {
    if (!(error instanceof UnusableAnswerError)) throw error;
  }
}

/**
 * Runs a call the IdP carries out even when its answer comes back unusable (a 2xx the driver cannot read): then
 * `reread` asks the IdP for what the answer should have said (the updated client, the rotated secret), so the caller
 * learns the state the IdP is in; a re-read that fails too is the call's error.
 */
export async function rereadIfUnusable<T>(call: () => Promise<T>, reread: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (!(error instanceof UnusableAnswerError)) throw error;
    return reread();
  }
}

export const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
export const isRecordArray = (value: unknown): value is Array<Record<string, unknown>> => Array.isArray(value) && value.every(isRecord);
/** A record whose listed members are non-empty strings. */
export const hasStrings =
  <K extends string>(...keys: K[]) =>
  (value: unknown): value is Record<K, string> & Record<string, unknown> =>
    isRecord(value) && keys.every((key) => typeof value[key] === 'string' && value[key] !== '');

/** An IdP's non-2xx answer as an upstream failure, with the wait it asked for (`Retry-After`, rate-limit reset headers). */
export function statusFailure(status: number, headers?: HeaderSource): UpstreamFailure {
  return { kind: 'status', status, retryAfterMs: retryAfterFromHeaders(headers, status) };
}

function isUpstreamFailure(value: unknown): value is UpstreamFailure {
  return typeof value === 'object' && value !== null && 'kind' in value;
}

const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_|ERR_OSSL_)/;

/** Adds the cause class (from the socket error's code, however deep) to a failure; a TLS failure was never sent. */
function classified(failure: UpstreamFailure, error: unknown): UpstreamFailure {
  if (failure.kind !== 'network') return failure;
  const codes: string[] = [];
  for (let link: unknown = error, depth = 0; link && depth < 5; link = (link as { cause?: unknown }).cause, depth++) {
    const code = (link as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
  }
  const cause: IdpFailureCause | undefined = codes.includes('ECONNREFUSED')
    ? 'connection refused'
    : codes.some((code) => code === 'ENOTFOUND' || code === 'EAI_AGAIN')
      ? 'dns'
      : codes.some((code) => TLS_CODE.test(code))
        ? 'tls'
        : codes.some((code) => code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE')
          ? 'connection reset'
          : undefined;
  return { ...failure, ...(cause === 'tls' ? { notSent: true } : {}), ...(cause ? { cause } : {}) } as UpstreamFailure;
}

function causeOf(failure: UpstreamFailure): IdpFailureCause {
  const cause = (failure as { cause?: IdpFailureCause }).cause;
  if (cause) return cause;
  return failure.kind === 'network' ? 'network' : failure.kind;
}
