/**
 * The Cognito driver against moto's server (test/support/moto-server.ts): an AWS emulation nobody here wrote, reached
 * through the real AWS SDK over plain http as an operator would point it, with the SDK's own
 * `AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER` and its default credential chain (the environment's keys). The
 * conformance suite's register, read, update, delete, listing and ownership parts run here; moto 5.2 has neither
 * Cognito's client-secret operations nor a token endpoint, so the tests that rotate skip with that reason (they run
 * against our emulator, test/drivers/cognito.test.ts), and "the secret works" means the pool holds that secret for
 * that client (`DescribeUserPoolClient`). Also: a client registered through the bridge is at moto with the metadata
 * sent, the sweep and the open-registration listing page through the pool and touch nothing, and the pool's own
 * clients stay as they were.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type * as CognitoSdk from '@aws-sdk/client-cognito-identity-provider';
import {
  CognitoIdentityProviderClient,
  CreateResourceServerCommand,
  CreateUserPoolClientCommand,
  CreateUserPoolCommand,
  DescribeUserPoolClientCommand,
  ListUserPoolClientsCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { completeDriver } from '../../src/core/driver.js';
import type { DcrDriver, DriverSettings } from '../../src/driver/contract.js';
import { createDriverFromEnv } from '../../drivers/cognito.js';
import { serviceMetadata, testDriver, webMetadata, type DriverHarness } from '../conformance/driver-suite.js';
import { startMoto, type MotoServer } from '../support/moto-server.js';
import { VirtualClock } from '../support/virtual-clock.js';

const REGION = 'eu-west-1';
const NO_SECRET_API =
  'moto 5.2 has no AddUserPoolClientSecret / ListUserPoolClientSecrets / DeleteUserPoolClientSecret: run against the Cognito emulator';
const policy = { timeoutMs: 30_000, baseDelayMs: 5, maxDelayMs: 50, budgetMs: 60_000, clock: new VirtualClock() };

let moto: MotoServer | undefined;
/** One moto for the file, each harness a user pool of its own in it. */
async function motoServer(): Promise<MotoServer> {
  if (!moto) {
    moto = await startMoto();
    // The SDK's own variables, as an operator sets them: the endpoint and the default chain's environment keys.
    process.env.AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER = moto.url;
    process.env.AWS_ACCESS_KEY_ID = 'AKIAMOTOTESTKEY00001';
    process.env.AWS_SECRET_ACCESS_KEY = 'moto-test-secret-key';
  }
  return moto;
}
after(async () => {
  await moto?.stop();
});

interface MotoPool {
  admin: CognitoIdentityProviderClient;
  userPoolId: string;
  describe(clientId: string): Promise<CognitoSdk.UserPoolClientType | undefined>;
  clientIds(): Promise<string[]>;
  state(): Promise<unknown>;
}

/** A new user pool at moto with the resource server `dcr-api` (scopes `read`, `write`), and an admin client for the test. */
async function newPool(): Promise<MotoPool> {
  const server = await motoServer();
  const admin = new CognitoIdentityProviderClient({ region: REGION, endpoint: server.url });
  const pool = await admin.send(new CreateUserPoolCommand({ PoolName: `dcr-bridge-${Date.now()}` }));
  const userPoolId = pool.UserPool!.Id!;
  await admin.send(
    new CreateResourceServerCommand({
      UserPoolId: userPoolId,
      Identifier: 'dcr-api',
      Name: 'dcr api',
      Scopes: [
        { ScopeName: 'read', ScopeDescription: 'read' },
        { ScopeName: 'write', ScopeDescription: 'write' },
      ],
    }),
  );
  const describe = async (clientId: string) => {
    try {
      return (await admin.send(new DescribeUserPoolClientCommand({ UserPoolId: userPoolId, ClientId: clientId })))
        .UserPoolClient;
    } catch (error) {
      if ((error as { name?: string }).name === 'ResourceNotFoundException') return undefined;
      throw error;
    }
  };
  const clientIds = async () => {
    const ids: string[] = [];
    let next: string | undefined;
    do {
      const page = await admin.send(
        new ListUserPoolClientsCommand({ UserPoolId: userPoolId, MaxResults: 60, NextToken: next }),
      );
      ids.push(...(page.UserPoolClients ?? []).map((client) => client.ClientId!));
      next = page.NextToken;
    } while (next);
    return ids;
  };
  return {
    admin,
    userPoolId,
    describe,
    clientIds,
    state: async () =>
      JSON.parse(JSON.stringify(await Promise.all((await clientIds()).sort().map((clientId) => describe(clientId))))),
  };
}

async function driverFor(pool: MotoPool, settings: Partial<DriverSettings> = {}): Promise<DcrDriver> {
  return completeDriver(
    await createDriverFromEnv(
      { COGNITO_USER_POOL_ID: pool.userPoolId, AWS_REGION: REGION, COGNITO_DEFAULT_SCOPES: 'dcr-api/read' },
      {
        rotationGraceSeconds: settings.rotationGraceSeconds ?? 0,
        idpCallPolicy: policy,
        publicUrl: 'http://localhost',
      },
    ),
  );
}

type MotoHarness = DriverHarness & { pool: MotoPool };

testDriver({
  name: 'cognito at moto',
  // The mark lives in ClientName; the listing gives id and name only.
  listingOmits: ['portalId', 'createdAt'],
  async start(settings) {
    const pool = await newPool();
    const driver = await driverFor(pool, settings);
    return {
      pool,
      driver,
      secretWorks: async (clientId, secret) => (await pool.describe(clientId))?.ClientSecret === secret,
      async ownedClientIds() {
        const named = await Promise.all(
          (await pool.clientIds()).map(async (clientId) => ({ clientId, client: await pool.describe(clientId) })),
        );
        return named
          .filter(({ client }) => client?.ClientName?.startsWith('dcr-bridge,'))
          .map(({ clientId }) => clientId);
      },
      async seedForeignClient() {
        const created = await pool.admin.send(
          new CreateUserPoolClientCommand({
            UserPoolId: pool.userPoolId,
            ClientName: 'Payroll service, made by the pool admin',
            GenerateSecret: true,
            AllowedOAuthFlows: ['client_credentials'],
            AllowedOAuthScopes: ['dcr-api/read'],
            AllowedOAuthFlowsUserPoolClient: true,
          }),
        );
        return { clientId: created.UserPoolClient!.ClientId!, clientSecret: created.UserPoolClient!.ClientSecret! };
      },
      idpState: () => pool.state(),
      async stop() {
        await driver.close();
        pool.admin.destroy();
      },
    } satisfies MotoHarness;
  },
  webMetadata: { grantTypes: ['authorization_code', 'refresh_token'] },
  // The tests that issue a new secret; the unknown-id and ownership tests (which refuse a rotation before any secret
  // call) run.
  skip: (name) =>
    /^rotating |rotate and delete round-trip|new-secret and delete|grace where the driver|^lists the registration secret|^adds a secret|^refuses past the IdP limit|^Konnect: create, add a second/.test(
      name,
    )
      ? NO_SECRET_API
      : undefined,
});

describe('cognito at moto: what the bridge leaves in the pool', () => {
  let pool: MotoPool;
  let driver: DcrDriver;
  before(async () => {
    pool = await newPool();
    driver = await driverFor(pool, { rotationGraceSeconds: 3600 });
  });
  after(async () => {
    await driver?.close();
    pool?.admin.destroy();
  });

  it('a client registered through the bridge is at moto with the metadata sent, and reads back the same', async () => {
    const metadata = webMetadata({
      clientName: 'partner portal app',
      grantTypes: ['authorization_code', 'refresh_token'],
      redirectUris: ['https://partner.example.com/cb', 'http://127.0.0.1:8080/cb'],
      postLogoutRedirectUris: ['https://partner.example.com/bye'],
      scope: 'openid dcr-api/write',
      tokenEndpointAuthMethod: 'client_secret_post',
    });
    const client = await driver.registerClient(metadata, { portal: 'api7' });
    const stored = (await pool.describe(client.clientId))!;
    assert.match(stored.ClientName!, /^dcr-bridge,[A-Za-z0-9_-]{16},pcr,,,partner portal app$/);
    assert.equal(stored.ClientSecret, client.clientSecret);
    assert.deepEqual(stored.AllowedOAuthFlows, ['code']);
    assert.deepEqual(stored.AllowedOAuthScopes, ['openid', 'dcr-api/write']);
    assert.deepEqual(stored.CallbackURLs, metadata.redirectUris);
    assert.deepEqual(stored.LogoutURLs, metadata.postLogoutRedirectUris);
    assert.equal(stored.AllowedOAuthFlowsUserPoolClient, true);
    const read = await driver.getClient(client.clientId);
    assert.equal(read.metadata.clientName, 'partner portal app');
    assert.deepEqual(read.metadata.redirectUris, metadata.redirectUris);
    assert.deepEqual(read.metadata.grantTypes, metadata.grantTypes);
    assert.equal(read.metadata.scope, metadata.scope);
    assert.equal(read.metadata.tokenEndpointAuthMethod, 'client_secret_post');
    const machine = await driver.registerClient(serviceMetadata({ scope: 'dcr-api/read dcr-api/write' }), {});
    const storedMachine = (await pool.describe(machine.clientId))!;
    assert.deepEqual(storedMachine.AllowedOAuthFlows, ['client_credentials']);
    assert.deepEqual(storedMachine.AllowedOAuthScopes, ['dcr-api/read', 'dcr-api/write']);
    await driver.deleteClient(client.clientId);
    await driver.deleteClient(machine.clientId);
    assert.equal(await pool.describe(client.clientId), undefined, 'deleted at moto');
  });

  it("the sweep and the open-registration listing page through the pool and leave the pool's own clients untouched", async () => {
    const already = await pool.clientIds();
    const own = await pool.admin.send(
      new CreateUserPoolClientCommand({
        UserPoolId: pool.userPoolId,
        ClientName: 'admin console',
        GenerateSecret: true,
      }),
    );
    const open = await driver.registerClient(serviceMetadata({ clientName: 'mcp client' }), {
      portal: 'standard',
      registration: { accessTokenHash: 'A'.repeat(43), openRegistration: true },
    });
    // More than one page of ListUserPoolClients (60): the listings follow NextToken.
    const fleet = await Promise.all(
      Array.from({ length: 61 }, (_, index) =>
        driver.registerClient(serviceMetadata({ clientName: `fleet ${index}` }), { portal: 'konnect' }),
      ),
    );
    const before = await pool.state();
    assert.deepEqual(await driver.listOpenRegistrations!(10), [open.clientId]);
    assert.equal(await driver.retireExpiredSecrets(Date.now() + 7200_000), 0, 'no grace was marked: nothing to retire');
    assert.deepEqual(await pool.state(), before, 'the listings changed nothing');
    const ownClient = own.UserPoolClient!;
    assert.equal((await pool.describe(ownClient.ClientId!))!.ClientName, 'admin console');
    await Promise.all([open, ...fleet].map((client) => driver.deleteClient(client.clientId)));
    assert.deepEqual(
      (await pool.clientIds()).sort(),
      [...already, ownClient.ClientId!].sort(),
      "only the pool's own client is left of this test's",
    );
  });
});
