/**
 * The conformance suite against the Cognito driver, through the real AWS SDK over TLS against the Cognito emulator
 * (every request checked against AWS's service model), and what only this driver has: the mark in `ClientName`, the
 * metadata mapping, the scopes of the pool's resource servers, and the multiple-credentials calls on Cognito's two
 * secret slots.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { completeDriver } from '../../src/core/driver.js';
import type { DcrDriver, DriverSettings } from '../../src/driver/contract.js';
import { ClientNotFoundError, ConflictError, InvalidClientMetadataError } from '../../src/errors.js';
import { createCognitoDriver } from '../../drivers/cognito.js';
import { rejectsWith, serviceMetadata, testDriver, type DriverHarness } from '../conformance/driver-suite.js';
import { startCognitoEmulator, type CognitoEmulator } from '../emulators/cognito.js';
import { VirtualClock } from '../support/virtual-clock.js';

// Not about timeouts (the fault matrix is): a virtual clock that nothing advances, so a loaded machine times out nothing.
const policy = { timeoutMs: 30_000, baseDelayMs: 5, maxDelayMs: 50, budgetMs: 60_000, clock: new VirtualClock() };

export function cognitoDriverFor(cognito: CognitoEmulator, settings: Partial<DriverSettings> = {}): DcrDriver {
  return completeDriver(
    createCognitoDriver({
      userPoolId: cognito.userPoolId,
      region: cognito.region,
      endpoint: cognito.emulator.url,
      credentials: cognito.credentials,
      defaultScopes: ['dcr-api/read'],
      rotationGraceSeconds: settings.rotationGraceSeconds ?? 0,
      idpCallPolicy: settings.idpCallPolicy ?? policy,
    }),
  );
}

type CognitoHarness = DriverHarness & { cognito: CognitoEmulator };

async function startHarness(settings: DriverSettings): Promise<CognitoHarness> {
  const cognito = await startCognitoEmulator();
  const driver = cognitoDriverFor(cognito, settings);
  return {
    cognito,
    driver,
    secretWorks: (clientId, secret) => cognito.secretWorks(clientId, secret),
    ownedClientIds: async () => cognito.ownedClientIds(),
    seedForeignClient: async () => cognito.seedForeignClient(),
    idpState: async () => cognito.clientState(),
    async stop() {
      await driver.close();
      await cognito.stop();
      cognito.emulator.assertNoViolations();
    },
  };
}

testDriver({
  name: 'cognito',
  start: startHarness,
  // Cognito allows client_credentials only as a client's one flow.
  webMetadata: { grantTypes: ['authorization_code', 'refresh_token'] },
  // The mark lives in ClientName (no room for the portal's ids); the listing gives id and name only.
  listingOmits: ['portalId', 'createdAt'],
  additionalTests(harness) {
    const cognito = () => (harness() as CognitoHarness).cognito;
    const driver = () => harness().driver;

    it('marks its clients in ClientName, keeps the mark across an update, and maps the metadata to the app client', async () => {
      const client = await driver().registerClient(
        {
          clientName: 'Partner (EU) app',
          redirectUris: ['https://partner.example.com/cb'],
          postLogoutRedirectUris: ['https://partner.example.com/bye'],
          grantTypes: ['authorization_code', 'refresh_token'],
          responseTypes: ['code'],
          tokenEndpointAuthMethod: 'client_secret_post',
          scope: 'openid dcr-api/write',
        },
        { portal: 'konnect' },
      );
      const stored = cognito().client(client.clientId)!;
      assert.match(stored.ClientName, /^dcr-bridge,[A-Za-z0-9_-]{16},pcr,,,Partner _EU_ app$/);
      assert.deepEqual(stored.fields.AllowedOAuthFlows, ['code']);
      assert.deepEqual(stored.fields.AllowedOAuthScopes, ['openid', 'dcr-api/write']);
      assert.deepEqual(stored.fields.CallbackURLs, ['https://partner.example.com/cb']);
      assert.deepEqual(stored.fields.LogoutURLs, ['https://partner.example.com/bye']);
      assert.equal(stored.fields.AllowedOAuthFlowsUserPoolClient, true);
      const read = await driver().getClient(client.clientId);
      assert.equal(read.metadata.clientName, 'Partner _EU_ app', "Cognito's alphabet: the rest became _");
      assert.equal(read.metadata.tokenEndpointAuthMethod, 'client_secret_post');
      assert.deepEqual(read.metadata.grantTypes, ['authorization_code', 'refresh_token']);
      assert.equal(read.metadata.scope, 'openid dcr-api/write');
      const registration = stored.ClientName.split(',')[1];
      await driver().updateClient(client.clientId, { ...read.metadata, clientName: 'renamed' });
      const after = cognito().client(client.clientId)!;
      assert.equal(after.ClientName, `dcr-bridge,${registration},pcr,,,renamed`);
      // UpdateUserPoolClient resets what it is not sent: the pool's token validity and auth flows are sent back.
      assert.deepEqual(after.fields.TokenValidityUnits, stored.fields.TokenValidityUnits);
      assert.deepEqual(after.fields.ExplicitAuthFlows, stored.fields.ExplicitAuthFlows);
      await driver().deleteClient(client.clientId);
    });

    it('refuses a client_name carrying the mark, a scope the pool does not have, and grants Cognito cannot mix', async () => {
      const before = cognito().ownedClientIds().length;
      await rejectsWith(
        driver().registerClient(serviceMetadata({ clientName: 'dcr-bridge,AAAAAAAAAAAAAAAA,b,,,forged' }), {}),
        InvalidClientMetadataError,
      );
      await assert.rejects(
        driver().registerClient(serviceMetadata({ scope: 'dcr-api/read payments/admin' }), {}),
        (error: unknown) => error instanceof InvalidClientMetadataError && /payments\/admin/.test(error.message),
      );
      await rejectsWith(
        driver().registerClient(
          serviceMetadata({
            grantTypes: ['authorization_code', 'client_credentials'],
            redirectUris: ['https://a.example.com/cb'],
          }),
          {},
        ),
        InvalidClientMetadataError,
      );
      await rejectsWith(
        driver().registerClient(serviceMetadata({ grantTypes: ['password'] }), {}),
        InvalidClientMetadataError,
      );
      assert.equal(cognito().ownedClientIds().length, before, 'nothing created');
    });

    it('cuts a long name to what the mark leaves, so the mark with a grace end and a token hash fits 128 characters', async () => {
      const graceful = cognitoDriverFor(cognito(), { rotationGraceSeconds: 600 });
      try {
        const long = 'n'.repeat(120);
        const plain = await graceful.registerClient(serviceMetadata({ clientName: long }), {});
        assert.equal((await graceful.getClient(plain.clientId)).metadata.clientName, 'n'.repeat(82));
        const standard = await graceful.registerClient(serviceMetadata({ clientName: long }), {
          portal: 'standard',
          registration: { accessTokenHash: 'h'.repeat(43), openRegistration: true },
        });
        const read = await graceful.getClient(standard.clientId);
        assert.equal(read.metadata.clientName, 'n'.repeat(39));
        assert.deepEqual(read.registration, { accessTokenHash: 'h'.repeat(43), openRegistration: true });
        for (const client of [plain, standard]) {
          await graceful.rotateSecret(client.clientId);
          const name = cognito().client(client.clientId)!.ClientName;
          assert.match(name, /,\d{10},/, 'the grace end is in the mark');
          assert.ok(name.length <= 128, `${name.length} characters`);
          await graceful.deleteClient(client.clientId);
        }
      } finally {
        await graceful.close();
      }
    });

    it('a client whose name only looks like the mark is not the bridge’s', async () => {
      const seeded = cognito().seedClient('dcr-bridge, hand made');
      await rejectsWith(driver().getClient(seeded.clientId), ClientNotFoundError);
      await rejectsWith(driver().deleteClient(seeded.clientId), ClientNotFoundError);
    });

    it('multiple credentials: lists, adds a second secret, refuses a third and the last, revokes by id', async () => {
      const client = await driver().registerClient(serviceMetadata(), { portal: 'konnect' });
      const listed = await driver().listSecrets!(client.clientId);
      assert.equal(listed.length, 1);
      assert.equal(listed[0]!.status, 'ACTIVE');
      assert.ok(listed[0]!.secretId.startsWith(`${client.clientId}--`), "Cognito's ClientSecretId");
      const added = await driver().addSecret!(client.clientId);
      assert.equal(await harness().secretWorks(client.clientId, added.clientSecret), true);
      assert.equal(await harness().secretWorks(client.clientId, client.clientSecret), true, 'the first still works');
      assert.ok(Number.isInteger(added.createdAt));
      const both = await driver().listSecrets!(client.clientId);
      assert.deepEqual(both.map((secret) => secret.secretId).sort(), [listed[0]!.secretId, added.secretId].sort());
      assert.equal(JSON.stringify(both).includes(added.clientSecret), false, 'a listing never carries a value');
      await assert.rejects(
        driver().addSecret!(client.clientId),
        (error: unknown) => error instanceof ConflictError && /at most 2/.test(error.message),
      );
      assert.equal(cognito().workingSecretCount(client.clientId), 2, 'the refused add created nothing');
      await driver().revokeSecret!(client.clientId, listed[0]!.secretId);
      assert.equal(await harness().secretWorks(client.clientId, client.clientSecret), false, 'revoked at once');
      await driver().revokeSecret!(client.clientId, listed[0]!.secretId);
      await rejectsWith(driver().revokeSecret!(client.clientId, added.secretId), ConflictError);
      assert.equal(await harness().secretWorks(client.clientId, added.clientSecret), true, 'the last one stays');
      await driver().deleteClient(client.clientId);
    });

    it('the secrets calls answer client_not_found for an unknown or foreign client and leave the pool as it was', async () => {
      const foreign = cognito().seedForeignClient();
      const before = cognito().clientState();
      for (const clientId of [foreign.clientId, 'nosuchclient0123456789']) {
        await rejectsWith(driver().listSecrets!(clientId), ClientNotFoundError);
        await rejectsWith(driver().addSecret!(clientId), ClientNotFoundError);
        await rejectsWith(driver().revokeSecret!(clientId, `${clientId}--1`), ClientNotFoundError);
      }
      assert.deepEqual(cognito().clientState(), before);
    });

    it('a rotation with grace lists the old secret with its end, and the sweep retires it after', async () => {
      const graceful = cognitoDriverFor(cognito(), { rotationGraceSeconds: 600 });
      try {
        const client = await graceful.registerClient(serviceMetadata(), {});
        const rotated = await graceful.rotateSecret(client.clientId);
        const listed = await graceful.listSecrets!(client.clientId);
        assert.equal(listed.length, 2);
        const old = listed.find((secret) => secret.expiresAt !== undefined)!;
        assert.ok(old.expiresAt! > Date.now() / 1000 + 590 && old.expiresAt! <= Date.now() / 1000 + 601);
        assert.match(cognito().client(client.clientId)!.ClientName, /^dcr-bridge,[^,]+,bc,\d{10},,/);
        assert.equal(await graceful.retireExpiredSecrets(Date.now() + 601_000), 1);
        assert.equal(await harness().secretWorks(client.clientId, client.clientSecret), false);
        assert.equal(await harness().secretWorks(client.clientId, rotated.clientSecret), true);
        assert.match(cognito().client(client.clientId)!.ClientName, /^dcr-bridge,[^,]+,bc,,,/, 'mark cleared');
        await graceful.deleteClient(client.clientId);
      } finally {
        await graceful.close();
      }
    });
  },
});
