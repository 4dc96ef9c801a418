/**
 * Graceful shutdown with several connections (DCR_CONFIG_FILE): each connection tracks its own driver calls, and the
 * shutdown cuts and waits for all of them — a registration that completes, through any connection, after its request
 * was cut is deleted again at that connection's IdP. The clock is the test's.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import type { Connection } from '../../src/connections.js';
import { createConnectionsApp } from '../../src/connections-app.js';
import type { ClientMetadata, RegisteredClientWithSecret, RegistrationContext } from '../../src/driver/contract.js';
import { createLogger } from '../../src/logging.js';
import { createBridgeServer } from '../../src/server.js';
import { combinedCallTrackers, prepareShutdown, trackDriverCalls, type Schedule } from '../../src/shutdown.js';
import { testConfig } from '../support/app.js';
import { MemoryDriver } from '../support/memory-driver.js';

/** A memory driver whose registrations wait until the test lets the "IdP" answer. */
class HeldRegistrations extends MemoryDriver {
  #release: () => void = () => undefined;
  #gate: Promise<void> = Promise.resolve();
  #enter: () => void = () => undefined;
  entered: Promise<void> = Promise.resolve();

  hold(): void {
    this.#gate = new Promise((resolve) => (this.#release = resolve));
    this.entered = new Promise((resolve) => (this.#enter = resolve));
  }

  answer(): void {
    this.#release();
  }

  override async registerClient(
    metadata: ClientMetadata,
    context: RegistrationContext,
  ): Promise<RegisteredClientWithSecret> {
    this.#enter();
    await this.#gate;
    return super.registerClient(metadata, context);
  }
}

function connection(name: string): Connection {
  return {
    name,
    driverName: 'local',
    path: `/${name}`,
    readiness: 'required',
    config: { ...testConfig({ shutdownGraceSeconds: 3 }), apiKeys: [`${name}-portal-key-0123456789`] },
    driverEnv: {},
  };
}

describe('shutdown with several connections', () => {
  it("cuts a request of the second connection at the grace and deletes its late registration at that connection's IdP", async () => {
    const drivers = { first: new HeldRegistrations(), second: new HeldRegistrations() };
    const logger = createLogger({ level: 'silent' });
    const trackers = { first: trackDriverCalls(logger), second: trackDriverCalls(logger) };
    const app = createConnectionsApp(
      [
        { connection: connection('first'), implementation: drivers.first },
        { connection: connection('second'), implementation: drivers.second },
      ],
      { logger, driverObservers: (c) => [trackers[c.name as 'first' | 'second'].observer] },
    );
    const config = testConfig({ shutdownGraceSeconds: 3 });
    const server = createBridgeServer(config, app.listener);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const timers = new Map<number, () => void>();
    const schedule: Schedule = (ms, action) => {
      timers.set(ms, action);
      return () => timers.delete(ms);
    };
    const exits: number[] = [];
    const shutdown = prepareShutdown({
      server,
      calls: combinedCallTrackers([trackers.first, trackers.second]),
      graceSeconds: 3,
      settleMs: 9_000,
      logger,
      stopBackgroundWork: () => undefined,
      release: () => app.close(),
      exit: (code) => exits.push(code),
      schedule,
    });

    drivers.second.hold();
    const answered = new Promise<number>((resolve, reject) => {
      const sent = http.request(
        {
          host: '127.0.0.1',
          port: (server.address() as AddressInfo).port,
          method: 'POST',
          path: '/second/clients',
          headers: { 'X-API-Key': 'second-portal-key-0123456789', 'Content-Type': 'application/json' },
        },
        (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode ?? 0));
        },
      );
      sent.on('error', reject);
      sent.end('{"client_name":"registered during shutdown"}');
    });
    await drivers.second.entered;
    const shuttingDown = shutdown('SIGTERM');
    const grace = timers.get(3_000);
    assert.ok(grace, 'the grace timer is pending');
    grace();
    assert.equal(await answered, 503, 'the request still waiting is cut');
    drivers.second.answer();
    await shuttingDown;
    assert.equal(drivers.second.clients.size, 0, "no client the portal never heard of is left at second's IdP");
    assert.deepEqual(exits, [1]);
  });
});
