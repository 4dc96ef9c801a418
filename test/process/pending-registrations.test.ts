/**
 * The compiled bridge killed with SIGKILL between the IdP's create and the answer: the client is pending in the
 * journal, and the restarted bridge deletes it through the driver (DCR_PENDING_TIMEOUT_SECONDS=0 rather than a
 * wait). The crash is made exact by taking the journal as the killed process left it and removing the record of the
 * answer having been written — what the file holds when the process dies after the create and before the answer.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startFlags } from '../../scripts/start-arguments.js';
import { openPendingJournal } from '../../src/pending.js';
import { compiledMain, ensureBuilt } from '../support/built.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const apiKey = 'pending-test-portal-key-01';
const headers = { 'X-API-Key': apiKey, 'Content-Type': 'application/json' };

interface Bridge {
  url: string;
  /** Resolves with the first stdout line that matches, or rejects when the process exits first. */
  line(pattern: RegExp): Promise<string>;
  stop(signal: NodeJS.Signals): Promise<number | null>;
}

async function startBridge(dataDir: string, env: Record<string, string> = {}): Promise<Bridge> {
  const child = spawn(process.execPath, [...startFlags(), compiledMain], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      DCR_DRIVER: 'local',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      DCR_DATA_DIR: dataDir,
      DCR_API_KEYS: apiKey,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  void exited.then(() => clearTimeout(killer));
  let stdout = '';
  const waiters: { pattern: RegExp; resolve(line: string): void }[] = [];
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const waiter of [...waiters]) {
      const found = stdout.split('\n').find((line) => waiter.pattern.test(line));
      if (found !== undefined) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(found);
      }
    }
  });
  const line = (pattern: RegExp) =>
    new Promise<string>((resolve, reject) => {
      waiters.push({ pattern, resolve });
      child.stdout.emit('data', Buffer.alloc(0));
      void exited.then((code) => reject(new Error(`the bridge exited with ${code} before logging ${pattern}`)));
    });
  const port = /"port":(\d+)/.exec(await line(/"port":\d+/))![1]!;
  return {
    url: `http://127.0.0.1:${port}`,
    line,
    stop: (signal) => {
      child.kill(signal);
      return exited;
    },
  };
}

before(() => ensureBuilt());

describe('compiled bridge killed between the IdP create and the answer', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'dcr-pending-crash-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('the restarted bridge deletes the pending client through the driver and clears its record', async () => {
    const journal = join(dataDir, 'pending-registrations.jsonl');
    const first = await startBridge(dataDir);
    const register = () =>
      fetch(`${first.url}/clients`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ client_name: 'crash', redirect_uris: ['https://app.example.com/cb'] }),
      });
    const kept = (await (await register()).json()) as { client_id: string };
    const cut = (await (await register()).json()) as { client_id: string };
    assert.equal(await first.stop('SIGKILL'), null);

    // Each registration wrote its pending record before its answer and its clearing after; drop `cut`'s clearing.
    const lines = readFileSync(journal, 'utf8').trim().split('\n');
    assert.deepEqual(
      lines.map((line) => Object.keys(JSON.parse(line) as object)[0]).sort(),
      ['cleared', 'cleared', 'pending', 'pending'],
      'the journal does not hold a pending and a cleared record per answered registration',
    );
    writeFileSync(
      journal,
      `${lines.filter((line) => line !== JSON.stringify({ cleared: cut.client_id })).join('\n')}\n`,
    );

    const second = await startBridge(dataDir, { DCR_PENDING_TIMEOUT_SECONDS: '0' });
    try {
      const undone = JSON.parse(await second.line(/"registration\.undone"/)) as Record<string, unknown>;
      assert.equal(undone.clientId, cut.client_id);
      assert.equal(undone.reason, 'pending_timeout');
      const read = (clientId: string) =>
        fetch(`${second.url}/clients/${clientId}`, { headers: { 'X-API-Key': apiKey } });
      assert.equal((await read(cut.client_id)).status, 404, 'the pending client is still at the IdP');
      assert.equal((await read(kept.client_id)).status, 200, 'an answered client was deleted');
    } finally {
      assert.equal(await second.stop('SIGTERM'), 0);
    }
    const reopened = await openPendingJournal(journal);
    assert.deepEqual(reopened.pendingSince(Number.MAX_SAFE_INTEGER), []);
    await reopened.close();
  });
});
