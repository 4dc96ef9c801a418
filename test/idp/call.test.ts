import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ClientNotFoundError,
  ConflictError,
  IdpError,
  IdpTimeoutError,
  IdpUnavailableError,
  InvalidClientMetadataError,
} from '../../src/errors.js';
import { IdpCaller } from '../../src/driver/call/caller.js';
import {
  describeNetworkError,
  retryAfterFromHeaders,
  toBridgeError,
  upstreamStatusOf,
  type UpstreamFailure,
} from '../../src/driver/call/failure.js';

/** An error shaped like what an SDK throws: a status and headers. */
class FakeHttpError extends Error {
  constructor(
    readonly status: number,
    readonly headers: Record<string, string> = {},
  ) {
    super(`HTTP ${status}`);
  }
}

function describeFake(error: unknown): UpstreamFailure | undefined {
  if (error instanceof FakeHttpError) {
    return {
      kind: 'status',
      status: error.status,
      retryAfterMs: retryAfterFromHeaders(error.headers, error.status, 0),
    };
  }
  return describeNetworkError(error);
}

function recordingCaller(policy = {}) {
  const sleeps: number[] = [];
  let clock = 0;
  const caller = new IdpCaller({
    describe: describeFake,
    policy: { timeoutMs: 200, baseDelayMs: 100, maxDelayMs: 1_000, budgetMs: 10_000, maxAttempts: 6, ...policy },
    random: () => 0.5,
    now: () => clock,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock += ms;
    },
  });
  return { caller, sleeps };
}

/** An attempt function that fails with the given errors in turn, then succeeds. */
function failingThen<T>(errors: unknown[], value: T) {
  let calls = 0;
  const attempt = async () => {
    calls++;
    if (calls <= errors.length) throw errors[calls - 1];
    return value;
  };
  return { attempt, calls: () => calls };
}

describe('IdP call layer', () => {
  it('retries a 503 with growing, jittered backoff and returns the eventual success', async () => {
    const { caller, sleeps } = recordingCaller();
    const script = failingThen([new FakeHttpError(503), new FakeHttpError(503), new FakeHttpError(503)], 'ok');
    assert.equal(await caller.call('getClient', 'idempotent', script.attempt), 'ok');
    assert.equal(script.calls(), 4);
    // base 100 ms doubling, jitter in [half, full] with random 0.5 → 75 %.
    assert.deepEqual(sleeps, [75, 150, 300]);
  });

  it('waits at least as long as Retry-After asks', async () => {
    const { caller, sleeps } = recordingCaller();
    const script = failingThen([new FakeHttpError(429, { 'Retry-After': '2' })], 'ok');
    await caller.call('getClient', 'idempotent', script.attempt);
    assert.deepEqual(sleeps, [2_000]);
  });

  it('honours a vendor rate-limit reset header when the window is spent', async () => {
    assert.equal(
      retryAfterFromHeaders({ 'X-Rate-Limit-Remaining': '0', 'X-Rate-Limit-Reset': '105' }, 200, 100_000),
      5_000,
    );
    assert.equal(retryAfterFromHeaders({ 'x-ratelimit-reset': '103' }, 429, 100_000), 3_000);
    assert.equal(
      retryAfterFromHeaders({ 'X-Rate-Limit-Remaining': '7', 'X-Rate-Limit-Reset': '105' }, 200, 100_000),
      undefined,
    );
    assert.equal(
      retryAfterFromHeaders(new Headers({ 'retry-after': 'Thu, 01 Jan 1970 00:01:50 GMT' }), 503, 100_000),
      10_000,
    );
  });

  it('gives up with 503 idp_unavailable and a Retry-After when the wait would pass the budget', async () => {
    const { caller, sleeps } = recordingCaller({ budgetMs: 5_000 });
    const script = failingThen(
      Array.from({ length: 10 }, () => new FakeHttpError(429, { 'Retry-After': '30' })),
      'ok',
    );
    await assert.rejects(caller.call('registerClient', 'unsafe', script.attempt), (error: unknown) => {
      assert.ok(error instanceof IdpUnavailableError);
      assert.equal(error.status, 503);
      assert.equal(error.retryAfterSeconds, 30);
      assert.equal(upstreamStatusOf(error), 429);
      return true;
    });
    assert.equal(script.calls(), 1);
    assert.deepEqual(sleeps, []);
  });

  it('stops after the attempt limit', async () => {
    const { caller } = recordingCaller({ maxAttempts: 3 });
    const script = failingThen(
      Array.from({ length: 10 }, () => new FakeHttpError(500)),
      'ok',
    );
    await assert.rejects(caller.call('getClient', 'idempotent', script.attempt), IdpError);
    assert.equal(script.calls(), 3);
  });

  it('never repeats an unsafe call after a 5xx or a dropped connection, since the IdP may have acted on it', async () => {
    for (const error of [
      new FakeHttpError(500),
      new FakeHttpError(503),
      Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
    ]) {
      const { caller } = recordingCaller();
      const script = failingThen([error], 'ok');
      await assert.rejects(caller.call('registerClient', 'unsafe', script.attempt));
      assert.equal(script.calls(), 1);
    }
  });

  it('repeats an unsafe call after a 429 or a refused connection, which the IdP never acted on', async () => {
    for (const error of [
      new FakeHttpError(429),
      new TypeError('fetch failed', { cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }) }),
    ]) {
      const { caller } = recordingCaller();
      const script = failingThen([error], 'ok');
      assert.equal(await caller.call('registerClient', 'unsafe', script.attempt), 'ok');
      assert.equal(script.calls(), 2);
    }
  });

  it('does not retry what retrying cannot fix', async () => {
    for (const status of [400, 401, 403, 404, 409]) {
      const { caller } = recordingCaller();
      const script = failingThen([new FakeHttpError(status)], 'ok');
      await assert.rejects(caller.call('getClient', 'idempotent', script.attempt));
      assert.equal(script.calls(), 1, `status ${status}`);
    }
  });

  it('times an attempt out, aborts its signal, retries, and maps a persistent timeout to 504 idp_timeout', async () => {
    const caller = new IdpCaller({
      describe: describeFake,
      policy: { timeoutMs: 30, baseDelayMs: 1, budgetMs: 2_000, maxAttempts: 3 },
    });
    const signals: AbortSignal[] = [];
    const started = Date.now();
    await assert.rejects(
      caller.call('getClient', 'idempotent', (signal) => {
        signals.push(signal);
        return new Promise(() => undefined);
      }),
      IdpTimeoutError,
    );
    assert.equal(signals.length, 3);
    assert.ok(signals.every((signal) => signal.aborted));
    assert.ok(Date.now() - started < 1_000);
  });

  it('passes typed bridge errors through untouched and unknown errors unchanged', async () => {
    const { caller } = recordingCaller();
    const typed = new ClientNotFoundError();
    await assert.rejects(
      caller.call('getClient', 'idempotent', async () => Promise.reject(typed)),
      (error) => error === typed,
    );
    const bug = new RangeError('a bug, not an upstream failure');
    await assert.rejects(
      caller.call('getClient', 'idempotent', async () => Promise.reject(bug)),
      (error) => error === bug,
    );
  });

  it('reports every failed attempt to its observer', async () => {
    const events: Array<{ attempt: number; retrying: boolean }> = [];
    const caller = new IdpCaller({
      describe: describeFake,
      policy: { baseDelayMs: 1, maxAttempts: 2 },
      onFailedAttempt: ({ attempt, retrying }) => events.push({ attempt, retrying }),
    });
    await assert.rejects(caller.call('getClient', 'idempotent', async () => Promise.reject(new FakeHttpError(502))));
    assert.deepEqual(events, [
      { attempt: 1, retrying: true },
      { attempt: 2, retrying: false },
    ]);
  });

  it('maps final upstream failures to the documented statuses and codes', () => {
    const cases: Array<[UpstreamFailure, new (...args: never[]) => Error, number, string]> = [
      [{ kind: 'status', status: 400 }, InvalidClientMetadataError, 400, 'invalid_client_metadata'],
      [{ kind: 'status', status: 401 }, IdpError, 502, 'idp_error'],
      [{ kind: 'status', status: 403 }, IdpError, 502, 'idp_error'],
      [{ kind: 'status', status: 404 }, ClientNotFoundError, 404, 'client_not_found'],
      [{ kind: 'status', status: 409 }, ConflictError, 409, 'conflict'],
      [{ kind: 'status', status: 429 }, IdpUnavailableError, 503, 'idp_unavailable'],
      [{ kind: 'status', status: 500 }, IdpError, 502, 'idp_error'],
      [{ kind: 'status', status: 503 }, IdpUnavailableError, 503, 'idp_unavailable'],
      [{ kind: 'status', status: 504 }, IdpTimeoutError, 504, 'idp_timeout'],
      [{ kind: 'timeout' }, IdpTimeoutError, 504, 'idp_timeout'],
      [{ kind: 'network' }, IdpUnavailableError, 503, 'idp_unavailable'],
    ];
    for (const [failure, errorClass, status, code] of cases) {
      const error = toBridgeError(failure);
      assert.ok(error instanceof errorClass, `${JSON.stringify(failure)} → ${error.name}`);
      assert.equal(error.status, status);
      assert.equal(error.code, code);
    }
  });

  it('recognises network failures wrapped by fetch', () => {
    const refused = new TypeError('fetch failed', {
      cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    });
    assert.deepEqual(describeNetworkError(refused), { kind: 'network', notSent: true });
    const reset = new TypeError('fetch failed', {
      cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }),
    });
    assert.deepEqual(describeNetworkError(reset), { kind: 'network' });
    assert.equal(describeNetworkError(new Error('something else')), undefined);
  });
});
