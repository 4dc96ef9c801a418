/**
 * The rfc7591 driver against node-oidc-provider run as a server of its own (test/rfc7591/oidc-provider-server.mjs):
 * registration behind an initial access token, RFC 7592 management that rotates the registration access token on every
 * update, client credentials at its token endpoint. The conformance suite runs against it (rotation refused: the
 * provider keeps a client's secret on an update), then what only this driver has: the token kept across rotations, a
 * bridge restarted on the same store, the multiple-credentials calls.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRfc7591Driver } from '../../drivers/rfc7591.js';
import { completeDriver } from '../../src/core/driver.js';
import type { DcrDriver, DriverSettings } from '../../src/driver/contract.js';
import { openStateStore, type StateStore } from '../../src/driver/index.js';
import { ClientNotFoundError, ConflictError } from '../../src/errors.js';
import { rejectsWith, serviceMetadata, testDriver, webMetadata } from '../conformance/driver-suite.js';
import { startOidcProvider, type OidcProviderServer } from '../rfc7591/oidc-provider.js';
import { VirtualClock } from '../support/virtual-clock.js';

export function rfc7591Driver(
  idp: OidcProviderServer,
  store: StateStore,
  idpCallPolicy: DriverSettings['idpCallPolicy'] = {},
  registrationEndpoint = idp.registrationEndpoint,
): DcrDriver {
  return completeDriver(
    createRfc7591Driver({
      registrationEndpoint,
      initialAccessToken: { kind: 'static', token: idp.initialAccessToken },
      store,
      idpCallPolicy: { timeoutMs: 30_000, budgetMs: 60_000, clock: new VirtualClock(), ...idpCallPolicy },
    }),
  );
}

/** What the conformance harness started, for the tests only this driver has. */
let started: { idp: OidcProviderServer; store: StateStore; dir: string };

testDriver({
  name: 'rfc7591 (node-oidc-provider)',
  secretRotation: 'unsupported',
  ownership: 'presence in the store',
  additionalTests(harness) {
    it('keeps working across the provider rotating the registration access token on every update', async () => {
      const { driver } = harness();
      const client = await driver.registerClient(webMetadata(), { portal: 'konnect', developerId: 'dev-1' });
      const tokens = new Set<string>();
      for (let round = 0; round < 5; round += 1) {
        const stored = await started.store.withRegistration(
          started.idp.registrationEndpoint,
          client.clientId,
          async (s) => s.current,
        );
        tokens.add(stored!.registrationAccessToken);
        await driver.updateClient(client.clientId, webMetadata({ clientName: `round ${round}` }));
      }
      assert.equal(tokens.size, 5, 'a new token after every update, each one kept');
      assert.equal((await driver.getClient(client.clientId)).metadata.clientName, 'round 4');
      assert.equal(await started.idp.secretWorks(client.clientId, client.clientSecret), true);
    });

    it('one secret per client: listed once, a second refused with 409, the last never revoked', async () => {
      const { driver } = harness();
      const client = await driver.registerClient(serviceMetadata(), { portal: 'konnect' });
      const secrets = await driver.listSecrets!(client.clientId);
      assert.equal(secrets.length, 1);
      assert.equal(secrets[0]!.status, 'ACTIVE');
      assert.equal(JSON.stringify(secrets).includes(client.clientSecret), false, 'no secret value in the list');
      await rejectsWith(driver.addSecret!(client.clientId), ConflictError);
      await rejectsWith(driver.revokeSecret!(client.clientId, secrets[0]!.secretId), ConflictError);
      await driver.revokeSecret!(client.clientId, 'already-gone');
      assert.equal(await started.idp.secretWorks(client.clientId, client.clientSecret), true);
      await rejectsWith(driver.listSecrets!('no-such-client'), ClientNotFoundError);
    });

    it('a bridge restarted on the same store still manages the clients registered before', async () => {
      const { driver } = harness();
      const client = await driver.registerClient(webMetadata(), { portal: 'api7' });
      await driver.updateClient(client.clientId, webMetadata({ clientName: 'before the restart' }));
      const restartedStore = await openStateStore({ dataDir: started.dir });
      const restarted = rfc7591Driver(started.idp, restartedStore);
      try {
        assert.equal((await restarted.getClient(client.clientId)).metadata.clientName, 'before the restart');
        await restarted.updateClient(client.clientId, webMetadata({ clientName: 'after the restart' }));
        await restarted.deleteClient(client.clientId);
        assert.equal(await started.idp.secretWorks(client.clientId, client.clientSecret), false);
      } finally {
        await restarted.close();
        await restartedStore.close();
      }
    });

    it('the registration access token never leaves the driver', async () => {
      const { driver } = harness();
      const client = await driver.registerClient(webMetadata(), { portal: 'api7' });
      const stored = await started.store.withRegistration(
        started.idp.registrationEndpoint,
        client.clientId,
        async (s) => s.current,
      );
      const seen = JSON.stringify([
        client,
        await driver.getClient(client.clientId),
        await driver.listClients!({ limit: 500 }),
      ]);
      assert.equal(seen.includes(stored!.registrationAccessToken), false);
    });
  },
  async start() {
    const idp = await startOidcProvider();
    const dir = mkdtempSync(join(tmpdir(), 'dcr-rfc7591-'));
    const store = await openStateStore({ dataDir: dir });
    const driver = rfc7591Driver(idp, store);
    started = { idp, store, dir };
    const foreign: Array<{ token: string; uri: string }> = [];
    return {
      driver,
      secretWorks: (clientId, secret) => idp.secretWorks(clientId, secret),
      ownedClientIds: async () => (await store.list(idp.registrationEndpoint, 10_000)).map((entry) => entry.clientId),
      async seedForeignClient() {
        const client = await idp.registerDirectly();
        foreign.push(client);
        return { clientId: client.clientId, clientSecret: client.clientSecret };
      },
      // What the provider holds about the foreign clients, read with their own tokens (a read rotates nothing here).
      idpState: async () =>
        Promise.all(
          foreign.map(async ({ token, uri }) =>
            (await fetch(uri, { headers: { authorization: `Bearer ${token}` } })).json(),
          ),
        ),
      async stop() {
        await driver.close();
        await store.close();
        await idp.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});

describe('rfc7591 driver: a client the store does not hold is not the bridge’s', () => {
  let idp: OidcProviderServer;
  let dir: string;
  before(async () => {
    idp = await startOidcProvider();
    dir = mkdtempSync(join(tmpdir(), 'dcr-rfc7591-'));
  });
  after(async () => {
    await idp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('another store (another bridge) cannot read, update or delete it', async () => {
    const mine = await openStateStore({ dataDir: join(dir, 'a') });
    const theirs = await openStateStore({ dataDir: join(dir, 'b') });
    const driver = rfc7591Driver(idp, mine);
    const other = rfc7591Driver(idp, theirs);
    try {
      const client = await driver.registerClient(serviceMetadata(), { portal: 'api7' });
      await rejectsWith(other.getClient(client.clientId), ClientNotFoundError);
      await rejectsWith(other.updateClient(client.clientId, serviceMetadata()), ClientNotFoundError);
      await other.deleteClient(client.clientId);
      assert.equal(await idp.secretWorks(client.clientId, client.clientSecret), true);
    } finally {
      await Promise.all([driver.close(), other.close(), mine.close(), theirs.close()]);
    }
  });

  it("the operator's list reads past the store's first pages: 450 records, each listed once, only this endpoint's", async () => {
    const store = await openStateStore({ dataDir: join(dir, 'many') });
    const driver = rfc7591Driver(idp, store);
    try {
      const held = Array.from({ length: 450 }, (_, index) => `held-${String(index).padStart(3, '0')}`);
      for (const clientId of held)
        await store.insert(idp.registrationEndpoint, {
          clientId,
          registrationClientUri: `${idp.registrationEndpoint}/${clientId}`,
          registrationAccessToken: `token-of-${clientId}`,
          data: { mark: { managed: 'true' }, clientName: `name ${clientId}` },
        });
      await store.insert('https://another.example/reg', {
        clientId: 'elsewhere',
        registrationClientUri: 'https://another.example/reg/elsewhere',
        registrationAccessToken: 'token-elsewhere',
        data: { mark: { managed: 'true' } },
      });
      const listed: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await driver.listClients!({ limit: 100, ...(cursor ? { cursor } : {}) });
        listed.push(...page.clients.map((summary) => summary.clientId));
        assert.equal(JSON.stringify(page).includes('token-of-'), false, 'no registration access token listed');
        cursor = page.next;
      } while (cursor);
      assert.deepEqual([...listed].sort(), held);
      const first = await driver.listClients!({ limit: 500 });
      assert.equal(first.clients.length, 450);
      assert.equal(first.clients[449]?.clientName, `name ${first.clients[449]?.clientId}`);
    } finally {
      await Promise.all([driver.close(), store.close()]);
    }
  });
});
