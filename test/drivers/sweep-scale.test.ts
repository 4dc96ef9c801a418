/**
 * The rotation-grace sweep at scale, through the real SDKs against the emulators: more than 10,000 of the bridge's
 * clients (seeded straight into the emulator's state), a handful rotated with a grace. A sweep reads only the marked
 * clients' secrets, retires exactly the expired ones, clears their marks, reaches clients past the 10,000th, and stops
 * at its bound of IdP calls, leaving the rest to the next sweep.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DcrDriver } from '../../src/driver/contract.js';
import { createOktaDriver } from '../../drivers/okta.js';
import { startOktaEmulator, type OktaEmulator } from '../emulators/okta.js';
import { startEntraEmulator, type EntraEmulator } from '../emulators/entra.js';
import { createEntraDriver } from '../../drivers/entra.js';
import { createKeycloakDriver } from '../../drivers/keycloak.js';
import { startKeycloakEmulator, type KeycloakEmulator } from '../emulators/keycloak.js';
import { VirtualClock } from '../support/virtual-clock.js';
import { completeDriver } from '../../src/core/driver.js';

const policy = { timeoutMs: 30_000, baseDelayMs: 5, maxDelayMs: 50, budgetMs: 60_000, clock: new VirtualClock() };
const GRACE_SECONDS = 600;
const FLEET = 10_400;
const service = {
  redirectUris: [],
  grantTypes: ['client_credentials'],
  responseTypes: [],
  tokenEndpointAuthMethod: 'client_secret_basic',
};
const afterGrace = () => Date.now() + (GRACE_SECONDS + 5) * 1000;

describe('okta: the sweep over more than 10,000 apps', () => {
  let okta: OktaEmulator;
  let driver: DcrDriver;

  before(async () => {
    okta = await startOktaEmulator({ rateLimitPerMinute: 1_000_000 });
    okta.seedOwnedApps(FLEET);
    driver = completeDriver(
      createOktaDriver({
        orgUrl: okta.emulator.url,
        credentials: { apiToken: okta.apiToken },
        rotationGraceSeconds: GRACE_SECONDS,
        idpCallPolicy: policy,
      }),
    );
  });
  after(async () => {
    await driver.close();
    await okta.stop();
    okta.emulator.assertNoViolations();
  });

  /** Registers and rotates `count` clients (ids the org assigns list after the seeded ones, past the 10,000th). */
  async function rotatedClients(
    count: number,
  ): Promise<Array<{ clientId: string; oldSecret: string; newSecret: string }>> {
    const rotated = [];
    for (let index = 0; index < count; index++) {
      const client = await driver.registerClient({ ...service, clientName: `rotated ${index}` }, { portal: 'api7' });
      const { clientSecret } = await driver.rotateSecret(client.clientId);
      rotated.push({ clientId: client.clientId, oldSecret: client.clientSecret, newSecret: clientSecret });
    }
    return rotated;
  }

  const requestsSince = (start: number) => okta.emulator.requests.slice(start);
  const secretCalls = (start: number) =>
    requestsSince(start).filter((request) => request.rawPath.includes('/credentials/secrets'));

  it('reads only the marked apps, retires exactly the expired secrets, clears the marks, and reaches apps past the 10,000th', async () => {
    const rotated = await rotatedClients(5);
    for (const { clientId } of rotated)
      assert.equal(
        typeof okta.app(clientId)!.profile?.dcr_bridge_grace_ends_at,
        'number',
        'a rotation with a grace marks the app',
      );
    const start = okta.emulator.requests.length;
    const unfinished: number[] = [];
    const retired = await driver.retireExpiredSecrets(afterGrace(), {
      maxIdpCalls: 10_000,
      onUnfinished: (calls) => unfinished.push(calls),
    });
    const calls = requestsSince(start);

    assert.equal(retired, 5, 'every expired secret, one per rotated app');
    assert.deepEqual(unfinished, [], 'the bound was not reached');
    for (const { clientId, oldSecret, newSecret } of rotated) {
      assert.equal(await okta.secretWorks(clientId, oldSecret), false, 'the old secret is retired');
      assert.equal(await okta.secretWorks(clientId, newSecret), true, 'the new one stays');
      assert.equal(okta.app(clientId)!.profile?.dcr_bridge_grace_ends_at, undefined, 'and the mark is cleared');
    }
    const listings = calls.filter(
      (request) => request.route === 'GET /api/v1/apps' && request.query.includes('oidc_client'),
    );
    assert.equal(
      listings.length,
      Math.ceil((FLEET + 5) / 200),
      'one listing call per 200 apps, through every page (no 50-page cap)',
    );
    const touched = new Set(secretCalls(start).map((request) => request.rawPath.split('/')[4]));
    assert.deepEqual(
      [...touched].sort(),
      rotated.map(({ clientId }) => clientId).sort(),
      'secrets read and removed only for the marked apps',
    );
    // Per marked app: list secrets, deactivate + delete the old one, read + replace to clear the mark, list again.
    assert.ok(calls.length <= listings.length + 5 * 6, `O(marked) calls beyond the listing: ${calls.length}`);
    for (const app of okta.ownedClientIds().slice(0, 3)) assert.equal(okta.workingSecretCount(app), 1);
  });

  it('stops at its bound of IdP calls and the next sweep continues where it stopped', async () => {
    const rotated = await rotatedClients(3);
    const bound = 40;
    const sweepAt = afterGrace();
    let retired = 0;
    let sweeps = 0;
    let unfinishedSweeps = 0;
    for (; sweeps < 20; sweeps++) {
      const start = okta.emulator.requests.length;
      let unfinished = false;
      retired += await driver.retireExpiredSecrets(sweepAt, {
        maxIdpCalls: bound,
        onUnfinished: () => (unfinished = true),
      });
      assert.ok(
        requestsSince(start).length <= bound,
        `a sweep makes at most ${bound} IdP calls (made ${requestsSince(start).length})`,
      );
      if (!unfinished) break;
      unfinishedSweeps++;
    }
    assert.ok(unfinishedSweeps >= 1, 'the bound ended at least one sweep early');
    assert.ok(sweeps + 1 >= Math.ceil(Math.ceil((FLEET + 8) / 200) / bound), 'the fleet took several sweeps');
    assert.equal(retired, 3, 'and together they retired every expired secret');
    for (const { clientId, oldSecret } of rotated) {
      assert.equal(await okta.secretWorks(clientId, oldSecret), false);
      assert.equal(okta.app(clientId)!.profile?.dcr_bridge_grace_ends_at, undefined);
    }
  });
});

describe('entra: the sweep over more than 10,000 applications, a hundred of them marked', () => {
  let entra: EntraEmulator;
  let driver: DcrDriver;
  const graphCalls = (start: number) =>
    entra.emulator.requests.slice(start).filter((request) => request.rawPath.startsWith('/v1.0/'));
  const expiredPasswords = () => [Date.now() - 2 * 86_400_000, Date.now() - (GRACE_SECONDS + 60) * 1000];

  before(async () => {
    entra = await startEntraEmulator();
    driver = completeDriver(
      createEntraDriver({
        tenantId: entra.tenantId,
        clientId: entra.adminApp.clientId,
        credential: { clientSecret: entra.adminApp.clientSecret },
        authorityHost: entra.authorityHost,
        graphUrl: entra.graphUrl,
        rotationGraceSeconds: GRACE_SECONDS,
        idpCallPolicy: policy,
        replicationWaitMs: 3_000,
      }),
    );
  });
  after(async () => {
    await driver.close();
    await entra.stop();
    entra.emulator.assertNoViolations();
  });

  it('reads every application once after start, and retires a grace from before the tag existed', async () => {
    entra.seedOwnedApplications(FLEET);
    const legacy = entra.seedOwnedApplications(20, { passwordStarts: expiredPasswords() });
    const start = entra.emulator.requests.length;
    assert.equal(await driver.retireExpiredSecrets(Date.now() + 1_000, { maxIdpCalls: 100_000 }), 20);
    const listings = graphCalls(start).filter((request) => request.route === 'GET /v1.0/applications');
    assert.equal(listings.length, Math.ceil((FLEET + 20) / 999), "every page of the bridge's applications");
    for (const appId of legacy) assert.equal(entra.passwordKeyIds(appId).length, 1);
  });

  it('then finds only the marked applications by their tag, page by page, retires exactly the expired passwords and clears the tags', async () => {
    // Pages of 50 (Graph's paging is server-driven: fewer than `$top` per page), so 110 marked applications take three.
    entra.setMaxPageSize(50);
    const expired = entra.seedOwnedApplications(110, {
      tags: ['dcr-bridge:grace'],
      passwordStarts: expiredPasswords(),
    });
    const inGrace = entra.seedOwnedApplications(3, {
      tags: ['dcr-bridge:grace'],
      passwordStarts: [Date.now() - 86_400_000, Date.now()],
    });
    const start = entra.emulator.requests.length;
    try {
      assert.equal(await driver.retireExpiredSecrets(Date.now() + 1_000, { maxIdpCalls: 100_000 }), 110);
    } finally {
      entra.setMaxPageSize(999);
    }
    const calls = graphCalls(start);
    const listings = calls.filter((request) => request.route === 'GET /v1.0/applications');
    assert.equal(
      listings.length,
      3,
      'three pages of 50 for the 113 marked applications; the 10,420 unmarked ones are never listed',
    );
    // Per expired application: remove the old password, drop the tag, read it once more.
    assert.equal(calls.length, listings.length + 3 * 110, 'O(marked) calls');
    for (const appId of [expired[0]!, expired[109]!]) {
      assert.equal(entra.passwordKeyIds(appId).length, 1, 'the old password is gone, the new one stays');
      assert.deepEqual(entra.application(appId)!.tags, ['dcr-bridge:managed'], 'and the mark is cleared');
    }
    for (const appId of inGrace) {
      assert.equal(entra.passwordKeyIds(appId).length, 2, 'a password in its grace stays');
      assert.ok(entra.application(appId)!.tags.includes('dcr-bridge:grace'), 'and so does its mark');
    }
  });

  it('stops at its bound of IdP calls and the next sweep continues', async () => {
    const marked = entra.seedOwnedApplications(50, { tags: ['dcr-bridge:grace'], passwordStarts: expiredPasswords() });
    let retired = 0;
    let unfinished = 0;
    for (let sweep = 0; sweep < 20; sweep++) {
      const start = entra.emulator.requests.length;
      let stopped = false;
      retired += await driver.retireExpiredSecrets(Date.now() + 1_000, {
        maxIdpCalls: 31,
        onUnfinished: () => (stopped = true),
      });
      assert.ok(graphCalls(start).length <= 31, `at most 31 calls a sweep (made ${graphCalls(start).length})`);
      if (!stopped) break;
      unfinished++;
    }
    assert.ok(
      unfinished >= 4,
      `50 applications at 3 calls each take several sweeps of 31 calls (${unfinished} ended early)`,
    );
    assert.equal(retired, 50);
    for (const appId of marked) assert.equal(entra.passwordKeyIds(appId).length, 1);
  });

  it('marks an application before it adds the grace password, and keeps the mark if the add fails', async () => {
    const client = await driver.registerClient({ ...service, clientName: 'rotated' }, { portal: 'api7' });
    entra.emulator.injectFault({
      route: 'POST /v1.0/applications/:id/addPassword',
      status: 400,
      body: { error: { code: 'Request_BadRequest', message: 'Refused.' } },
    });
    await assert.rejects(driver.rotateSecret(client.clientId));
    assert.ok(entra.application(client.clientId)!.tags.includes('dcr-bridge:grace'), 'the mark was set before the add');
    assert.equal(await driver.retireExpiredSecrets(Date.now() + 1_000), 0, 'nothing to retire');
    assert.deepEqual(
      entra.application(client.clientId)!.tags.filter((tag) => tag === 'dcr-bridge:grace'),
      [],
      'and the next sweep clears the mark',
    );
  });
});

for (const searchable of [true, false]) {
  describe(`keycloak: the sweep over more than 10,000 clients, ${searchable ? 'searching the grace mark' : 'on a server that searches no attribute'}`, () => {
    let keycloak: KeycloakEmulator;
    let driver: DcrDriver;
    const adminCalls = (start: number) =>
      keycloak.emulator.requests.slice(start).filter((request) => request.rawPath.startsWith('/admin/'));

    before(async () => {
      keycloak = await startKeycloakEmulator(searchable ? { searchableClientAttributes: ['dcr-bridge.grace'] } : {});
      keycloak.seedOwnedClients(FLEET);
      const env = keycloak.driverEnv;
      driver = completeDriver(
        createKeycloakDriver({
          url: env.KEYCLOAK_URL!,
          realm: env.KEYCLOAK_REALM!,
          clientId: env.KEYCLOAK_CLIENT_ID!,
          clientSecret: env.KEYCLOAK_CLIENT_SECRET!,
          rotationGraceSeconds: GRACE_SECONDS,
          idpCallPolicy: policy,
        }),
      );
      // The first pass after start lists every client (a rotated secret from before the mark is a mark too).
      const start = keycloak.emulator.requests.length;
      assert.equal(await driver.retireExpiredSecrets(Date.now(), { maxIdpCalls: 100_000 }), 0);
      assert.equal(
        adminCalls(start).filter((request) => request.method === 'GET').length,
        Math.ceil((FLEET + 1) / 100),
      );
    });
    after(async () => {
      await driver.close();
      await keycloak.stop();
      keycloak.emulator.assertNoViolations();
    });

    it('retires exactly the expired rotated secrets and clears the marks', async () => {
      const rotated: string[] = [];
      for (let index = 0; index < 3; index++) {
        const client = await driver.registerClient({ ...service, clientName: `rotated ${index}` }, { portal: 'api7' });
        await driver.rotateSecret(client.clientId);
        rotated.push(client.clientId);
      }
      const marked = () =>
        keycloak
          .clients()
          .filter((client) => client.attributes['dcr-bridge.grace'] === 'true')
          .map((client) => client.clientId);
      assert.deepEqual(marked().sort(), [...rotated].sort(), 'a rotation with a grace marks the client');
      const start = keycloak.emulator.requests.length;
      assert.equal(await driver.retireExpiredSecrets(afterGrace(), { maxIdpCalls: 100_000 }), 3);
      const listings = adminCalls(start).filter(
        (request) =>
          request.method === 'GET' && request.route.endsWith('/clients') && !request.query.includes('clientId='),
      );
      // Searching: one page of marked clients. Otherwise: the refused search, then every page of 100.
      assert.equal(listings.length, searchable ? 1 : 1 + Math.ceil((FLEET + 3 + 1) / 100));
      // Per marked client: drop the rotated secret, clear the mark, read it once more.
      assert.equal(adminCalls(start).length, listings.length + 3 * 3, 'O(marked) calls beyond the listing');
      assert.deepEqual(marked(), [], 'the marks are cleared');
      for (const client of keycloak.clients().filter((candidate) => rotated.includes(candidate.clientId)))
        assert.equal(client.hasRotatedSecret, false);
    });
  });
}
