/**
 * The conformance suite against the Okta driver, in both of Okta's admin credentials (an API token, and the OAuth
 * service app with `private_key_jwt`), through the real Okta SDK over TLS against the Okta emulator.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import type { DriverSettings } from '../../src/driver/contract.js';
import { createOktaDriver, type OktaCredentials } from '../../drivers/okta.js';
import { testDriver, type DriverHarness } from '../conformance/driver-suite.js';
import { startOktaEmulator, type OktaEmulator } from '../emulators/okta.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { VirtualClock } from '../support/virtual-clock.js';
import { completeDriver } from '../../src/core/driver.js';
import { ConflictError } from '../../src/errors.js';
import { rejectsWith, serviceMetadata } from '../conformance/driver-suite.js';
import { multipleCredentialsTests } from '../support/multiple-credentials.js';

// Not about timeouts (the fault matrix is): a virtual clock that nothing advances, so a loaded machine times out nothing.
const policy = { timeoutMs: 30_000, baseDelayMs: 5, maxDelayMs: 50, budgetMs: 60_000, clock: new VirtualClock() };

async function startHarness(
  settings: DriverSettings,
  credentialsFor: (okta: OktaEmulator) => OktaCredentials,
): Promise<DriverHarness & { okta: OktaEmulator }> {
  const okta = await startOktaEmulator({ rateLimitPerMinute: 100_000 });
  const driver = completeDriver(
    createOktaDriver({
      orgUrl: okta.emulator.url,
      credentials: credentialsFor(okta),
      rotationGraceSeconds: settings.rotationGraceSeconds,
      idpCallPolicy: policy,
    }),
  );
  return {
    okta,
    driver,
    secretWorks: (clientId, secret) => okta.secretWorks(clientId, secret),
    ownedClientIds: async () => okta.ownedClientIds(),
    seedForeignClient: async () => okta.seedForeignClient(),
    idpState: async () => okta.clientState(),
    async stop() {
      await driver.close();
      await okta.stop();
      okta.emulator.assertNoViolations();
    },
  };
}

const apiToken = (okta: OktaEmulator): OktaCredentials => ({ apiToken: okta.apiToken });
const serviceApp = (okta: OktaEmulator): OktaCredentials => ({
  clientId: okta.serviceApp.clientId,
  privateKey: okta.serviceApp.privateKeyPem,
  keyId: okta.serviceApp.keyId,
});

testDriver({
  name: 'okta (API token)',
  start: (settings) => startHarness(settings, apiToken),
  additionalTests(harness) {
    const okta = () => (harness() as DriverHarness & { okta: OktaEmulator }).okta;

    it('marks its apps in the profile and keeps the mark (and an admin profile key) across an update', async () => {
      const { driver } = harness();
      const client = await driver.registerClient(
        {
          clientName: 'marked',
          redirectUris: [],
          grantTypes: ['client_credentials'],
          responseTypes: [],
          tokenEndpointAuthMethod: 'client_secret_post',
          scope: 'payments:read',
          contacts: ['ops@example.com'],
        },
        { portal: 'konnect', portalId: 'test portal_id', developerId: 'dev-1' },
      );
      const stored = okta().app(client.clientId)!;
      const mark = stored.profile?.dcr_bridge as { registration: string; issued_at: string; owner: string };
      assert.deepEqual(mark, {
        owner: 'dcr-bridge',
        registration: mark.registration,
        issued_at: mark.issued_at,
        named: true,
        scope: 'payments:read',
        contacts: ['ops@example.com'],
        portal: 'konnect',
        portal_id: 'test portal_id',
        developer_id: 'dev-1',
      });
      assert.ok(Math.abs(Number(mark.issued_at) - Date.now() / 1000) < 300, 'issued-at is epoch seconds, now');
      const read = await driver.getClient(client.clientId);
      assert.equal(read.metadata.scope, 'payments:read');
      assert.deepEqual(read.metadata.contacts, ['ops@example.com']);
      const updated = await driver.updateClient(client.clientId, {
        ...read.metadata,
        clientName: 'marked again',
        scope: 'payments:write',
      });
      assert.equal(updated.metadata.scope, 'payments:write');
      const markAfter = okta().app(client.clientId)!.profile?.dcr_bridge as { owner: string } | undefined;
      assert.equal(markAfter?.owner, 'dcr-bridge');
      await driver.deleteClient(client.clientId);
    });

    it('maps RFC 7591 metadata onto the OIDC app Okta stores', async () => {
      const { driver } = harness();
      const client = await driver.registerClient(
        {
          clientName: 'spa',
          redirectUris: ['https://spa.example.com/cb'],
          postLogoutRedirectUris: ['https://spa.example.com/bye'],
          grantTypes: ['authorization_code', 'refresh_token'],
          responseTypes: ['code'],
          tokenEndpointAuthMethod: 'none',
          clientUri: 'https://spa.example.com',
          logoUri: 'https://spa.example.com/logo.png',
        },
        {},
      );
      assert.equal(client.clientSecret, '', 'a public client has no secret');
      const sent = okta().emulator.requestsTo('POST /api/v1/apps').at(-1)!.body as {
        credentials: { oauthClient: Record<string, unknown> };
        settings: { oauthClient: Record<string, unknown> };
      };
      assert.equal(sent.credentials.oauthClient.token_endpoint_auth_method, 'none');
      assert.equal(sent.credentials.oauthClient.pkce_required, true);
      assert.equal(sent.settings.oauthClient.application_type, 'browser');
      assert.deepEqual(sent.settings.oauthClient.post_logout_redirect_uris, ['https://spa.example.com/bye']);
      const read = await driver.getClient(client.clientId);
      assert.equal(read.metadata.logoUri, 'https://spa.example.com/logo.png');
      assert.deepEqual(read.metadata.postLogoutRedirectUris, ['https://spa.example.com/bye']);
      await driver.deleteClient(client.clientId);
    });

    it('deleting deactivates the app first, as Okta requires', async () => {
      const { driver } = harness();
      const client = await driver.registerClient(
        {
          clientName: 'to delete',
          redirectUris: [],
          grantTypes: ['client_credentials'],
          responseTypes: [],
          tokenEndpointAuthMethod: 'client_secret_basic',
        },
        {},
      );
      await driver.deleteClient(client.clientId);
      const calls = okta()
        .emulator.requests.filter((recorded) => recorded.method !== 'GET' && recorded.rawPath.includes(client.clientId))
        .map(
          (recorded) =>
            `${recorded.method} ${recorded.rawPath.replace(client.clientId, ':appId')} ${String(recorded.outcome)}`,
        );
      assert.deepEqual(calls.slice(-2), [
        'POST /api/v1/apps/:appId/lifecycle/deactivate 200',
        'DELETE /api/v1/apps/:appId 204',
      ]);
    });

    describe('a path-traversal client_id through the bridge', () => {
      let bridge: TestApp;
      before(async () => {
        bridge = await createTestApp(harness().driver);
      });
      after(async () => bridge?.close());

      it('never reaches any Okta path but the app list', async () => {
        const seen = okta().emulator.requests.length;
        for (const id of ['..%2F..%2Fapi%2Fv1%2Fusers%2Fx', '..%2Fx', 'a%2Fb', '%2E%2E']) {
          const responses = [
            await request(bridge.app).get(`/clients/${id}`).set('X-API-Key', bridge.apiKey),
            await request(bridge.app)
              .put(`/clients/${id}`)
              .set('X-API-Key', bridge.apiKey)
              .send({ client_name: 'x', grant_types: ['client_credentials'] }),
            await request(bridge.app).post(`/clients/${id}/rotate-secret`).set('X-API-Key', bridge.apiKey),
            await request(bridge.app).delete(`/clients/${id}`).set('X-API-Key', bridge.apiKey),
            await request(bridge.app).post(`/${id}/new-secret`).set('X-API-Key', bridge.apiKey),
          ];
          for (const response of responses)
            assert.ok([400, 404].includes(response.status), `${id}: ${response.status}`);
        }
        const reached = okta()
          .emulator.requests.slice(seen)
          .map((recorded) => recorded.rawPath);
        assert.deepEqual(
          reached.filter((path) => path !== '/api/v1/apps'),
          [],
        );
      });
    });
  },
});

testDriver({
  name: 'okta (OAuth service app)',
  start: (settings) => startHarness(settings, serviceApp),
});

describe('okta rotation with a grace period, beyond the conformance suite', () => {
  let harness: DriverHarness & { okta: OktaEmulator };
  before(async () => {
    harness = await startHarness({ rotationGraceSeconds: 3600 }, apiToken);
  });
  after(async () => harness?.stop());
  const service = {
    clientName: 'grace',
    redirectUris: [],
    grantTypes: ['client_credentials'],
    responseTypes: [],
    tokenEndpointAuthMethod: 'client_secret_basic',
  };

  it('rotating again during the grace retires the oldest secret, since Okta holds two', async () => {
    const { driver, okta } = harness;
    const client = await driver.registerClient(service, {});
    const first = await driver.rotateSecret(client.clientId);
    const second = await driver.rotateSecret(client.clientId);
    assert.equal(await okta.secretWorks(client.clientId, client.clientSecret), false, 'the original secret is gone');
    assert.equal(
      await okta.secretWorks(client.clientId, first.clientSecret),
      true,
      'the previous secret is in its grace',
    );
    assert.equal(await okta.secretWorks(client.clientId, second.clientSecret), true);
    assert.deepEqual(
      okta.app(client.clientId)?.secrets.map((secret) => secret.status),
      ['ACTIVE', 'ACTIVE'],
    );
    await driver.deleteClient(client.clientId);
  });

  it('a sweep before the grace ends reads no secret and leaves the app marked; one after it retires and clears', async () => {
    const { driver, okta } = harness;
    const client = await driver.registerClient(service, {});
    const { clientSecret } = await driver.rotateSecret(client.clientId);
    const start = okta.emulator.requests.length;
    assert.equal(await driver.retireExpiredSecrets(Date.now() + 60_000), 0);
    const secretCalls = okta.emulator.requests
      .slice(start)
      .filter((request) => request.rawPath.includes('/credentials/secrets'));
    assert.deepEqual(
      secretCalls.map((request) => request.rawPath),
      [],
      'no secret of any app is read before a grace ends',
    );
    assert.equal(
      await okta.secretWorks(client.clientId, client.clientSecret),
      true,
      'the old secret still works in its grace',
    );
    assert.equal(typeof okta.app(client.clientId)!.profile?.dcr_bridge_grace_ends_at, 'number', 'and the mark stays');
    assert.equal(await driver.retireExpiredSecrets(Date.now() + 3601 * 1000), 1);
    assert.equal(await okta.secretWorks(client.clientId, client.clientSecret), false);
    assert.equal(await okta.secretWorks(client.clientId, clientSecret), true);
    assert.equal(okta.app(client.clientId)!.profile?.dcr_bridge_grace_ends_at, undefined, 'the mark is cleared');
    await driver.deleteClient(client.clientId);
  });

  it("the sweep retires only the bridge's own clients' secrets", async () => {
    const { driver, okta } = harness;
    const seeded = okta.seedForeignClient('Not the bridge');
    await fetch(`${okta.emulator.url}/api/v1/apps/${seeded.clientId}/credentials/secrets`, {
      method: 'POST',
      headers: { Authorization: `SSWS ${okta.apiToken}`, 'Content-Type': 'application/json' },
      body: '{}',
    }).then((response) => response.arrayBuffer());
    const client = await driver.registerClient(service, {});
    await driver.rotateSecret(client.clientId);
    assert.ok((await driver.retireExpiredSecrets(Date.now() + 3601 * 1000)) >= 1);
    assert.deepEqual(
      okta.app(client.clientId)?.secrets.map((secret) => secret.status),
      ['ACTIVE'],
    );
    assert.deepEqual(
      okta.app(seeded.clientId)?.secrets.map((secret) => secret.status),
      ['ACTIVE', 'ACTIVE'],
      'an unmanaged app keeps both secrets',
    );
    assert.equal(await okta.secretWorks(seeded.clientId, seeded.clientSecret), true);
    await driver.deleteClient(client.clientId);
  });
});

describe('okta multiple credentials: the app secrets under /credentials/secrets', () => {
  let harness: DriverHarness & { okta: OktaEmulator };
  before(async () => {
    harness = await startHarness({ rotationGraceSeconds: 3600 }, apiToken);
  });
  after(async () => harness?.stop());

  multipleCredentialsTests({
    driver: () => harness.driver,
    idp: () => harness.okta,
    limit: 2,
    limitWords: /Okta holds at most 2 secrets per app/,
  });

  it("lists Okta's own ocs ids and creation times, and an inactive secret as INACTIVE", async () => {
    const { driver, okta } = harness;
    const client = await driver.registerClient(serviceMetadata(), {});
    const added = await driver.addSecret!(client.clientId);
    const stored = okta.app(client.clientId)!.secrets;
    assert.equal(added.secretId, stored[1]!.id);
    assert.match(added.secretId, /^ocs/);
    const [first] = stored;
    await fetch(
      `${okta.emulator.url}/api/v1/apps/${client.clientId}/credentials/secrets/${first!.id}/lifecycle/deactivate`,
      { method: 'POST', headers: { Authorization: `SSWS ${okta.apiToken}`, Accept: 'application/json' } },
    ).then((response) => response.arrayBuffer());
    const listed = await driver.listSecrets!(client.clientId);
    assert.deepEqual(
      listed.map(({ secretId, status, createdAt }) => ({ secretId, status, createdAt })),
      okta.app(client.clientId)!.secrets.map((secret) => ({
        secretId: secret.id,
        status: secret.status,
        createdAt: Math.floor(Date.parse(secret.created) / 1000),
      })),
    );
    assert.equal(listed[0]!.status, 'INACTIVE');
    // The inactive one is no working secret: revoking it deletes it, the active one is the last and stays.
    await driver.revokeSecret!(client.clientId, first!.id);
    assert.deepEqual(
      okta.app(client.clientId)!.secrets.map((secret) => secret.id),
      [added.secretId],
    );
    await driver.deleteClient(client.clientId);
  });

  it('a secret kept for a rotation grace is listed with the end the sweep gives it, and gone after the sweep', async () => {
    const { driver } = harness;
    const client = await driver.registerClient(serviceMetadata(), {});
    const [old] = await driver.listSecrets!(client.clientId);
    await driver.rotateSecret(client.clientId);
    const listed = await driver.listSecrets!(client.clientId);
    const newest = listed.find((secret) => secret.secretId !== old!.secretId)!;
    assert.equal(listed.find((secret) => secret.secretId === old!.secretId)?.expiresAt, newest.createdAt! + 3600);
    assert.equal(newest.expiresAt, undefined, 'the new secret does not end');
    await rejectsWith(driver.addSecret!(client.clientId), ConflictError);
    assert.equal(await driver.retireExpiredSecrets((newest.createdAt! + 3601) * 1000), 1);
    assert.deepEqual(
      (await driver.listSecrets!(client.clientId)).map((secret) => secret.secretId),
      [newest.secretId],
    );
    await driver.deleteClient(client.clientId);
  });
});
