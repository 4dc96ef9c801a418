/**
 * The one failure classifier of the IdP call: what an attempt's failure was (an IdP status with the wait it asked for,
 * a timeout, a socket failure and its cause class, whether the request can have been sent at all), what a final
 * failure becomes among the bridge's typed errors, and an answer the driver cannot use. Every other part of the
 * bridge (the retry layer, the admin call, recovery, the audit trail) asks here.
 */
import {
  BridgeError,
  ClientNotFoundError,
  ConflictError,
  IdpError,
  IdpTimeoutError,
  IdpUnavailableError,
  InvalidClientMetadataError,
} from '../../errors.js';
import type { IdpFailureCause } from '../contract.js';

/** What went wrong with one attempt, as told by the driver's vendor-specific `describe` function. */
export interface UpstreamFailure {
  kind: 'status' | 'timeout' | 'network';
  status?: number;
  /** How long the IdP asked us to wait, from `Retry-After` or a rate-limit reset header. */
  retryAfterMs?: number;
  /** The request provably never reached the IdP (connection refused, DNS): safe to repeat even when unsafe. */
  notSent?: boolean;
}

/** The upstream failure a typed bridge error came from, when it came from one. */
export function failureOf(error: unknown): UpstreamFailure | undefined {
  const cause = error instanceof BridgeError ? error.cause : undefined;
  return typeof cause === 'object' && cause !== null && 'kind' in cause ? (cause as UpstreamFailure) : undefined;
}

/** The IdP's status behind a typed bridge error, so a driver can react to it. */
export function upstreamStatusOf(error: unknown): number | undefined {
  return failureOf(error)?.status;
}

/** The IdP's part in a failure, as the audit trail and the sweep's events name it: its status, or that it did not answer. */
export function idpStatusOf(error: unknown): { idpStatus?: number | 'timeout' | 'unreachable' } {
  const failure = failureOf(error);
  if (failure?.status !== undefined) return { idpStatus: failure.status };
  if (failure?.kind === 'timeout') return { idpStatus: 'timeout' };
  if (failure?.kind === 'network') return { idpStatus: 'unreachable' };
  return {};
}

/** The bridge error a final upstream failure becomes. Descriptions never repeat the upstream body. */
export function toBridgeError(failure: UpstreamFailure): BridgeError {
  const options = { cause: failure, retryAfterSeconds: retryAfterSeconds(failure) };
  if (failure.kind === 'timeout') return new IdpTimeoutError(undefined, options);
  if (failure.kind === 'network')
    return new IdpUnavailableError('The identity provider could not be reached; retry later.', options);
  switch (failure.status) {
    case 400:
    case 422:
      return new InvalidClientMetadataError('The identity provider rejected the client metadata.', options);
    case 401:
    case 403:
      return new IdpError("The identity provider refused the bridge's own credentials.", options);
    case 404:
    case 410:
      return new ClientNotFoundError(undefined, options);
    case 409:
      return new ConflictError(undefined, options);
    case 408:
    case 504:
      return new IdpTimeoutError(undefined, options);
    case 429:
      return new IdpUnavailableError(
        'The identity provider is throttling requests past the retry budget; retry later.',
        options,
      );
    case 502:
    case 503:
      return new IdpUnavailableError(undefined, options);
    default:
      return new IdpError(undefined, options);
  }
}

function retryAfterSeconds(failure: UpstreamFailure): number | undefined {
  if (failure.retryAfterMs !== undefined) return Math.max(1, Math.ceil(failure.retryAfterMs / 1000));
  return failure.status === 429 || failure.status === 503 ? 1 : undefined;
}

/** Headers as the SDKs expose them: a fetch `Headers`, a `Map`, or a plain record. */
export type HeaderSource =
  | { get(name: string): string | null | undefined }
  | Record<string, string | string[] | undefined>;

export function headerValue(headers: HeaderSource | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  if (typeof (headers as { get?: unknown }).get === 'function') {
    return (headers as { get(name: string): string | null | undefined }).get(name) ?? undefined;
  }
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers as Record<string, string | string[] | undefined>)) {
    if (key.toLowerCase() === wanted) return Array.isArray(value) ? value[0] : value;
  }
  return undefined;
}

/**
 * How long the IdP asked us to wait: `Retry-After` (seconds or an HTTP date), else, when the rate-limit window
 * is spent, the vendors' reset header (`X-Rate-Limit-Reset` for Okta, `X-RateLimit-Reset` for Auth0, epoch seconds).
 */
export function retryAfterFromHeaders(
  headers: HeaderSource | undefined,
  status: number | undefined,
  now = Date.now(),
): number | undefined {
  const retryAfter = headerValue(headers, 'retry-after');
  if (retryAfter !== undefined) {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
    const date = Date.parse(retryAfter);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  const remaining = headerValue(headers, 'x-rate-limit-remaining') ?? headerValue(headers, 'x-ratelimit-remaining');
  const reset = headerValue(headers, 'x-rate-limit-reset') ?? headerValue(headers, 'x-ratelimit-reset');
  if (reset !== undefined && (status === 429 || remaining === '0')) {
    const resetSeconds = Number(reset);
    if (Number.isFinite(resetSeconds)) return Math.max(0, resetSeconds * 1000 - now);
  }
  return undefined;
}

/** The IdP HTTP client's failure before an answer was read (refused, reset, TLS); the socket's error is its `cause`. */
export class IdpConnectionError extends Error {
  constructor(cause: unknown) {
    super('The connection to the identity provider failed', { cause });
    this.name = 'IdpConnectionError';
  }
}

const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH']);
const NETWORK_CODES = new Set([
  ...NOT_SENT_CODES,
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'ECONNABORTED',
]);

/** Recognises a network failure anywhere in an error's cause chain (fetch wraps the socket error in `cause`). */
export function describeNetworkError(error: unknown): UpstreamFailure | undefined {
  const chain: unknown[] = [];
  for (let current: unknown = error; current && chain.length < 5; current = (current as { cause?: unknown }).cause)
    chain.push(current);
  // The socket's own code, however deep, says the most: whether the request can have been sent at all.
  for (const link of chain) {
    const code = (link as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code))
      return NOT_SENT_CODES.has(code) ? { kind: 'network', notSent: true } : { kind: 'network' };
  }
  for (const link of chain) {
    const name = (link as { name?: unknown }).name;
    if (name === 'AbortError' || name === 'TimeoutError') return { kind: 'timeout' };
    if ((link instanceof TypeError && link.message === 'fetch failed') || link instanceof IdpConnectionError)
      return { kind: 'network' };
    if (link instanceof Error && /socket hang up|other side closed|ECONNRESET/i.test(link.message))
      return { kind: 'network' };
  }
  return undefined;
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

/** An IdP's non-2xx answer as an upstream failure, with the wait it asked for (`Retry-After`, rate-limit reset headers). */
export function statusFailure(status: number, headers?: HeaderSource): UpstreamFailure {
  return { kind: 'status', status, retryAfterMs: retryAfterFromHeaders(headers, status) };
}

/**
 * A success answer the driver cannot use (wrong shape, wrong type, empty, HTML — or one the SDK could not parse):
 * `502 idp_error`, never repeated, and the IdP may have acted on the call (`mayHaveBeenApplied` says yes).
 */
export class UnusableAnswerError extends IdpError {}

/**
 * An IdP answer the driver cannot use (wrong shape, wrong type, empty, HTML) is `502 idp_error` at once — never a
 * `TypeError` later, never a path with `undefined` in it. Drivers check each answer inside the attempt with this.
 */
export function usableAnswer<T>(value: unknown, isUsable: (value: unknown) => value is T, what: string): T {
  if (isUsable(value)) return value;
  throw new UnusableAnswerError(`The identity provider answered ${what} with something the bridge could not use.`);
}

/** The failures (or the errors to describe) carried beside errors of an SDK's own type, which the SDK passes on but never reads. */
const carried = new WeakMap<object, UpstreamFailure | { cause: unknown }>();

/**
 * `error` (of the type an SDK insists on, e.g. MSAL's `AuthError`), carrying `failure` — or, given `{ cause }`, the
 * error it stands for, described as a socket failure (a network failure when it is none) — to the admin call.
 */
export function carryFailure<E extends object>(error: E, failure: UpstreamFailure | { cause: unknown }): E {
  carried.set(error, failure);
  return error;
}

/** The failure `carryFailure` put beside `error`, if any. */
export function carriedFailure(error: unknown): UpstreamFailure | undefined {
  const failure = typeof error === 'object' && error !== null ? carried.get(error) : undefined;
  if (failure === undefined || 'kind' in failure) return failure;
  return describeNetworkError(failure.cause) ?? { kind: 'network' };
}

const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_|ERR_OSSL_)/;

/** Adds the cause class (from the socket error's code, however deep) to a failure; a TLS failure was never sent. */
export function withCauseClass(failure: UpstreamFailure, error: unknown): UpstreamFailure {
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

/** The cause class of a failed attempt, as `IdpFailureReport` names it. */
export function causeOf(failure: UpstreamFailure): IdpFailureCause {
  const cause = (failure as { cause?: IdpFailureCause }).cause;
  if (cause) return cause;
  return failure.kind === 'network' ? 'network' : failure.kind;
}
