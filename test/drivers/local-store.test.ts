/**
 * The local driver's file store: a write is durable before it resolves. The real file operations run, wrapped so
 * the test sees their order.
 */
import assert from 'node:assert/strict';
import { openSync, type PathLike } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { GroupCommit, nodeCommitFileSystem, type CommitFileSystem } from '../../drivers/local/commit.js';
import {
  ClientFileStore,
  removeFileDurably,
  writeFileAtomically,
  type DamagedClientFile,
  type StoreFileSystem,
} from '../../drivers/local/store.js';

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
    assert.deepEqual(operations, [
      'writeFile client.json.tmp',
      'sync client.json.tmp',
      'rename client.json',
      `sync ${basename(directory)}`,
    ]);
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
    const failing = {
      ...recordingFileSystem([]),
      rename: (async () =>
        Promise.reject(Object.assign(new Error('disk full'), { code: 'ENOSPC' }))) as StoreFileSystem['rename'],
    };
    await assert.rejects(writeFileAtomically(join(directory, 'client.json'), 'new', failing), /disk full/);
    assert.equal(await readFile(join(directory, 'client.json'), 'utf8'), 'old');
    assert.deepEqual(await readdir(directory), ['client.json']);
  });
});

/** The real synchronous calls, recording each with the base name it applied to; a held `fsync` waits for `release`. */
function recordingCommitFileSystem(
  operations: string[],
  names: Map<number, string>,
  hold?: { directoryFd: number; release?: () => void },
): CommitFileSystem {
  const name = (path: PathLike) => basename(String(path)).replace(/\.[0-9a-f]{12}\.tmp$/, '.tmp');
  return {
    ...nodeCommitFileSystem,
    openSync: ((path: PathLike, flags: string, mode: number) => {
      const fd = nodeCommitFileSystem.openSync(path, flags, mode);
      names.set(fd, name(path));
      return fd;
    }) as CommitFileSystem['openSync'],
    writeSync: (fd, text) => {
      operations.push(`write ${names.get(fd)}`);
      return nodeCommitFileSystem.writeSync(fd, text);
    },
    renameSync: (from, to) => {
      operations.push(`rename ${name(to)}`);
      nodeCommitFileSystem.renameSync(from, to);
    },
    rename: ((from: PathLike, to: PathLike, callback: (error: NodeJS.ErrnoException | null) => void) => {
      operations.push(`rename ${name(to)}`);
      nodeCommitFileSystem.rename(from, to, callback);
    }) as CommitFileSystem['rename'],
    unlink: ((path: PathLike, callback: (error: NodeJS.ErrnoException | null) => void) => {
      operations.push(`rm ${name(path)}`);
      nodeCommitFileSystem.unlink(path, callback);
    }) as CommitFileSystem['unlink'],
    rmSync: (path, options) => {
      operations.push(`rm ${name(path)}`);
      nodeCommitFileSystem.rmSync(path, options);
    },
    fsync: ((fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => {
      operations.push(`fsync ${names.get(fd)}`);
      if (hold && fd === hold.directoryFd) hold.release = () => nodeCommitFileSystem.fsync(fd, callback);
      else nodeCommitFileSystem.fsync(fd, callback);
    }) as CommitFileSystem['fsync'],
  };
}

describe('local store group commit', () => {
  const directories: string[] = [];
  after(async () => Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true }))));

  async function committer(hold?: { directoryFd: number; release?: () => void }) {
    const directory = await mkdtemp(join(tmpdir(), 'dcr-commit-'));
    directories.push(directory);
    const operations: string[] = [];
    const names = new Map<number, string>();
    const directoryFd = openSync(directory, 'r');
    const journalFd = openSync(join(directory, 'journal'), 'a');
    names.set(directoryFd, 'directory').set(journalFd, 'journal');
    if (hold) hold.directoryFd = directoryFd;
    return {
      directory,
      operations,
      commit: new GroupCommit(directoryFd, journalFd, recordingCommitFileSystem(operations, names, hold)),
    };
  }

  it('commits the writes of one turn as one batch: journal, every file fsynced before its rename, one directory fsync', async () => {
    const { directory, operations, commit } = await committer();
    await writeFile(join(directory, 'gone.json'), '{}');
    const durable: string[] = [];
    await Promise.all([
      commit.commit('a', join(directory, 'a.json'), '{"a":1}', { replaces: false, onDurable: () => durable.push('a') }),
      commit.commit('b', join(directory, 'b.json'), '{"b":1}', { onDurable: () => durable.push('b') }),
      commit.commit('gone', join(directory, 'gone.json'), undefined, { onDurable: () => durable.push('gone') }),
    ]);
    assert.deepEqual(operations, [
      'write journal',
      'fsync journal',
      'write a.json.tmp',
      'fsync a.json.tmp',
      'write b.json.tmp',
      'fsync b.json.tmp',
      'rename a.json',
      'rename b.json',
      'rm gone.json',
      'fsync directory',
    ]);
    assert.deepEqual(durable, ['a', 'b', 'gone']);
    assert.equal(await readFile(join(directory, 'journal'), 'utf8'), 'a\nb\ngone\n');
    assert.deepEqual((await readdir(directory)).sort(), ['a.json', 'b.json', 'journal']);
    assert.equal(commit.journalLines, 3);
  });

  it('acknowledges nothing before the directory is fsynced', async () => {
    const hold: { directoryFd: number; release?: () => void } = { directoryFd: -1 };
    const { directory, commit } = await committer(hold);
    let acknowledged = false;
    const written = commit.commit('a', join(directory, 'a.json'), '{}').then(() => (acknowledged = true));
    while (hold.release === undefined) await new Promise((resolve) => setImmediate(resolve));
    for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(acknowledged, false, 'the rename is not durable yet');
    hold.release();
    await written;
    assert.equal(acknowledged, true);
  });

  it('a write that fails is refused alone, leaves no temporary file, and the rest of the batch is committed', async () => {
    const { directory, commit } = await committer();
    const results = await Promise.allSettled([
      commit.commit('a', join(directory, 'a.json'), '{}'),
      commit.commit('b', join(directory, 'no-such-directory', 'b.json'), '{}'),
    ]);
    assert.equal(results[0].status, 'fulfilled');
    assert.equal(results[1].status, 'rejected');
    assert.deepEqual((await readdir(directory)).sort(), ['a.json', 'journal']);
  });
});

describe('local store index and crash consistency', () => {
  const directories: string[] = [];
  after(async () => Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true }))));
  interface Record {
    secret: string;
  }

  async function freshClients(): Promise<string> {
    const dataDir = await mkdtemp(join(tmpdir(), 'dcr-index-'));
    directories.push(dataDir);
    return join(dataDir, 'clients');
  }

  const open = (directory: string, damaged: DamagedClientFile[] = [], options = {}) =>
    ClientFileStore.open<Record>(directory, (file) => damaged.push(file), options);

  it('a clean close writes the index, and the next start reads no client file', async () => {
    const directory = await freshClients();
    const first = await open(directory);
    await Promise.all(['a', 'b', 'c'].map((id) => first.put(id, { secret: id })));
    await first.close();
    assert.match(
      await readFile(`${directory}.index`, 'utf8'),
      /^\{"version":1,"generation":\d+\}\na \{"secret":"a"\}\n/,
    );
    // A file that cannot be read at all: the store opens from the index without reading it, and only the check after
    // opening finds it.
    await rm(join(directory, 'b.json'));
    await mkdir(join(directory, 'b.json'));
    const damaged: DamagedClientFile[] = [];
    const second = await open(directory, damaged, { checkBeforeOpenLimit: 0 });
    assert.deepEqual(
      second
        .values()
        .map((record) => record.secret)
        .sort(),
      ['a', 'b', 'c'],
    );
    assert.equal(damaged.length, 0);
    await second.checked;
    assert.deepEqual(
      damaged.map((file) => [basename(file.file), file.reason]),
      [['b.json', 'cannot be read: it is a directory']],
    );
    assert.equal(second.get('b'), undefined);
    await second.close();
  });

  it('writes acknowledged after the index was written survive a crash (no close): the journal names them', async () => {
    const directory = await freshClients();
    const first = await open(directory);
    await Promise.all(['kept', 'rotated', 'deleted'].map((id) => first.put(id, { secret: `${id}-1` })));
    await first.close();
    const crashed = await open(directory);
    await crashed.put('new', { secret: 'new-1' });
    await crashed.put('rotated', { secret: 'rotated-2' });
    await crashed.delete('deleted');
    // No close: the index still holds rotated-1 and "deleted", and not "new".
    const restarted = await open(directory, [], { checkBeforeOpenLimit: 0 });
    assert.equal(restarted.get('new')?.secret, 'new-1');
    assert.equal(restarted.get('rotated')?.secret, 'rotated-2', 'a rotated secret never comes back from the index');
    assert.equal(restarted.get('deleted'), undefined);
    assert.equal(restarted.get('kept')?.secret, 'kept-1');
    await restarted.close();
    await crashed.close();
  });

  it('a client file the index and the journal do not know (the journal line lost) is still found', async () => {
    const directory = await freshClients();
    const first = await open(directory);
    await first.put('indexed', { secret: 'i' });
    await first.close();
    await writeFile(join(directory, 'unindexed.json'), JSON.stringify({ secret: 'u' }));
    const second = await open(directory);
    assert.equal(second.get('unindexed')?.secret, 'u');
    await second.close();
  });

  for (const [name, limit] of [
    ['before opening', 1000],
    ['after opening, in the background', 0],
  ] as const) {
    it(`a file changed or damaged behind the index is found when checked ${name}: the file wins, a damaged one is moved aside`, async () => {
      const directory = await freshClients();
      const first = await open(directory);
      await Promise.all(['changed', 'damaged', 'same'].map((id) => first.put(id, { secret: `${id}-1` })));
      await first.close();
      await writeFile(join(directory, 'changed.json'), JSON.stringify({ secret: 'changed-2' }));
      await writeFile(join(directory, 'damaged.json'), '{"secret": "trunc');
      const damaged: DamagedClientFile[] = [];
      const second = await open(directory, damaged, { checkBeforeOpenLimit: limit });
      await second.checked;
      assert.equal(second.get('changed')?.secret, 'changed-2');
      assert.equal(second.get('damaged'), undefined);
      assert.equal(second.get('same')?.secret, 'same-1');
      assert.deepEqual(
        damaged.map((file) => basename(file.file)),
        ['damaged.json'],
      );
      assert.ok((await readdir(directory)).some((file) => file.startsWith('damaged.json.damaged-')));
      await second.close();
      const third = await open(directory, [], { checkBeforeOpenLimit: 0 }); // served from the index before any check
      assert.equal(third.get('changed')?.secret, 'changed-2', 'and the index is written again with it');
      await third.close();
    });
  }

  it('a file whose content names another client id is moved aside, not served under its name (issue 23, item 10)', async () => {
    const directory = await freshClients();
    const first = await open(directory);
    await first.put('victim', { secret: 'victim-1' });
    await first.put('attacker', { secret: 'attacker-1' });
    await first.close();
    // The attacker's record, client id and all, copied over the victim's file.
    await writeFile(join(directory, 'victim.json'), JSON.stringify({ clientId: 'attacker', secret: 'attacker-1' }));
    const damaged: DamagedClientFile[] = [];
    const second = await open(directory, damaged);
    await second.checked;
    assert.equal(second.get('victim'), undefined);
    assert.deepEqual(
      damaged.map((file) => [basename(file.file), file.reason]),
      [['victim.json', 'names another client id than its file name']],
    );
    await second.close();
  });

  it('an index that is not one is ignored (every file read), and a journal line cut by a crash is skipped', async () => {
    const directory = await freshClients();
    const first = await open(directory);
    await first.put('a', { secret: 'a' });
    await first.close();
    await writeFile(`${directory}.index`, '{"version":1,"generation":1}\na {"secret":"stale"}');
    const second = await open(directory);
    assert.equal(second.get('a')?.secret, 'a');
    await second.close();
    const journal = (await readdir(join(directory, '..'))).find((name) => name.startsWith('clients.journal.'))!;
    await writeFile(join(directory, '..', journal), 'a\nb');
    const third = await open(directory);
    assert.deepEqual(third.values(), [{ secret: 'a' }]);
    await third.close();
  });
});
