import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdminTokenCache } from '../../src/driver/call/token-cache.js';

describe('admin token cache', () => {
  it('1,000 concurrent and sequential callers inside one lifetime cause one token request', async () => {
    let issued = 0;
    const cache = new AdminTokenCache(async () => {
      issued++;
      await new Promise((resolve) => setTimeout(resolve, 5));
      return { accessToken: `token-${issued}`, expiresInSeconds: 300 };
    });
    const concurrent = await Promise.all(Array.from({ length: 500 }, () => cache.get()));
    for (let index = 0; index < 500; index++) assert.equal(await cache.get(), 'token-1');
    assert.ok(concurrent.every((token) => token === 'token-1'));
    assert.equal(issued, 1);
    assert.equal(cache.tokenRequests, 1);
  });

  it('refreshes shortly before expiry, not after', async () => {
    let clock = 0;
    let issued = 0;
    const cache = new AdminTokenCache(async () => ({ accessToken: `token-${++issued}`, expiresInSeconds: 300 }), {
      now: () => clock,
    });
    assert.equal(await cache.get(), 'token-1');
    clock = 269_000;
    assert.equal(await cache.get(), 'token-1', 'still inside lifetime minus the 30 s margin');
    clock = 270_000;
    assert.equal(await cache.get(), 'token-2');
  });

  it('uses at most half of a short lifetime as the margin', async () => {
    let clock = 0;
    let issued = 0;
    const cache = new AdminTokenCache(async () => ({ accessToken: `token-${++issued}`, expiresInSeconds: 10 }), {
      now: () => clock,
    });
    await cache.get();
    clock = 4_999;
    assert.equal(await cache.get(), 'token-1');
    clock = 5_000;
    assert.equal(await cache.get(), 'token-2');
  });

  it('a failed refresh is shared by its waiters and the next call tries again', async () => {
    let attempts = 0;
    const cache = new AdminTokenCache(async () => {
      attempts++;
      if (attempts === 1) throw new Error('token endpoint down');
      return { accessToken: 'token', expiresInSeconds: 300 };
    });
    const results = await Promise.allSettled([cache.get(), cache.get(), cache.get()]);
    assert.ok(results.every((result) => result.status === 'rejected'));
    assert.equal(attempts, 1);
    assert.equal(await cache.get(), 'token');
    assert.equal(attempts, 2);
  });

  it('invalidate forces a new token on the next call', async () => {
    let issued = 0;
    const cache = new AdminTokenCache(async () => ({ accessToken: `token-${++issued}`, expiresInSeconds: 300 }));
    await cache.get();
    cache.invalidate();
    assert.equal(await cache.get(), 'token-2');
  });
});
