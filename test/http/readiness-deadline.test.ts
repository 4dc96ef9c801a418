/**
 * Issue 23, item 13: `/readyz` answers within its deadline even when the IdP hangs (a driver's own timeouts and
 * retries took 4.1 s, past the 3 s `timeoutSeconds` of the shipped probe). The deadline's timer is a virtual clock's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import express from 'express';
import request from 'supertest';
import type { DcrDriver } from '../../src/driver/contract.js';
import { readinessDeadlineMs, operationsRouter } from '../../src/http/operations.js';
import { loadApiSpec } from '../../src/http/spec.js';
import { createMetrics } from '../../src/metrics.js';
import { MemoryDriver } from '../support/memory-driver.js';
import { VirtualClock } from '../support/virtual-clock.js';
import { assertErrorShape } from './helpers.js';

describe('readiness deadline (issue 23, item 13)', () => {
  it('answers 503 idp_unavailable at the deadline, under 2 s, while the IdP check still hangs', {
    timeout: 10_000,
  }, async () => {
    assert.ok(readinessDeadlineMs < 2_000);
    const clock = new VirtualClock();
    let checking!: () => void;
    const checkStarted = new Promise<void>((resolve) => {
      checking = resolve;
    });
    const driver = new MemoryDriver() as unknown as DcrDriver;
    driver.checkReadiness = () => {
      checking();
      return new Promise<void>(() => undefined);
    };
    const app = express().use(
      operationsRouter({
        driver,
        metrics: createMetrics(),
        spec: loadApiSpec(),
        now: clock.now,
        setTimer: clock.setTimer,
      }),
    );
    const answer = request(app)
      .get('/readyz')
      .then((response) => response);
    await checkStarted;
    clock.advance(readinessDeadlineMs - 1);
    let answered = false;
    void answer.then(() => {
      answered = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(answered, false, 'not before the deadline');
    clock.advance(1);
    const response = await answer;
    assert.equal(response.status, 503);
    assertErrorShape(response.body, 'idp_unavailable');
  });
});
