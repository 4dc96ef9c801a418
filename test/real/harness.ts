/**
 * What the `.real.ts` files share: a driver for a provisioned realm of the real server, the real token endpoint as
 * the judge of a secret, and the realm's clients as the admin API lists them.
 */
import { createKeycloakDriver } from '../../drivers/keycloak.js';
import type { DcrDriver, DriverSettings } from '../../src/driver/contract.js';
import type { DriverHarness } from '../conformance/driver-suite.js';
import {
  adminSessionFromEnv,
  provisionRealm,
  uniqueRealm,
  type AdminSession,
  type ProvisionedRealm,
  type RealmOptions,
} from './keycloak-server.js';
import { completeDriver } from '../../src/core/driver.js';

/** Generous: a shared 2-core machine can make a real Keycloak slow, and a timed-out create is repeated. */
export const realCallPolicy = { timeoutMs: 20_000, baseDelayMs: 50, maxDelayMs: 1_000, budgetMs: 60_000 };

/** The `secret-rotation` executor's settings for the suites: the old secret lives 2 h after a rotation. */
export const rotationPolicy = {
  expirationSeconds: 30 * 24 * 3600,
  rotatedExpirationSeconds: 7200,
  remainingRotationSeconds: 24 * 3600,
};

export function driverFor(
  realm: ProvisionedRealm,
  settings: DriverSettings,
  url = realm.driverEnv.KEYCLOAK_URL!,
): DcrDriver {
  return completeDriver(
    createKeycloakDriver({
      url,
      realm: realm.realm,
      clientId: realm.serviceAccount.clientId,
      clientSecret: realm.serviceAccount.clientSecret,
      rotationGraceSeconds: settings.rotationGraceSeconds,
      idpCallPolicy: { ...realCallPolicy, ...settings.idpCallPolicy },
    }),
  );
}

export interface TokenAnswer {
  status: number;
  body: { access_token?: string; error?: string; error_description?: string; expires_in?: number; token_type?: string };
}

/** A client-credentials grant at the realm's real token endpoint, the secret sent with HTTP Basic (RFC 6749 §2.3.1). */
export async function requestToken(url: string, realm: string, clientId: string, secret: string): Promise<TokenAnswer> {
  const response = await fetch(`${url}/realms/${encodeURIComponent(realm)}/protocol/openid-connect/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  return { status: response.status, body: (await response.json()) as TokenAnswer['body'] };
}

/** Keycloak's 401 for a wrong secret (`unauthorized_client`) and for an unknown client (`invalid_client`). */
export const CREDENTIALS_REFUSED = 'Invalid client or Invalid client credentials';

/** Whether the token endpoint refused these client credentials (wrong secret, or no such client). */
export function credentialsRefused(answer: TokenAnswer): boolean {
  return answer.status === 401 && answer.body.error_description === CREDENTIALS_REFUSED;
}

/**
 * Whether the real realm authenticates this client with this secret: a token, or "Client not enabled to retrieve
 * service account" (the secret was right, the client just may not use client credentials). Any other answer than
 * those and the refusal of the credentials throws, so an unexpected answer is never read as "the secret does not work".
 */
export async function secretWorks(url: string, realm: string, clientId: string, secret: string): Promise<boolean> {
  const answer = await requestToken(url, realm, clientId, secret);
  if (answer.status === 200 && typeof answer.body.access_token === 'string') return true;
  if (answer.body.error_description === 'Client not enabled to retrieve service account') return true;
  if (credentialsRefused(answer)) return false;
  throw new Error(`unexpected token endpoint answer ${answer.status} ${answer.body.error ?? ''}`);
}

/** clientIds of the realm's clients that carry the bridge's mark, every page (Keycloak refuses an attribute `q=` search). */
export async function ownedClientIds(session: AdminSession, realm: string): Promise<string[]> {
  const owned: string[] = [];
  for (let first = 0; ; first += 100) {
    const page = await session.get<Array<{ clientId: string; attributes?: Record<string, string> }>>(
      `/realms/${realm}/clients?first=${first}&max=100`,
    );
    owned.push(
      ...page.filter((client) => client.attributes?.['dcr-bridge.managed'] === 'true').map((client) => client.clientId),
    );
    if (page.length < 100) return owned;
  }
}

/** Realms set up in this process, by their options: setting one up takes Keycloak many seconds. */
const sharedRealms = new Map<string, Promise<ProvisionedRealm>>();

/**
 * A realm on the runner's server, with a driver on it: what the conformance suite's `start` needs. With `shared`, one
 * realm serves every harness of this file with the same options (the runner removes every realm at the end);
 * otherwise the realm is new and removed again by `stop`.
 */
export async function startRealHarness(
  settings: DriverSettings,
  options: Omit<RealmOptions, 'realm'> & { prefix?: string; shared?: boolean } = {},
): Promise<DriverHarness & { session: AdminSession; realm: ProvisionedRealm }> {
  const session = adminSessionFromEnv();
  const { shared = false, prefix = 'dcr', ...realmOptions } = options;
  const provision = () => provisionRealm(session, { realm: uniqueRealm(prefix), ...realmOptions });
  const key = JSON.stringify(options);
  if (shared && !sharedRealms.has(key)) sharedRealms.set(key, provision());
  const realm = await (shared ? sharedRealms.get(key)! : provision());
  const driver = driverFor(realm, settings);
  return {
    session,
    realm,
    driver,
    secretWorks: (clientId, secret) => secretWorks(session.url, realm.realm, clientId, secret),
    ownedClientIds: () => ownedClientIds(session, realm.realm),
    async stop() {
      await driver.close();
      if (!shared) await session.call('DELETE', `/realms/${realm.realm}`);
    },
  };
}
