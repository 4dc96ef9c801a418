/**
 * An IdP failure names its cause in the log — connection refused, TLS, timeout, status — with the IdP host, never a
 * secret or a body (issue 11, item 12). Every failed attempt of the kit's admin call is reported, and the app logs
 * the report as the `idp.attempt_failed` event.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import request from 'supertest';
import { createKeycloakDriver } from '../../drivers/keycloak.js';
import type { IdpFailureReport } from '../../src/driver/contract.js';
import { BridgeEvents } from '../../src/events.js';
import { createLogger } from '../../src/logging.js';
import { createTestApp } from '../support/app.js';
import { VirtualClock } from '../support/virtual-clock.js';
import { completeDriver } from '../../src/core/driver.js';

const SECRET = 'service-account-secret-that-must-never-be-logged';

async function listening(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

/** On a virtual clock: no attempt here times out unless the test moves the clock. */
function keycloakAt(
  url: string,
  reports: IdpFailureReport[],
  policy: { clock?: VirtualClock; maxAttempts?: number } = {},
) {
  const idpCallPolicy = {
    timeoutMs: 2_000,
    budgetMs: 6_000,
    baseDelayMs: 5,
    maxDelayMs: 20,
    maxAttempts: 2,
    clock: new VirtualClock(),
    ...policy,
  };
  return completeDriver(
    createKeycloakDriver({
      url,
      realm: 'dcr',
      clientId: 'svc',
      clientSecret: SECRET,
      rotationGraceSeconds: 0,
      idpCallPolicy,
      onIdpFailure: (report) => reports.push(report),
    }),
  );
}

/** Closes the server and every connection it still holds (one that never answered would otherwise linger). */
function closeWithConnections(server: Server, sockets: Set<Socket>): Promise<void> {
  for (const socket of sockets) socket.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('IdP failures name their cause and host', () => {
  it('a closed port is "connection refused", logged through the app with the host and no secret', async () => {
    const closed = createServer();
    const port = await listening(closed);
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const lines: string[] = [];
    const logger = createLogger({
      level: 'info',
      stream: new Writable({ write: (chunk, _encoding, done) => done(void lines.push(String(chunk))) }),
    });
    const events = new BridgeEvents();
    const observed = completeDriver(
      createKeycloakDriver({
        url: `https://127.0.0.1:${port}`,
        realm: 'dcr',
        clientId: 'svc',
        clientSecret: SECRET,
        rotationGraceSeconds: 0,
        idpCallPolicy: { timeoutMs: 2_000, budgetMs: 6_000, baseDelayMs: 5, maxDelayMs: 20, maxAttempts: 2 },
        onIdpFailure: (report) => events.emit('idp.attempt_failed', report),
      }),
    );
    const bridge = await createTestApp(observed, {}, { logger, events });
    try {
      const response = await request(bridge.app).get('/clients/dcr-some-client').set('X-API-Key', bridge.apiKey);
      assert.equal(response.status, 503);
      const failures = lines
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((line) => line.event === 'idp.attempt_failed');
      assert.ok(failures.length >= 1, 'each failed attempt is logged');
      assert.deepEqual(
        { cause: failures[0]!.cause, host: failures[0]!.host },
        { cause: 'connection refused', host: `127.0.0.1:${port}` },
      );
      assert.ok(!lines.join('\n').includes(SECRET), 'the IdP credentials never reach the log');
    } finally {
      await bridge.close();
      await observed.close();
    }
  });

  it('a server that does not speak TLS is "tls"', async () => {
    const sockets = new Set<Socket>();
    const plain = createServer((socket) => {
      sockets.add(socket);
      socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
    });
    const port = await listening(plain);
    const reports: IdpFailureReport[] = [];
    const driver = keycloakAt(`https://127.0.0.1:${port}`, reports);
    try {
      await assert.rejects(driver.checkReadiness());
      assert.equal(reports[0]?.cause, 'tls');
      assert.equal(reports[0]?.host, `127.0.0.1:${port}`);
    } finally {
      await driver.close();
      await closeWithConnections(plain, sockets);
    }
  });

  it('a server that never answers is "timeout"; one that hangs up at once is named too', async () => {
    // The server takes the connection and never answers: once it holds the attempt's connection, the attempt's
    // timeout passes (on the driver's clock, at once). One attempt: a repeat would wait on the same silent handshake.
    const clock = new VirtualClock();
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      clock.advance(2_000);
    });
    const port = await listening(silent);
    const reports: IdpFailureReport[] = [];
    const driver = keycloakAt(`https://127.0.0.1:${port}`, reports, { clock, maxAttempts: 1 });
    try {
      await assert.rejects(driver.checkReadiness());
      assert.deepEqual(
        reports.map((report) => report.cause),
        ['timeout'],
      );
    } finally {
      // The handshake the aborted attempt left behind ends with the server's connections, then the pool closes.
      await closeWithConnections(silent, sockets);
      await driver.close();
    }
    const refusing = createServer((socket) => socket.destroy());
    const resetPort = await listening(refusing);
    const resets: IdpFailureReport[] = [];
    const resetDriver = keycloakAt(`https://127.0.0.1:${resetPort}`, resets);
    try {
      await assert.rejects(resetDriver.checkReadiness());
      assert.ok(['connection reset', 'tls', 'network'].includes(resets[0]!.cause), resets[0]!.cause);
    } finally {
      await resetDriver.close();
      await closeWithConnections(refusing, new Set());
    }
  });
});
