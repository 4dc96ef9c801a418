import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import type { SweepOptions } from '../../src/driver/contract.js';
import { IdpUnavailableError } from '../../src/errors.js';
import { BridgeEvents } from '../../src/events.js';
import { createLogger } from '../../src/logging.js';
import { startSecretSweep } from '../../src/sweep.js';
import { MemoryDriver } from '../support/memory-driver.js';
import { VirtualClock } from '../support/virtual-clock.js';

function capturingLogger(lines: string[]) {
  return createLogger({
    level: 'info',
    stream: new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(String(chunk));
        callback();
      },
    }),
  });
}

/** Lets the promise chains a timer started run to their end (the memory driver answers at once). */
async function settle(): Promise<void> {
  for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
}

/** Moves the clock by each step in turn, letting the sweep run after each. */
async function advanceThrough(clock: VirtualClock, ...steps: number[]): Promise<void> {
  for (const step of steps) {
    clock.advance(step);
    await settle();
  }
}

describe('rotation-grace sweep', () => {
  it('runs every interval when a grace is set and the driver can hold two secrets, and survives a failing run', async () => {
    const clock = new VirtualClock();
    const driver = new MemoryDriver({ rotationGrace: true });
    const lines: string[] = [];
    driver.failNext(new IdpUnavailableError());
    const stop = startSecretSweep(
      { rotationGraceSeconds: 60, sweepIntervalSeconds: 1 },
      driver,
      new BridgeEvents(),
      capturingLogger(lines),
      clock,
    );
    const start = clock.now();
    try {
      clock.advance(999);
      await settle();
      assert.equal(driver.sweeps.length, 0, 'nothing before the first interval ends');
      await advanceThrough(clock, 1, 1_000, 1_000);
    } finally {
      stop();
    }
    assert.deepEqual(
      driver.sweeps,
      [start + 1_000, start + 2_000, start + 3_000],
      "one run per interval, with the clock's time in milliseconds, and a failed run does not stop the next",
    );
    assert.ok(lines.some((line) => line.includes('secret sweep failed') && line.includes('idp_unavailable')));
    clock.advance(10_000);
    await settle();
    assert.equal(driver.sweeps.length, 3, 'stopping the sweep stops it');
    assert.equal(clock.pendingTimers, 0, 'and leaves no timer behind');
  });

  it('passes its bound of IdP calls to the driver and logs a sweep the bound ended, and the next sweep still runs', async () => {
    const clock = new VirtualClock();
    const bounds: Array<number | undefined> = [];
    // A driver whose every sweep reaches its bound after 25 calls.
    class BoundedDriver extends MemoryDriver {
      override async retireExpiredSecrets(now: number, options?: SweepOptions): Promise<number> {
        bounds.push(options?.maxIdpCalls);
        options?.onUnfinished?.(25);
        return super.retireExpiredSecrets(now);
      }
    }
    const driver = new BoundedDriver({ rotationGrace: true });
    const lines: string[] = [];
    const stop = startSecretSweep(
      { rotationGraceSeconds: 60, sweepIntervalSeconds: 1, sweepMaxIdpCalls: 25 },
      driver,
      new BridgeEvents(),
      capturingLogger(lines),
      clock,
    );
    try {
      await advanceThrough(clock, 1_000, 1_000);
    } finally {
      stop();
    }
    assert.deepEqual(bounds, [25, 25]);
    const logged = lines
      .filter((line) => line.includes('secret sweep reached its bound; the next sweep continues'))
      .map((line) => JSON.parse(line) as { idpCalls?: number });
    assert.equal(logged.length, 2);
    assert.equal(logged[0]!.idpCalls, 25);
  });

  it('does not run without a grace, or when the driver rotates immediately', async () => {
    const clock = new VirtualClock();
    const withoutGrace = new MemoryDriver({ rotationGrace: true });
    const withoutCapability = new MemoryDriver({ rotationGrace: false });
    const stops = [
      startSecretSweep(
        { rotationGraceSeconds: 0, sweepIntervalSeconds: 1 },
        withoutGrace,
        new BridgeEvents(),
        capturingLogger([]),
        clock,
      ),
      startSecretSweep(
        { rotationGraceSeconds: 60, sweepIntervalSeconds: 1 },
        withoutCapability,
        new BridgeEvents(),
        capturingLogger([]),
        clock,
      ),
    ];
    clock.advance(5_000);
    await settle();
    for (const stop of stops) stop();
    assert.deepEqual(withoutGrace.sweeps, []);
    assert.deepEqual(withoutCapability.sweeps, []);
    assert.equal(clock.pendingTimers, 0);
  });
});
