/**
 * The fault matrix, written once for every vendor driver: each IdP call of each operation × each fault kind, both
 * transient (one bad answer, then the real one) and persistent (every answer bad). A transient cell must end in
 * success after retry or in the fault's documented error; a persistent cell must end in the documented error. After
 * every cell the driver's own `verify` checks what must hold either way (no orphan client, the old secret still
 * works after a failed rotation) and the emulator must have seen no spec violation.
 *
 * The register, get, delete and rotate cells are the same for every vendor (`registrationOperation`,
 * `readOperation`, `deletionOperation`, `rotationOperation`); update and readiness are each vendor's own.
 *
 *   faultMatrix({ emulator: () => emulator, kinds: faultKinds({ timeoutLatencyMs: 600 }), operations: [...] });
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { ClientMetadata, DcrDriver, RegisteredClientWithSecret } from '../../src/driver/contract.js';
import { BridgeError } from '../../src/errors.js';
import type { Emulator, Fault } from '../emulators/framework.js';

export interface FaultKind {
  name: string;
  fault: Omit<Fault, 'route' | 'nth' | 'times'>;
  /** The documented answer when the fault outlasts the retry budget (DESIGN.md's error table). */
  expected: { status: number; code: string };
}

/**
 * The five kinds of the issue: 429 with Retry-After, 500, 503, timeout, dropped connection. The 503 carries a
 * `Retry-After` only when `serviceUnavailableRetryAfter` is given (a gateway's 503 often has none).
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
  ];
}

export interface MatrixOperation<Context = unknown> {
  /** e.g. `rotate`. */
  name: string;
  /** The emulator route keys this operation calls, each one faulted in turn. */
  routes: string[];
  /** Sets the stage without faults (e.g. registers the client to rotate). */
  prepare(): Promise<Context>;
  run(context: Context): Promise<unknown>;
  /** What must hold after the cell, whether `run` succeeded or failed (no orphan, the old secret still works...). */
  verify?(context: Context, outcome: { succeeded: boolean }): Promise<void>;
}

export interface FaultMatrixOptions {
  emulator: () => Emulator;
  // Each operation has its own context type; the matrix only passes it back to the same operation.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  operations: Array<MatrixOperation<any>>;
  kinds: FaultKind[];
}

export function faultMatrix(options: FaultMatrixOptions): void {
  afterEach(() => {
    options.emulator().clearFaults();
    options.emulator().assertNoViolations();
  });
  for (const operation of options.operations) {
    describe(`${operation.name} under IdP faults`, () => {
      for (const route of operation.routes) {
        for (const kind of options.kinds) {
          for (const persistent of [false, true]) {
            const cell = `${persistent ? 'persistent' : 'transient'} ${kind.name} on ${route}`;
            it(cell, async () => {
              const context = await operation.prepare();
              options.emulator().injectFault({ route, ...kind.fault, times: persistent ? Number.POSITIVE_INFINITY : 1 });
              let failure: unknown;
              try {
                await operation.run(context);
              } catch (error) {
                failure = error;
              }
              options.emulator().clearFaults();
              if (failure === undefined) {
                assert.equal(persistent, false, `${cell}: a persistent fault cannot end in success`);
              } else {
                assert.ok(failure instanceof BridgeError, `${cell}: expected a typed bridge error, got ${String(failure)}`);
                assert.deepEqual({ status: failure.status, code: failure.code }, kind.expected, `${cell}: ${failure.message}`);
              }
              await operation.verify?.(context, { succeeded: failure === undefined });
            });
          }
        }
      }
    });
  }
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
  idp: () => { ownedClientIds(): string[]; secretWorks(clientId: string, secret: string): boolean | Promise<boolean> };
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
      const added = target.idp().ownedClientIds().filter((clientId) => !before.has(clientId));
      if (!succeeded) return assert.deepEqual(added, [], 'a failed registration leaves no client behind');
      assert.deepEqual(added, [client!.clientId], 'exactly one client per registration');
      assert.equal(await target.idp().secretWorks(client!.clientId, client!.clientSecret), true, 'the registered secret works');
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
      assert.equal(await target.idp().secretWorks(client.clientId, client.clientSecret), true, 'a read never touches the secret');
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
      assert.equal(owned(client.clientId), !succeeded, succeeded ? 'a delete that succeeded removed the client' : 'a failed delete leaves the client');
      await target.cleanUp(client.clientId);
      assert.equal(owned(client.clientId), false, 'a repeated delete completes');
    },
  };
}

/** `rotate` without grace: on success the new secret works and the old one is refused; on failure the old one works. */
export function rotationOperation(target: MatrixTarget, routes: string[]): MatrixOperation<{ client: RegisteredClientWithSecret; rotated?: string }> {
  return {
    name: 'rotate',
    routes,
    prepare: async () => ({ client: await target.register() }),
    run: async (context) => {
      context.rotated = (await target.driver().rotateSecret(context.client.clientId)).clientSecret;
    },
    async verify({ client, rotated }, { succeeded }) {
      const idp = target.idp();
      if (succeeded) {
        assert.equal(await idp.secretWorks(client.clientId, rotated!), true, 'the new secret works');
        assert.equal(await idp.secretWorks(client.clientId, client.clientSecret), false, 'without grace the old secret is refused');
      } else {
        assert.equal(await idp.secretWorks(client.clientId, client.clientSecret), true, 'a failed rotation leaves the old secret working');
      }
      await target.cleanUp(client.clientId);
    },
  };
}
