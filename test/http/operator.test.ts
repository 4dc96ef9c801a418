/**
 * `/operator/clients`: the operator's view of the clients the bridge owns, through the driver. Only an operator key
 * opens it (a portal key is refused, and none configured means 401 for everyone); pages follow `next`; no secret ever
 * appears; delete removes the client at the IdP.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { loadConfig } from '../../src/config.js';
import { ConfigurationError } from '../../src/env.js';
import { type AuditRecord, BridgeEvents } from '../../src/events.js';
import { assertErrorShape, createObservedApp, type ObservedApp } from './helpers.js';

const operatorKey = 'operator-key-0123456789';

describe('the operator endpoint /operator/clients', () => {
  let bridge: ObservedApp;
  let unconfigured: ObservedApp;
  const events = new BridgeEvents();
  const audited: AuditRecord[] = [];
  events.on('audit.recorded', (record) => audited.push(record));
  before(async () => {
    bridge = await createObservedApp({ operatorKeys: [operatorKey] }, { events });
    unconfigured = await createObservedApp();
  });
  after(async () => {
    await bridge.close();
    await unconfigured.close();
  });
  const operator = (method: 'get' | 'delete', path: string) =>
    request(bridge.app)[method](path).set('X-API-Key', operatorKey);

  it('lists the owned clients a page at a time with their marks, never a secret, and not foreign ones', async () => {
    const secrets: string[] = [];
    const ids: string[] = [];
    for (let index = 0; index < 5; index++) {
      const created = await request(bridge.app)
        .post('/')
        .set('X-API-Key', bridge.apiKey)
        .send({ client_name: `app ${index}`, portal_id: `portal-${index}`, developer_id: 'dev-1' })
        .expect(201);
      secrets.push(created.body.client_secret as string);
      ids.push(created.body.client_id as string);
    }
    bridge.driver.foreignClientIds.add(ids[4]!);
    const listed: Record<string, unknown>[] = [];
    let next: string | undefined;
    let pages = 0;
    do {
      pages++;
      assert.ok(pages <= 10, 'the pages end');
      const page = await operator('get', `/operator/clients?limit=2${next ? `&cursor=${next}` : ''}`).expect(200);
      assert.ok((page.body.clients as unknown[]).length <= 2);
      assert.equal(page.headers['cache-control'], 'no-store');
      listed.push(...(page.body.clients as Record<string, unknown>[]));
      next = page.body.next as string | undefined;
    } while (next);
    assert.equal(new Set(listed.map((client) => client.client_id)).size, listed.length, 'each client listed once');
    assert.equal(listed.length, 4, 'the four owned clients');
    const first = listed.find((client) => client.client_id === ids[0]);
    assert.equal(first?.client_name, 'app 0');
    assert.equal(first?.dialect, 'konnect');
    assert.equal(first?.portal_id, 'portal-0');
    assert.equal(first?.developer_id, 'dev-1');
    assert.equal(typeof first?.created_at, 'number');
    assert.equal(
      listed.some((client) => client.client_id === ids[4]),
      false,
      'a client the bridge did not create is not listed',
    );
    const text = JSON.stringify(listed);
    for (const secret of secrets) assert.equal(text.includes(secret), false, 'no secret in the list');
  });

  it('shows one client without its secret, and deletes it at the IdP', async () => {
    const created = await request(bridge.app)
      .post('/clients')
      .set('X-API-Key', bridge.apiKey)
      .send({ client_name: 'to remove' })
      .expect(201);
    const id = created.body.client_id as string;
    const shown = await operator('get', `/operator/clients/${id}`).expect(200);
    assert.equal(shown.body.client_name, 'to remove');
    assert.equal(JSON.stringify(shown.body).includes(created.body.client_secret as string), false);
    await operator('delete', `/operator/clients/${id}`).expect(204);
    assert.equal(bridge.driver.clients.has(id), false, 'gone at the IdP');
    const deleted = audited.filter((record) => record.operation === 'operator.delete');
    assert.deepEqual(
      deleted.map(({ apiKey, clientId, outcome, status }) => ({ apiKey, clientId, outcome, status })),
      [{ apiKey: 'operator', clientId: id, outcome: 'success', status: 204 }],
      'the operator delete is in the audit trail',
    );
    assert.ok(!JSON.stringify(deleted).includes(operatorKey), 'never the key');
    assertErrorShape((await operator('get', `/operator/clients/${id}`).expect(404)).body, 'client_not_found');
  });

  it('refuses a portal key, no key, and everyone when no operator key is configured', async () => {
    assertErrorShape(
      (await request(bridge.app).get('/operator/clients').set('X-API-Key', bridge.apiKey).expect(401)).body,
      'invalid_api_key',
    );
    await request(bridge.app).get('/operator/clients').expect(401);
    await request(unconfigured.app).get('/operator/clients').set('X-API-Key', operatorKey).expect(401);
    await request(unconfigured.app).get('/operator/clients').set('X-API-Key', unconfigured.apiKey).expect(401);
    await request(bridge.app).get('/clients/x').set('X-API-Key', operatorKey).expect(401);
  });

  it('refuses a limit out of range and a cursor it did not give', async () => {
    assertErrorShape((await operator('get', '/operator/clients?limit=0').expect(400)).body, 'invalid_request');
    assertErrorShape((await operator('get', '/operator/clients?limit=501').expect(400)).body, 'invalid_request');
    assertErrorShape((await operator('get', '/operator/clients?cursor=abc').expect(400)).body, 'invalid_request');
  });

  it('DCR_OPERATOR_KEYS: long keys, never a portal key', () => {
    const base = { DCR_API_KEYS: 'portal-key-0123456789' };
    assert.deepEqual(loadConfig({ ...base, DCR_OPERATOR_KEYS: `${operatorKey}, other-operator-key-01` }).operatorKeys, [
      operatorKey,
      'other-operator-key-01',
    ]);
    assert.equal(loadConfig(base).operatorKeys, undefined);
    assert.throws(() => loadConfig({ ...base, DCR_OPERATOR_KEYS: 'short' }), ConfigurationError);
    assert.throws(() => loadConfig({ ...base, DCR_OPERATOR_KEYS: 'portal-key-0123456789' }), /must not repeat/);
  });
});
