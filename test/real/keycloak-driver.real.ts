/**
 * The Keycloak driver against a real Keycloak (`npm run test:keycloak`): the conformance suite in realms with the
 * `secret-rotation` policy, then ownership against the realm's own clients, rotation in a realm without the policy,
 * the 409 adoption path, and paging of the sweep over more than 100 bridge clients. Secrets are judged by the real
 * token endpoint.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { ClientNotFoundError } from '../../src/errors.js';
import { serviceMetadata, testDriver, webMetadata } from '../conformance/driver-suite.js';
import { createTestApp } from '../support/app.js';
import { driverFor, rotationPolicy, secretWorks, startRealHarness } from './harness.js';
import { SERVICE_ACCOUNT_CLIENT_ID } from './keycloak-server.js';
import { startLosingProxy } from './losing-proxy.js';

/** One realm with the secret-rotation policy and two clients an admin made, for the suites below. */
const realmWithPolicy = { secretRotation: rotationPolicy, foreignClients: ['ops-tool', 'reporting-job'], shared: true };

testDriver({
  name: 'keycloak (real server)',
  start: (settings) => startRealHarness(settings, realmWithPolicy),
});

describe('keycloak driver against a real realm: what only Keycloak has', () => {
  let harness: Awaited<ReturnType<typeof startRealHarness>>;
  before(async () => {
    harness = await startRealHarness({ rotationGraceSeconds: 0 }, realmWithPolicy);
  });
  after(async () => {
    await harness?.stop();
  });

  it("Keycloak's own clients, the bridge's service account and an admin's clients are never read or written", async () => {
    const { session, realm, driver } = harness;
    const builtIn = ['account', 'account-console', 'admin-cli', 'broker', 'realm-management', 'security-admin-console'];
    const protectedIds = [
      ...builtIn,
      SERVICE_ACCOUNT_CLIENT_ID,
      ...realm.foreignClients.map((client) => client.clientId),
    ];
    const present = (await session.get<Array<{ clientId: string }>>(`/realms/${realm.realm}/clients`)).map(
      (client) => client.clientId,
    );
    for (const clientId of protectedIds) assert.ok(present.includes(clientId), `${clientId} exists in a fresh realm`);
    // Snapshots without the secrets (compared by hash), so a failure's diff never prints one.
    const snapshot = async () =>
      Promise.all(
        protectedIds.map(async (clientId) => {
          const { secret, ...client } = (await session.clientByClientId(realm.realm, clientId))!;
          return {
            ...client,
            secret: secret === undefined ? undefined : createHash('sha256').update(String(secret)).digest('hex'),
          };
        }),
      );
    const before = await snapshot();
    for (const clientId of protectedIds) {
      await assert.rejects(driver.getClient(clientId), ClientNotFoundError, `get ${clientId}`);
      await assert.rejects(driver.updateClient(clientId, webMetadata()), ClientNotFoundError, `update ${clientId}`);
      await assert.rejects(driver.rotateSecret(clientId), ClientNotFoundError, `rotate ${clientId}`);
      await assert.rejects(driver.deleteClient(clientId), ClientNotFoundError, `delete ${clientId}`);
    }
    const bridge = await createTestApp(driver);
    try {
      for (const clientId of ['admin-cli', 'realm-management', SERVICE_ACCOUNT_CLIENT_ID, 'ops-tool']) {
        for (const [method, path] of [
          ['get', `/clients/${clientId}`],
          ['post', `/clients/${clientId}/rotate-secret`],
          ['delete', `/clients/${clientId}`],
          ['post', `/${clientId}/new-secret`],
          ['delete', `/${clientId}`],
        ] as const) {
          const answer = await request(bridge.app)[method](path).set('X-API-Key', bridge.apiKey);
          assert.equal(answer.status, 404, `${method} ${path}`);
          assert.equal(answer.body.error, 'client_not_found');
        }
      }
    } finally {
      await bridge.close();
    }
    const after = await snapshot();
    assert.deepEqual(after, before, 'every protected client is exactly as it was');
    assert.equal(
      await secretWorks(session.url, realm.realm, SERVICE_ACCOUNT_CLIENT_ID, realm.serviceAccount.clientSecret),
      true,
    );
    for (const foreign of realm.foreignClients)
      assert.equal(await secretWorks(session.url, realm.realm, foreign.clientId, foreign.clientSecret), true);
  });

  it('a create whose answer was lost is repeated, meets the real 409 and is adopted: one client, not two', async () => {
    const { session, realm } = harness;
    const proxy = await startLosingProxy(
      session.url,
      (method, path) => method === 'POST' && path.replace(/\/$/, '') === `/admin/realms/${realm.realm}/clients`,
    );
    try {
      const driver = driverFor(realm, { rotationGraceSeconds: 0 }, proxy.url);
      const owned = (await harness.ownedClientIds!()).length;
      const client = await driver.registerClient(serviceMetadata({ clientName: 'adopted after a lost answer' }), {
        portal: 'api7',
      });
      assert.deepEqual(
        proxy.answers(),
        [
          { lost: true, status: 201 },
          { lost: false, status: 409 },
        ],
        'the create was applied, its answer lost, the repeat refused as a clash',
      );
      assert.equal((await harness.ownedClientIds!()).length, owned + 1, 'one client');
      assert.equal(await harness.secretWorks(client.clientId, client.clientSecret), true);
      await driver.deleteClient(client.clientId);
      await driver.close();
    } finally {
      await proxy.close();
    }
  });
});

describe('keycloak driver in a real realm without the secret-rotation policy', () => {
  let harness: Awaited<ReturnType<typeof startRealHarness>>;
  before(async () => {
    harness = await startRealHarness({ rotationGraceSeconds: 0 }, { prefix: 'plain' });
  });
  after(async () => {
    await harness?.stop();
  });

  it('rotation refuses the old secret at once, and secrets never expire', async () => {
    const client = await harness.driver.registerClient(serviceMetadata(), { portal: 'api7' });
    assert.equal(client.clientSecretExpiresAt, 0);
    const rotated = await harness.driver.rotateSecret(client.clientId);
    assert.equal(rotated.clientSecretExpiresAt, 0);
    assert.equal(await harness.secretWorks(client.clientId, client.clientSecret), false);
    assert.equal(await harness.secretWorks(client.clientId, rotated.clientSecret), true);
    await harness.driver.deleteClient(client.clientId);
  });

  it('a driver configured with a grace cannot keep the old secret here, and the sweep has nothing to retire', async () => {
    const driver = driverFor(harness.realm, { rotationGraceSeconds: 600 });
    const client = await driver.registerClient(serviceMetadata(), { portal: 'api7' });
    const rotated = await driver.rotateSecret(client.clientId);
    assert.equal(
      await harness.secretWorks(client.clientId, client.clientSecret),
      false,
      'Keycloak keeps one secret without the policy',
    );
    assert.equal(await harness.secretWorks(client.clientId, rotated.clientSecret), true);
    assert.equal(await driver.retireExpiredSecrets(Date.now() + 601_000), 0);
    await driver.deleteClient(client.clientId);
    await driver.close();
  });
});

describe('keycloak sweep over more than 100 bridge clients in a real realm', () => {
  const GRACE = 600;
  const COUNT = 105;
  let harness: Awaited<ReturnType<typeof startRealHarness>>;
  before(async () => {
    harness = await startRealHarness(
      { rotationGraceSeconds: GRACE },
      { prefix: 'paging', secretRotation: rotationPolicy },
    );
  });
  after(async () => {
    await harness?.stop();
  });

  it('rotates 105 clients, keeps every old secret through the grace and retires all of them on every page after it', async () => {
    const { driver } = harness;
    const clients = [];
    for (let batch = 0; batch < COUNT; batch += 15) {
      clients.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(15, COUNT - batch) }, async (_, index) => {
            const client = await driver.registerClient(serviceMetadata({ clientName: `paging ${batch + index}` }), {
              portal: 'konnect',
            });
            return { client, rotated: await driver.rotateSecret(client.clientId) };
          }),
        )),
      );
    }
    assert.equal((await harness.ownedClientIds!()).length, COUNT);
    const sample = [clients[0]!, clients[50]!, clients.at(-1)!];
    for (const { client } of sample)
      assert.equal(
        await harness.secretWorks(client.clientId, client.clientSecret),
        true,
        'old secret inside the grace',
      );
    assert.equal(await driver.retireExpiredSecrets(Date.now()), 0, 'nothing before the grace ends');
    assert.equal(
      await driver.retireExpiredSecrets(Date.now() + (GRACE + 1) * 1000),
      COUNT,
      'every rotated secret, across pages of 100',
    );
    for (const { client, rotated } of sample) {
      assert.equal(await harness.secretWorks(client.clientId, client.clientSecret), false, 'old secret retired');
      assert.equal(await harness.secretWorks(client.clientId, rotated.clientSecret), true, 'new secret kept');
    }
    assert.equal(
      await driver.retireExpiredSecrets(Date.now() + (GRACE + 1) * 1000),
      0,
      'a second sweep finds nothing left',
    );
  });
});
