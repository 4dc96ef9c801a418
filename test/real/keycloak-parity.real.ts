/**
 * The emulator held to the real server: one scenario of admin-API and token-endpoint calls, the ones the driver makes
 * and the refusals it must understand, run against a real Keycloak realm and against the emulator, and the answers
 * compared field by field — status, the headers the driver reads (content type, `Location`, `WWW-Authenticate`,
 * `Retry-After`), the body's shape (member names and types, recursively) and the values of error bodies. Each
 * difference must be fixed in test/emulators/keycloak.ts or listed in test/emulators/keycloak.known-differences.md;
 * a listed difference that no longer occurs fails too, so the list stays true.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startKeycloakEmulator, type KeycloakEmulator } from '../emulators/keycloak.js';
import { rotationPolicy, startRealHarness } from './harness.js';

interface Target {
  url: string;
  realm: string;
  serviceAccount: { clientId: string; clientSecret: string };
}

interface Observation {
  step: string;
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** A JSON value's shape: member names and value types, arrays by the shape of their first element. */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.length === 0 ? [] : [shape(value[0])];
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([key, entry]) => [key, shape(entry)]),
    );
  }
  return value === null ? 'null' : typeof value;
}

const basic = (clientId: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** The scenario: what the driver sends, in the order it sends it, plus the refusals it has to read. */
async function runScenario(target: Target): Promise<Observation[]> {
  const observations: Observation[] = [];
  const ids: Record<string, string> = {};
  const fill = (path: string) => path.replace(/\{(\w+)\}/g, (_, name: string) => ids[name] ?? `missing-${name}`);
  let token = '';
  async function step(
    name: string,
    method: string,
    path: string,
    options: { body?: unknown; form?: string; authorization?: string } = {},
  ): Promise<Observation> {
    const headers: Record<string, string> = {};
    if (options.form !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    headers.authorization = options.authorization ?? `Bearer ${token}`;
    const response = await fetch(`${target.url}${fill(path)}`, {
      method,
      headers,
      body: options.form ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
    });
    const text = await response.text();
    let body: unknown = text === '' ? '(empty)' : text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: compared as is
    }
    const kept: Record<string, string> = {};
    const contentType = response.headers.get('content-type');
    if (contentType) kept['content-type'] = contentType.split(';')[0]!.trim().toLowerCase();
    const location = response.headers.get('location');
    if (location)
      kept.location = location
        .replace(target.url, '{url}')
        .replace(`/realms/${target.realm}/`, '/realms/{realm}/')
        .replace(/[0-9a-f-]{36}$/, '{uuid}');
    for (const header of ['www-authenticate', 'retry-after']) {
      const value = response.headers.get(header);
      if (value) kept[header] = value;
    }
    const observation = { step: name, status: response.status, headers: kept, body };
    observations.push(observation);
    return observation;
  }
  const realm = `/admin/realms/${target.realm}`;
  const tokenPath = `/realms/${target.realm}/protocol/openid-connect/token`;
  const sa = target.serviceAccount;

  const issued = await step('service-account token', 'POST', tokenPath, {
    form: 'grant_type=client_credentials',
    authorization: basic(sa.clientId, sa.clientSecret),
  });
  token = (issued.body as { access_token: string }).access_token;
  await step('token, wrong secret of a known client', 'POST', tokenPath, {
    form: 'grant_type=client_credentials',
    authorization: basic(sa.clientId, 'wrong'),
  });
  await step('token, unknown client', 'POST', tokenPath, {
    form: 'grant_type=client_credentials',
    authorization: basic('nobody-here', 'wrong'),
  });
  await step('token, no grant_type', 'POST', tokenPath, {
    form: '',
    authorization: basic(sa.clientId, sa.clientSecret),
  });
  await step('admin call, bad bearer token', 'GET', `${realm}/clients?first=0&max=1`, {
    authorization: 'Bearer not-a-token',
  });
  await step('admin call, unknown realm', 'GET', '/admin/realms/no-such-realm/clients?first=0&max=1');
  await step('readiness listing', 'GET', `${realm}/clients?first=0&max=1`);
  await step('find by clientId, none', 'GET', `${realm}/clients?clientId=parity-client`);
  await step(
    'attribute search',
    'GET',
    `${realm}/clients?q=${encodeURIComponent('dcr-bridge.managed:true')}&first=0&max=100`,
  );
  await step('client scopes', 'GET', `${realm}/client-scopes`);
  const representation = {
    clientId: 'parity-client',
    name: 'parity client',
    protocol: 'openid-connect',
    enabled: true,
    redirectUris: ['https://app.example.com/cb'],
    baseUrl: 'https://app.example.com',
    standardFlowEnabled: true,
    implicitFlowEnabled: false,
    directAccessGrantsEnabled: false,
    serviceAccountsEnabled: true,
    publicClient: false,
    clientAuthenticatorType: 'client-secret',
    optionalClientScopes: ['profile', 'no-such-scope'],
    attributes: {
      'use.refresh.tokens': 'true',
      'dcr-bridge.managed': 'true',
      logoUri: 'https://app.example.com/logo.png',
    },
  };
  const created = await step('create client', 'POST', `${realm}/clients`, { body: representation });
  ids.id = created.headers.location
    ? String(
        (
          (await (
            await fetch(`${target.url}${realm}/clients?clientId=parity-client`, {
              headers: { authorization: `Bearer ${token}` },
            })
          ).json()) as Array<{ id: string }>
        )[0]!.id,
      )
    : '';
  await step('create the same clientId again', 'POST', `${realm}/clients`, { body: representation });
  await step('create, redirect URI with a fragment', 'POST', `${realm}/clients`, {
    body: { ...representation, clientId: 'parity-fragment', redirectUris: ['https://app.example.com/cb#x'] },
  });
  await step('create, javascript: redirect URI', 'POST', `${realm}/clients`, {
    body: { ...representation, clientId: 'parity-script', redirectUris: ['javascript:alert(1)'] },
  });
  await step('create, javascript: logo', 'POST', `${realm}/clients`, {
    body: { ...representation, clientId: 'parity-logo', attributes: { logoUri: 'javascript:alert(1)' } },
  });
  await step('find by clientId', 'GET', `${realm}/clients?clientId=parity-client`);
  await step('get by uuid', 'GET', `${realm}/clients/{id}`);
  await step('read secret', 'GET', `${realm}/clients/{id}/client-secret`);
  await step('rotated secret, none yet', 'GET', `${realm}/clients/{id}/client-secret/rotated`);
  await step('regenerate secret', 'POST', `${realm}/clients/{id}/client-secret`);
  await step('rotated secret', 'GET', `${realm}/clients/{id}/client-secret/rotated`);
  await step('find by clientId after a rotation', 'GET', `${realm}/clients?clientId=parity-client`);
  await step('update', 'PUT', `${realm}/clients/{id}`, {
    body: { ...representation, name: 'renamed', optionalClientScopes: ['email'], attributes: { logoUri: '' } },
  });
  await step('get after update', 'GET', `${realm}/clients/{id}`);
  const scopes = (await step('client scopes, for their ids', 'GET', `${realm}/client-scopes`)).body as Array<{
    id: string;
    name: string;
  }>;
  ids.email = scopes.find((scope) => scope.name === 'email')?.id ?? '';
  ids.profile = scopes.find((scope) => scope.name === 'profile')?.id ?? '';
  await step('add an optional client scope', 'PUT', `${realm}/clients/{id}/optional-client-scopes/{email}`);
  await step('remove an optional client scope', 'DELETE', `${realm}/clients/{id}/optional-client-scopes/{profile}`);
  await step(
    'add an unknown client scope',
    'PUT',
    `${realm}/clients/{id}/optional-client-scopes/00000000-0000-4000-8000-000000000000`,
  );
  await step('get after the scope changes', 'GET', `${realm}/clients/{id}`);
  await step('invalidate rotated secret', 'DELETE', `${realm}/clients/{id}/client-secret/rotated`);
  await step('invalidate rotated secret again', 'DELETE', `${realm}/clients/{id}/client-secret/rotated`);
  await step('get unknown uuid', 'GET', `${realm}/clients/00000000-0000-4000-8000-000000000000`);
  const publicClient = {
    clientId: 'parity-public',
    publicClient: true,
    standardFlowEnabled: true,
    redirectUris: ['https://app.example.com/cb'],
  };
  await step('create public client', 'POST', `${realm}/clients`, { body: publicClient });
  ids.public = String(
    (
      (await (
        await fetch(`${target.url}${realm}/clients?clientId=parity-public`, {
          headers: { authorization: `Bearer ${token}` },
        })
      ).json()) as Array<{ id: string }>
    )[0]!.id,
  );
  await step('public client secret', 'GET', `${realm}/clients/{public}/client-secret`);
  await step('token, public client', 'POST', tokenPath, {
    form: 'grant_type=client_credentials',
    authorization: basic('parity-public', 'x'),
  });
  const jwtClient = {
    clientId: 'parity-jwt',
    clientAuthenticatorType: 'client-jwt',
    serviceAccountsEnabled: true,
    standardFlowEnabled: false,
  };
  await step('create client-jwt client', 'POST', `${realm}/clients`, { body: jwtClient });
  ids.jwt = String(
    (
      (await (
        await fetch(`${target.url}${realm}/clients?clientId=parity-jwt`, {
          headers: { authorization: `Bearer ${token}` },
        })
      ).json()) as Array<{ id: string }>
    )[0]!.id,
  );
  await step('regenerate secret of a client-jwt client', 'POST', `${realm}/clients/{jwt}/client-secret`);
  await step('token, client-jwt client with a secret', 'POST', tokenPath, {
    form: 'grant_type=client_credentials',
    authorization: basic('parity-jwt', 'x'),
  });
  const noServiceAccount = {
    clientId: 'parity-web',
    standardFlowEnabled: true,
    serviceAccountsEnabled: false,
    redirectUris: ['https://app.example.com/cb'],
  };
  await step('create web client', 'POST', `${realm}/clients`, { body: noServiceAccount });
  ids.web = String(
    (
      (await (
        await fetch(`${target.url}${realm}/clients?clientId=parity-web`, {
          headers: { authorization: `Bearer ${token}` },
        })
      ).json()) as Array<{ id: string }>
    )[0]!.id,
  );
  const webSecret = (await step('web client secret', 'GET', `${realm}/clients/{web}/client-secret`)).body as {
    value: string;
  };
  await step('token, right secret but no service account', 'POST', tokenPath, {
    form: 'grant_type=client_credentials',
    authorization: basic('parity-web', webSecret.value),
  });
  for (const id of ['public', 'jwt', 'web']) await step(`delete ${id}`, 'DELETE', `${realm}/clients/{${id}}`);
  await step('delete', 'DELETE', `${realm}/clients/{id}`);
  await step('delete again', 'DELETE', `${realm}/clients/{id}`);
  await step('get after delete', 'GET', `${realm}/clients/{id}`);
  return observations;
}

/** Client representations differ in Keycloak's own defaults; the driver reads these members, so only they are compared. */
const CLIENT_MEMBERS_READ = [
  'id',
  'clientId',
  'name',
  'redirectUris',
  'baseUrl',
  'standardFlowEnabled',
  'implicitFlowEnabled',
  'directAccessGrantsEnabled',
  'serviceAccountsEnabled',
  'publicClient',
  'clientAuthenticatorType',
  'optionalClientScopes',
  'defaultClientScopes',
  'secret',
  'attributes',
];

function comparable(observation: Observation): unknown {
  const clientShape = (client: Record<string, unknown>) => {
    const kept = Object.fromEntries(
      CLIENT_MEMBERS_READ.filter((key) => key in client).map((key) => [
        key,
        key === 'attributes' ? Object.keys(client.attributes as object).sort() : shape(client[key]),
      ]),
    );
    return {
      ...kept,
      optionalClientScopes: client.optionalClientScopes,
      defaultClientScopes: client.defaultClientScopes && [...(client.defaultClientScopes as string[])].sort(),
    };
  };
  const { body } = observation;
  const isClient = (value: unknown): value is Record<string, unknown> =>
    value !== null && typeof value === 'object' && 'clientId' in (value as object) && 'id' in (value as object);
  let compared: unknown;
  if (observation.status >= 400)
    compared = body; // error bodies: the exact values
  else if (Array.isArray(body) && body.every(isClient))
    compared = body.filter((client) => String(client.clientId).startsWith('parity')).map(clientShape);
  else if (isClient(body)) compared = clientShape(body);
  else if (Array.isArray(body) && body.length > 0 && (body[0] as { name?: unknown }).name !== undefined)
    compared = (body as Array<{ name: string }>).map((scope) => scope.name).sort();
  else compared = shape(body);
  return { status: observation.status, headers: observation.headers, body: compared };
}

function differences(real: Observation[], emulated: Observation[]): string[] {
  const found: string[] = [];
  for (const [index, observation] of real.entries()) {
    const other = emulated[index];
    if (!other || other.step !== observation.step) {
      found.push(`${observation.step}: the scenarios diverged`);
      continue;
    }
    const [left, right] = [
      comparable(observation) as Record<string, unknown>,
      comparable(other) as Record<string, unknown>,
    ];
    for (const part of ['status', 'headers', 'body'] as const) {
      try {
        assert.deepStrictEqual(right[part], left[part]);
      } catch {
        found.push(
          `${observation.step}: ${part} — real ${JSON.stringify(left[part])}, emulator ${JSON.stringify(right[part])}`,
        );
      }
    }
  }
  return found;
}

/** The steps and parts listed in the known-differences file (lines `- step: part — reason`). */
function knownDifferences(): string[] {
  const file = fileURLToPath(new URL('../emulators/keycloak.known-differences.md', import.meta.url));
  return [...readFileSync(file, 'utf8').matchAll(/^- `([^`]+)`: (status|headers|body) —/gm)].map(
    (match) => `${match[1]}: ${match[2]}`,
  );
}

describe('the Keycloak emulator held to a real Keycloak', () => {
  let harness: Awaited<ReturnType<typeof startRealHarness>>;
  let emulator: KeycloakEmulator;
  before(async () => {
    harness = await startRealHarness({ rotationGraceSeconds: 0 }, { prefix: 'parity', secretRotation: rotationPolicy });
    emulator = await startKeycloakEmulator({
      secretRotationPolicy: true,
      rotatedExpirationSeconds: rotationPolicy.rotatedExpirationSeconds,
      secretExpirationSeconds: rotationPolicy.expirationSeconds,
    });
  });
  after(async () => {
    await emulator?.stop();
    await harness?.stop();
  });

  it('answers the scenario as the real server does, except for the listed differences', async () => {
    const real = await runScenario({
      url: harness.session.url,
      realm: harness.realm.realm,
      serviceAccount: harness.realm.serviceAccount,
    });
    const emulated = await runScenario({
      url: emulator.emulator.url,
      realm: emulator.realm,
      serviceAccount: emulator.serviceAccount,
    });
    const found = differences(real, emulated);
    const keyOf = (difference: string) => difference.split(' — ')[0]!;
    const known = knownDifferences();
    const unexplained = found.filter((difference) => !known.includes(keyOf(difference)));
    const stale = known.filter((key) => !found.some((difference) => keyOf(difference) === key));
    console.log(`keycloak parity: ${real.length} steps compared, ${found.length} known differences remain`);
    assert.deepEqual(unexplained, [], 'differences neither fixed in the emulator nor listed with a reason');
    assert.deepEqual(stale, [], 'listed differences that no longer occur: remove them from the list');
    emulator.emulator.assertNoViolations();
  });
});
