/**
 * Multiple credentials against a real Keycloak (`npm run test:keycloak -- keycloak-secrets`): the current and the
 * rotated secret under the `secret-rotation` policy, judged by the real token endpoint, and what Keycloak cannot hold
 * (a third secret, a second one without the policy) refused with a 409 that changes nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConflictError } from '../../src/errors.js';
import { serviceMetadata } from '../conformance/driver-suite.js';
import { rotationPolicy, startRealHarness } from './harness.js';

const conflict = (words: RegExp) => (error: unknown) => {
  assert.ok(error instanceof ConflictError, `expected ConflictError, got ${String(error)}`);
  assert.match(error.message, words);
  return true;
};

describe('keycloak multiple credentials in a real realm with the secret-rotation policy', () => {
  let harness: Awaited<ReturnType<typeof startRealHarness>>;
  before(async () => {
    harness = await startRealHarness({ rotationGraceSeconds: 0 }, { prefix: 'creds', secretRotation: rotationPolicy });
  });
  after(async () => {
    await harness?.stop();
  });

  it('an added secret works beside the first; the first, now rotated, is revoked and refused at once', async () => {
    const { driver } = harness;
    const client = await driver.registerClient(serviceMetadata(), { portal: 'konnect' });
    const [first] = await driver.listSecrets!(client.clientId);
    assert.equal(first!.status, 'ACTIVE');
    assert.ok(first!.expiresAt! > Date.now() / 1000, "the policy's expiration-period ends the current secret");
    const added = await driver.addSecret!(client.clientId);
    assert.equal(await harness.secretWorks(client.clientId, client.clientSecret), true);
    assert.equal(await harness.secretWorks(client.clientId, added.clientSecret), true);
    const listed = await driver.listSecrets!(client.clientId);
    // The rotated secret keeps its id: Keycloak shows its value in the client's `client.secret.rotated` attribute.
    assert.deepEqual(
      listed.map((secret) => secret.secretId),
      [first!.secretId, added.secretId],
    );
    const rotatedEnd = listed[0]!.expiresAt!;
    assert.ok(
      Math.abs(rotatedEnd - (Date.now() / 1000 + rotationPolicy.rotatedExpirationSeconds)) < 120,
      "the rotated secret ends at the policy's rotated-expiration-period",
    );

    await assert.rejects(driver.addSecret!(client.clientId), conflict(/at most 2 secrets per client/));
    await assert.rejects(
      driver.revokeSecret!(client.clientId, added.secretId),
      conflict(/cannot remove a client's current secret/),
    );
    assert.deepEqual(await driver.listSecrets!(client.clientId), listed, 'the refusals changed nothing');

    await driver.revokeSecret!(client.clientId, first!.secretId);
    assert.equal(await harness.secretWorks(client.clientId, client.clientSecret), false, 'refused at once');
    assert.equal(await harness.secretWorks(client.clientId, added.clientSecret), true);
    await driver.revokeSecret!(client.clientId, first!.secretId);
    await assert.rejects(driver.revokeSecret!(client.clientId, added.secretId), conflict(/last working secret/));
    assert.equal(await harness.secretWorks(client.clientId, added.clientSecret), true);
    await driver.deleteClient(client.clientId);
  });
});

describe('keycloak multiple credentials in a real realm without the secret-rotation policy', () => {
  let harness: Awaited<ReturnType<typeof startRealHarness>>;
  before(async () => {
    harness = await startRealHarness({ rotationGraceSeconds: 0 }, { prefix: 'creds-plain' });
  });
  after(async () => {
    await harness?.stop();
  });

  it('adding is a 409 (one secret per client) and the secret keeps working', async () => {
    const { driver } = harness;
    const client = await driver.registerClient(serviceMetadata(), { portal: 'konnect' });
    const listed = await driver.listSecrets!(client.clientId);
    assert.equal(listed.length, 1);
    assert.equal(listed[0]!.expiresAt, undefined, 'without the policy a secret never expires');
    await assert.rejects(driver.addSecret!(client.clientId), conflict(/limit 1 here/));
    assert.deepEqual(await driver.listSecrets!(client.clientId), listed);
    assert.equal(await harness.secretWorks(client.clientId, client.clientSecret), true);
    await driver.deleteClient(client.clientId);
  });
});
