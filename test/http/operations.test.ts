import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { parse } from 'yaml';
import type { RequestHandler } from 'express';
import { readBuildInfo } from '../../src/build-info.js';
import { IdpUnavailableError } from '../../src/errors.js';
import { createMetrics } from '../../src/metrics.js';
import { createTestApp } from '../support/app.js';
import { MemoryDriver } from '../support/memory-driver.js';
import { VirtualClock } from '../support/virtual-clock.js';
import { assertErrorShape, createObservedApp, type ObservedApp } from './helpers.js';

describe('operations endpoints', () => {
  let bridge: ObservedApp;
  const clock = new VirtualClock();
  before(async () => {
    bridge = await createObservedApp({}, { now: clock.now });
  });
  after(() => bridge.close());

  it('healthz answers without a key', async () => {
    const response = await request(bridge.app).get('/healthz').expect(200);
    assert.deepEqual(response.body, { status: 'ok' });
  });

  it('readyz is 503 idp_unavailable while the driver cannot reach its IdP, and caches the answer briefly', async () => {
    bridge.driver.failNext(new IdpUnavailableError(undefined, { retryAfterSeconds: 3 }));
    const down = await request(bridge.app).get('/readyz');
    assert.equal(down.status, 503);
    assertErrorShape(down.body, 'idp_unavailable');
    assert.equal(down.headers['retry-after'], '3');
    await request(bridge.app).get('/readyz').expect(503);
    const checks = async () =>
      (await bridge.metrics.registry.getSingleMetricAsString('dcr_driver_operations_total')).match(
        /operation="checkReadiness"[^\n]*\} (\d+)/,
      )?.[1];
    assert.equal(await checks(), '1', 'two probes within the cache window made one IdP check');
    clock.advance(1_999);
    await request(bridge.app).get('/readyz').expect(503);
    assert.equal(await checks(), '1', 'still cached just before the window ends');
    clock.advance(1);
    // Checked again once the window ended: the cached 503 would still answer otherwise.
    await request(bridge.app).get('/readyz').expect(200);
  });

  it('metrics expose request counts by route template and status, and no client ids', async () => {
    const created = await request(bridge.app).post('/clients').set('X-API-Key', bridge.apiKey).send({}).expect(201);
    await request(bridge.app).get(`/clients/${created.body.client_id}`).set('X-API-Key', bridge.apiKey).expect(200);
    await request(bridge.app).get('/clients/missing').set('X-API-Key', bridge.apiKey).expect(404);
    const response = await request(bridge.app).get('/metrics').expect(200);
    assert.match(response.headers['content-type'] ?? '', /^text\/plain/);
    assert.match(response.text, /dcr_http_requests_total\{method="POST",route="\/clients",status="201"\} 1/);
    assert.match(response.text, /dcr_http_requests_total\{method="GET",route="\/clients\/:client_id",status="404"\} 1/);
    assert.match(
      response.text,
      /dcr_http_request_duration_seconds_bucket\{le="[^"]+",method="GET",route="\/clients\/:client_id",status="200"\}/,
    );
    assert.match(
      response.text,
      /dcr_driver_operation_duration_seconds_count\{driver="memory",operation="registerClient"\} 1/,
    );
    assert.match(response.text, /dcr_events_total\{event="client.registered"\} 1/);
    assert.doesNotMatch(response.text, new RegExp(created.body.client_id as string));
    assert.doesNotMatch(response.text, new RegExp(created.body.client_secret as string));
  });

  it('metrics show the multiple-credentials calls: request routes, driver operations and events, never a secret id or value', async () => {
    const key = (test: request.Test) => test.set('X-API-Key', bridge.apiKey);
    const created = await key(request(bridge.app).post('/')).send({ client_name: 'metered' }).expect(201);
    const clientId = created.body.client_id as string;
    const added = await key(request(bridge.app).post(`/${clientId}/secrets`)).expect(201);
    await key(request(bridge.app).get(`/clients/${clientId}/secrets`)).expect(200);
    await key(request(bridge.app).delete(`/${clientId}/secrets/${added.body.secret_id}`)).expect(204);
    const text = (await request(bridge.app).get('/metrics').expect(200)).text;
    assert.match(text, /dcr_http_requests_total\{method="POST",route="\/:client_id\/secrets",status="201"\} 1/);
    assert.match(text, /dcr_http_requests_total\{method="GET",route="\/clients\/:client_id\/secrets",status="200"\} 1/);
    assert.match(
      text,
      /dcr_http_requests_total\{method="DELETE",route="\/:client_id\/secrets\/:secret_id",status="204"\} 1/,
    );
    for (const operation of ['listSecrets', 'addSecret', 'revokeSecret'])
      assert.match(
        text,
        new RegExp(`dcr_driver_operations_total\\{driver="memory",operation="${operation}",outcome="success"\\} 1`),
      );
    assert.match(text, /dcr_events_total\{event="secret.added"\} 1/);
    assert.match(text, /dcr_events_total\{event="secret.revoked"\} 1/);
    assert.doesNotMatch(text, new RegExp(added.body.secret_id as string));
    assert.doesNotMatch(text, new RegExp(added.body.client_secret as string));
  });

  it('serves the OpenAPI description and a self-contained reference page rendered from it', async () => {
    const yaml = await request(bridge.app).get('/openapi.yaml').expect(200);
    const document = parse(yaml.text) as { openapi: string; paths: Record<string, unknown> };
    assert.equal(document.openapi, '3.0.3');
    for (const path of [
      '/clients',
      '/clients/{client_id}',
      '/clients/{client_id}/rotate-secret',
      '/',
      '/{client_id}',
      '/{client_id}/new-secret',
      '/{client_id}/event-hook',
      '/clients/{client_id}/secrets',
      '/clients/{client_id}/secrets/{secret_id}',
      '/{client_id}/secrets',
      '/{client_id}/secrets/{secret_id}',
    ]) {
      assert.ok(document.paths[path], path);
    }
    const docs = await request(bridge.app).get('/docs').expect(200);
    assert.match(docs.headers['content-type'] ?? '', /^text\/html/);
    const loaded = [...docs.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]);
    assert.deepEqual(
      loaded.sort(),
      ['docs/favicon.png', 'docs/init.js', 'docs/swagger-ui-bundle.js', 'docs/swagger-ui.css', 'openapi.yaml'],
      'everything the page loads comes from the bridge itself',
    );
    assert.doesNotMatch(docs.text, /<script>/, 'no inline script: the CSP allows none');
    const bundle = await request(bridge.app).get('/docs/swagger-ui-bundle.js').expect(200);
    assert.match(bundle.headers['content-type'] ?? '', /javascript/);
    assert.match(bundle.headers['content-security-policy'] ?? '', /script-src 'self'/);
    const init = await request(bridge.app).get('/docs/init.js').expect(200);
    assert.match(init.text, /SwaggerUIBundle\(/);
    await request(bridge.app).get('/docs/swagger-ui.css').expect(200).expect('content-type', /css/);
    await request(bridge.app).get('/docs/..%2Fpackage.json').expect(401);
  });

  it('GET / answers without a key where to go: JSON links, or a small page to a browser; POST / stays Konnect', async () => {
    const json = await request(bridge.app).get('/').expect(200);
    assert.match(json.headers['content-type'] ?? '', /^application\/json/);
    assert.equal(json.body.docs, 'docs');
    assert.equal(json.body.health, 'healthz');
    assert.match(json.body.readme as string, /README/);
    const page = await request(bridge.app).get('/').set('Accept', 'text/html,application/xhtml+xml').expect(200);
    assert.match(page.headers['content-type'] ?? '', /^text\/html/);
    assert.match(page.text, /<a href="docs">/);
    assert.match(page.text, /<a href="healthz">/);
    assert.match(page.text, /README/);
    await request(bridge.app).post('/').send({}).expect(401);
  });

  it('GET /version and dcr_build_info name the version and the commit', async () => {
    const app = await createObservedApp({}, {});
    try {
      const version = await request(app.app).get('/version').expect(200);
      const packageVersion = (
        JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
          version: string;
        }
      ).version;
      assert.equal(version.body.version, packageVersion);
      assert.match(version.body.commit as string, /^([0-9a-f]{7,64}|unknown)$/);
      const metrics = await request(app.app).get('/metrics').expect(200);
      assert.ok(
        metrics.text.includes(
          `dcr_build_info{version="${packageVersion}",commit="${version.body.commit as string}"} 1`,
        ),
        metrics.text
          .split('\n')
          .filter((line) => line.includes('build_info'))
          .join('\n'),
      );
    } finally {
      await app.close();
    }
  });

  it('reads the commit the build recorded, and says unknown without one or with a malformed one', () => {
    const root = mkdtempSync(join(tmpdir(), 'dcr-build-info-'));
    try {
      writeFileSync(join(root, 'package.json'), JSON.stringify({ version: '9.8.7' }));
      assert.deepEqual(readBuildInfo(root), { version: '9.8.7', commit: 'unknown' });
      mkdirSync(join(root, 'dist'));
      writeFileSync(join(root, 'dist', 'build-info.json'), JSON.stringify({ commit: 'abc1234def' }));
      assert.deepEqual(readBuildInfo(root), { version: '9.8.7', commit: 'abc1234def' });
      writeFileSync(join(root, 'dist', 'build-info.json'), JSON.stringify({ commit: '<script>' }));
      assert.equal(readBuildInfo(root).commit, 'unknown');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('sets helmet headers, echoes a sane X-Request-Id and replaces an unsafe one', async () => {
    const kept = await request(bridge.app).get('/healthz').set('X-Request-Id', 'portal-req-123');
    assert.equal(kept.headers['x-request-id'], 'portal-req-123');
    assert.equal(kept.headers['x-content-type-options'], 'nosniff');
    assert.match(kept.headers['content-security-policy'] ?? '', /default-src 'self'/);
    assert.doesNotMatch(kept.headers['content-security-policy'] ?? '', /upgrade-insecure-requests/);
    assert.equal(kept.headers['x-powered-by'], undefined);
    const replaced = await request(bridge.app).get('/healthz').set('X-Request-Id', 'bad id\twith "quotes" and more');
    assert.match(replaced.headers['x-request-id'] ?? '', /^[0-9a-f-]{36}$/);
    const unauthenticated = await request(bridge.app).get('/clients/x').set('X-Request-Id', 'req-401');
    assert.equal(unauthenticated.headers['x-request-id'], 'req-401');
  });

  it("mounts the driver's public routes without the key, and only those", async () => {
    const discovery: RequestHandler = (req, res) => {
      res.json({ issuer: 'http://127.0.0.1/local-idp', path: req.path });
    };
    class DriverWithPublicRoutes extends MemoryDriver {
      readonly publicRoutes = { path: '/local-idp', handler: discovery };
    }
    const metrics = createMetrics();
    const withIdp = await createTestApp(new DriverWithPublicRoutes(), {}, { metrics });
    try {
      const response = await request(withIdp.app).get('/local-idp/.well-known/openid-configuration').expect(200);
      assert.deepEqual(response.body, {
        issuer: 'http://127.0.0.1/local-idp',
        path: '/.well-known/openid-configuration',
      });
      await request(withIdp.app).get('/local-idpx').expect(401);
      assert.match(
        await metrics.registry.metrics(),
        /dcr_http_requests_total\{method="GET",route="\/local-idp",status="200"\} 1/,
      );
    } finally {
      await withIdp.close();
    }
  });
});
