/**
 * The one wrapper: every operation of the contract reaches the driver through every observer the bridge starts with
 * (metrics, tracing, shutdown tracking), optional ones included; an optional operation a driver lacks stays absent;
 * the kit's defaults fill what a driver leaves out.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { closeApp, createBridge } from '../../src/app.js';
import { completeDriver, wrapDriver, type DriverObserver } from '../../src/core/driver.js';
import { driverOperations, type DriverImplementation, type DriverOperation } from '../../src/driver/contract.js';
import { ClientNotFoundError, IdpUnavailableError, InvalidClientMetadataError } from '../../src/errors.js';
import { createLogger } from '../../src/logging.js';
import { createMetrics } from '../../src/metrics.js';
import { trackDriverCalls } from '../../src/shutdown.js';
import { startTracing, type Tracing } from '../../src/tracing.js';
import { testConfig } from '../support/app.js';

const client = {
  clientId: 'c1',
  clientIdIssuedAt: 1,
  clientSecretExpiresAt: 0,
  metadata: {
    redirectUris: [],
    grantTypes: ['client_credentials'],
    responseTypes: [],
    tokenEndpointAuthMethod: 'client_secret_basic',
  },
};

/** A driver with every operation of the contract, each recording its call and answering what its type wants. */
function recordingDriver(calls: DriverOperation[]): DriverImplementation {
  const answers: Record<DriverOperation, unknown> = {
    registerClient: { ...client, clientSecret: 's' },
    getClient: client,
    updateClient: client,
    deleteClient: undefined,
    rotateSecret: { clientId: 'c1', clientSecret: 's2', clientSecretExpiresAt: 0 },
    listSecrets: [{ secretId: 'k1', clientId: 'c1', status: 'ACTIVE' }],
    addSecret: { secretId: 'k2', clientId: 'c1', status: 'ACTIVE', clientSecret: 's3' },
    revokeSecret: undefined,
    retireExpiredSecrets: 7,
    listOpenRegistrations: ['c1'],
    listClients: { clients: [{ clientId: 'c1' }] },
    fetchDiscoveryDocument: { issuer: 'https://idp.example.com' },
    checkReadiness: undefined,
    grantApiAccess: undefined,
    revokeApiAccess: undefined,
    close: undefined,
  };
  const driver: Record<string, unknown> = {
    name: 'recording',
    capabilities: { rotationGrace: true, apiAccessGrants: true },
  };
  for (const operation of driverOperations) {
    driver[operation] = async () => {
      calls.push(operation);
      return answers[operation];
    };
  }
  return driver as unknown as DriverImplementation;
}

const argumentsOf: Record<DriverOperation, unknown[]> = {
  registerClient: [client.metadata, {}],
  getClient: ['c1'],
  updateClient: ['c1', client.metadata],
  deleteClient: ['c1'],
  rotateSecret: ['c1'],
  listSecrets: ['c1'],
  addSecret: ['c1'],
  revokeSecret: ['c1', 'k1'],
  retireExpiredSecrets: [Date.now()],
  listOpenRegistrations: [10],
  listClients: [{ limit: 10 }],
  fetchDiscoveryDocument: [],
  checkReadiness: [],
  grantApiAccess: ['c1', {}],
  revokeApiAccess: ['c1', {}],
  close: [],
};

describe('the driver the bridge serves', () => {
  let tracing: Tracing;
  const exporter = new InMemorySpanExporter();
  before(async () => {
    tracing = await startTracing({ spanProcessor: new SimpleSpanProcessor(exporter) });
  });
  after(() => tracing.shutdown());

  it('passes every operation of the contract to the driver, through metrics, tracing and shutdown tracking', async () => {
    const calls: DriverOperation[] = [];
    const metrics = createMetrics();
    const tracker = trackDriverCalls(createLogger({ level: 'silent' }));
    const { app, driver } = createBridge(testConfig(), recordingDriver(calls), {
      logger: createLogger({ level: 'silent' }),
      metrics,
      tracing,
      driverObservers: [tracker.observer],
    });
    for (const operation of driverOperations) {
      const call = driver[operation] as ((...args: unknown[]) => Promise<unknown>) | undefined;
      assert.ok(call, `${operation} reaches the routes`);
      await call(...argumentsOf[operation]);
    }
    assert.deepEqual(calls, [...driverOperations]);
    // Each operation's label children exist from the wrap on; a call counts one success.
    const counted = (await metrics.driverOperations.get()).values
      .filter((value) => value.labels.outcome === 'success' && value.value === 1)
      .map((value) => value.labels.operation);
    assert.deepEqual([...counted].sort(), [...driverOperations].sort());
    const spans = exporter.getFinishedSpans().map((span) => span.name);
    for (const operation of driverOperations)
      assert.ok(spans.includes(`recording ${operation}`), `a span for ${operation}`);
    await closeApp(app);
  });

  it('leaves an optional operation the driver lacks absent, so the routes can tell', () => {
    const implementation = recordingDriver([]);
    delete (implementation as Partial<DriverImplementation>).listOpenRegistrations;
    delete (implementation as Partial<DriverImplementation>).fetchDiscoveryDocument;
    const driver = wrapDriver(implementation, [{ observe: () => (proceed) => proceed() }]);
    assert.equal(driver.listOpenRegistrations, undefined);
    assert.equal(driver.fetchDiscoveryDocument, undefined);
    assert.equal(typeof driver.getClient, 'function');
  });

  it('runs the observers in order, the first outermost, each around the one call', async () => {
    const seen: string[] = [];
    const observer = (name: string): DriverObserver => ({
      observe: (_driver, operation) => async (proceed) => {
        seen.push(`${name} before ${operation}`);
        const result = await proceed();
        seen.push(`${name} after ${operation}`);
        return result;
      },
    });
    const driver = wrapDriver(recordingDriver([]), [observer('outer'), observer('inner')]);
    assert.deepEqual(await driver.listOpenRegistrations!(5), ['c1']);
    assert.deepEqual(seen, [
      'outer before listOpenRegistrations',
      'inner before listOpenRegistrations',
      'inner after listOpenRegistrations',
      'outer after listOpenRegistrations',
    ]);
  });

  it('fills what a driver leaves out with the kit defaults: no sweep, a no-op close, grants that only gate ownership', async () => {
    const gets: string[] = [];
    const driver = completeDriver({
      name: 'minimal',
      capabilities: { rotationGrace: false, apiAccessGrants: false },
      registerClient: async () => ({ ...client, clientSecret: 's' }),
      getClient: async (clientId) => {
        gets.push(clientId);
        if (clientId !== 'c1') throw new ClientNotFoundError();
        return client;
      },
      updateClient: async () => client,
      deleteClient: async () => undefined,
      rotateSecret: async () => ({ clientId: 'c1', clientSecret: 's2', clientSecretExpiresAt: 0 }),
      checkReadiness: async () => undefined,
    });
    assert.equal(await driver.retireExpiredSecrets(Date.now()), 0);
    await driver.close();
    await driver.grantApiAccess('c1', {});
    await assert.rejects(driver.revokeApiAccess('foreign', {}), ClientNotFoundError);
    assert.deepEqual(gets, ['c1', 'foreign']);
  });
});

describe('secret changes one at a time per client (issue 23, item 6)', () => {
  it('20 concurrent rotations of one client never overlap, and the answer given last holds the working secret', async () => {
    let running = 0;
    let mostAtOnce = 0;
    let current = 's0';
    let issued = 0;
    const gates: (() => void)[] = [];
    const implementation: DriverImplementation = {
      ...recordingDriver([]),
      // An IdP that takes its time: each rotation waits for the test, and replaces the one secret the client has.
      rotateSecret: async (clientId: string) => {
        const mine = clientId === 'c1';
        if (mine) running += 1;
        mostAtOnce = Math.max(mostAtOnce, running);
        await new Promise<void>((resolve) => gates.push(resolve));
        if (!mine) return { clientId, clientSecret: 'other', clientSecretExpiresAt: 0 };
        issued += 1;
        current = `s${issued}`;
        running -= 1;
        return { clientId, clientSecret: current, clientSecretExpiresAt: 0 };
      },
    };
    const driver = wrapDriver(implementation, []);
    const answeredInOrder: string[] = [];
    const rotations = Array.from({ length: 20 }, () =>
      driver.rotateSecret('c1').then((rotated) => void answeredInOrder.push(rotated.clientSecret)),
    );
    const other = driver.rotateSecret('c2');
    while (answeredInOrder.length < 20) {
      await new Promise((resolve) => setImmediate(resolve));
      for (const open of gates.splice(0)) open();
    }
    await Promise.all([...rotations, other]);
    assert.equal(mostAtOnce, 1, 'one rotation of c1 at a time');
    assert.equal(answeredInOrder.at(-1), current, 'the last answer holds the secret that works');
  });

  it('a failed rotation does not stop the next one', async () => {
    let calls = 0;
    const driver = wrapDriver(
      {
        ...recordingDriver([]),
        rotateSecret: async (clientId: string) => {
          calls += 1;
          if (calls === 1) throw new ClientNotFoundError();
          return { clientId, clientSecret: 'next', clientSecretExpiresAt: 0 };
        },
      },
      [],
    );
    const [first, second] = await Promise.allSettled([driver.rotateSecret('c1'), driver.rotateSecret('c1')]);
    assert.equal(first.status, 'rejected');
    assert.equal(second.status === 'fulfilled' && second.value.clientSecret, 'next');
  });
});

describe('a refused rotation is retryable (issue 23, item 6)', () => {
  it("an IdP's metadata refusal of a rotation is 503 with Retry-After, not 400", async () => {
    const driver = wrapDriver(
      {
        ...recordingDriver([]),
        rotateSecret: async () => {
          throw new InvalidClientMetadataError('The identity provider rejected the client metadata.');
        },
      },
      [],
    );
    await assert.rejects(
      driver.rotateSecret('c1'),
      (error: unknown) => error instanceof IdpUnavailableError && error.status === 503 && error.retryAfterSeconds === 1,
    );
  });
});
