/**
 * The fault matrix, written once for every vendor driver: each IdP call of each operation × each fault kind, both
 * transient (one bad answer, then the real one) and persistent (every answer bad), on a virtual clock the driver's
 * call layer and the emulator share (so a 20 s latency or a 1 s `Retry-After` costs no real time, and a loaded
 * machine times nothing out). What each cell must show:
 * - transient, on a call the driver may repeat (every GET, PUT, PATCH, DELETE, and the POSTs named idempotent): the
 *   operation SUCCEEDS, and the emulator saw the faulted request and its repeat;
 * - transient 429 on any call: the same (a throttled request was refused before it was acted on);
 * - transient anything else on an unsafe call: success through the driver's recovery, or the fault's documented error;
 * - persistent: the documented error (DESIGN.md's table), within the retry budget of virtual time;
 * - "acted, answer lost" (the IdP applies the call, then the connection drops), on every POST: whatever the
 *   outcome, the operation's `verify` finds the state it promises (one client per registration, one working secret
 *   the caller holds after a rotation, no orphan) in the emulator;
 * - a malformed success answer (the IdP acted, then answered 200 with the wrong shape or type, nothing, or HTML), on
 *   every call, persistent (it is never repeated, so one is as good as many): `502 idp_error` where the driver reads
 *   the answer (success where it does not, or recovers by re-reading), and the same state as above;
 * - on every cell: no request with `undefined` in its path.
 * After every cell the operation's `verify` checks what must hold either way and the emulator must have seen no spec
 * violation.
 *
 * The register, get, delete and rotate cells are the same for every vendor (`registrationOperation`,
 * `readOperation`, `deletionOperation`, `rotationOperation`); update and readiness are each vendor's own.
 *
 *   const clock = new VirtualClock();
 *   const policy = { ...matrixPolicy, clock };        // the driver under test gets `idpCallPolicy: policy`
 *   faultMatrix({ emulator: () => emulator, clock, policy, kinds: faultKinds({ timeoutLatencyMs: 20_000 }), operations: [...] });
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { ClientMetadata, DcrDriver, RegisteredClientWithSecret } from '../../src/driver/contract.js';
import { BridgeError, ClientNotFoundError } from '../../src/errors.js';
import type { Emulator, Fault } from '../emulators/framework.js';
import type { VirtualClock } from './virtual-clock.js';

export interface FaultKind {
  name: string;
  fault: Omit<Fault, 'route' | 'nth' | 'times'>;
  /** The documented answer when the fault outlasts the retry budget (DESIGN.md's error table). */
  expected: { status: number; code: string };
  /**
   * Runs only on POST calls (the ones HTTP does not make idempotent, whether or not the driver repeats them), and is
   * judged by the state it leaves, not by the answer (the lost-answer kind).
   */
  unsafeCallsOnly?: boolean;
  /**
   * The IdP acted and answered 2xx with a body the driver cannot use (the malformed kinds): never repeated, so even
   * one is `expected` wherever the driver reads the answer — or success where it has no use for it (a delete's body),
   * or where it recovers what the answer should have said (re-reading the client).
   */
  malformedAnswer?: boolean;
}

/** The IdP applied the call, then the connection dropped before the answer: the ambiguous case. */
export const lostAnswerKind: FaultKind = {
  name: 'acted, answer lost',
  fault: { drop: 'after-processing' },
  expected: { status: 503, code: 'idp_unavailable' },
  unsafeCallsOnly: true,
};

/**
 * The "malformed success answer" kinds: the IdP acts, then answers 200 with the wrong shape, the wrong type, an empty
 * body, or HTML (a gateway's page). `502 idp_error`, with nothing half-done at the IdP.
 */
export function malformedAnswerKinds(): FaultKind[] {
  const expected = { status: 502, code: 'idp_error' };
  const malformed = (name: string, body?: unknown, contentType?: string): FaultKind => ({
    name: `malformed answer: ${name}`,
    fault: {
      status: 200,
      replacesAnswer: true,
      body,
      ...(contentType ? { headers: { 'content-type': contentType } } : {}),
    },
    expected,
    malformedAnswer: true,
  });
  return [
    malformed('wrong shape', { unexpected: 'x' }),
    malformed('wrong type', '"x"', 'application/json'),
    malformed('empty body'),
    malformed('HTML', '<html><body>Bad gateway</body></html>', 'text/html'),
  ];
}

/**
 * The kinds of the issue: 429 with Retry-After, 500, 503, timeout, dropped connection, the IdP acting with its
 * answer lost, and the malformed success answers. The 503 carries a `Retry-After` only when `serviceUnavailableRetryAfter` is given (a gateway's 503
 * often has none). `timeoutLatencyMs` must exceed the driver's per-attempt timeout.
 */
export function faultKinds(options: {
  timeoutLatencyMs: number;
  rateLimitHeaders?: Record<string, string>;
  rateLimitBody?: unknown;
  serviceUnavailableRetryAfter?: string;
}): FaultKind[] {
  const retryAfter = options.serviceUnavailableRetryAfter;
  return [
    {
      name: '429 with Retry-After',
      fault: { status: 429, headers: { 'Retry-After': '1', ...options.rateLimitHeaders }, body: options.rateLimitBody },
      expected: { status: 503, code: 'idp_unavailable' },
    },
    { name: '500', fault: { status: 500 }, expected: { status: 502, code: 'idp_error' } },
    {
      name: '503',
      fault: { status: 503, ...(retryAfter === undefined ? {} : { headers: { 'Retry-After': retryAfter } }) },
      expected: { status: 503, code: 'idp_unavailable' },
    },
    { name: 'timeout', fault: { latencyMs: options.timeoutLatencyMs }, expected: { status: 504, code: 'idp_timeout' } },
    { name: 'dropped connection', fault: { drop: true }, expected: { status: 503, code: 'idp_unavailable' } },
    lostAnswerKind,
    ...malformedAnswerKinds(),
  ];
}

export interface MatrixOutcome {
  succeeded: boolean;
  /** The IdP acted and its answer was lost (or unusable, on an unsafe call): a failure may be a documented recovery rather than "nothing happened". */
  lostAnswer?: boolean;
  /** What `run` threw, when it failed. */
  error?: unknown;
}

export interface MatrixOperation<Context = unknown> {
  /** e.g. `rotate`. */
  name: string;
  /** The emulator route keys this operation calls, each one faulted in turn. */
  routes: string[];
  /**
   * Routes besides the POSTs where the "acted, answer lost" kind runs too: a revoke's DELETE, whose repeat after a
   * lost answer must still end in success (the id already gone is done).
   */
  lostAnswerRoutes?: string[];
  /** Sets the stage without faults (e.g. registers the client to rotate). */
  prepare(): Promise<Context>;
  run(context: Context): Promise<unknown>;
  /** What must hold after the cell, whether `run` succeeded or failed (no orphan, the old secret still works...). */
  verify?(context: Context, outcome: MatrixOutcome): Promise<void>;
}

export interface FaultMatrixOptions {
  emulator: () => Emulator;
  // biome-ignore lint/suspicious/noExplicitAny: each operation has its own context type; the matrix only passes it back to the same operation.
  operations: Array<MatrixOperation<any>>;
  kinds: FaultKind[];
  /** The clock the driver under test runs on (its `idpCallPolicy.clock`); the emulator's latency runs on it too. */
  clock: VirtualClock;
  /** The driver's call policy: a persistent fault must end within its budget (plus the last attempt's timeout). */
  policy: { budgetMs: number; timeoutMs: number };
  /**
   * POST routes the driver may repeat (token endpoints, lifecycle transitions, a create whose repeat is a harmless
   * 409): one transient fault on them must end in success too. Every other POST is an unsafe call; every GET, PUT,
   * PATCH and DELETE is one the driver may repeat.
   */
  idempotentRoutes?: string[];
}

/** Whether the driver may repeat a call to this route (see `FaultMatrixOptions.idempotentRoutes`). */
function repeatable(route: string, idempotentRoutes: string[]): boolean {
  return !route.startsWith('POST ') || idempotentRoutes.includes(route);
}

export function faultMatrix(options: FaultMatrixOptions): void {
  const idempotentRoutes = options.idempotentRoutes ?? [];
  describe('IdP fault matrix', () => {
    before(() => options.emulator().useClock(options.clock));
    after(() => options.emulator().useClock(undefined));
    afterEach(() => {
      options.emulator().clearFaults();
      options.emulator().assertNoViolations();
    });
    for (const operation of options.operations) {
      describe(`${operation.name} under IdP faults`, () => {
        for (const route of operation.routes) {
          const mayRepeat = repeatable(route, idempotentRoutes);
          for (const kind of options.kinds) {
            if (kind.unsafeCallsOnly && !route.startsWith('POST ') && !operation.lostAnswerRoutes?.includes(route))
              continue;
            // An unusable answer is never repeated, so one is as good as many: its cells run persistent only, where every
            // later call of the route (a recovery's too) meets it again.
            for (const persistent of kind.malformedAnswer ? [true] : [false, true]) {
              const cell = `${persistent ? 'persistent' : 'transient'} ${kind.name} on ${route}`;
              it(cell, async () => {
                const context = await operation.prepare();
                const emulator = options.emulator();
                const sentBefore = emulator.requests.length;
                const startedAt = options.clock.now();
                emulator.injectFault({ route, ...kind.fault, times: persistent ? Number.POSITIVE_INFINITY : 1 });
                let failure: unknown;
                try {
                  await operation.run(context);
                } catch (error) {
                  failure = error;
                }
                emulator.clearFaults();
                const elapsedMs = options.clock.now() - startedAt;
                const sent = emulator.requests.slice(sentBefore).filter((request) => request.route === route);
                const undefinedPaths = emulator.requests
                  .slice(sentBefore)
                  .filter((request) => request.rawPath.includes('undefined'));
                assert.deepEqual(
                  undefinedPaths.map((request) => `${request.method} ${request.rawPath}`),
                  [],
                  `${cell}: no call with undefined in its path`,
                );
                const mustSucceed =
                  !persistent &&
                  !kind.unsafeCallsOnly &&
                  !kind.malformedAnswer &&
                  (mayRepeat || kind.fault.status === 429);
                if (mustSucceed) {
                  assert.equal(
                    failure,
                    undefined,
                    `${cell}: one transient fault on a call that may be repeated must end in success, got ${String(failure)}`,
                  );
                  assert.ok(
                    sent.length >= 2,
                    `${cell}: the emulator saw the faulted request and its repeat (saw ${sent.length})`,
                  );
                } else if (failure === undefined) {
                  assert.ok(
                    !persistent || kind.unsafeCallsOnly || kind.malformedAnswer,
                    `${cell}: a persistent fault cannot end in success`,
                  );
                } else {
                  assert.ok(
                    failure instanceof BridgeError,
                    `${cell}: expected a typed bridge error, got ${String(failure)}`,
                  );
                  if (!kind.unsafeCallsOnly)
                    assert.deepEqual(
                      { status: failure.status, code: failure.code },
                      kind.expected,
                      `${cell}: ${failure.message}`,
                    );
                }
                if (persistent && !kind.unsafeCallsOnly) {
                  // A failed call may be followed by clean-up calls that meet the same fault (a rollback, a re-read).
                  const bound = 3 * (options.policy.budgetMs + options.policy.timeoutMs);
                  assert.ok(
                    elapsedMs <= bound,
                    `${cell}: gave up after ${elapsedMs} ms of IdP time, past the retry budget (${bound} ms for a call and two clean-up calls)`,
                  );
                }
                // A malformed answer to an unsafe call is as ambiguous as a lost one: the IdP acted, the driver cannot read how.
                const lostAnswer = kind.unsafeCallsOnly === true || (kind.malformedAnswer === true && !mayRepeat);
                await operation.verify?.(context, { succeeded: failure === undefined, lostAnswer, error: failure });
              });
            }
          }
        }
      });
    }
  });
}

/** What the shared cells below need of a vendor's test: its driver, a way to make and remove clients, its emulator. */
export interface MatrixTarget {
  /** The driver under faults (the short retry policy). */
  driver: () => DcrDriver;
  /** Registers the client a cell works on, without faults. */
  register: () => Promise<RegisteredClientWithSecret>;
  /** Removes the client after a cell, whatever happened (a repeated delete must complete it). */
  cleanUp: (clientId: string) => Promise<void>;
  /** The emulator: the clients carrying the bridge's mark, and whether it accepts a secret now. */
  idp: () => {
    ownedClientIds(): string[];
    secretWorks(clientId: string, secret: string): boolean | Promise<boolean>;
    /** Secrets of this client the IdP accepts now, known to the caller or not (an orphan secret counts too). */
    workingSecretCount(clientId: string): number;
  };
}

/**
 * `register`: a registration that succeeded made exactly one client, whose secret works (`also` checks the vendor's
 * extras, e.g. a grant); one that failed left no client behind.
 */
export function registrationOperation(
  target: MatrixTarget,
  routes: string[],
  metadata: ClientMetadata,
  also?: (client: RegisteredClientWithSecret) => void,
): MatrixOperation<{ before: Set<string>; client?: RegisteredClientWithSecret }> {
  return {
    name: 'register',
    routes,
    prepare: async () => ({ before: new Set(target.idp().ownedClientIds()) }),
    run: async (context) => {
      context.client = await target.driver().registerClient(metadata, { portal: 'api7' });
    },
    async verify({ before, client }, { succeeded }) {
      const added = target
        .idp()
        .ownedClientIds()
        .filter((clientId) => !before.has(clientId));
      if (!succeeded) return assert.deepEqual(added, [], 'a failed registration leaves no client behind');
      assert.deepEqual(added, [client!.clientId], 'exactly one client per registration');
      assert.equal(
        await target.idp().secretWorks(client!.clientId, client!.clientSecret),
        true,
        'the registered secret works',
      );
      assert.equal(
        target.idp().workingSecretCount(client!.clientId),
        1,
        'one working secret, the one the caller holds',
      );
      also?.(client!);
      await target.cleanUp(client!.clientId);
    },
  };
}

/** `get`: a read that succeeds names the client; whatever the outcome, the client and its secret are untouched. */
export function readOperation(target: MatrixTarget, routes: string[]): MatrixOperation<RegisteredClientWithSecret> {
  return {
    name: 'get',
    routes,
    prepare: () => target.register(),
    run: async (client) => assert.equal((await target.driver().getClient(client.clientId)).clientId, client.clientId),
    async verify(client) {
      assert.equal(
        await target.idp().secretWorks(client.clientId, client.clientSecret),
        true,
        'a read never touches the secret',
      );
      await target.cleanUp(client.clientId);
    },
  };
}

/** `delete`: a delete that succeeded removed the client; one that failed left it in place; a repeat completes it. */
export function deletionOperation(target: MatrixTarget, routes: string[]): MatrixOperation<RegisteredClientWithSecret> {
  const owned = (clientId: string) => target.idp().ownedClientIds().includes(clientId);
  return {
    name: 'delete',
    routes,
    prepare: () => target.register(),
    run: (client) => target.driver().deleteClient(client.clientId),
    async verify(client, { succeeded }) {
      assert.equal(
        owned(client.clientId),
        !succeeded,
        succeeded ? 'a delete that succeeded removed the client' : 'a failed delete leaves the client',
      );
      await target.cleanUp(client.clientId);
      assert.equal(owned(client.clientId), false, 'a repeated delete completes');
    },
  };
}

/**
 * `rotate` without grace: on success the new secret works, the old one is refused, and it is the only one. On failure
 * the old secret still works — after a lost answer it may not (the IdP rotated; the new secret went with the answer),
 * but if it does, it is the only one: a secret the IdP made and nobody holds is an orphan the driver must remove. When
 * the caller holds no working secret, or the IdP kept one the caller does not hold after a call that failed outright,
 * the documented recovery must work: the caller repeats the rotation, which succeeds with a secret that is then the
 * only one.
 */
export function rotationOperation(
  target: MatrixTarget,
  routes: string[],
): MatrixOperation<{ client: RegisteredClientWithSecret; rotated?: string }> {
  return {
    name: 'rotate',
    routes,
    prepare: async () => ({ client: await target.register() }),
    run: async (context) => {
      context.rotated = (await target.driver().rotateSecret(context.client.clientId)).clientSecret;
    },
    async verify({ client, rotated }, { succeeded, lostAnswer }) {
      const idp = target.idp();
      if (succeeded) {
        assert.equal(await idp.secretWorks(client.clientId, rotated!), true, 'the new secret works');
        assert.equal(
          await idp.secretWorks(client.clientId, client.clientSecret),
          false,
          'without grace the old secret is refused',
        );
      } else {
        const oldWorks = await idp.secretWorks(client.clientId, client.clientSecret);
        if (!lostAnswer) assert.equal(oldWorks, true, 'a failed rotation leaves the old secret working');
        if (lostAnswer && oldWorks)
          assert.equal(
            idp.workingSecretCount(client.clientId),
            1,
            'the secret made behind the lost answer, which nobody holds, is gone',
          );
        if (!oldWorks || idp.workingSecretCount(client.clientId) !== 1) {
          const repeated = await target.driver().rotateSecret(client.clientId);
          assert.equal(
            await idp.secretWorks(client.clientId, repeated.clientSecret),
            true,
            'repeating the rotation recovers: its secret works',
          );
        }
      }
      assert.equal(
        idp.workingSecretCount(client.clientId),
        1,
        'exactly one working secret, the one the caller holds: no orphan secret',
      );
      await target.cleanUp(client.clientId);
    },
  };
}

/**
 * `add secret` (multiple credentials): on success the new secret works beside the old one, and they are the two the
 * IdP accepts. On failure the old secret still works and is the only one: after a lost answer the IdP may have made a
 * secret nobody holds, which the driver must not leave behind.
 */
export function addSecretOperation(
  target: MatrixTarget,
  routes: string[],
): MatrixOperation<{ client: RegisteredClientWithSecret; added?: string }> {
  return {
    name: 'add secret',
    routes,
    prepare: async () => ({ client: await target.register() }),
    run: async (context) => {
      context.added = (await target.driver().addSecret!(context.client.clientId)).clientSecret;
    },
    async verify({ client, added }, { succeeded }) {
      const idp = target.idp();
      assert.equal(await idp.secretWorks(client.clientId, client.clientSecret), true, 'the old secret keeps working');
      if (succeeded) {
        assert.equal(await idp.secretWorks(client.clientId, added!), true, 'the added secret works');
        assert.equal(idp.workingSecretCount(client.clientId), 2, 'two working secrets, both held by the caller');
      } else {
        assert.equal(idp.workingSecretCount(client.clientId), 1, 'a failed add leaves no secret nobody holds');
      }
      await target.cleanUp(client.clientId);
    },
  };
}

/**
 * `revoke secret` (multiple credentials): on success the revoked secret is refused and the other works. On failure
 * the other still works and repeating the revoke succeeds (after a lost answer the secret is already gone, and the
 * repeat is the `204` of an id already gone). The lost answer runs on every route of it but its reads.
 */
export function revokeSecretOperation(
  target: MatrixTarget,
  routes: string[],
): MatrixOperation<{ client: RegisteredClientWithSecret; kept: string; revokedId: string }> {
  return {
    name: 'revoke secret',
    routes,
    lostAnswerRoutes: routes.filter((route) => !route.startsWith('GET ')),
    prepare: async () => {
      const client = await target.register();
      const driver = target.driver();
      const kept = await driver.addSecret!(client.clientId);
      const first = (await driver.listSecrets!(client.clientId)).find((secret) => secret.secretId !== kept.secretId);
      assert.ok(first, 'the registration secret is listed');
      return { client, kept: kept.clientSecret, revokedId: first.secretId };
    },
    run: ({ client, revokedId }) => target.driver().revokeSecret!(client.clientId, revokedId),
    async verify({ client, kept, revokedId }, { succeeded, error }) {
      const idp = target.idp();
      assert.ok(
        !(error instanceof ClientNotFoundError),
        `a failed revoke never says the client is gone: ${String(error)}`,
      );
      assert.equal(await idp.secretWorks(client.clientId, kept), true, 'the other secret keeps working');
      if (!succeeded) await target.driver().revokeSecret!(client.clientId, revokedId);
      assert.equal(await idp.secretWorks(client.clientId, client.clientSecret), false, 'the revoked secret is refused');
      assert.equal(idp.workingSecretCount(client.clientId), 1, 'one working secret left, the one kept');
      await target.cleanUp(client.clientId);
    },
  };
}
