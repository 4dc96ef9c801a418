/**
 * The kit's grace sweep (src/driver/rotation.ts) on an in-memory IdP: the interleavings the emulators cannot time —
 * a rotation landing while the sweep clears a mark, a failure in the middle of a sweep.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HeldSecret } from '../../src/driver/rotation/grace.js';
import { createGraceSweep, type GraceSweepSource } from '../../src/driver/rotation/sweep.js';

const GRACE_SECONDS = 60;
const NOW = 10_000_000;

interface FakeClient {
  id: string;
  secrets: HeldSecret[];
  marked: boolean;
}

/** An IdP that can search the mark, two clients a page; `calls` counts every call the sweep makes. */
function fakeIdp(clients: FakeClient[], hooks: { afterClear?: (client: FakeClient) => void; failPage?: number } = {}) {
  let calls = 0;
  let pages = 0;
  const source: GraceSweepSource<FakeClient> = {
    async page(cursor) {
      calls++;
      pages++;
      if (pages === hooks.failPage) throw new Error('the IdP is down');
      const marked = clients.filter((client) => client.marked);
      const first = Number(cursor ?? 0);
      const page = marked.slice(first, first + 2);
      return {
        clients: page,
        next: () =>
          first + 2 < marked.length ? String(first + page.filter((client) => client.marked).length) : undefined,
      };
    },
    graceEndsAt: (client) => (client.marked ? Number.NaN : undefined),
    secrets: async (client) => {
      calls++;
      return [...client.secrets];
    },
    remove: async (client, secret) => {
      calls++;
      client.secrets = client.secrets.filter((held) => held.id !== secret.id);
    },
    mark: async (client) => {
      calls++;
      client.marked = true;
    },
    clearMark: async (client) => {
      calls++;
      client.marked = false;
      hooks.afterClear?.(client);
    },
    costs: { secrets: 1, freshSecrets: 1, remove: 1, mark: 1, clearMark: 1 },
  };
  return { source, calls: () => calls };
}

const expiredClient = (id: string): FakeClient => ({
  id,
  marked: true,
  secrets: [
    { id: `${id}-old`, createdAt: NOW - 3_600_000 },
    { id: `${id}-new`, createdAt: NOW - (GRACE_SECONDS + 1) * 1000 },
  ],
});

describe('the grace sweep', () => {
  it('marks a client again when a rotation added a secret while the sweep cleared its mark', async () => {
    const client = expiredClient('a');
    const { source } = fakeIdp([client], {
      afterClear: (cleared) => cleared.secrets.push({ id: 'a-newer', createdAt: NOW }),
    });
    assert.equal(await createGraceSweep(GRACE_SECONDS, source)(NOW), 1);
    assert.deepEqual(
      client.secrets.map((secret) => secret.id),
      ['a-new', 'a-newer'],
    );
    assert.equal(client.marked, true, 'the secret in grace is still marked, so a later sweep retires it');
  });

  it('leaves a client whose newest secret is still in its grace marked', async () => {
    const client: FakeClient = {
      id: 'b',
      marked: true,
      secrets: [
        { id: 'b-old', createdAt: NOW - 3_600_000 },
        { id: 'b-new', createdAt: NOW - 1_000 },
      ],
    };
    const { source } = fakeIdp([client]);
    assert.equal(await createGraceSweep(GRACE_SECONDS, source)(NOW), 0);
    assert.equal(client.secrets.length, 2);
    assert.equal(client.marked, true);
  });

  it('starts over after a failed sweep, and finishes every marked client', async () => {
    const clients = ['c', 'd', 'e', 'f', 'g'].map(expiredClient);
    const { source } = fakeIdp(clients, { failPage: 2 });
    const sweep = createGraceSweep(GRACE_SECONDS, source);
    await assert.rejects(sweep(NOW), /the IdP is down/);
    assert.equal(await sweep(NOW), 3, 'the next sweep retires the rest');
    assert.ok(clients.every((client) => !client.marked && client.secrets.length === 1));
  });

  it('never makes more calls than its bound, and the following sweeps finish the work', async () => {
    const clients = Array.from({ length: 7 }, (_, index) => expiredClient(`h${index}`));
    const { source, calls } = fakeIdp(clients);
    const sweep = createGraceSweep(GRACE_SECONDS, source);
    let retired = 0;
    let sweeps = 0;
    for (let unfinished = true; unfinished; sweeps++) {
      unfinished = false;
      const before = calls();
      retired += await sweep(NOW, { maxIdpCalls: 12, onUnfinished: () => (unfinished = true) });
      assert.ok(calls() - before <= 12, `at most 12 calls (made ${calls() - before})`);
    }
    assert.equal(retired, 7);
    assert.ok(sweeps >= 4, `7 clients of 5 calls each need several sweeps of 12 (${sweeps})`);
    assert.ok(clients.every((client) => !client.marked));
  });
});
