/**
 * The rfc7591 driver against the real Keycloak's own `clients-registrations` endpoint (`npm run test:keycloak`): the
 * driver is configured as an operator would (createDriverFromEnv: the registration endpoint from the realm's discovery
 * document, registrations carrying a bearer fetched with client credentials from a service account holding
 * `manage-clients`, so Keycloak's authenticated client registration policies apply), the state store a SQLite file.
 * Then the conformance suite, with the realm's own clients as the foreign ones, and the token Keycloak rotates kept.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { createDriverFromEnv, createRfc7591Driver, LostRegistrationTokenError } from '../../drivers/rfc7591.js';
import { completeDriver } from '../../src/core/driver.js';
import { openStateStore } from '../../src/driver/index.js';
import { rejectsWith, serviceMetadata, testDriver, webMetadata } from '../conformance/driver-suite.js';
import { VirtualClock } from '../support/virtual-clock.js';
import { startLosingProxy } from './losing-proxy.js';
import { realCallPolicy, secretWorks } from './harness.js';
import {
  adminSessionFromEnv,
  provisionRealm,
  uniqueRealm,
  type AdminSession,
  type ProvisionedRealm,
} from './keycloak-server.js';

let started: { session: AdminSession; realm: ProvisionedRealm; dir: string; url: string };

testDriver({
  name: 'rfc7591 (real Keycloak clients-registrations)',
  ownership: 'presence in the store',
  secretRotation: 'unsupported',
  additionalTests(harness) {
    it('keeps working across Keycloak rotating the registration access token on reads and updates', async () => {
      const { driver } = harness();
      const client = await driver.registerClient(webMetadata(), { portal: 'konnect' });
      const store = await openStateStore({ dataDir: started.dir });
      const endpoint = `${started.url}/realms/${started.realm.realm}/clients-registrations/openid-connect`;
      const token = async () =>
        (await store.withRegistration(endpoint, client.clientId, async (session) => session.current))!
          .registrationAccessToken;
      try {
        const tokens = new Set([await token()]);
        for (let round = 0; round < 3; round += 1) {
          await driver.getClient(client.clientId);
          tokens.add(await token());
          await driver.updateClient(client.clientId, webMetadata({ clientName: `round ${round}` }));
          tokens.add(await token());
        }
        // Keycloak 26 issues a new token on every update (a read keeps it): each one kept.
        assert.equal(tokens.size, 4, 'a new token after every update, each one kept');
        assert.equal((await driver.getClient(client.clientId)).metadata.clientName, 'round 2');
      } finally {
        await store.close();
      }
    });
    it('with an initial access token under the default anonymous policies, until its count runs out', async () => {
      const { session, realm, url, dir } = started;
      const base = `/realms/${realm.realm}`;
      const endpoint = `${url}${base}/clients-registrations/openid-connect`;
      const iat = (await session.call('POST', `${base}/clients-initial-access`, { count: 2, expiration: 0 })).body as {
        token: string;
      };
      const store = await openStateStore({ dataDir: join(dir, 'iat') });
      const driver = completeDriver(
        createRfc7591Driver({
          registrationEndpoint: endpoint,
          initialAccessToken: { kind: 'static', token: iat.token },
          store,
          idpCallPolicy: { ...realCallPolicy, maxAttempts: 1 },
        }),
      );
      try {
        const clients = [
          await driver.registerClient(serviceMetadata(), { portal: 'api7' }),
          await driver.registerClient(serviceMetadata(), { portal: 'api7' }),
        ];
        for (const client of clients)
          assert.equal(await secretWorks(url, realm.realm, client.clientId, client.clientSecret), true);
        await driver.updateClient(clients[0]!.clientId, serviceMetadata({ clientName: 'renamed' }));
        // The token's count (2) is spent: the next registration is refused, and nothing is kept.
        await assert.rejects(driver.registerClient(serviceMetadata(), { portal: 'api7' }), (error: unknown) => {
          assert.equal((error as { status?: number }).status, 502, String(error));
          return true;
        });
        assert.equal((await store.list(endpoint, 10)).length, 2);
        for (const client of clients) await driver.deleteClient(client.clientId);
      } finally {
        await driver.close();
        await store.close();
      }
    });

    it('an update whose answer is lost after Keycloak rotated the token: 409 naming the docs, then a delete forgets it', async () => {
      const { realm, url, dir } = started;
      const endpoint = `${url}/realms/${realm.realm}/clients-registrations/openid-connect`;
      let losing = false;
      const proxy = await startLosingProxy(url, (method) => losing && method === 'PUT');
      const store = await openStateStore({ dataDir: join(dir, 'lost') });
      const warnings: string[] = [];
      const driver = completeDriver(
        createRfc7591Driver({
          registrationEndpoint: endpoint,
          initialAccessToken: {
            kind: 'client credentials',
            tokenEndpoint: `${url}/realms/${realm.realm}/protocol/openid-connect/token`,
            clientId: realm.serviceAccount.clientId,
            clientSecret: realm.serviceAccount.clientSecret,
          },
          store,
          idpCallPolicy: { timeoutMs: 30_000, budgetMs: 60_000, maxAttempts: 1, clock: new VirtualClock() },
          warn: (message) => warnings.push(message),
        }),
      );
      try {
        const client = await driver.registerClient(webMetadata(), { portal: 'api7' });
        await store.withRegistration(endpoint, client.clientId, (session) =>
          session.replace({
            ...session.current!,
            registrationClientUri: session.current!.registrationClientUri.replace(url, proxy.url),
          }),
        );
        losing = true;
        await assert.rejects(driver.updateClient(client.clientId, webMetadata({ clientName: 'lost' })));
        losing = false;
        assert.equal(proxy.answers()[0]?.status, 200, 'Keycloak updated the client and rotated its token');
        await rejectsWith(driver.getClient(client.clientId), LostRegistrationTokenError);
        await driver.deleteClient(client.clientId);
        assert.equal(warnings.length, 1);
        assert.equal(
          await secretWorks(url, realm.realm, client.clientId, client.clientSecret),
          true,
          'still at Keycloak: the operator removes it',
        );
      } finally {
        await driver.close();
        await store.close();
        await proxy.close();
      }
    });
  },
  async start(settings) {
    const session = adminSessionFromEnv();
    const realm = await provisionRealm(session, {
      realm: uniqueRealm('rfc7591'),
      foreignClients: ['ops-tool', 'reporting-job'],
    });
    // The realm's client registration policies, as docs/drivers/rfc7591.md says: the authenticated "Allowed Client
    // Scopes" policy refuses a registration asking for `openid` (no client scope of that name), so it is removed.
    const policies = await session.get<Array<{ id: string; providerId: string; subType: string }>>(
      `/realms/${realm.realm}/components?type=org.keycloak.services.clientregistration.policy.ClientRegistrationPolicy`,
    );
    for (const policy of policies)
      if (policy.subType === 'authenticated' && policy.providerId === 'allowed-client-templates')
        await session.call('DELETE', `/realms/${realm.realm}/components/${policy.id}`);
    const url = realm.driverEnv.KEYCLOAK_URL!;
    const dir = mkdtempSync(join(tmpdir(), 'dcr-rfc7591-keycloak-'));
    started = { session, realm, dir, url };
    const driver = completeDriver(
      await createDriverFromEnv(
        {
          RFC7591_ISSUER: `${url}/realms/${realm.realm}`,
          RFC7591_CLIENT_ID: realm.serviceAccount.clientId,
          RFC7591_CLIENT_SECRET: realm.serviceAccount.clientSecret,
          DCR_DATA_DIR: dir,
        },
        { ...settings, idpCallPolicy: realCallPolicy, publicUrl: 'http://127.0.0.1' },
      ),
    );
    const endpoint = `${url}/realms/${realm.realm}/clients-registrations/openid-connect`;
    const snapshot = async () =>
      Promise.all(
        realm.foreignClients.map(async ({ clientId }) => {
          const { secret, defaultClientScopes, optionalClientScopes, ...client } = (await session.clientByClientId(
            realm.realm,
            clientId,
          ))! as Record<string, unknown>;
          // Keycloak lists a client's scopes in no fixed order.
          const sorted = (scopes: unknown) => (Array.isArray(scopes) ? [...(scopes as string[])].sort() : scopes);
          return {
            ...client,
            defaultClientScopes: sorted(defaultClientScopes),
            optionalClientScopes: sorted(optionalClientScopes),
            secret: createHash('sha256').update(String(secret)).digest('hex'),
          };
        }),
      );
    return {
      driver,
      secretWorks: (clientId, secret) => secretWorks(url, realm.realm, clientId, secret),
      async ownedClientIds() {
        const store = await openStateStore({ dataDir: dir });
        try {
          return (await store.list(endpoint, 10_000)).map((registration) => registration.clientId);
        } finally {
          await store.close();
        }
      },
      seedForeignClient: async () => {
        const [foreign] = realm.foreignClients;
        return { clientId: foreign!.clientId, clientSecret: foreign!.clientSecret };
      },
      idpState: snapshot,
      async stop() {
        await driver.close();
        await session.call('DELETE', `/realms/${realm.realm}`).catch(() => undefined);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});
