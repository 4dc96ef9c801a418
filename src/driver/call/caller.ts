/**
 * The IdP call layer: every admin call a vendor driver makes goes through `IdpCaller.call`, which gives it a
 * timeout, retries with capped, jittered exponential backoff inside an overall budget (honouring `Retry-After`
 * and the vendors' rate-limit reset headers), and maps the final failure to the bridge's typed errors (failure.ts).
 */
import { BridgeError } from '../../errors.js';
import type { Clock, IdpCallPolicy } from '../contract.js';
import { toBridgeError, type UpstreamFailure } from './failure.js';

/** Whether an operation may be sent twice: unsafe calls are repeated only when the IdP cannot have acted on them. */
export type CallSafety = 'idempotent' | 'unsafe';

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  setTimer(callback, ms) {
    const timer = setTimeout(callback, ms);
    return () => clearTimeout(timer);
  },
};

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
  onFailedAttempt?: (event: {
    operation: string;
    attempt: number;
    failure: UpstreamFailure;
    retrying: boolean;
  }) => void;
}

/** The error an attempt rejects with when the per-attempt timeout fires. */
export class AttemptTimeoutError extends Error {
  constructor() {
    super('IdP call timed out');
    this.name = 'AttemptTimeoutError';
  }
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
        const described =
          error instanceof BridgeError
            ? undefined
            : error instanceof AttemptTimeoutError
              ? { kind: 'timeout' as const }
              : this.options.describe(error);
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
  private retryDelay(
    failure: UpstreamFailure,
    safety: CallSafety,
    attemptNumber: number,
    remainingMs: number,
  ): number | undefined {
    if (attemptNumber >= this.policy.maxAttempts) return undefined;
    const retryable =
      failure.kind === 'timeout' ||
      failure.kind === 'network' ||
      (failure.status !== undefined && RETRYABLE_STATUSES.has(failure.status));
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
