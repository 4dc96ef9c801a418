/**
 * Every replica may sweep: two Okta drivers (two replicas) retire expired rotation-grace secrets of the same emulated
 * org at the same moment — each expired secret is deleted once, neither sweep fails, and no live secret is touched.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DcrDriver } from '../../src/driver/contract.js';
import { createOktaDriver } from '../../drivers/okta.js';
import { startOktaEmulator, type OktaEmulator } from '../emulators/okta.js';
import { completeDriver } from '../../src/core/driver.js';

const DELETE_SECRET = 'DELETE /api/v1/apps/:appId/credentials/secrets/:secretId';
const graceSeconds = 60;
const policy = { timeoutMs: 2000, baseDelayMs: 5, maxDelayMs: 50, budgetMs: 4000 };

describe('two replicas sweeping the same IdP at once', () => {
  let okta: OktaEmulator;
  let replicas: DcrDriver[];

  before(async () => {
    okta = await startOktaEmulator({ rateLimitPerMinute: 100_000 });
    replicas = [0, 1].map(() =>
      completeDriver(
        createOktaDriver({
          orgUrl: okta.emulator.url,
          credentials: { apiToken: okta.apiToken },
          rotationGraceSeconds: graceSeconds,
          idpCallPolicy: policy,
        }),
      ),
    );
  });
  after(async () => {
    for (const driver of replicas) await driver.close();
    await okta.stop();
    okta.emulator.assertNoViolations();
  });

  it('retire each expired secret once, with no error, and leave every live secret working', async () => {
    const metadata = {
      redirectUris: [],
      grantTypes: ['client_credentials'],
      responseTypes: [],
      tokenEndpointAuthMethod: 'client_secret_basic',
    };
    const rotated: Array<{ clientId: string; oldSecret: string; oldSecretId: string; newSecret: string }> = [];
    const untouched: Array<{ clientId: string; secret: string }> = [];
    for (let n = 0; n < 6; n++) {
      const driver = replicas[n % 2]!;
      const client = await driver.registerClient({ ...metadata, clientName: `swept ${n}` }, {});
      if (n >= 4) {
        untouched.push({ clientId: client.clientId, secret: client.clientSecret });
        continue;
      }
      const oldSecretId = okta.app(client.clientId)!.secrets[0]!.id;
      const { clientSecret } = await replicas[(n + 1) % 2]!.rotateSecret(client.clientId);
      rotated.push({ clientId: client.clientId, oldSecret: client.clientSecret, oldSecretId, newSecret: clientSecret });
    }
    for (const { oldSecret, clientId } of rotated)
      assert.ok(await okta.secretWorks(clientId, oldSecret), 'inside the grace both secrets work');

    const afterGrace = Date.now() + (graceSeconds + 1) * 1000;
    const counts = await Promise.all(replicas.map((driver) => driver.retireExpiredSecrets(afterGrace)));

    const deletes = okta.emulator.requestsTo(DELETE_SECRET);
    for (const { oldSecretId } of rotated) {
      const deleted = deletes.filter(
        (sent) => sent.rawPath.endsWith(`/${oldSecretId}`) && typeof sent.outcome === 'number' && sent.outcome < 300,
      );
      assert.equal(deleted.length, 1, 'each expired secret is deleted exactly once');
    }
    assert.equal(
      deletes.filter((sent) => !rotated.some(({ oldSecretId }) => sent.rawPath.endsWith(`/${oldSecretId}`))).length,
      0,
      'no other secret is asked to be deleted',
    );
    assert.equal(
      counts[0]! + counts[1]!,
      rotated.length,
      `the two sweeps report ${rotated.length} retired between them, not more (${counts.join(' + ')})`,
    );
    for (const { clientId, oldSecret, newSecret } of rotated) {
      assert.equal(okta.app(clientId)!.secrets.length, 1);
      assert.ok(await okta.secretWorks(clientId, newSecret), 'the new secret still works');
      assert.ok(!(await okta.secretWorks(clientId, oldSecret)), 'the expired one is gone');
    }
    for (const { clientId, secret } of untouched) {
      assert.equal(okta.app(clientId)!.secrets.length, 1);
      assert.ok(await okta.secretWorks(clientId, secret), 'a client never rotated keeps its secret');
    }
  });
});
