/**
 * The local driver killed with SIGKILL while writes are under way: every register, rotation and delete the bridge
 * acknowledged is there after a restart, whether the client was in the store's index (written at the clean stop
 * before) or only in its journal. The compiled bridge runs as `npm start` runs it, in its own process on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { compiledMain, ensureBuilt } from '../support/built.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const apiKey = 'crash-test-portal-key-01';

interface Bridge {
  url: string;
  stop(signal: NodeJS.Signals): Promise<number | null>;
}

async function startBridge(dataDir: string): Promise<Bridge> {
  const child = spawn(process.execPath, [compiledMain], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      DCR_DRIVER: 'local',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      DCR_LOCAL_DATA_DIR: dataDir,
      DCR_API_KEYS: apiKey,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  void exited.then(() => clearTimeout(killer));
  let stdout = '';
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /"port":(\d+)/.exec(stdout);
      if (match) resolve(match[1]!);
    });
    void exited.then((code) => reject(new Error(`the bridge exited with ${code} before listening`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    stop: (signal) => {
      child.kill(signal);
      return exited;
    },
  };
}

const headers = { 'X-API-Key': apiKey };

async function register(bridge: Bridge): Promise<{ client_id: string; client_secret: string }> {
  const response = await fetch(`${bridge.url}/clients`, { method: 'POST', headers });
  assert.equal(response.status, 201);
  return (await response.json()) as { client_id: string; client_secret: string };
}

async function tokenStatus(bridge: Bridge, clientId: string, secret: string): Promise<number> {
  const response = await fetch(`${bridge.url}/local-idp/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  await response.arrayBuffer();
  return response.status;
}

before(() => ensureBuilt());

describe('local IdP killed with SIGKILL', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'dcr-crash-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('loses no acknowledged register, rotation or delete, indexed or only journaled', async () => {
    const first = await startBridge(dataDir);
    const indexed = await Promise.all(Array.from({ length: 20 }, () => register(first)));
    assert.equal(await first.stop('SIGTERM'), 0); // a clean stop: these 20 are in the index

    const second = await startBridge(dataDir);
    const registered: { client_id: string; client_secret: string }[] = [];
    const rotated = new Map<string, string>();
    const deleted: string[] = [];
    const writes: Promise<void>[] = [];
    for (let index = 0; index < 60; index++) {
      writes.push(register(second).then((client) => void registered.push(client)));
      const target = indexed[index % 20]!;
      if (index < 8) {
        writes.push(
          fetch(`${second.url}/clients/${target.client_id}/rotate-secret`, { method: 'POST', headers }).then(
            async (response) => {
              if (response.status === 200)
                rotated.set(target.client_id, ((await response.json()) as { client_secret: string }).client_secret);
            },
          ),
        );
      } else if (index >= 12 && index < 16) {
        writes.push(
          fetch(`${second.url}/clients/${target.client_id}`, { method: 'DELETE', headers }).then((response) => {
            if (response.status === 204) deleted.push(target.client_id);
          }),
        );
      }
    }
    await Promise.all(writes);
    // More writes in flight when the process dies: those may or may not be there, the ones answered must be.
    const inFlight = Array.from({ length: 30 }, () =>
      register(second).then(
        (client) => void registered.push(client),
        () => undefined,
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    await second.stop('SIGKILL');
    await Promise.all(inFlight);
    assert.ok(registered.length >= 60 && rotated.size === 8 && deleted.length === 4);

    const third = await startBridge(dataDir);
    try {
      for (const client of registered) {
        assert.equal(
          (await fetch(`${third.url}/clients/${client.client_id}`, { headers })).status,
          200,
          'an acknowledged register is kept',
        );
      }
      for (const id of deleted)
        assert.equal(
          (await fetch(`${third.url}/clients/${id}`, { headers })).status,
          404,
          'an acknowledged delete is kept',
        );
      for (const [id, secret] of rotated) {
        const old = indexed.find((client) => client.client_id === id)!.client_secret;
        assert.equal(await tokenStatus(third, id, secret), 200, 'the rotated secret works');
        assert.equal(await tokenStatus(third, id, old), 401, 'the secret replaced before the crash never comes back');
      }
      for (const client of registered.slice(0, 5))
        assert.equal(await tokenStatus(third, client.client_id, client.client_secret), 200);
    } finally {
      assert.equal(await third.stop('SIGTERM'), 0);
    }
  });
});
