/**
 * Issue 23, item 1: the local driver on a real, small, full filesystem. `write(2)` on a full disk writes what fits and
 * reports the count, not an error; a short client file fsynced, renamed and acknowledged would be moved aside as
 * damaged at the next start (GET 404, secret refused). Every short or failed write must fail its change with 503 and
 * leave the previous state, so every 201 and 200 the bridge gave is still true after a restart.
 *
 * The filesystem is a 192 KiB tmpfs mounted for the test, which needs root (or CAP_SYS_ADMIN); without it the test is
 * skipped and says so.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, cpSync, mkdtempSync, openSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { GroupCommit, nodeCommitFileSystem, type CommitFileSystem } from '../../drivers/local/commit.js';
import { createLocalDriver } from '../../drivers/local/index.js';
import { completeDriver } from '../../src/core/driver.js';
import type { DcrDriver } from '../../src/driver/contract.js';
import { createTestApp, type TestApp } from '../support/app.js';

const page = 4096;

/** Mounts a tmpfs of `bytes` at a fresh directory, or says why it cannot. */
function mountSmallFilesystem(bytes: number): { path: string } | { skip: string } {
  if (process.getuid?.() !== 0) return { skip: 'mounting a tmpfs needs root' };
  const path = mkdtempSync(join(tmpdir(), 'dcr-full-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0700`, 'tmpfs', path], { stdio: 'pipe' });
    return { path };
  } catch (error) {
    rmSync(path, { recursive: true, force: true });
    return { skip: `mount -t tmpfs failed: ${String((error as Error).message).split('\n')[0]}` };
  }
}

const mounted = mountSmallFilesystem(192 * 1024);

/** Metadata over two pages, so that one free page takes part of a client file: the short write. */
const bigClient = {
  client_name: 'x'.repeat(200),
  grant_types: ['authorization_code'],
  redirect_uris: Array.from({ length: 30 }, (_, index) => `https://app-${index}.example.com/${'c'.repeat(200)}`),
};

describe('the local driver on a full disk (issue 23, item 1)', {
  skip: 'skip' in mounted ? mounted.skip : false,
}, () => {
  const root = 'path' in mounted ? mounted.path : '';
  const restarted = mkdtempSync(join(tmpdir(), 'dcr-full-disk-restart-'));
  let dataDir = join(root, 'data');
  let driver: DcrDriver;
  let bridge: TestApp;
  const damaged: unknown[] = [];

  async function open(): Promise<void> {
    driver = completeDriver(
      await createLocalDriver({
        publicUrl: 'http://127.0.0.1:1',
        dataDir,
        warn: (message, fields) => damaged.push({ message, ...fields }),
      }),
    );
    bridge = await createTestApp(driver);
  }

  before(open);
  after(async () => {
    await bridge?.close();
    await driver?.close().catch(() => undefined);
    // Lazily: a driver that failed to open may still hold a descriptor there.
    execFileSync('umount', ['-l', root]);
    rmSync(root, { recursive: true, force: true });
    rmSync(restarted, { recursive: true, force: true });
  });

  it('answers 503 to every write that does not fit, and every acknowledged client survives a restart', async () => {
    // One-page fillers, freed one at a time below to leave exactly one page for a two-page client file.
    const fillers: string[] = [];
    for (let index = 0; index < 8; index++) {
      const filler = join(root, `filler-${index}`);
      writeFileSync(filler, Buffer.alloc(page));
      fillers.push(filler);
    }
    const acknowledged = new Map<string, string>();
    const refusals: number[] = [];
    const register = async () => {
      const response = await request(bridge.app).post('/clients').set('X-API-Key', bridge.apiKey).send(bigClient);
      if (response.status === 201) acknowledged.set(response.body.client_id as string, response.body.client_secret);
      else refusals.push(response.status);
      return response.status;
    };
    while ((await register()) === 201) assert.ok(acknowledged.size < 200, 'the filesystem never filled');
    for (const filler of fillers) {
      unlinkSync(filler);
      await register();
      await register();
    }
    assert.ok(refusals.length >= 2, 'the disk was full more than once');
    assert.deepEqual([...new Set(refusals)], [503], 'a full disk is a 503, never a 201 or a 500');

    // An update that does not fit leaves the client as it was.
    const [someId] = [...acknowledged.keys()];
    const update = await request(bridge.app)
      .put(`/clients/${someId}`)
      .set('X-API-Key', bridge.apiKey)
      .send({ ...bigClient, client_name: 'changed', contacts: Array.from({ length: 20 }, (_, i) => `a${i}@x.io`) });
    assert.equal(update.status, 503, update.text);
    const read = await request(bridge.app).get(`/clients/${someId}`).set('X-API-Key', bridge.apiKey);
    assert.equal(read.body.client_name, bigClient.client_name);

    // A restart with room again (a start writes its index, as large as the clients): the files as the full disk left
    // them, copied to a roomy directory. Nothing acknowledged is lost or moved aside.
    await bridge.close();
    await driver.close().catch(() => undefined);
    cpSync(dataDir, join(restarted, 'data'), { recursive: true });
    dataDir = join(restarted, 'data');
    await open();
    for (const clientId of acknowledged.keys()) {
      const response = await request(bridge.app).get(`/clients/${clientId}`).set('X-API-Key', bridge.apiKey);
      assert.equal(response.status, 200, `${clientId} was acknowledged and is gone`);
      assert.equal(response.body.client_name, bigClient.client_name);
    }
    assert.deepEqual(damaged, [], 'no client file was moved aside');
  });
});

describe('a torn journal write (issue 23, item 1)', () => {
  it('fails its batch, and the next batch starts on a line of its own', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'dcr-torn-journal-'));
    try {
      const directoryFd = openSync(directory, 'r');
      const journalPath = join(directory, 'journal');
      const journalFd = openSync(journalPath, 'a', 0o600);
      let tearNext = true;
      const tearing: CommitFileSystem = {
        ...nodeCommitFileSystem,
        // The first journal write writes 3 bytes and says so, as write(2) does on a full disk.
        writeSync: (fd, text) => {
          if (fd !== journalFd || !tearNext) return nodeCommitFileSystem.writeSync(fd, text);
          tearNext = false;
          return nodeCommitFileSystem.writeSync(fd, text.slice(0, 3));
        },
      };
      const commit = new GroupCommit(directoryFd, journalFd, tearing);
      await assert.rejects(commit.commit('first-client', join(directory, 'first-client'), '{}'), /short write/);
      assert.throws(() => readFileSync(join(directory, 'first-client')), /ENOENT/, 'the failed change wrote nothing');
      await commit.commit('second-client', join(directory, 'second-client'), '{}');
      assert.deepEqual(readFileSync(journalPath, 'utf8').split('\n'), ['fir', 'second-client', '']);
      closeSync(journalFd);
      closeSync(directoryFd);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
