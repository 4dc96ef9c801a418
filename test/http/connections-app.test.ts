/**
 * `createConnectionsApp` over memory drivers: `/readyz` fails only on a connection whose readiness is required (and
 * says which), a connection's spans carry its name, and a request reaches only the app of the path it names.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import request from 'supertest';
import type { Connection } from '../../src/connections.js';
import { createConnectionsApp, type ConnectionsApp } from '../../src/connections-app.js';
import { IdpUnavailableError } from '../../src/errors.js';
import { createLogger } from '../../src/logging.js';
import { startTracing, tracingForConnection, type Tracing } from '../../src/tracing.js';
import { testConfig } from '../support/app.js';
import { MemoryDriver } from '../support/memory-driver.js';

function connection(name: string, path: string, readiness: Connection['readiness']): Connection {
  const apiKeys = [`${name}-portal-key-0123456789`];
  return {
    name,
    driverName: 'local',
    path,
    readiness,
    config: {
      ...testConfig(),
      apiKeys,
      apiKeyNames: [name],
      publicUrl: `http://bridge.test${path === '/' ? '' : path}`,
    },
    driverEnv: {},
  };
}

describe('the connections app', () => {
  const exporter = new InMemorySpanExporter();
  const drivers = { main: new MemoryDriver(), side: new MemoryDriver() };
  let tracing: Tracing;
  let app: ConnectionsApp;
  let now = 0;

  before(async () => {
    tracing = await startTracing({ spanProcessor: new SimpleSpanProcessor(exporter) });
    app = createConnectionsApp(
      [
        { connection: connection('main', '/main', 'required'), implementation: drivers.main },
        { connection: connection('side', '/', 'reported'), implementation: drivers.side },
      ],
      {
        logger: createLogger({ level: 'silent' }),
        tracing,
        tracingForConnection: (name) => tracingForConnection(tracing, name),
        now: () => now,
      },
    );
  });

  after(async () => {
    await app.close();
    await tracing.shutdown();
  });

  it('/readyz fails on a required connection only, naming it, and reports every one', async () => {
    now += 10_000;
    drivers.side.failNext(new IdpUnavailableError());
    const reported = await request(app.listener).get('/readyz');
    assert.equal(reported.status, 200);
    assert.deepEqual(reported.body, { status: 'ok', connections: { main: 'ok', side: 'idp_unavailable' } });

    now += 10_000;
    drivers.main.failNext(new IdpUnavailableError('down', { retryAfterSeconds: 7 }));
    const failed = await request(app.listener).get('/readyz');
    assert.equal(failed.status, 503);
    assert.equal(failed.body.error, 'idp_unavailable');
    assert.match(failed.body.error_description, /connection main cannot be reached/);
    assert.equal(failed.headers['retry-after'], '7');
  });

  it("sends each request to the app of the path it names, stripped, and a connection's spans carry its name", async () => {
    exporter.reset();
    const created = await request(app.listener)
      .post('/main/clients')
      .set('X-API-Key', 'main-portal-key-0123456789')
      .send({ client_name: 'traced', grant_types: ['client_credentials'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(drivers.main.clients.size, 1);
    assert.equal(drivers.side.clients.size, 0);
    const spans = exporter.getFinishedSpans();
    const server = spans.find((span) => span.name === 'POST /clients');
    assert.equal(server?.attributes['dcr.connection'], 'main', 'the request span');
    const operation = spans.find((span) => span.name === 'memory registerClient');
    assert.equal(operation?.attributes['dcr.connection'], 'main', 'the driver span');

    // `/mainly` is not under `/main`: the connection at `/` has it, and main's key is not its.
    const elsewhere = await request(app.listener)
      .post('/mainly/clients')
      .set('X-API-Key', 'main-portal-key-0123456789');
    assert.equal(elsewhere.status, 401);
  });
});
