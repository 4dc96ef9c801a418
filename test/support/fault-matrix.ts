/**
 * The fault matrix, written once for every vendor driver: each IdP call of each operation × each fault kind, both
 * transient (one bad answer, then the real one) and persistent (every answer bad). A transient cell must end in
 * success after retry or in the fault's documented error; a persistent cell must end in the documented error. After
 * every cell the driver's own `verify` checks what must hold either way (no orphan client, the old secret still
 * works after a failed rotation) and the emulator must have seen no spec violation.
 *
 *   faultMatrix({ emulator: () => emulator, operations: [...], timeoutLatencyMs: 600 });
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { BridgeError } from '../../src/errors.js';
import type { Emulator, Fault } from '../emulators/framework.js';

export interface FaultKind {
  name: string;
  fault: Omit<Fault, 'route' | 'nth' | 'times'>;
  /** The documented answer when the fault outlasts the retry budget (DESIGN.md's error table). */
  expected: { status: number; code: string };
}

/** The five kinds of the issue: 429 with Retry-After, 500, 503, timeout, dropped connection. */
export function faultKinds(options: { timeoutLatencyMs: number; rateLimitHeaders?: Record<string, string>; rateLimitBody?: unknown }): FaultKind[] {
  return [
    {
      name: '429 with Retry-After',
      fault: { status: 429, headers: { 'Retry-After': '1', ...options.rateLimitHeaders }, body: options.rateLimitBody },
      expected: { status: 503, code: 'idp_unavailable' },
    },
    { name: '500', fault: { status: 500 }, expected: { status: 502, code: 'idp_error' } },
    { name: '503', fault: { status: 503, headers: { 'Retry-After': '1' } }, expected: { status: 503, code: 'idp_unavailable' } },
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
