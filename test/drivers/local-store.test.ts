/**
 * The local driver's file store: a write is durable before it resolves. The real file operations run, wrapped so
 * the test sees their order.
 */
import assert from 'node:assert/strict';
import { open, readFile, readdir, rename, rm, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { removeFileDurably, writeFileAtomically, type StoreFileSystem } from '../../drivers/local-store.js';

/** The real file system, recording `write`, `sync`, `rename` and `rm` with the base name they applied to. */
function recordingFileSystem(operations: string[]): StoreFileSystem {
  const recordingOpen = (async (path: string, flags?: string, mode?: number) => {
    const handle = await open(path, flags, mode);
    const name = basename(path).replace(/\.[0-9a-f]{12}\.tmp$/, '.tmp');
    return new Proxy(handle, {
      get(target, property, receiver) {
        const member = Reflect.get(target, property, receiver) as unknown;
        if (typeof member !== 'function') return member;
        return (...args: unknown[]) => {
          if (property === 'writeFile' || property === 'sync') operations.push(`${String(property)} ${name}`);
          return (member as (...callArgs: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  }) as StoreFileSystem['open'];
  return {
    open: recordingOpen,
    rename: (async (from: string, to: string) => {
      operations.push(`rename ${basename(to)}`);
      await rename(from, to);
    }) as StoreFileSystem['rename'],
    rm: (async (path: string, options?: { force?: boolean }) => {
      operations.push(`rm ${basename(path)}`);
      await rm(path, options);
    }) as StoreFileSystem['rm'],
  };
}

describe('local store durability', () => {
  const directories: string[] = [];
  after(async () => Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true }))));

  it('fsyncs the temporary file before the rename and the directory after it', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'dcr-store-'));
    directories.push(directory);
    const operations: string[] = [];
    await writeFileAtomically(join(directory, 'client.json'), '{"clientId":"a"}', recordingFileSystem(operations));
    assert.deepEqual(operations, ['writeFile client.json.tmp', 'sync client.json.tmp', 'rename client.json', `sync ${basename(directory)}`]);
    assert.equal(await readFile(join(directory, 'client.json'), 'utf8'), '{"clientId":"a"}');
    assert.deepEqual(await readdir(directory), ['client.json'], 'no temporary file is left');
  });

  it('fsyncs the directory after removing a file', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'dcr-store-'));
    directories.push(directory);
    await writeFileAtomically(join(directory, 'client.json'), '{}');
    const operations: string[] = [];
    await removeFileDurably(join(directory, 'client.json'), recordingFileSystem(operations));
    assert.deepEqual(operations, ['rm client.json', `sync ${basename(directory)}`]);
    assert.deepEqual(await readdir(directory), []);
  });

  it('a failed write removes its temporary file and leaves the previous version', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'dcr-store-'));
    directories.push(directory);
    await writeFileAtomically(join(directory, 'client.json'), 'old');
    const failing = { ...recordingFileSystem([]), rename: (async () => Promise.reject(Object.assign(new Error('disk full'), { code: 'ENOSPC' }))) as StoreFileSystem['rename'] };
    await assert.rejects(writeFileAtomically(join(directory, 'client.json'), 'new', failing), /disk full/);
    assert.equal(await readFile(join(directory, 'client.json'), 'utf8'), 'old');
    assert.deepEqual(await readdir(directory), ['client.json']);
  });
});
