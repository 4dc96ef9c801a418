/**
 * The state store on a real PostgreSQL (Debian's package, started on loopback by test/fleet/postgres-server.ts, stopped
 * by PID) behind the rfc7591 driver and node-oidc-provider, which rotates a client's registration access token on every
 * update: two replicas (two drivers, two stores, one database) updating the same client at once keep it manageable; a
 * restarted replica manages the clients registered before; a database that stops answering is 503 with the IdP never
 * asked.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createRfc7591Driver } from '../../drivers/rfc7591.js';
import { completeDriver } from '../../src/core/driver.js';
import type { DcrDriver } from '../../src/driver/contract.js';
import { openStateStore, StateStoreUnavailableError, type StateStore } from '../../src/driver/index.js';
import { webMetadata } from '../conformance/driver-suite.js';
import { startPostgresServer, type PostgresServer } from '../fleet/postgres-server.js';
import { startOidcProvider, type OidcProviderServer } from '../rfc7591/oidc-provider.js';
import { VirtualClock } from '../support/virtual-clock.js';

describe('rfc7591 driver on a PostgreSQL state store (node-oidc-provider)', () => {
  let idp: OidcProviderServer;
  let database: PostgresServer;
  const opened: Array<{ driver: DcrDriver; store: StateStore }> = [];
  before(async () => {
    [idp, database] = await Promise.all([startOidcProvider(), startPostgresServer()]);
  });
  after(async () => {
    for (const { driver, store } of opened) await Promise.all([driver.close(), store.close().catch(() => undefined)]);
    await Promise.all([idp?.stop(), database?.stop()]);
  });

  /** One replica: its own store (pool) and driver on the shared database. */
  const replica = async (url = database.url) => {
    const store = await openStateStore({ url, dataDir: '/nonexistent' });
    const driver = completeDriver(
      createRfc7591Driver({
        registrationEndpoint: idp.registrationEndpoint,
        initialAccessToken: { kind: 'static', token: idp.initialAccessToken },
        store,
        idpCallPolicy: { timeoutMs: 30_000, budgetMs: 60_000, maxAttempts: 1, clock: new VirtualClock() },
      }),
    );
    opened.push({ driver, store });
    return { driver, store };
  };

  it('two replicas starting together migrate once, to the schema version this bridge knows', async () => {
    await Promise.all([replica(), replica()]);
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ version: number }>('SELECT version FROM dcr_bridge_schema');
      assert.deepEqual(rows, [{ version: 1 }]);
    } finally {
      await client.end();
    }
  });

  it('two replicas updating the same client at once: every update lands and the client stays manageable', async () => {
    const [a, b] = await Promise.all([replica(), replica()]);
    const client = await a.driver.registerClient(webMetadata(), { portal: 'konnect' });
    const updates = Array.from({ length: 12 }, (_, index) =>
      (index % 2 === 0 ? a : b).driver.updateClient(client.clientId, webMetadata({ clientName: `update ${index}` })),
    );
    const results = await Promise.allSettled(updates);
    assert.deepEqual(
      results.filter((result) => result.status === 'rejected').map((result) => String(result.reason)),
      [],
      'no replica spent a token the other had rotated',
    );
    for (const { driver } of [a, b])
      assert.match((await driver.getClient(client.clientId)).metadata.clientName!, /^update \d+$/);
    assert.equal(await idp.secretWorks(client.clientId, client.clientSecret), true);
    await b.driver.deleteClient(client.clientId);
    assert.equal(await idp.secretWorks(client.clientId, client.clientSecret), false);
  });

  it('a replica started later (a restart) manages the clients registered before', async () => {
    const first = await replica();
    const client = await first.driver.registerClient(webMetadata(), { portal: 'api7' });
    await first.driver.updateClient(client.clientId, webMetadata({ clientName: 'before' }));
    await first.driver.close();
    await first.store.close();
    opened.splice(opened.indexOf(first), 1);
    const restarted = await replica();
    assert.equal((await restarted.driver.getClient(client.clientId)).metadata.clientName, 'before');
    await restarted.driver.updateClient(client.clientId, webMetadata({ clientName: 'after' }));
    // The operator's list, one client a page (the store read with LIMIT and OFFSET): every client once, this one named.
    const listed: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await restarted.driver.listClients!({ limit: 1, ...(cursor ? { cursor } : {}) });
      listed.push(...page.clients.map((summary) => `${summary.clientId} ${summary.clientName ?? ''}`));
      cursor = page.next;
    } while (cursor);
    assert.equal(new Set(listed).size, listed.length, 'no client listed twice');
    assert.ok(listed.includes(`${client.clientId} after`), 'the client is listed under its new name');
    const other = await restarted.driver.registerClient(webMetadata(), { portal: 'api7' });
    const whole = (await restarted.store.list(idp.registrationEndpoint, 1_000)).map((entry) => entry.clientId);
    assert.ok(whole.length >= 2);
    const paged: string[] = [];
    for (let offset = 0; offset < whole.length; offset++)
      paged.push(...(await restarted.store.list(idp.registrationEndpoint, 1, offset)).map((entry) => entry.clientId));
    assert.deepEqual(paged, whole, 'the pages by offset make the whole list, once each');
    await restarted.driver.deleteClient(other.clientId);
    await restarted.driver.deleteClient(client.clientId);
  });

  it('a database that stops answering is 503 and the IdP is never asked; the start then refuses it with DCR_STATE_URL', async () => {
    const own = await startPostgresServer();
    try {
      const { driver } = await replica(own.url);
      const client = await driver.registerClient(webMetadata(), { portal: 'api7' });
      await own.stop();
      for (const attempt of [
        () => driver.registerClient(webMetadata(), { portal: 'api7' }),
        () => driver.updateClient(client.clientId, webMetadata({ clientName: 'never' })),
        () => driver.deleteClient(client.clientId),
      ]) {
        await assert.rejects(attempt(), (error: unknown) => {
          assert.ok(error instanceof StateStoreUnavailableError, String(error));
          return true;
        });
      }
      assert.equal(await idp.secretWorks(client.clientId, client.clientSecret), true, 'not deleted half-way');
      await assert.rejects(
        openStateStore({ url: own.url, dataDir: '/nonexistent' }),
        /^ConfigurationError|DCR_STATE_URL/,
      );
    } finally {
      await own.stop();
    }
  });
});
