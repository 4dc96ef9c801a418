/**
 * The Cognito driver under IdP faults: every AWS call of every operation × every fault kind (the shared matrix, the
 * multiple-credentials calls included), Cognito's throttling errors (`TooManyRequestsException`,
 * `LimitExceededException`, answered `400` with `__type` as AWS does) through the kit's retry layer, the "acted, answer
 * lost" recoveries, and the configuration — through the real AWS SDK over TLS against the Cognito emulator.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { completeDriver } from '../../src/core/driver.js';
import type { ClientMetadata, DcrDriver, RegisteredClientWithSecret } from '../../src/driver/contract.js';
import { ConfigurationError } from '../../src/env.js';
import { BridgeError } from '../../src/errors.js';
import { createCognitoDriver, createDriverFromEnv } from '../../drivers/cognito.js';
import { serviceMetadata, webMetadata } from '../conformance/driver-suite.js';
import { cognitoRoute, startCognitoEmulator, type CognitoEmulator } from '../emulators/cognito.js';
import {
  deletionOperation,
  faultKinds,
  faultMatrix,
  readOperation,
  registrationOperation,
  rotationOperation,
  type MatrixOperation,
  type MatrixTarget,
} from '../support/fault-matrix.js';
import { VirtualClock } from '../support/virtual-clock.js';

const CREATE = cognitoRoute('CreateUserPoolClient');
const DESCRIBE = cognitoRoute('DescribeUserPoolClient');
const UPDATE = cognitoRoute('UpdateUserPoolClient');
const DELETE = cognitoRoute('DeleteUserPoolClient');
const LIST_CLIENTS = cognitoRoute('ListUserPoolClients');
const LIST_SCOPES = cognitoRoute('ListResourceServers');
const ADD_SECRET = cognitoRoute('AddUserPoolClientSecret');
const LIST_SECRETS = cognitoRoute('ListUserPoolClientSecrets');
const DELETE_SECRET = cognitoRoute('DeleteUserPoolClientSecret');

const web = (overrides: Partial<ClientMetadata> = {}) =>
  webMetadata({ grantTypes: ['authorization_code', 'refresh_token'], ...overrides });
const throttled = (type: string) => ({
  status: 400,
  headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': `${type}:` },
  body: { __type: type, message: 'Rate exceeded' },
});

function driverFor(cognito: CognitoEmulator, idpCallPolicy: object): DcrDriver {
  return completeDriver(
    createCognitoDriver({
      userPoolId: cognito.userPoolId,
      region: cognito.region,
      endpoint: cognito.emulator.url,
      credentials: cognito.credentials,
      defaultScopes: ['dcr-api/read'],
      idpCallPolicy,
    }),
  );
}

describe('cognito driver AWS calls under IdP faults', () => {
  let cognito: CognitoEmulator;
  const clock = new VirtualClock();
  const policy = { timeoutMs: 10_000, baseDelayMs: 5, maxDelayMs: 40, budgetMs: 25_000, clock };
  let driver: DcrDriver;
  let calm: DcrDriver;
  before(async () => {
    cognito = await startCognitoEmulator();
    driver = driverFor(cognito, policy);
    calm = driverFor(cognito, { timeoutMs: 5000 });
    await calm.checkReadiness();
    await driver.checkReadiness();
  });
  after(async () => {
    await driver?.close();
    await calm?.close();
    await cognito?.stop();
    cognito?.emulator.assertNoViolations();
  });

  const register = (metadata: ClientMetadata = serviceMetadata()) => calm.registerClient(metadata, { portal: 'api7' });
  const target: MatrixTarget = {
    driver: () => driver,
    register: () => register(),
    cleanUp: (clientId) => calm.deleteClient(clientId),
    idp: () => cognito,
  };

  /**
   * `delete` on its `DeleteUserPoolClient` call: as the shared cell, except that every answer of that POST may be lost
   * after Cognito deleted the client (the shared cell meets lost answers on POSTs only): then the delete may have
   * happened while the caller heard `503`, and its repeat completes.
   */
  const lostAnswerDeletion: MatrixOperation<RegisteredClientWithSecret> = {
    ...deletionOperation(target, [DELETE]),
    async verify(client, { succeeded, lostAnswer }) {
      const owned = () => cognito.ownedClientIds().includes(client.clientId);
      if (succeeded) assert.equal(owned(), false, 'a delete that succeeded removed the client');
      else if (!lostAnswer) assert.equal(owned(), true, 'a failed delete leaves the client');
      await calm.deleteClient(client.clientId);
      assert.equal(owned(), false, 'a repeated delete completes');
    },
  };

  /** `addSecret`: on success two working secrets, the new one among them; on failure the one the caller had, no orphan. */
  const addSecretOperation: MatrixOperation<{ client: RegisteredClientWithSecret; added?: string }> = {
    name: 'add secret',
    routes: [DESCRIBE, LIST_SECRETS, ADD_SECRET],
    prepare: async () => ({ client: await register() }),
    run: async (context) => {
      context.added = (await driver.addSecret!(context.client.clientId)).clientSecret;
    },
    async verify({ client, added }, { succeeded }) {
      assert.equal(await cognito.secretWorks(client.clientId, client.clientSecret), true, 'the first secret works');
      if (succeeded) {
        assert.equal(await cognito.secretWorks(client.clientId, added!), true, 'the added secret works');
        assert.equal(cognito.workingSecretCount(client.clientId), 2);
      } else {
        assert.equal(cognito.workingSecretCount(client.clientId), 1, 'no secret nobody holds is left behind');
      }
      await calm.deleteClient(client.clientId);
    },
  };
  /** `revokeSecret`: on success only the other secret works; on failure both still do, or the revoke is repeatable. */
  const revokeSecretOperation: MatrixOperation<{
    client: RegisteredClientWithSecret;
    second: string;
    firstId: string;
  }> = {
    name: 'revoke secret',
    routes: [DESCRIBE, LIST_SECRETS, DELETE_SECRET],
    prepare: async () => {
      const client = await register();
      const [first] = await calm.listSecrets!(client.clientId);
      const second = await calm.addSecret!(client.clientId);
      return { client, second: second.clientSecret, firstId: first!.secretId };
    },
    run: ({ client, firstId }) => driver.revokeSecret!(client.clientId, firstId),
    async verify({ client, second, firstId }, { succeeded }) {
      assert.equal(await cognito.secretWorks(client.clientId, second), true, 'the other secret always works');
      if (succeeded)
        assert.equal(await cognito.secretWorks(client.clientId, client.clientSecret), false, 'revoked at once');
      await calm.revokeSecret!(client.clientId, firstId);
      assert.equal(cognito.workingSecretCount(client.clientId), 1, 'a repeated revoke completes');
      await calm.deleteClient(client.clientId);
    },
  };

  faultMatrix({
    emulator: () => cognito.emulator,
    clock,
    policy,
    // Every AWS JSON call is a POST; these are the ones that read, replace or delete, which the driver may repeat.
    idempotentRoutes: [DESCRIBE, UPDATE, DELETE, LIST_CLIENTS, LIST_SCOPES, LIST_SECRETS, DELETE_SECRET],
    kinds: faultKinds({ timeoutLatencyMs: 20_000, serviceUnavailableRetryAfter: '0' }),
    operations: [
      registrationOperation(target, [LIST_SCOPES, CREATE], serviceMetadata()),
      readOperation(target, [DESCRIBE]),
      {
        name: 'update',
        routes: [DESCRIBE, UPDATE],
        prepare: async () => register(web()),
        run: async (client: RegisteredClientWithSecret) =>
          driver.updateClient(client.clientId, web({ clientName: 'renamed under faults' })),
        verify: async (client: RegisteredClientWithSecret, { succeeded, lostAnswer }) => {
          const name = cognito.client(client.clientId)!.ClientName;
          // Every AWS call is a POST, so an update's answers can be lost after Cognito replaced the client: then either.
          if (succeeded || !lostAnswer)
            assert.equal(name.endsWith(succeeded ? 'renamed under faults' : 'conformance web client'), true, name);
          assert.equal(
            await cognito.secretWorks(client.clientId, client.clientSecret),
            true,
            'an update keeps the secret',
          );
          await calm.deleteClient(client.clientId);
        },
      },
      deletionOperation(target, [DESCRIBE]),
      lostAnswerDeletion,
      rotationOperation(target, [DESCRIBE, LIST_SECRETS, ADD_SECRET, DELETE_SECRET]),
      addSecretOperation,
      revokeSecretOperation,
      { name: 'readiness', routes: [LIST_CLIENTS], prepare: async () => undefined, run: () => driver.checkReadiness() },
    ],
  });
});

describe('cognito driver: throttling and lost answers', () => {
  let cognito: CognitoEmulator;
  let driver: DcrDriver;
  before(async () => {
    cognito = await startCognitoEmulator();
    // Throttling waits (a 429 without Retry-After waits a second) run on a virtual clock.
    const clock = new VirtualClock();
    cognito.emulator.useClock(clock);
    driver = driverFor(cognito, { timeoutMs: 10_000, baseDelayMs: 5, maxDelayMs: 40, budgetMs: 25_000, clock });
  });
  after(async () => {
    await driver?.close();
    await cognito?.stop();
    cognito?.emulator.assertNoViolations();
  });

  for (const type of ['TooManyRequestsException', 'LimitExceededException']) {
    it(`${type} (AWS answers it 400) is retried, and past the budget is 503 idp_unavailable`, async () => {
      const client = await driver.registerClient(serviceMetadata(), {});
      const seen = cognito.emulator.requestsTo(DESCRIBE).length;
      cognito.emulator.injectFault({ route: DESCRIBE, ...throttled(type) });
      assert.equal((await driver.getClient(client.clientId)).clientId, client.clientId);
      assert.equal(cognito.emulator.requestsTo(DESCRIBE).length, seen + 2, 'the throttled call, then its repeat');
      cognito.emulator.injectFault({ route: DESCRIBE, times: Number.POSITIVE_INFINITY, ...throttled(type) });
      await assert.rejects(driver.getClient(client.clientId), (error: unknown) => {
        assert.ok(error instanceof BridgeError);
        assert.equal(error.status, 503);
        assert.equal(error.code, 'idp_unavailable');
        return true;
      });
      cognito.emulator.clearFaults();
      await driver.deleteClient(client.clientId);
    });
  }

  it('a create whose answer is lost leaves no orphan client (found by the registration id in its name)', async () => {
    const before = new Set(cognito.ownedClientIds());
    cognito.emulator.injectFault({ route: CREATE, drop: 'after-processing' });
    await assert.rejects(driver.registerClient(serviceMetadata(), {}));
    assert.deepEqual(
      cognito.ownedClientIds().filter((clientId) => !before.has(clientId)),
      [],
    );
    assert.ok(cognito.emulator.requestsTo(DELETE).length >= 1, 'the orphan was deleted');
  });

  it('an added secret whose answer is lost is removed: the client keeps only the secret its caller holds', async () => {
    const client = await driver.registerClient(serviceMetadata(), {});
    cognito.emulator.injectFault({ route: ADD_SECRET, drop: 'after-processing' });
    await assert.rejects(driver.addSecret!(client.clientId));
    assert.equal(cognito.workingSecretCount(client.clientId), 1);
    assert.equal(await cognito.secretWorks(client.clientId, client.clientSecret), true);
    await driver.deleteClient(client.clientId);
  });

  it('the bridge never sends an id Cognito could not hold, and never reads a client it did not mark', async () => {
    const before = cognito.emulator.requests.length;
    await assert.rejects(driver.getClient('dcr-0123.456'), (error: unknown) => (error as BridgeError).status === 404);
    assert.equal(cognito.emulator.requests.length, before, 'not sent');
  });
});

describe('cognito driver configuration', () => {
  const base = { COGNITO_USER_POOL_ID: 'eu-west-1_AbCdEf123', AWS_REGION: 'eu-west-1' };
  const settings = { rotationGraceSeconds: 0, publicUrl: 'http://localhost:3000' };
  for (const [name, env, variable] of [
    ['without the pool', { AWS_REGION: 'eu-west-1' }, 'COGNITO_USER_POOL_ID'],
    ['with a pool id that is none', { ...base, COGNITO_USER_POOL_ID: 'pool/../x' }, 'COGNITO_USER_POOL_ID'],
    ['without the region', { COGNITO_USER_POOL_ID: base.COGNITO_USER_POOL_ID }, 'AWS_REGION'],
  ] as const) {
    it(`refuses to start ${name}, naming ${variable}`, async () => {
      await assert.rejects(
        createDriverFromEnv(env, settings),
        (error: unknown) => error instanceof ConfigurationError && error.variable === variable,
      );
    });
  }
});
