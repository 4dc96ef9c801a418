/**
 * Discovery for the standard dialect: the cache (TTL, background refresh, stale on failure — with an injected clock)
 * and what the local driver's bridge serves, including the issuer-path forms a client that checks `issuer` uses.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DiscoveryCache, type DiscoveryDocument } from '../../src/discovery.js';
import { IdpUnavailableError } from '../../src/errors.js';
import { call, localDriver, startStandardBridge, type StandardBridge } from './support.js';

function controlledFetch() {
  const state = { calls: 0, fail: false, issuer: 'https://idp.example.com' };
  const pending: Array<() => void> = [];
  return {
    state,
    pending,
    fetchDocument: async (): Promise<DiscoveryDocument> => {
      state.calls++;
      const version = state.calls;
      await new Promise<void>((resolve) => pending.push(resolve));
      if (state.fail) throw new Error('idp down');
      return { issuer: state.issuer, version };
    },
    releaseAll() {
      for (const release of pending.splice(0)) release();
    },
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('the discovery cache', () => {
  it('fetches once for concurrent first callers, then serves from memory within the TTL', async () => {
    let now = 0;
    const idp = controlledFetch();
    const cache = new DiscoveryCache({ fetchDocument: idp.fetchDocument, ttlMs: 60_000, now: () => now });
    const first = Promise.all([cache.get(), cache.get(), cache.get()]);
    await settle();
    idp.releaseAll();
    const documents = await first;
    assert.equal(idp.state.calls, 1);
    assert.deepEqual(
      documents.map((document) => document.version),
      [1, 1, 1],
    );
    now = 59_999;
    assert.equal((await cache.get()).version, 1);
    assert.equal(idp.state.calls, 1, 'no fetch inside the TTL');
  });

  it('after the TTL answers the stale document at once and refreshes it in the background, once', async () => {
    let now = 0;
    const idp = controlledFetch();
    const cache = new DiscoveryCache({ fetchDocument: idp.fetchDocument, ttlMs: 1_000, now: () => now });
    const first = cache.get();
    await settle();
    idp.releaseAll();
    await first;
    now = 1_000;
    assert.equal((await cache.get()).version, 1, 'stale, without waiting for the IdP');
    assert.equal((await cache.get()).version, 1);
    assert.equal(idp.state.calls, 2, 'one background refresh for both callers');
    idp.releaseAll();
    await settle();
    assert.equal((await cache.get()).version, 2, 'the refreshed document replaces the stale one');
  });

  it('keeps serving the stale document while the IdP fails, and says so', async () => {
    let now = 0;
    const idp = controlledFetch();
    const failures: unknown[] = [];
    const cache = new DiscoveryCache({
      fetchDocument: idp.fetchDocument,
      ttlMs: 1_000,
      now: () => now,
      onRefreshFailed: (error) => failures.push(error),
    });
    const first = cache.get();
    await settle();
    idp.releaseAll();
    await first;
    idp.state.fail = true;
    now = 5_000;
    assert.equal((await cache.get()).version, 1);
    idp.releaseAll();
    await settle();
    assert.equal(failures.length, 1);
    assert.ok(failures[0] instanceof IdpUnavailableError);
    assert.equal((await cache.get()).version, 1, 'still served after the failed refresh');
  });

  it('with nothing cached, a failure is answered again for five seconds without asking the IdP, then retried', async () => {
    let now = 0;
    const idp = controlledFetch();
    idp.state.fail = true;
    const cache = new DiscoveryCache({ fetchDocument: idp.fetchDocument, ttlMs: 60_000, now: () => now });
    const failing = cache.get();
    await settle();
    idp.releaseAll();
    await assert.rejects(failing, IdpUnavailableError);
    now = 4_999;
    await assert.rejects(cache.get(), IdpUnavailableError);
    assert.equal(idp.state.calls, 1, 'the failing IdP was not asked again');
    now = 5_000;
    idp.state.fail = false;
    const retried = cache.get();
    await settle();
    idp.releaseAll();
    assert.equal((await retried).version, 2);
  });

  it('with nothing cached, an IdP failure or a document without issuer is idp_unavailable', async () => {
    const idp = controlledFetch();
    idp.state.fail = true;
    const cache = new DiscoveryCache({ fetchDocument: idp.fetchDocument, ttlMs: 1_000 });
    const failing = cache.get();
    await settle();
    idp.releaseAll();
    await assert.rejects(failing, IdpUnavailableError);
    const noIssuer = new DiscoveryCache({
      fetchDocument: async () => ({ token_endpoint: 'https://idp.example.com/token' }),
      ttlMs: 1_000,
    });
    await assert.rejects(noIssuer.get(), IdpUnavailableError);
  });
});

describe('discovery in front of the local IdP', () => {
  let bridge: StandardBridge;
  before(async () => {
    bridge = await startStandardBridge(localDriver);
  });
  after(() => bridge.stop());

  it("is the embedded provider's own document with the bridge's registration endpoint", async () => {
    const served = await call(bridge.url, 'GET', '/.well-known/openid-configuration');
    assert.equal(served.status, 200);
    assert.equal(served.body.issuer, `${bridge.url}/local-idp`);
    assert.equal(served.body.token_endpoint, `${bridge.url}/local-idp/token`);
    assert.equal(served.body.jwks_uri, `${bridge.url}/local-idp/jwks`);
    assert.equal(served.body.registration_endpoint, `${bridge.url}/register`);
    const rfc8414 = await call(bridge.url, 'GET', '/.well-known/oauth-authorization-server');
    assert.deepEqual(rfc8414.body, served.body);
  });

  it('is also served where a client that checks issuer looks: {issuer}/.well-known/openid-configuration and the RFC 8414 path-inserted URL', async () => {
    const root = await call(bridge.url, 'GET', '/.well-known/openid-configuration');
    const appended = await call(bridge.url, 'GET', '/local-idp/.well-known/openid-configuration');
    assert.equal(appended.status, 200);
    assert.deepEqual(appended.body, root.body);
    const inserted = await call(bridge.url, 'GET', '/.well-known/oauth-authorization-server/local-idp');
    assert.equal(inserted.status, 200);
    assert.deepEqual(inserted.body, root.body);
    assert.notEqual((await call(bridge.url, 'GET', '/.well-known/oauth-authorization-server/elsewhere')).status, 200);
  });
});
