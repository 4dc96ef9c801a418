/**
 * The rfc7591 driver's fault cases against node-oidc-provider (a real RFC 7591/7592 server), through a loopback proxy
 * that loses one answer after the provider acted: a registration whose answer is lost, an update whose answer (with the
 * rotated registration access token) is lost, and a state store that does not answer (503, the IdP never asked).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import request from 'supertest';
import { createRfc7591Driver, LostRegistrationTokenError } from '../../drivers/rfc7591.js';
import { completeDriver } from '../../src/core/driver.js';
import type { DcrDriver } from '../../src/driver/contract.js';
import { openStateStore, StateStoreUnavailableError, type StateStore } from '../../src/driver/index.js';
import { BridgeError } from '../../src/errors.js';
import { rejectsWith, serviceMetadata, webMetadata } from '../conformance/driver-suite.js';
import { startLosingProxy, type LosingProxy } from '../real/losing-proxy.js';
import { startOidcProvider, type OidcProviderServer } from '../rfc7591/oidc-provider.js';
import { createTestApp } from '../support/app.js';
import { VirtualClock } from '../support/virtual-clock.js';

describe('rfc7591 driver under lost answers and an unreachable store (node-oidc-provider)', () => {
  let idp: OidcProviderServer;
  let dir: string;
  const requests: string[] = [];
  let losing: { method: string; path: string } | undefined;
  // The proxy loses one answer in its life: each test starts its own.
  let proxy: LosingProxy;
  before(async () => {
    idp = await startOidcProvider();
    dir = mkdtempSync(join(tmpdir(), 'dcr-rfc7591-faults-'));
  });
  beforeEach(async () => {
    proxy = await startLosingProxy(idp.issuer, (method, path) => {
      requests.push(`${method} ${path}`);
      return losing !== undefined && method === losing.method && path.startsWith(losing.path);
    });
  });
  afterEach(async () => {
    await proxy?.close();
  });
  after(async () => {
    await idp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const driverOn = (store: StateStore, warnings: string[] = []): DcrDriver =>
    completeDriver(
      createRfc7591Driver({
        registrationEndpoint: `${proxy.url}/reg`,
        initialAccessToken: { kind: 'static', token: idp.initialAccessToken },
        store,
        // One attempt per call, on a clock nothing advances: what a lost answer does, not how retries wait.
        idpCallPolicy: { timeoutMs: 30_000, budgetMs: 60_000, maxAttempts: 1, clock: new VirtualClock() },
        warn: (message) => warnings.push(message),
      }),
    );
  /** Sends the client's management calls through the proxy (the provider names its own address in the answers). */
  const throughProxy = (store: StateStore, clientId: string) =>
    store.withRegistration(`${proxy.url}/reg`, clientId, async (session) =>
      session.replace({
        ...session.current!,
        registrationClientUri: session.current!.registrationClientUri.replace(idp.issuer, proxy.url),
      }),
    );

  it('a registration whose answer is lost keeps nothing in the store and is a 5xx (the orphan the docs tell of)', async () => {
    const store = await openStateStore({ dataDir: join(dir, 'register') });
    const driver = driverOn(store);
    losing = { method: 'POST', path: '/reg' };
    try {
      await assert.rejects(driver.registerClient(serviceMetadata(), { portal: 'api7' }), (error: unknown) => {
        assert.ok(error instanceof BridgeError && error.status >= 500, String(error));
        return true;
      });
      assert.deepEqual(
        proxy.answers().map((answer) => answer.status),
        [201],
        'the provider made the client; its answer was lost',
      );
      assert.deepEqual(await store.list(`${proxy.url}/reg`, 10), [], 'nothing half-kept');
      losing = undefined;
      const next = await driver.registerClient(serviceMetadata(), { portal: 'api7' });
      assert.equal(await idp.secretWorks(next.clientId, next.clientSecret), true, 'the next registration works');
    } finally {
      losing = undefined;
      await driver.close();
      await store.close();
    }
  });

  it('an update whose answer (with the rotated token) is lost: the client answers 409 naming the lost token, and a delete forgets it with a warning', async () => {
    const store = await openStateStore({ dataDir: join(dir, 'update') });
    const warnings: string[] = [];
    const driver = driverOn(store, warnings);
    try {
      const client = await driver.registerClient(webMetadata(), { portal: 'api7' });
      await throughProxy(store, client.clientId);
      losing = { method: 'PUT', path: '/reg/' };
      await assert.rejects(driver.updateClient(client.clientId, webMetadata({ clientName: 'lost' })));
      losing = undefined;
      assert.equal(proxy.answers().at(-1)?.status, 200, 'the provider updated the client and rotated its token');
      await rejectsWith(driver.getClient(client.clientId), LostRegistrationTokenError);
      await assert.rejects(driver.getClient(client.clientId), (error: unknown) => {
        assert.equal((error as BridgeError).status, 409);
        assert.match((error as Error).message, /docs\/drivers\/rfc7591\.md/);
        return true;
      });
      await driver.deleteClient(client.clientId);
      assert.equal(warnings.length, 1, 'the operator is told');
      assert.deepEqual(await store.list(`${proxy.url}/reg`, 10), []);
    } finally {
      losing = undefined;
      await driver.close();
      await store.close();
    }
  });

  it('a store that does not answer is 503 and the IdP is never asked: nothing half-done', async () => {
    const store = await openStateStore({ dataDir: join(dir, 'unreachable') });
    const driver = driverOn(store);
    const client = await driver.registerClient(serviceMetadata(), { portal: 'api7' });
    await throughProxy(store, client.clientId);
    await store.close();
    const before = requests.length;
    try {
      for (const attempt of [
        () => driver.registerClient(serviceMetadata(), { portal: 'api7' }),
        () => driver.getClient(client.clientId),
        () => driver.updateClient(client.clientId, serviceMetadata({ clientName: 'never' })),
        () => driver.rotateSecret(client.clientId),
        () => driver.deleteClient(client.clientId),
      ]) {
        await assert.rejects(attempt(), (error: unknown) => {
          assert.ok(error instanceof StateStoreUnavailableError, String(error));
          assert.equal(error.status, 503);
          return true;
        });
      }
      // Through both portal dialects: a 503 that names the state store, and still no request at the IdP.
      const bridge = await createTestApp(driver);
      try {
        const api7 = await request(bridge.app)
          .post('/clients')
          .set('X-API-Key', bridge.apiKey)
          .send({ client_name: 'x' });
        assert.equal(api7.status, 503);
        assert.match(api7.body.error_description as string, /state store/);
        const konnect = await request(bridge.app)
          .post(`/${client.clientId}/new-secret`)
          .set('X-API-Key', bridge.apiKey)
          .set('Content-Type', 'application/json');
        assert.equal(konnect.status, 503);
      } finally {
        await bridge.close();
      }
      assert.equal(requests.length, before, 'no request reached the IdP');
      assert.equal(await idp.secretWorks(client.clientId, client.clientSecret), true);
    } finally {
      await driver.close();
    }
  });
});
