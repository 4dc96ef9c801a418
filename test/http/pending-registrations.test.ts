/**
 * No orphans across cut answers and crashes (src/pending.ts): a registration whose connection closes before its 201
 * is written is deleted again at once, on every registration surface, with no `client.registered` event; the journal
 * survives a torn last line and its replay; the sweep deletes what a crash left pending once the timeout has passed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { closeApp, createBridge } from '../../src/app.js';
import type {
  AddedClientSecret,
  ClientMetadata,
  RegisteredClientWithSecret,
  RegistrationContext,
} from '../../src/driver/contract.js';
import { BridgeEvents, type BridgeEventMap } from '../../src/events.js';
import { createLogger } from '../../src/logging.js';
import { createMetrics } from '../../src/metrics.js';
import { openPendingJournal, PendingRegistrations } from '../../src/pending.js';
import { testConfig } from '../support/app.js';
import { MemoryDriver } from '../support/memory-driver.js';

/** A memory "IdP" whose registrations wait until the test lets them answer. */
class GatedDriver extends MemoryDriver {
  #release: (() => void) | undefined;
  #enter: (() => void) | undefined;
  entered: Promise<void> = Promise.resolve();
  #gate: Promise<void> = Promise.resolve();

  hold(): void {
    this.#gate = new Promise((resolve) => (this.#release = resolve));
    this.entered = new Promise((resolve) => (this.#enter = resolve));
  }

  answer(): void {
    this.#release?.();
  }

  override async registerClient(
    metadata: ClientMetadata,
    context: RegistrationContext,
  ): Promise<RegisteredClientWithSecret> {
    this.#enter?.();
    await this.#gate;
    return super.registerClient(metadata, context);
  }

  override async addSecret(clientId: string): Promise<AddedClientSecret> {
    this.#enter?.();
    await this.#gate;
    return super.addSecret(clientId);
  }
}

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dcr-pending-'));
  dirs.push(dir);
  return dir;
}

async function startBridge(driver: MemoryDriver, journalFile: string) {
  const events = new BridgeEvents();
  const config = testConfig({ pendingRegistrations: { journalFile, timeoutSeconds: 300 } });
  const bridge = createBridge(config, driver, {
    logger: createLogger({ level: 'silent' }),
    metrics: createMetrics(),
    events,
  });
  const server = http.createServer(bridge.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const seen: { name: string; payload: unknown }[] = [];
  /** The next event of this name; fails (rather than hanging the file) when none comes within 5 s. */
  const next = <Name extends 'registration.undone' | 'secret.undone'>(name: Name) =>
    new Promise<BridgeEventMap[Name]>((resolve, reject) => {
      const guard = setTimeout(() => reject(new Error(`no ${name} within 5 s`)), 5_000);
      events.on(name, (event) => {
        clearTimeout(guard);
        resolve(event);
      });
    });
  events.onAny((name, payload) => seen.push({ name, payload }));
  return {
    port,
    apiKey: config.apiKeys[0]!,
    bridge,
    seen,
    /** The next `registration.undone`; fails (rather than hanging the file) when none comes within 5 s. */
    undone: () => next('registration.undone'),
    next,
    close: async () => {
      await new Promise((resolve) => server.close(resolve));
      await closeApp(bridge.app);
    },
  };
}

/** Sends a registration and destroys the connection once the driver has been called, before any answer. */
function cutRegistration(
  port: number,
  path: string,
  headers: Record<string, string>,
  body: unknown,
  driver: GatedDriver,
): Promise<void> {
  return new Promise((resolve) => {
    const request = http.request({ host: '127.0.0.1', port, path, method: 'POST', headers });
    request.on('error', () => resolve());
    request.on('response', () => assert.fail('the bridge answered a request whose connection was cut'));
    request.end(JSON.stringify(body));
    void driver.entered.then(() => {
      request.destroy();
      resolve();
    });
  });
}

const surfaces = [
  {
    surface: 'API7 POST /clients',
    path: '/clients',
    body: { client_name: 'cut', redirect_uris: ['https://app.example.com/cb'] },
    auth: (key: string) => ({ 'X-API-KEY': key }),
  },
  {
    surface: 'Konnect POST /',
    path: '/',
    body: { client_name: 'cut', redirect_uris: ['https://app.example.com/cb'], grant_types: ['client_credentials'] },
    auth: (key: string) => ({ 'X-API-KEY': key }),
  },
  {
    surface: 'standard POST /register',
    path: '/register',
    body: { client_name: 'cut', redirect_uris: ['https://app.example.com/cb'] },
    auth: (key: string) => ({ Authorization: `Bearer ${key}` }),
  },
];

describe('a registration whose connection is cut before its answer', () => {
  for (const { surface, path, body, auth } of surfaces) {
    it(`${surface}: is deleted again at once, says so, and is never announced as registered`, async () => {
      const driver = new GatedDriver();
      const journalFile = join(tempDir(), 'pending.jsonl');
      const bridge = await startBridge(driver, journalFile);
      try {
        driver.hold();
        const undone = bridge.undone();
        await cutRegistration(
          bridge.port,
          path,
          { 'Content-Type': 'application/json', ...auth(bridge.apiKey) },
          body,
          driver,
        );
        // Let the client give up on the connection, then let the IdP finish creating the client.
        await new Promise((resolve) => setImmediate(resolve));
        driver.answer();
        const event = await undone;
        assert.equal(event.reason, 'connection_closed');
        assert.equal(driver.clients.size, 0, 'the IdP still holds the client of a cut registration');
        assert.ok(!bridge.seen.some(({ name }) => name === 'client.registered'));
        const journal = await openPendingJournal(journalFile);
        assert.deepEqual(journal.pendingSince(Number.MAX_SAFE_INTEGER), []);
        await journal.close();
      } finally {
        await bridge.close();
      }
    });
  }

  it('API7 POST /clients/{id}/secrets: an added secret whose answer is cut is revoked again, never announced', async () => {
    const driver = new GatedDriver({ maxSecrets: 3 });
    const bridge = await startBridge(driver, join(tempDir(), 'pending.jsonl'));
    try {
      const client = await driver.registerClient({ redirectUris: [] } as unknown as ClientMetadata, { portal: 'api7' });
      const secretsBefore = driver.secretsOf(client.clientId);
      driver.hold();
      const undone = bridge.next('secret.undone');
      await cutRegistration(
        bridge.port,
        `/clients/${client.clientId}/secrets`,
        { 'Content-Type': 'application/json', 'X-API-KEY': bridge.apiKey },
        {},
        driver,
      );
      await new Promise((resolve) => setImmediate(resolve));
      driver.answer();
      const event = await undone;
      assert.equal(event.clientId, client.clientId);
      assert.deepEqual(Object.keys(event).sort(), ['clientId', 'portal', 'secretId'], 'ids only, never the value');
      assert.deepEqual(driver.secretsOf(client.clientId), secretsBefore, 'the added secret is still there');
      assert.ok(!bridge.seen.some(({ name }) => name === 'secret.added'));
    } finally {
      await bridge.close();
    }
  });

  it('an answered registration stands: announced once written, its record cleared', async () => {
    const driver = new GatedDriver();
    const journalFile = join(tempDir(), 'pending.jsonl');
    const bridge = await startBridge(driver, journalFile);
    try {
      const response = await fetch(`http://127.0.0.1:${bridge.port}/clients`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-API-KEY': bridge.apiKey },
        body: JSON.stringify(surfaces[0]!.body),
      });
      assert.equal(response.status, 201);
      const { client_id } = (await response.json()) as { client_id: string };
      assert.ok(driver.clients.has(client_id));
      assert.ok(
        bridge.seen.some(
          ({ name, payload }) =>
            name === 'client.registered' && (payload as { clientId: string }).clientId === client_id,
        ),
      );
      // The record was written before the answer and cleared after it: two lines, nothing pending.
      const lines = readFileSync(journalFile, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as unknown);
      assert.deepEqual(lines, [
        { pending: client_id, at: lines[0] && (lines[0] as { at: number }).at },
        { cleared: client_id },
      ]);
    } finally {
      await bridge.close();
    }
  });
});

describe('the pending-registrations journal', () => {
  it('replays pending and cleared records, skips a torn last line, and keeps only what is pending', async () => {
    const file = join(tempDir(), 'pending.jsonl');
    writeFileSync(
      file,
      '{"pending":"a","at":1}\n{"pending":"b","at":2}\n{"cleared":"a"}\n{"pending":"c","at":3}\n{"pendi',
    );
    const journal = await openPendingJournal(file);
    assert.deepEqual(journal.pendingSince(10), ['b', 'c']);
    assert.deepEqual(journal.pendingSince(2), ['b']);
    await journal.add('d', 4);
    await journal.clear('b');
    await journal.close();
    assert.equal(
      readFileSync(file, 'utf8'),
      '{"pending":"b","at":2}\n{"pending":"c","at":3}\n{"pending":"d","at":4}\n{"cleared":"b"}\n',
    );
  });

  it('the sweep deletes, through the driver, the clients still pending after the timeout, and only those', async () => {
    const driver = new MemoryDriver();
    const old = await driver.registerClient({ redirectUris: [] } as unknown as ClientMetadata, { portal: 'api7' });
    const recent = await driver.registerClient({ redirectUris: [] } as unknown as ClientMetadata, { portal: 'api7' });
    const file = join(tempDir(), 'pending.jsonl');
    writeFileSync(
      file,
      `${JSON.stringify({ pending: old.clientId, at: 1_000 })}\n${JSON.stringify({ pending: recent.clientId, at: 250_000 })}\n${JSON.stringify({ pending: 'gone-already', at: 1_000 })}\n`,
    );
    const events = new BridgeEvents();
    const undone: BridgeEventMap['registration.undone'][] = [];
    events.on('registration.undone', (event) => undone.push(event));
    const pending = new PendingRegistrations({
      openJournal: () => openPendingJournal(file),
      driver,
      events,
      logger: createLogger({ level: 'silent' }),
      timeoutMs: 300_000,
      now: () => 301_000,
    });
    assert.equal(await pending.sweep(), 2);
    await pending.close();
    assert.ok(!driver.clients.has(old.clientId), 'a client pending past the timeout is still at the IdP');
    assert.ok(driver.clients.has(recent.clientId), 'a client pending for less than the timeout was deleted');
    assert.deepEqual(
      undone.map(({ clientId, reason }) => [clientId, reason]),
      [
        [old.clientId, 'pending_timeout'],
        ['gone-already', 'pending_timeout'],
      ],
    );
    const reopened = await openPendingJournal(file);
    assert.deepEqual(reopened.pendingSince(Number.MAX_SAFE_INTEGER), [recent.clientId]);
    await reopened.close();
  });
});
