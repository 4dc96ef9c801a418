/**
 * Each vendor IdP as the standard DCR tests need it: its emulator over TLS, the real vendor driver against it, the
 * issuer its discovery document names, and whether a secret really authenticates there.
 */
import type { DcrDriver } from '../../src/driver/contract.js';
import { createAuth0Driver } from '../../drivers/auth0.js';
import { createEntraDriver } from '../../drivers/entra.js';
import { createKeycloakDriver } from '../../drivers/keycloak.js';
import { createOktaDriver } from '../../drivers/okta.js';
import { auth0DriverOptions, startAuth0Emulator } from '../emulators/auth0.js';
import { startEntraEmulator } from '../emulators/entra.js';
import { startKeycloakEmulator } from '../emulators/keycloak.js';
import { startOktaEmulator } from '../emulators/okta.js';
import { VirtualClock } from '../support/virtual-clock.js';
import { completeDriver } from '../../src/core/driver.js';

// Not about timeouts: a virtual clock that nothing advances, so a loaded machine (a cold SDK's first call) times out nothing.
const policy = { timeoutMs: 3000, baseDelayMs: 5, maxDelayMs: 50, budgetMs: 8000, clock: new VirtualClock() };

export interface VendorIdp {
  driver: DcrDriver;
  issuer: string;
  secretWorks(clientId: string, secret: string): Promise<boolean>;
  stop(): Promise<void>;
}

export const vendors: Record<string, () => Promise<VendorIdp>> = {
  async keycloak() {
    const keycloak = await startKeycloakEmulator();
    const env = keycloak.driverEnv;
    const driver = completeDriver(
      createKeycloakDriver({
        url: env.KEYCLOAK_URL!,
        realm: env.KEYCLOAK_REALM!,
        adminRealm: env.KEYCLOAK_ADMIN_REALM,
        clientId: env.KEYCLOAK_CLIENT_ID!,
        clientSecret: env.KEYCLOAK_CLIENT_SECRET!,
        rotationGraceSeconds: 0,
        idpCallPolicy: policy,
      }),
    );
    return {
      driver,
      issuer: `${keycloak.emulator.url}/realms/${keycloak.realm}`,
      secretWorks: async (clientId, secret) => {
        const response = await fetch(
          `${keycloak.emulator.url}/realms/${keycloak.realm}/protocol/openid-connect/token`,
          {
            method: 'POST',
            headers: {
              authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
              'content-type': 'application/x-www-form-urlencoded',
            },
            body: 'grant_type=client_credentials',
          },
        );
        return response.status === 200;
      },
      async stop() {
        await keycloak.stop();
        keycloak.emulator.assertNoViolations();
      },
    };
  },
  async okta() {
    const okta = await startOktaEmulator({ rateLimitPerMinute: 100_000 });
    const driver = completeDriver(
      createOktaDriver({ orgUrl: okta.emulator.url, credentials: { apiToken: okta.apiToken }, idpCallPolicy: policy }),
    );
    return {
      driver,
      issuer: okta.emulator.url,
      secretWorks: (clientId, secret) => okta.secretWorks(clientId, secret),
      async stop() {
        await okta.stop();
        okta.emulator.assertNoViolations();
      },
    };
  },
  async auth0() {
    const auth0 = await startAuth0Emulator();
    const driver = completeDriver(
      createAuth0Driver({
        ...auth0DriverOptions(auth0),
        idpCallPolicy: policy,
      }),
    );
    return {
      driver,
      issuer: `https://${auth0.domain}/`,
      secretWorks: (clientId, secret) => auth0.secretWorks(clientId, secret),
      async stop() {
        await auth0.stop();
        auth0.emulator.assertNoViolations();
      },
    };
  },
  async entra() {
    const entra = await startEntraEmulator();
    const driver = completeDriver(
      createEntraDriver({
        tenantId: entra.tenantId,
        clientId: entra.adminApp.clientId,
        credential: { clientSecret: entra.adminApp.clientSecret },
        authorityHost: entra.authorityHost,
        graphUrl: entra.graphUrl,
        rotationGraceSeconds: 0,
        idpCallPolicy: policy,
        replicationWaitMs: 3_000,
      }),
    );
    return {
      driver,
      issuer: `${entra.authorityHost}/${entra.tenantId}/v2.0`,
      secretWorks: (clientId, secret) => entra.secretWorks(clientId, secret),
      async stop() {
        await entra.stop();
        entra.emulator.assertNoViolations();
      },
    };
  },
};
