import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { IdpUnavailableError } from '../../src/errors.js';
import { BridgeEvents } from '../../src/events.js';
import { createLogger } from '../../src/logging.js';
import { startSecretSweep } from '../../src/sweep.js';
import { MemoryDriver } from '../support/memory-driver.js';

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

describe('rotation-grace sweep', () => {
  it('runs every interval when a grace is set and the driver can hold two secrets, and survives a failing run', async () => {
    const driver = new MemoryDriver({ rotationGrace: true });
    const lines: string[] = [];
    driver.failNext(new IdpUnavailableError());
    const stop = startSecretSweep({ rotationGraceSeconds: 60, sweepIntervalSeconds: 1 }, driver, new BridgeEvents(), capturingLogger(lines));
    try {
      const deadline = Date.now() + 5_000;
      while (driver.sweeps.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      stop();
    }
    assert.ok(driver.sweeps.length >= 2, 'a failed run does not stop the next one');
    assert.ok(Math.abs(driver.sweeps[0]! - Date.now()) < 10_000, 'the sweep passes the current time in milliseconds');
    assert.ok(lines.some((line) => line.includes('secret sweep failed') && line.includes('idp_unavailable')));
    const runs = driver.sweeps.length;
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    assert.equal(driver.sweeps.length, runs, 'stopping the sweep stops it');
  });

  it('does not run without a grace, or when the driver rotates immediately', async () => {
    const withoutGrace = new MemoryDriver({ rotationGrace: true });
    const withoutCapability = new MemoryDriver({ rotationGrace: false });
    const stops = [
      startSecretSweep({ rotationGraceSeconds: 0, sweepIntervalSeconds: 1 }, withoutGrace, new BridgeEvents(), capturingLogger([])),
      startSecretSweep({ rotationGraceSeconds: 60, sweepIntervalSeconds: 1 }, withoutCapability, new BridgeEvents(), capturingLogger([])),
    ];
    await new Promise((resolve) => setTimeout(resolve, 1_300));
    for (const stop of stops) stop();
    assert.deepEqual(withoutGrace.sweeps, []);
    assert.deepEqual(withoutCapability.sweeps, []);
  });
});
