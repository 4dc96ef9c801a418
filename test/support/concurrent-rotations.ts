/**
 * Issue 23, item 6: 20 concurrent rotations of one client all succeed, and the answer given last holds a secret that
 * works at the IdP. The serialisation is the kit's (src/core/driver.ts), so every driver's test can call this.
 */
import assert from 'node:assert/strict';
import type { DcrDriver } from '../../src/driver/contract.js';

export async function rotateConcurrently(
  driver: Pick<DcrDriver, 'rotateSecret'>,
  clientId: string,
  secretWorks: (clientId: string, secret: string) => Promise<boolean>,
  count = 20,
): Promise<void> {
  const answered: string[] = [];
  const outcomes = await Promise.allSettled(
    Array.from({ length: count }, () =>
      driver.rotateSecret(clientId).then((rotated) => void answered.push(rotated.clientSecret)),
    ),
  );
  assert.deepEqual(
    outcomes.filter((outcome) => outcome.status === 'rejected').map((outcome) => String(outcome.reason)),
    [],
    'a concurrent rotation was refused',
  );
  assert.equal(answered.length, count);
  assert.equal(await secretWorks(clientId, answered.at(-1)!), true, 'the answer given last holds no working secret');
}
