/**
 * Auth0's registration events grant only the APIs the operator allows (`AUTH0_ALLOWED_AUDIENCES`, default only
 * `AUTH0_AUDIENCE`); any other audience is `400`, and the Management API is never grantable — naming it in the
 * configuration stops the start (issue 11, item 10).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { createAuth0Driver, createDriverFromEnv } from '../../drivers/auth0.js';
import type { DcrDriver } from '../../src/driver/contract.js';
import { ConfigurationError } from '../../src/env.js';
import { serviceMetadata } from '../conformance/driver-suite.js';
import { startAuth0Emulator, type Auth0Emulator } from '../emulators/auth0.js';
import { createTestApp } from '../support/app.js';
import { completeDriver } from '../../src/core/driver.js';

const idpCallPolicy = { timeoutMs: 5_000, budgetMs: 10_000 };

describe('auth0: which APIs a registration event may grant', () => {
  let auth0: Auth0Emulator;
  let driver: DcrDriver;
  before(async () => {
    auth0 = await startAuth0Emulator();
    driver = completeDriver(
      createAuth0Driver({
        domain: auth0.domain,
        clientId: auth0.adminClient.clientId,
        clientSecret: auth0.adminClient.clientSecret,
        audience: auth0.apiAudience,
        idpCallPolicy,
      }),
    );
  });
  after(async () => {
    await driver?.close();
    await auth0?.stop();
  });

  it('add_registration for the Management API or an API not allowed is 400 and grants nothing', async () => {
    const client = await driver.registerClient(serviceMetadata(), { portal: 'konnect' });
    const bridge = await createTestApp(driver);
    try {
      for (const audience of [auth0.managementAudience, 'https://other-api.example.com/']) {
        const response = await request(bridge.app)
          .post(`/${client.clientId}/event-hook`)
          .set('X-API-Key', bridge.apiKey)
          .send({ event_type: 'add_registration', api_product_version_id: 'v1', audience });
        assert.equal(response.status, 400, JSON.stringify(response.body));
        assert.equal(response.body.error, 'invalid_request');
      }
      assert.deepEqual(
        auth0.grants(client.clientId).map((grant) => grant.audience),
        [auth0.apiAudience],
        'only the configured API is granted',
      );
      const allowed = await request(bridge.app)
        .post(`/${client.clientId}/event-hook`)
        .set('X-API-Key', bridge.apiKey)
        .send({ event_type: 'add_registration', api_product_version_id: 'v1', audience: auth0.apiAudience });
      assert.equal(allowed.status, 200);
    } finally {
      await bridge.close();
      await driver.deleteClient(client.clientId);
    }
  });

  it('AUTH0_ALLOWED_AUDIENCES naming the Management API stops the start, naming the variable', async () => {
    const env = {
      AUTH0_DOMAIN: auth0.domain,
      AUTH0_CLIENT_ID: 'id',
      AUTH0_CLIENT_SECRET: 'secret',
      AUTH0_AUDIENCE: auth0.apiAudience,
    };
    for (const listed of [auth0.managementAudience, `${auth0.apiAudience}, https://${auth0.domain}/api/v2`]) {
      await assert.rejects(
        createDriverFromEnv(
          { ...env, AUTH0_ALLOWED_AUDIENCES: listed },
          { rotationGraceSeconds: 0, publicUrl: 'http://127.0.0.1' },
        ),
        (error: unknown) => {
          return error instanceof ConfigurationError && error.message.includes('AUTH0_ALLOWED_AUDIENCES');
        },
      );
    }
    const allowed = completeDriver(
      await createDriverFromEnv(
        { ...env, AUTH0_ALLOWED_AUDIENCES: `${auth0.apiAudience},https://other-api.example.com/` },
        { rotationGraceSeconds: 0, publicUrl: 'http://127.0.0.1' },
      ),
    );
    await allowed.close();
  });
});
