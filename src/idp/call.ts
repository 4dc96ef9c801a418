/**
 * The IdP call layer: every admin call a vendor driver makes goes through `IdpCaller.call`, which gives it a
 * timeout, retries with capped, jittered exponential backoff inside an overall budget (honouring `Retry-After`
 * and the vendors' rate-limit reset headers), and maps the final failure to the bridge's typed errors.
 */
import {
  BridgeError,
  ClientNotFoundError,
  ConflictError,
  IdpError,
  IdpTimeoutError,
  IdpUnavailableError,
  InvalidClientMetadataError,
} from '../errors.js';

/** What went wrong with one attempt, as told by the driver's vendor-specific `describe` function. */
export interface UpstreamFailure {
  kind: 'status' | 'timeout' | 'network';
  status?: number;
  /** How long the IdP asked us to wait, from `Retry-After` or a rate-limit reset header. */
  retryAfterMs?: number;
  /** The request provably never reached the IdP (connection refused, DNS): safe to repeat even when unsafe. */
  notSent?: boolean;
}

/** Whether an operation may be sent twice: unsafe calls are repeated only when the IdP cannot have acted on them. */
export type CallSafety = 'idempotent' | 'unsafe';

/** Time as the call layer reads and waits on it; tests pass a virtual one, so no test waits for a real timer. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Runs `callback` after `ms`, unless the returned cancel function runs first. */
  setTimer(callback: () => void, ms: number): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  setTimer(callback, ms) {
    const timer = setTimeout(callback, ms);
    return () => clearTimeout(timer);
  },
};

export interface IdpCallPolicy {
  /** Per attempt. */
  timeoutMs: number;
  /** Over all attempts and waits of one call. */
  budgetMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
  maxAttempts: number;
  /** What timeouts and waits run on; default the system clock. Part of the policy so it reaches every driver's caller. */
  clock?: Clock;
}

export const defaultIdpCallPolicy: IdpCallPolicy = {
  timeoutMs: 10_000,
  budgetMs: 25_000,
  baseDelayMs: 200,
  maxDelayMs: 5_000,
  maxAttempts: 6,
};

export interface IdpCallerOptions {
  /** Turns whatever the vendor SDK threw into an `UpstreamFailure`; `undefined` means "not an upstream failure". */
  describe: (error: unknown) => UpstreamFailure | undefined;
  policy?: Partial<IdpCallPolicy>;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** Observes every failed attempt (metrics, logs): operation name, attempt number, failure, whether it retries. */
  onFailedAttempt?: (event: { operation: string; attempt: number; failure: UpstreamFailure; retrying: boolean }) => void;
}

/** The error an attempt rejects with when the per-attempt timeout fires. */
export class AttemptTimeoutError extends Error {
  constructor() {
    super('IdP call timed out');
    this.name = 'AttemptTimeoutError';
  }
}

/** A typed bridge error that remembers the upstream failure it came from, so drivers can react to a status. */
export interface UpstreamBridgeError extends BridgeError {
  cause: UpstreamFailure;
}

export function upstreamStatusOf(error: unknown): number | undefined {
  if (error instanceof BridgeError && isUpstreamFailure(error.cause)) return error.cause.status;
  return undefined;
}

function isUpstreamFailure(value: unknown): value is UpstreamFailure {
  return typeof value === 'object' && value !== null && 'kind' in value;
}

/** Watches one attempt (tracing): `run` runs it, `end` says how it ended and how long the caller waits before the next. */
export interface IdpAttemptWatch {
  run<T>(attempt: () => Promise<T>): Promise<T>;
  end(outcome: { failure?: UpstreamFailure; retryDelayMs?: number; failed?: boolean }): void;
}

export type IdpAttemptObserver = (attempt: { operation: string; attempt: number }) => IdpAttemptWatch;

let attemptObserver: IdpAttemptObserver | undefined;

/** Sets (or, with `undefined`, removes) the one observer of every attempt of every caller. */
export function observeIdpAttempts(observer: IdpAttemptObserver | undefined): void {
  attemptObserver = observer;
}

const RETRYABLE_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

export class IdpCaller {
  readonly policy: IdpCallPolicy;
  private readonly options: IdpCallerOptions;

  constructor(options: IdpCallerOptions) {
    this.options = options;
    this.policy = { ...defaultIdpCallPolicy, ...options.policy };
  }

  private get clock(): Clock {
    return this.policy.clock ?? systemClock;
  }

  async call<T>(operation: string, safety: CallSafety, attempt: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const now = this.options.now ?? this.clock.now;
    const deadline = now() + this.policy.budgetMs;
    for (let attemptNumber = 1; ; attemptNumber++) {
      let failure: UpstreamFailure;
      const watch = attemptObserver?.({ operation, attempt: attemptNumber });
      try {
        const value = await (watch ? watch.run(() => this.withTimeout(attempt)) : this.withTimeout(attempt));
        watch?.end({});
        return value;
      } catch (error) {
        const described = error instanceof BridgeError ? undefined : error instanceof AttemptTimeoutError ? { kind: 'timeout' as const } : this.options.describe(error);
        if (!described) {
          watch?.end({ failed: true });
          throw error;
        }
        failure = described;
      }
      const delay = this.retryDelay(failure, safety, attemptNumber, deadline - now());
      watch?.end({ failure, ...(delay !== undefined ? { retryDelayMs: delay } : {}) });
      this.options.onFailedAttempt?.({ operation, attempt: attemptNumber, failure, retrying: delay !== undefined });
      if (delay === undefined) throw toBridgeError(failure);
      await (this.options.sleep ?? this.clock.sleep)(delay);
    }
  }

  /** The wait before the next attempt, or `undefined` when the call must fail now. */
  private retryDelay(failure: UpstreamFailure, safety: CallSafety, attemptNumber: number, remainingMs: number): number | undefined {
    if (attemptNumber >= this.policy.maxAttempts) return undefined;
    const retryable =
      failure.kind === 'timeout' || failure.kind === 'network' || (failure.status !== undefined && RETRYABLE_STATUSES.has(failure.status));
    if (!retryable) return undefined;
    // A throttled request was refused before it was acted on; anything else might have been applied.
    const safeToRepeat = safety === 'idempotent' || failure.notSent === true || failure.status === 429;
    if (!safeToRepeat) return undefined;
    const exponential = Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** (attemptNumber - 1));
    const jittered = exponential / 2 + (this.options.random ?? Math.random)() * (exponential / 2);
    const delay = Math.max(jittered, failure.retryAfterMs ?? 0);
    // The next attempt needs time of its own; waiting past the budget only delays the same answer.
    if (delay + Math.min(this.policy.timeoutMs, 1_000) > remainingMs) return undefined;
    return delay;
  }

  private withTimeout<T>(attempt: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    return new Promise<T>((resolve, reject) => {
      const cancelTimer = this.clock.setTimer(() => {
        controller.abort(new AttemptTimeoutError());
        reject(new AttemptTimeoutError());
      }, this.policy.timeoutMs);
      attempt(controller.signal).then(
        (value) => {
          cancelTimer();
          resolve(value);
        },
        (error: unknown) => {
          cancelTimer();
          reject(controller.signal.aborted ? new AttemptTimeoutError() : error);
        },
      );
    });
  }
}

/** The bridge error a final upstream failure becomes. Descriptions never repeat the upstream body. */
export function toBridgeError(failure: UpstreamFailure): BridgeError {
  const options = { cause: failure, retryAfterSeconds: retryAfterSeconds(failure) };
  if (failure.kind === 'timeout') return new IdpTimeoutError(undefined, options);
  if (failure.kind === 'network') return new IdpUnavailableError('The identity provider could not be reached; retry later.', options);
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
      return new IdpUnavailableError('The identity provider is throttling requests past the retry budget; retry later.', options);
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
export type HeaderSource = { get(name: string): string | null | undefined } | Record<string, string | string[] | undefined>;

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
export function retryAfterFromHeaders(headers: HeaderSource | undefined, status: number | undefined, now = Date.now()): number | undefined {
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
const NETWORK_CODES = new Set([...NOT_SENT_CODES, 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ECONNABORTED']);

/** Recognises a network failure anywhere in an error's cause chain (fetch wraps the socket error in `cause`). */
export function describeNetworkError(error: unknown): UpstreamFailure | undefined {
  const chain: unknown[] = [];
  for (let current: unknown = error; current && chain.length < 5; current = (current as { cause?: unknown }).cause) chain.push(current);
  // The socket's own code, however deep, says the most: whether the request can have been sent at all.
  for (const link of chain) {
    const code = (link as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return NOT_SENT_CODES.has(code) ? { kind: 'network', notSent: true } : { kind: 'network' };
  }
  for (const link of chain) {
    const name = (link as { name?: unknown }).name;
    if (name === 'AbortError' || name === 'TimeoutError') return { kind: 'timeout' };
    if ((link instanceof TypeError && link.message === 'fetch failed') || link instanceof IdpConnectionError) return { kind: 'network' };
    if (link instanceof Error && /socket hang up|other side closed|ECONNRESET/i.test(link.message)) return { kind: 'network' };
  }
  return undefined;
}
