/**
 * The SQLite state store on its own: versioned migrations (a store newer than the bridge is refused at the start, never
 * read as empty), durability across a reopen, per-client locks, and the start-time rule: neither better-sqlite3 nor pg
 * loads until the rfc7591 driver opens its store, and only the one the URL names.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import { openStateStore } from '../../src/driver/index.js';
import { root } from '../fleet/bridge-process.js';

const dir = mkdtempSync(join(tmpdir(), 'dcr-state-'));
const registration = (clientId: string, token: string) => ({
  clientId,
  registrationClientUri: `https://idp.example.com/reg/${clientId}`,
  registrationAccessToken: token,
  data: { mark: { managed: 'true' } },
});

describe('the SQLite state store', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps what it was told across a reopen, and a replaced token replaces the old one', async () => {
    const store = await openStateStore({ dataDir: join(dir, 'a') });
    await store.insert('ns', registration('c1', 'token-1'));
    await store.withRegistration('ns', 'c1', (session) => session.replace(registration('c1', 'token-2')));
    await store.close();
    const reopened = await openStateStore({ dataDir: join(dir, 'a') });
    try {
      const current = await reopened.withRegistration('ns', 'c1', async (session) => session.current);
      assert.equal(current?.registrationAccessToken, 'token-2');
      assert.equal(await reopened.withRegistration('other-ns', 'c1', async (session) => session.current), undefined);
    } finally {
      await reopened.close();
    }
  });

  it('lists a namespace oldest first a page at a time: the pages by offset make the whole list, once each', async () => {
    const store = await openStateStore({ dataDir: join(dir, 'paged') });
    try {
      for (const id of ['p1', 'p2', 'p3', 'p4', 'p5']) await store.insert('paged', registration(id, `token-${id}`));
      await store.insert('elsewhere', registration('x1', 'token-x1'));
      const whole = (await store.list('paged', 10)).map((entry) => entry.clientId);
      assert.deepEqual([...whole].sort(), ['p1', 'p2', 'p3', 'p4', 'p5']);
      const paged = [];
      for (const offset of [0, 2, 4])
        paged.push(...(await store.list('paged', 2, offset)).map((entry) => entry.clientId));
      assert.deepEqual(paged, whole);
      assert.deepEqual(await store.list('paged', 2, 5), []);
    } finally {
      await store.close();
    }
  });

  it('runs the work on one client one at a time', async () => {
    const store = await openStateStore({ dataDir: join(dir, 'b') });
    await store.insert('ns', registration('c1', 'token-0'));
    const order: string[] = [];
    try {
      await Promise.all(
        [1, 2, 3].map((n) =>
          store.withRegistration('ns', 'c1', async (session) => {
            order.push(`start ${session.current!.registrationAccessToken}`);
            await new Promise((resolve) => setImmediate(resolve));
            await session.replace(registration('c1', `token-${n}`));
            order.push(`end token-${n}`);
          }),
        ),
      );
      assert.deepEqual(order, [
        'start token-0',
        'end token-1',
        'start token-1',
        'end token-2',
        'start token-2',
        'end token-3',
      ]);
    } finally {
      await store.close();
    }
  });

  it('refuses a store whose schema is newer than this bridge knows, in one line naming DCR_STATE_URL', async () => {
    const path = join(dir, 'newer', 'state.sqlite');
    await (await openStateStore({ url: `sqlite:${path}`, dataDir: dir })).close();
    const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
    const db = new Database(path);
    db.prepare('UPDATE dcr_bridge_schema SET version = 99').run();
    db.close();
    await assert.rejects(openStateStore({ url: `sqlite:${path}`, dataDir: dir }), (error: unknown) => {
      assert.match((error as Error).message, /^DCR_STATE_URL names a state store the bridge cannot open .*version 99/);
      assert.equal((error as Error).message.includes('\n'), false);
      return true;
    });
  });

  it('loads better-sqlite3 and pg only when the rfc7591 driver opens its store, and only the one it names', () => {
    const script = `
      const { createRequire } = await import('node:module');
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).filter((path) => /node_modules\\/(better-sqlite3|pg)\\//.test(path)).map((path) => path.includes('better-sqlite3') ? 'better-sqlite3' : 'pg');
      const kit = await import('./src/driver/index.ts');
      await import('./drivers/rfc7591.ts');
      const before = [...new Set(loaded())];
      const store = await kit.openStateStore({ url: 'sqlite::memory:', dataDir: '.' });
      await store.close();
      console.log(JSON.stringify({ before, after: [...new Set(loaded())] }));
    `;
    const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: root,
      encoding: 'utf8',
    });
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout.trim().split('\n').at(-1)!), { before: [], after: ['better-sqlite3'] });
  });
});
