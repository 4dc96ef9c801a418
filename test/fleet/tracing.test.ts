/**
 * Tracing with an in-memory exporter: one register through the Okta driver (the real SDK against the Okta emulator
 * over TLS) whose create call is throttled once gives request → driver operation → one span per attempt, continuing
 * the portal's trace, and the emulator received the attempt's traceparent.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import request from 'supertest';
import type { Express } from 'express';
import { createOktaDriver } from '../../drivers/okta.js';
import { closeApp, createApp } from '../../src/app.js';
import type { DcrDriver } from '../../src/driver/contract.js';
import { IdpCaller } from '../../src/driver/call/caller.js';
import { createLogger } from '../../src/logging.js';
import { startTracing, type Tracing } from '../../src/tracing.js';
import { startOktaEmulator, type OktaEmulator } from '../emulators/okta.js';
import { testConfig } from '../support/app.js';
import { completeDriver } from '../../src/core/driver.js';

const CREATE_APP = 'POST /api/v1/apps';
const portalTraceId = '4bf92f3577b34da6a3ce929d0e0e4736';
const portalSpanId = '00f067aa0ba902b7';

describe('tracing', () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;
  let okta: OktaEmulator;
  let driver: DcrDriver;
  let app: Express;
  let apiKey: string;

  before(async () => {
    tracing = await startTracing({ spanProcessor: new SimpleSpanProcessor(exporter) });
    okta = await startOktaEmulator({ rateLimitPerMinute: 100_000 });
    driver = completeDriver(
      createOktaDriver({
        orgUrl: okta.emulator.url,
        credentials: { apiToken: okta.apiToken },
        idpCallPolicy: { timeoutMs: 2000, baseDelayMs: 5, maxDelayMs: 50, budgetMs: 4000 },
      }),
    );
    const config = testConfig();
    apiKey = config.apiKeys[0]!;
    app = createApp(config, driver, { logger: createLogger({ level: 'silent' }), tracing });
  });
  after(async () => {
    await closeApp(app);
    await driver.close();
    await okta.stop();
    await tracing.shutdown();
  });

  it('gives request → driver operation → one span per IdP attempt, in the portal’s trace, and sends traceparent on', async () => {
    okta.emulator.injectFault({
      route: CREATE_APP,
      status: 429,
      headers: { 'Retry-After': '0', 'X-Rate-Limit-Remaining': '0' },
      body: { errorCode: 'E0000047', errorSummary: 'API call exceeded rate limit due to too many requests.' },
    });
    const response = await request(app)
      .post('/clients')
      .set('X-API-Key', apiKey)
      .set('traceparent', `00-${portalTraceId}-${portalSpanId}-01`)
      .send({ client_name: 'traced', grant_types: ['client_credentials'] })
      .expect(201);
    const secret = response.body.client_secret as string;

    const spans = exporter.getFinishedSpans();
    const byName = (name: string) => spans.filter((span) => span.name === name);
    const server = byName('POST /clients');
    assert.equal(server.length, 1, spans.map((span) => span.name).join(', '));
    const requestSpan = server[0]!;
    assert.equal(requestSpan.spanContext().traceId, portalTraceId, "the request continues the portal's trace");
    assert.equal(requestSpan.parentSpanContext?.spanId, portalSpanId);
    assert.equal(requestSpan.attributes['http.response.status_code'], 201);

    const [operation, ...others] = byName('okta registerClient');
    assert.ok(operation && others.length === 0);
    assert.equal(operation.parentSpanContext?.spanId, requestSpan.spanContext().spanId);
    assert.equal(operation.attributes['dcr.driver'], 'okta');

    const attempts = spans.filter(
      (span) =>
        span.parentSpanContext?.spanId === operation.spanContext().spanId &&
        span.attributes['dcr.idp.operation'] === 'register client',
    );
    assert.deepEqual(
      attempts.map((span) => [
        span.attributes['dcr.idp.attempt'],
        span.attributes['http.response.status_code'],
        typeof span.attributes['dcr.idp.retry_delay_ms'],
      ]),
      [
        [1, 429, 'number'],
        [2, undefined, 'undefined'],
      ],
      'the throttled attempt, with its status and the wait, then the one that worked',
    );
    for (const attempt of attempts) assert.equal(attempt.attributes['dcr.driver'], 'okta');
    for (const span of spans.filter((s) => s.attributes['dcr.idp.operation'] !== undefined)) {
      assert.equal(
        span.parentSpanContext?.spanId,
        operation.spanContext().spanId,
        'every IdP attempt hangs under the driver operation',
      );
    }

    const creates = okta.emulator.requestsTo(CREATE_APP);
    assert.equal(creates.length, 2);
    creates.forEach((sent, index) => {
      assert.equal(
        sent.headers.traceparent,
        `00-${portalTraceId}-${attempts[index]!.spanContext().spanId}-01`,
        'each attempt sends its own span as the parent',
      );
    });
    assertNothingSecret(spans, [secret, okta.apiToken, apiKey]);
  });

  it('sends traceparent from inside an IdP attempt only', async () => {
    const seen: Array<string | undefined> = [];
    const server = createServer((req, res) => {
      seen.push(req.headers.traceparent as string | undefined);
      res.end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const get = async () => void (await (await fetch(`http://127.0.0.1:${port}/`)).text());
    try {
      exporter.reset();
      const caller = new IdpCaller({ describe: () => undefined });
      await caller.call('read thing', 'idempotent', () => get());
      await get();
    } finally {
      server.close();
    }
    const [attempt] = exporter.getFinishedSpans().filter((span) => span.name === 'idp read thing');
    assert.ok(attempt);
    assert.equal(seen[0], `00-${attempt.spanContext().traceId}-${attempt.spanContext().spanId}-01`);
    assert.equal(seen[1], undefined, 'a request outside an IdP attempt carries no traceparent');
  });

  it('starts a new trace when the portal sends none', async () => {
    exporter.reset();
    await request(app).get('/clients/no-such-app').set('X-API-Key', apiKey).expect(404);
    const [server] = exporter.getFinishedSpans().filter((span) => span.name === 'GET /clients/:client_id');
    assert.ok(server);
    assert.equal(server.parentSpanContext, undefined);
    assert.notEqual(server.spanContext().traceId, portalTraceId);
  });
});

function assertNothingSecret(spans: ReadableSpan[], secrets: string[]): void {
  const text = JSON.stringify(
    spans.map((span) => ({ name: span.name, attributes: span.attributes, events: span.events })),
  );
  for (const secret of secrets) assert.ok(!text.includes(secret), 'no secret, token or key in a span');
}

describe('tracing switch', () => {
  it('is on with an OTLP endpoint, off without one or when the SDK or the traces exporter is disabled', async () => {
    const { loadConfig } = await import('../../src/config.js');
    assert.equal(loadConfig({}).tracing, false);
    assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }).tracing, true);
    assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' }).tracing, true);
    assert.equal(
      loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_SDK_DISABLED: 'true' }).tracing,
      false,
    );
    assert.equal(
      loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_TRACES_EXPORTER: 'none' }).tracing,
      false,
    );
  });
});
