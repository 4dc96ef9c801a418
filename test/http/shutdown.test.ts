/**
 * Graceful shutdown against a slow IdP, over a real server and real sockets. The clock is the test's: the grace
 * timer fires when the test says so, never after a sleep.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import type {
  ClientMetadata,
  RegisteredClient,
  RegisteredClientWithSecret,
  RegistrationContext,
} from '../../src/driver/contract.js';
import { closeApp, createBridge } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { ConfigurationError } from '../../src/env.js';
import { createLogger } from '../../src/logging.js';
import { createMetrics } from '../../src/metrics.js';
import { createBridgeServer } from '../../src/server.js';
import { derivedShutdownGraceSeconds, prepareShutdown, trackDriverCalls, type Schedule } from '../../src/shutdown.js';
import { testConfig } from '../support/app.js';
import { MemoryDriver } from '../support/memory-driver.js';

/** A memory driver whose reads and registrations wait until the test lets the "IdP" answer. */
class SlowIdpDriver extends MemoryDriver {
  #release: (() => void) | undefined;
  #gate: Promise<void> = Promise.resolve();
  entered: Promise<void> = Promise.resolve();
  #enter: (() => void) | undefined;

  holdAnswers(): void {
    this.#gate = new Promise((resolve) => (this.#release = resolve));
    this.entered = new Promise((resolve) => (this.#enter = resolve));
  }

  answer(): void {
    this.#release?.();
  }

  async #slowly<T>(call: () => Promise<T>): Promise<T> {
    this.#enter?.();
    await this.#gate;
    return call();
  }

  override getClient(clientId: string): Promise<RegisteredClient> {
    return this.#slowly(() => super.getClient(clientId));
  }

  override registerClient(metadata: ClientMetadata, context: RegistrationContext): Promise<RegisteredClientWithSecret> {
    return this.#slowly(() => super.registerClient(metadata, context));
  }
}

/** Fails (instead of hanging the file) when an answer the bridge owes never comes; a guard, not a wait. */
async function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let guard: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    guard = setTimeout(() => reject(new Error(`${what} did not happen within 10 s`)), 10_000);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(guard);
  }
}

/** Timers the test fires by hand. */
function manualClock(): { schedule: Schedule; fire(ms: number): void; pending(): number[] } {
  const timers = new Map<number, { ms: number; action: () => void }>();
  let next = 0;
  return {
    schedule: (ms, action) => {
      const id = next++;
      timers.set(id, { ms, action });
      return () => timers.delete(id);
    },
    fire(ms) {
      const due = [...timers].find(([, timer]) => timer.ms === ms);
      assert.ok(due, `a timer of ${ms} ms is pending`);
      timers.delete(due[0]);
      due[1].action();
    },
    pending: () => [...timers.values()].map((timer) => timer.ms),
  };
}

async function startBridge() {
  const driver = new SlowIdpDriver();
  const logLines: string[] = [];
  const logger = createLogger({
    level: 'info',
    stream: new Writable({
      write(chunk: Buffer | string, _encoding, callback) {
        logLines.push(
          ...String(chunk)
            .split('\n')
            .filter((line) => line !== ''),
        );
        callback();
      },
    }),
  });
  const config = testConfig({ shutdownGraceSeconds: 3 });
  const calls = trackDriverCalls(logger);
  const { app, driver: bridgeDriver } = createBridge(config, driver, {
    logger,
    metrics: createMetrics(),
    driverObservers: [calls.observer],
  });
  const server = createBridgeServer(config, app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const clock = manualClock();
  const exits: number[] = [];
  let exited: (code: number) => void = () => undefined;
  const exitCode = new Promise<number>((resolve) => (exited = resolve));
  const shutdown = prepareShutdown({
    server,
    calls,
    graceSeconds: config.shutdownGraceSeconds,
    settleMs: 9_000,
    logger,
    stopBackgroundWork: () => undefined,
    release: () => closeApp(app).then(() => bridgeDriver.close()),
    exit: (code) => {
      exits.push(code);
      exited(code);
    },
    schedule: clock.schedule,
  });
  const port = (server.address() as AddressInfo).port;
  const send = (method: string, path: string, body?: string) =>
    new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
      const headers: Record<string, string> = { 'X-API-Key': config.apiKeys[0]!, 'Content-Type': 'application/json' };
      const sent = http.request({ host: '127.0.0.1', port, method, path, headers }, (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text }));
      });
      sent.on('error', reject);
      sent.end(body);
    });
  return { driver, logLines, clock, exits, exitCode, shutdown, send, server };
}

describe('shutdown', () => {
  it('answers a request still waiting for the IdP when the grace ends 503 idp_unavailable, waits for the IdP call, exits 1 and logs the count', async () => {
    const bridge = await startBridge();
    const created = await bridge.send('POST', '/clients', '{"client_name":"existing"}');
    assert.equal(created.status, 201);
    const clientId = (JSON.parse(created.body) as { client_id: string }).client_id;

    bridge.driver.holdAnswers();
    const slowRead = bridge.send('GET', `/clients/${clientId}`);
    await bridge.driver.entered;
    const shuttingDown = bridge.shutdown('SIGTERM');
    assert.deepEqual(bridge.clock.pending(), [3_000], 'the grace is the configured one');
    bridge.clock.fire(3_000);

    const answer = await within(slowRead, 'the 503 answer');
    assert.equal(answer.status, 503);
    assert.equal(answer.headers.connection, 'close');
    const body = JSON.parse(answer.body) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ['error', 'error_description']);
    assert.equal(body.error, 'idp_unavailable');
    assert.deepEqual(bridge.exits, [], 'the process waits for the IdP call it started');

    bridge.driver.answer();
    await shuttingDown;
    assert.deepEqual(bridge.exits, [1], 'a cut request makes the exit code non-zero');
    const cutLine = bridge.logLines.find((line) => line.includes('shutdown grace ended'));
    assert.ok(cutLine, bridge.logLines.join('\n'));
    assert.equal((JSON.parse(cutLine) as { cut: number }).cut, 1);
    assert.ok(bridge.logLines.some((line) => line.includes('"message":"shut down"') && line.includes('"cut":1')));
  });

  it('deletes again a registration that completes after its request was cut', async () => {
    const bridge = await startBridge();
    // Issue 23, item 11: whatever Node or Express would print on their own (a stack trace) is caught here.
    const stderr: string[] = [];
    const writeStderr = process.stderr.write.bind(process.stderr);
    const writeConsoleError = console.error;
    process.stderr.write = ((chunk: string | Uint8Array) =>
      stderr.push(String(chunk)) > 0) as typeof process.stderr.write;
    console.error = (...parts: unknown[]) => void stderr.push(parts.map(String).join(' '));
    after(() => {
      process.stderr.write = writeStderr;
      console.error = writeConsoleError;
    });
    bridge.driver.holdAnswers();
    const slowRegister = bridge.send('POST', '/clients', '{"client_name":"registered during shutdown"}');
    await bridge.driver.entered;
    const shuttingDown = bridge.shutdown('SIGTERM');
    bridge.clock.fire(3_000);
    assert.equal((await within(slowRegister, 'the 503 answer')).status, 503);
    bridge.driver.answer();
    await shuttingDown;
    assert.equal(bridge.driver.clients.size, 0, 'no client the portal never heard of is left at the IdP');
    assert.ok(bridge.logLines.some((line) => line.includes('deleted again')));
    assert.deepEqual(bridge.exits, [1]);
    process.stderr.write = writeStderr;
    console.error = writeConsoleError;
    assert.deepEqual(stderr, [], 'nothing but JSON log lines');
    for (const line of bridge.logLines) assert.doesNotThrow(() => JSON.parse(line), line);
    assert.ok(
      !bridge.logLines.some((line) => line.includes('"event":"client.registered"')),
      'no client.registered event for a registration deleted again',
    );
  });

  it('exits 0 when every request is answered within the grace, and lets the answer through', async () => {
    const bridge = await startBridge();
    const created = await bridge.send('POST', '/clients', '{"client_name":"existing"}');
    const clientId = (JSON.parse(created.body) as { client_id: string }).client_id;
    bridge.driver.holdAnswers();
    const slowRead = bridge.send('GET', `/clients/${clientId}`);
    await bridge.driver.entered;
    const shuttingDown = bridge.shutdown('SIGTERM');
    bridge.driver.answer();
    assert.equal((await slowRead).status, 200);
    await shuttingDown;
    assert.deepEqual(bridge.exits, [0]);
    assert.deepEqual(bridge.clock.pending(), [], 'the grace timer was cancelled');
    assert.ok(bridge.logLines.some((line) => line.includes('"message":"shut down"') && line.includes('"cut":0')));
  });
});

describe('shutdown grace configuration', () => {
  it('defaults to the retry budget plus one IdP timeout', () => {
    assert.equal(loadConfig({}).shutdownGraceSeconds, 35);
    assert.equal(loadConfig({ DCR_IDP_RETRY_BUDGET_MS: '5000', DCR_IDP_TIMEOUT_MS: '2500' }).shutdownGraceSeconds, 8);
    assert.equal(derivedShutdownGraceSeconds(25_000, 10_000), 35);
    assert.equal(loadConfig({ DCR_SHUTDOWN_GRACE_SECONDS: '60' }).shutdownGraceSeconds, 60);
    assert.equal(
      loadConfig({ DCR_SHUTDOWN_GRACE_SECONDS: '5', DCR_IDP_RETRY_BUDGET_MS: '5000' }).shutdownGraceSeconds,
      5,
    );
  });

  it('refuses a grace shorter than the retry budget in one line naming both variables', () => {
    assert.throws(
      () => loadConfig({ DCR_SHUTDOWN_GRACE_SECONDS: '10' }),
      (error: unknown) =>
        error instanceof ConfigurationError &&
        error.variable === 'DCR_SHUTDOWN_GRACE_SECONDS' &&
        error.message.includes('DCR_IDP_RETRY_BUDGET_MS') &&
        !error.message.includes('\n'),
    );
  });
});
