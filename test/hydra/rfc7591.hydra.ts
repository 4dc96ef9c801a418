/**
 * The rfc7591 driver against a real Ory Hydra v2.3 (test/hydra/hydra-server.ts): the conformance suite (Hydra keeps a
 * client's secret on an RFC 7592 update, so rotations are refused with 409), the registration access token Hydra
 * rotates on every update kept across rotations, and a bridge restarted on the same store.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { createRfc7591Driver } from '../../drivers/rfc7591.js';
import { completeDriver } from '../../src/core/driver.js';
import { openStateStore, type StateStore } from '../../src/driver/index.js';
import { testDriver, webMetadata } from '../conformance/driver-suite.js';
import { clientCredentialsWork } from '../process/compiled-bridge.js';
import { VirtualClock } from '../support/virtual-clock.js';
import { startHydra, type HydraServer } from './hydra-server.js';

let started: { hydra: HydraServer; store: StateStore; dir: string };

const driverOn = (hydra: HydraServer, store: StateStore) =>
  completeDriver(
    createRfc7591Driver({
      registrationEndpoint: hydra.registrationEndpoint,
      initialAccessToken: { kind: 'none' },
      store,
      idpCallPolicy: { timeoutMs: 30_000, budgetMs: 60_000, clock: new VirtualClock() },
    }),
  );

/** Hydra answers a refused client with 401 `invalid_client`, never hiding a 5xx. */
async function secretWorks(hydra: HydraServer, clientId: string, secret: string): Promise<boolean> {
  return clientCredentialsWork(hydra.tokenEndpoint, clientId, secret);
}

testDriver({
  name: 'rfc7591 (Ory Hydra v2.3)',
  secretRotation: 'unsupported',
  ownership: 'presence in the store',
  additionalTests(harness) {
    it('keeps working across Hydra rotating the registration access token on every update', async () => {
      const { driver } = harness();
      const client = await driver.registerClient(webMetadata(), { portal: 'konnect' });
      const tokens = new Set<string>();
      for (let round = 0; round < 4; round += 1) {
        const stored = await started.store.withRegistration(
          started.hydra.registrationEndpoint,
          client.clientId,
          async (session) => session.current,
        );
        tokens.add(stored!.registrationAccessToken);
        await driver.updateClient(client.clientId, webMetadata({ clientName: `round ${round}` }));
      }
      assert.equal(tokens.size, 4);
      assert.equal((await driver.getClient(client.clientId)).metadata.clientName, 'round 3');
    });

    it('a bridge restarted on the same store still manages the clients registered before', async () => {
      const { driver } = harness();
      const client = await driver.registerClient(webMetadata(), { portal: 'api7' });
      await driver.updateClient(client.clientId, webMetadata({ clientName: 'before' }));
      const store = await openStateStore({ dataDir: started.dir });
      const restarted = driverOn(started.hydra, store);
      try {
        assert.equal((await restarted.getClient(client.clientId)).metadata.clientName, 'before');
        await restarted.deleteClient(client.clientId);
        assert.equal(await secretWorks(started.hydra, client.clientId, client.clientSecret), false);
      } finally {
        await restarted.close();
        await store.close();
      }
    });
  },
  async start() {
    const hydra = await startHydra();
    const dir = mkdtempSync(join(tmpdir(), 'dcr-rfc7591-hydra-'));
    const store = await openStateStore({ dataDir: dir });
    const driver = driverOn(hydra, store);
    started = { hydra, store, dir };
    const foreign: string[] = [];
    return {
      driver,
      secretWorks: (clientId, secret) => secretWorks(hydra, clientId, secret),
      ownedClientIds: async () =>
        (await store.list(hydra.registrationEndpoint, 10_000)).map((registration) => registration.clientId),
      // An administrator's client, made through Hydra's admin API: the bridge's store never held it.
      async seedForeignClient() {
        const answer = await fetch(`${hydra.adminUrl}/admin/clients`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            client_name: 'an admin client',
            grant_types: ['client_credentials'],
            response_types: [],
          }),
        });
        const body = (await answer.json()) as { client_id: string; client_secret: string };
        foreign.push(body.client_id);
        return { clientId: body.client_id, clientSecret: body.client_secret };
      },
      idpState: async () =>
        Promise.all(foreign.map(async (id) => (await fetch(`${hydra.adminUrl}/admin/clients/${id}`)).json())),
      async stop() {
        await driver.close();
        await store.close();
        await hydra.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});
