/**
 * The container contract deploy/kubernetes relies on: as a non-root user, with its working directory, HOME and TMPDIR
 * read-only and its data directory the only place it may write, the bridge starts, serves register, rotate and
 * delete, shuts down cleanly — and no file of its user appears anywhere else.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ensureBuilt } from '../support/built.js';
import { root, startBridgeProcess } from './bridge-process.js';

/**
 * What the unprivileged user runs: package.json, spec/, dist/ and node_modules/ staged in a folder everyone may
 * enter, as the image holds them — the clone itself may sit in a folder only its owner can enter (`/root`, a
 * `mktemp -d`). Hard links where the file system allows (instant; the files keep their modes, which npm makes
 * world-readable), otherwise a copy made readable to all.
 */
function stageForOtherUser(base: string): string {
  const stage = join(base, 'app');
  mkdirSync(stage, { mode: 0o755 });
  copyFileSync(join(root, 'package.json'), join(stage, 'package.json'));
  chmodSync(join(stage, 'package.json'), 0o644);
  for (const folder of ['spec', 'dist', 'node_modules']) {
    const linked = spawnSync('cp', ['-al', join(root, folder), join(stage, folder)]);
    if (linked.status === 0) continue;
    rmSync(join(stage, folder), { recursive: true, force: true });
    const copied = spawnSync('cp', ['-a', join(root, folder), join(stage, folder)], { encoding: 'utf8' });
    assert.equal(copied.status, 0, `staging ${folder}: ${copied.stderr}`);
    assert.equal(spawnSync('chmod', ['-R', 'a+rX', join(stage, folder)]).status, 0);
  }
  return join(stage, 'dist', 'src', 'main.js');
}

/** The `nobody` user when the tests run as root (CI does); otherwise the current user, who then owns the checks. */
const asRoot = process.getuid?.() === 0;
const uid = asRoot ? 65534 : process.getuid!();
const gid = asRoot ? 65534 : process.getgid!();

describe('container contract: non-root, read-only except the data directory', () => {
  const base = mkdtempSync(join(tmpdir(), 'dcr-contract-'));
  const readOnly = join(base, 'read-only');
  const data = join(base, 'data');
  after(() => rmSync(base, { recursive: true, force: true }));

  it('serves and writes only into DCR_LOCAL_DATA_DIR', async () => {
    mkdirSync(readOnly);
    mkdirSync(data, { mode: 0o700 });
    if (asRoot) chownSync(data, uid, gid);
    chmodSync(readOnly, 0o555);
    chmodSync(base, 0o755);
    await ensureBuilt();
    const entry = asRoot ? stageForOtherUser(base) : undefined;
    // Files from before this run (another run's leftovers) are not this bridge's: only newer ones are searched.
    const startedMarker = join(base, 'started');
    writeFileSync(startedMarker, '');
    const apiKey = 'contract-portal-key-000001';
    const bridge = await startBridgeProcess(
      {
        DCR_DRIVER: 'local',
        DCR_API_KEYS: apiKey,
        DCR_LOCAL_DATA_DIR: data,
        HOME: readOnly,
        TMPDIR: readOnly,
        NODE_EXTRA_CA_CERTS: '',
      },
      { cwd: readOnly, uid, gid, ...(entry ? { entry } : {}) },
    );
    try {
      const call = async (method: string, path: string, expected: number) => {
        const response = await fetch(`${bridge.baseUrl}${path}`, {
          method,
          headers: { 'X-API-Key': apiKey, 'Content-Type': 'application/json' },
          body: method === 'POST' ? '{}' : undefined,
        });
        assert.equal(response.status, expected, `${method} ${path}`);
        return (await response.json().catch(() => ({}))) as { client_id?: string };
      };
      const { client_id: clientId } = await call('POST', '/clients', 201);
      await call('POST', `/clients/${clientId}/rotate-secret`, 200);
      await call('DELETE', `/clients/${clientId}`, 204);
      assert.equal((await fetch(`${bridge.baseUrl}/metrics`)).status, 200);
    } finally {
      assert.equal(await bridge.stop(), 0, bridge.stderr());
    }
    assert.doesNotMatch(bridge.stderr(), /EACCES|EROFS|EPERM|permission denied|read-only/i, 'no write was refused');
    assert.deepEqual(readdirSync(readOnly), [], 'nothing in the working directory, HOME or TMPDIR');
    assert.ok(readdirSync(data).length > 0, 'the local driver kept its clients in the data directory');
    if (asRoot) {
      // Everywhere else `nobody` could have written on this machine.
      const found = spawnSync(
        'find',
        [
          '/tmp',
          '/var/tmp',
          '/dev/shm',
          '-xdev',
          '-uid',
          String(uid),
          '-newer',
          startedMarker,
          '-not',
          '-path',
          `${data}*`,
          '-not',
          '-path',
          `${base}/app*`,
        ],
        { encoding: 'utf8' },
      );
      assert.equal(found.stdout.trim(), '', 'no file of the bridge user outside its data directory');
    }
  });
});
