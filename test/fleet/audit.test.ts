import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import type { Express } from 'express';
import { closeApp, createApp } from '../../src/app.js';
import { apiKeyFingerprint, loadConfig } from '../../src/config.js';
import { ClientNotFoundError, IdpUnavailableError } from '../../src/errors.js';
import { BridgeEvents, type AuditRecord } from '../../src/events.js';
import { createLogger } from '../../src/logging.js';
import { testConfig } from '../support/app.js';
import { MemoryDriver } from '../support/memory-driver.js';

const api7Key = 'api7-portal-key-0000000001';
const konnectKey = 'konnect_portal_key_0000000002';
const unnamedKey = 'unnamed-portal-key-00000003';

describe('audit trail', () => {
  let app: Express;
  let driver: MemoryDriver;
  const events = new BridgeEvents();
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(
        ...String(chunk)
          .split('\n')
          .filter((line) => line !== ''),
      );
      callback();
    },
  });
  /** The records written since `from`, parsed. */
  const recordsSince = (from: number): AuditRecord[] =>
    lines.slice(from).map((line) => JSON.parse(line) as AuditRecord);
  /** Runs one call and returns the one audit record it wrote. */
  const onlyRecordOf = async (call: () => PromiseLike<unknown>): Promise<AuditRecord> => {
    const from = lines.length;
    await call();
    const records = recordsSince(from);
    assert.equal(records.length, 1, JSON.stringify(records));
    return records[0]!;
  };

  before(() => {
    driver = new MemoryDriver();
    const { apiKeys, apiKeyNames } = loadConfig({
      DCR_DRIVER: 'keycloak',
      DCR_API_KEYS: `api7:${api7Key},konnect:${konnectKey},${unnamedKey}`,
    });
    app = createApp(testConfig({ apiKeys, apiKeyNames }), driver, {
      logger: createLogger({ level: 'silent' }),
      events,
      auditStream: stream,
    });
  });
  after(async () => {
    await closeApp(app);
    const text = lines.join('\n');
    for (const key of [api7Key, konnectKey, unnamedKey]) assert.ok(!text.includes(key), 'no key in the audit stream');
    for (const [, stored] of driver.clients)
      for (const secret of stored.secrets) assert.ok(!text.includes(secret.value), 'no secret in the audit stream');
  });

  it('records standard DCR changes: register under a portal key, update and delete under the registration token, and a refused token', async () => {
    let answer: { client_id: string; registration_access_token: string } | undefined;
    const registered = await onlyRecordOf(async () => {
      const response = await request(app)
        .post('/register')
        .set('Authorization', `Bearer ${konnectKey}`)
        .send({ client_name: 'std', grant_types: ['client_credentials'] })
        .expect(201);
      answer = response.body as typeof answer;
    });
    assert.deepEqual(
      {
        apiKey: registered.apiKey,
        dialect: registered.dialect,
        operation: registered.operation,
        outcome: registered.outcome,
        status: registered.status,
      },
      { apiKey: 'konnect', dialect: 'dcr', operation: 'register', outcome: 'success', status: 201 },
    );
    const clientId = answer!.client_id;
    assert.equal(registered.clientId, clientId);
    const refused = await onlyRecordOf(() =>
      request(app)
        .delete(`/register/${clientId}`)
        .set('Authorization', 'Bearer not-the-registration-token')
        .expect(401),
    );
    assert.deepEqual(
      [refused.dialect, refused.operation, refused.clientId, refused.outcome],
      ['dcr', 'delete', clientId, 'refused'],
    );
    assert.ok(driver.clients.has(clientId), 'a refused token changes nothing');
    const deleted = await onlyRecordOf(() =>
      request(app)
        .delete(`/register/${clientId}`)
        .set('Authorization', `Bearer ${answer!.registration_access_token}`)
        .expect(204),
    );
    assert.deepEqual(
      [deleted.dialect, deleted.operation, deleted.clientId, deleted.outcome, deleted.status],
      ['dcr', 'delete', clientId, 'success', 204],
    );
    assert.ok(
      !lines.join('\n').includes(answer!.registration_access_token),
      'no registration access token in the audit stream',
    );
  });

  it('records each API7 change with the key name, client id, operation, outcome and status', async () => {
    const registered = await onlyRecordOf(() =>
      request(app)
        .post('/clients')
        .set('X-API-Key', api7Key)
        .set('X-Request-Id', 'audit-register-1')
        .send({ client_name: 'a' })
        .expect(201),
    );
    assert.equal(registered.type, 'audit');
    assert.equal(registered.requestId, 'audit-register-1');
    assert.ok(Math.abs(Date.parse(registered.time) - Date.now()) < 60_000);
    assert.deepEqual(
      {
        apiKey: registered.apiKey,
        dialect: registered.dialect,
        operation: registered.operation,
        outcome: registered.outcome,
        status: registered.status,
      },
      { apiKey: 'api7', dialect: 'api7', operation: 'register', outcome: 'success', status: 201 },
    );
    const clientId = registered.clientId!;
    assert.ok(driver.clients.has(clientId), 'the record names the client the IdP created');

    const updated = await onlyRecordOf(() =>
      request(app).put(`/clients/${clientId}`).set('X-API-Key', api7Key).send({ client_name: 'b' }).expect(200),
    );
    assert.deepEqual([updated.operation, updated.clientId, updated.outcome], ['update', clientId, 'success']);
    const rotated = await onlyRecordOf(() =>
      request(app).post(`/clients/${clientId}/rotate-secret`).set('Authorization', `Bearer ${api7Key}`).expect(200),
    );
    assert.deepEqual([rotated.operation, rotated.clientId, rotated.apiKey], ['rotate', clientId, 'api7']);
    const deleted = await onlyRecordOf(() =>
      request(app).delete(`/clients/${clientId}`).set('X-API-Key', unnamedKey).expect(204),
    );
    assert.deepEqual([deleted.operation, deleted.clientId, deleted.status], ['delete', clientId, 204]);
    assert.equal(deleted.apiKey, apiKeyFingerprint(unnamedKey), 'an unnamed key is named by its fingerprint');
    assert.match(deleted.apiKey!, /^key-[0-9a-f]{8}$/);
  });

  it("records Konnect changes and events with the portal's own ids", async () => {
    const registered = await onlyRecordOf(() =>
      request(app)
        .post('/')
        .set('X-API-Key', konnectKey)
        .send({
          client_name: 'k',
          redirect_uris: ['https://app.example.com/cb'],
          portal_id: 'portal-3',
          organization_id: 'org-7',
          developer_id: 'dev-9',
        })
        .expect(201),
    );
    assert.deepEqual(
      [
        registered.dialect,
        registered.apiKey,
        registered.operation,
        registered.portalId,
        registered.organizationId,
        registered.developerId,
      ],
      ['konnect', 'konnect', 'register', 'portal-3', 'org-7', 'dev-9'],
    );
    const clientId = registered.clientId!;
    const hook = (body: object) => () =>
      request(app).post(`/${clientId}/event-hook`).set('X-API-Key', konnectKey).send(body).expect(200);
    assert.deepEqual(
      (await onlyRecordOf(hook({ event_type: 'update_application', redirect_uris: ['https://app.example.com/next'] })))
        .operation,
      'event:update_application',
    );
    const granted = await onlyRecordOf(hook({ event_type: 'add_registration', api_product_version_id: 'v1' }));
    assert.deepEqual(
      [granted.operation, granted.outcome, granted.clientId],
      ['event:add_registration', 'success', clientId],
    );
    assert.equal(
      (await onlyRecordOf(hook({ event_type: 'remove_registration', api_product_version_id: 'v1' }))).operation,
      'event:remove_registration',
    );
    const ignored = await onlyRecordOf(hook({ event_type: 'future_event' }));
    assert.deepEqual([ignored.operation, ignored.outcome], ['event:future_event', 'ignored']);
    const rotated = await onlyRecordOf(() =>
      request(app).post(`/${clientId}/new-secret`).set('X-API-Key', konnectKey).expect(200),
    );
    assert.deepEqual([rotated.dialect, rotated.operation], ['konnect', 'rotate']);
    const deleted = await onlyRecordOf(() =>
      request(app).delete(`/${clientId}`).set('X-API-Key', konnectKey).expect(204),
    );
    assert.deepEqual([deleted.dialect, deleted.operation, deleted.clientId], ['konnect', 'delete', clientId]);
  });

  it('records each secret added or revoked (secret.added / secret.revoked) with its id, and the refusals, but no list', async () => {
    const { body: client } = await request(app)
      .post('/')
      .set('X-API-Key', konnectKey)
      .send({ client_name: 'creds', portal_id: 'p' })
      .expect(201);
    const clientId = client.client_id as string;
    let added: { secret_id: string; client_secret: string } | undefined;
    const addRecord = await onlyRecordOf(async () => {
      added = (await request(app).post(`/${clientId}/secrets`).set('X-API-Key', konnectKey).expect(201)).body;
    });
    assert.deepEqual(
      [addRecord.dialect, addRecord.operation, addRecord.clientId, addRecord.secretId, addRecord.outcome],
      ['konnect', 'secret.added', clientId, added!.secret_id, 'success'],
    );
    const from = lines.length;
    await request(app).get(`/${clientId}/secrets`).set('X-API-Key', konnectKey).expect(200);
    assert.equal(recordsSince(from).length, 0, 'a list changes nothing and is not audited');
    const limit = await onlyRecordOf(() =>
      request(app).post(`/${clientId}/secrets`).set('X-API-Key', konnectKey).expect(409),
    );
    assert.deepEqual([limit.operation, limit.outcome, limit.error], ['secret.added', 'refused', 'conflict']);
    const revoked = await onlyRecordOf(() =>
      request(app).delete(`/clients/${clientId}/secrets/${added!.secret_id}`).set('X-API-Key', api7Key).expect(204),
    );
    assert.deepEqual(
      [revoked.dialect, revoked.operation, revoked.clientId, revoked.secretId, revoked.apiKey],
      ['api7', 'secret.revoked', clientId, added!.secret_id, 'api7'],
    );
    const [last] = (await request(app).get(`/${clientId}/secrets`).set('X-API-Key', konnectKey).expect(200)).body
      .secrets as { secret_id: string }[];
    const lastRefused = await onlyRecordOf(() =>
      request(app).delete(`/${clientId}/secrets/${last!.secret_id}`).set('X-API-Key', konnectKey).expect(409),
    );
    assert.deepEqual(
      [lastRefused.operation, lastRefused.secretId, lastRefused.outcome, lastRefused.status],
      ['secret.revoked', last!.secret_id, 'refused', 409],
    );
    assert.ok(!lines.join('\n').includes(added!.client_secret), 'no secret value in the audit stream');
  });

  it('records refusals: a missing or wrong key (401) without naming a key, a client it did not create (404)', async () => {
    const missing = await onlyRecordOf(() => request(app).delete('/clients/some-client').expect(401));
    assert.deepEqual(
      [missing.operation, missing.outcome, missing.status, missing.error, missing.apiKey],
      ['authenticate', 'refused', 401, 'invalid_api_key', undefined],
    );
    const wrong = await onlyRecordOf(() =>
      request(app).get('/clients/some-client').set('X-API-Key', 'not-a-configured-key-0000').expect(401),
    );
    assert.deepEqual([wrong.operation, wrong.status], ['authenticate', 401], 'a refused read is audited too');
    driver.foreignClientIds.add('someone-elses-client');
    driver.clients.set('someone-elses-client', {
      client: {
        clientId: 'someone-elses-client',
        clientIdIssuedAt: 0,
        clientSecretExpiresAt: 0,
        metadata: {
          redirectUris: [],
          grantTypes: ['client_credentials'],
          responseTypes: [],
          tokenEndpointAuthMethod: 'client_secret_basic',
        },
      },
      secrets: [{ secretId: 'foreign-secret-id', value: 'foreign-secret-value', createdAt: 0 }],
      context: {},
      apiAccess: [],
    });
    const notOwned = await onlyRecordOf(() =>
      request(app).post('/clients/someone-elses-client/rotate-secret').set('X-API-Key', api7Key).expect(404),
    );
    assert.deepEqual(
      [notOwned.operation, notOwned.clientId, notOwned.outcome, notOwned.status, notOwned.error, notOwned.apiKey],
      ['rotate', 'someone-elses-client', 'refused', 404, 'client_not_found', 'api7'],
    );
    const readsAreNotChanges = lines.length;
    await request(app).get('/clients/someone-elses-client').set('X-API-Key', api7Key).expect(404);
    await request(app).get('/healthz').expect(200);
    assert.equal(
      lines.length,
      readsAreNotChanges,
      'an authenticated read and the operations endpoints write no audit event',
    );
  });

  it("records a failure with the IdP's status", async () => {
    driver.failNext(new IdpUnavailableError(undefined, { cause: { kind: 'status', status: 503 } }));
    const failed = await onlyRecordOf(() =>
      request(app).post('/clients').set('X-API-Key', api7Key).send({}).expect(503),
    );
    assert.deepEqual(
      [failed.operation, failed.outcome, failed.error, failed.idpStatus],
      ['register', 'failed', 'idp_unavailable', 503],
    );
    driver.failNext(new ClientNotFoundError(undefined, { cause: { kind: 'status', status: 404 } }));
    const gone = await onlyRecordOf(() =>
      request(app).put('/clients/gone-at-the-idp').set('X-API-Key', api7Key).send({}).expect(404),
    );
    assert.deepEqual([gone.idpStatus, gone.clientId], [404, 'gone-at-the-idp']);
  });

  it('records each sweep run that retired secrets or failed', async () => {
    const from = lines.length;
    events.emit('secrets.retired', { count: 3 });
    events.emit('secrets.sweep_failed', { error: 'idp_timeout', idpStatus: 'timeout' });
    const [retired, failed] = recordsSince(from);
    assert.deepEqual([retired!.operation, retired!.outcome, retired!.retired], ['sweep', 'success', 3]);
    assert.deepEqual(
      [failed!.operation, failed!.outcome, failed!.error, failed!.idpStatus],
      ['sweep', 'failed', 'idp_timeout', 'timeout'],
    );
  });
});

describe('DCR_API_KEYS with names', () => {
  it('reads name:key, keeps unnamed keys, and never keeps the name in the key', () => {
    const config = loadConfig({
      DCR_DRIVER: 'okta',
      DCR_API_KEYS: 'api7:abcdefghijkl:mnop, konnect:Konnect_Key_0001,plain-key-0000001',
    });
    assert.deepEqual(config.apiKeys, ['abcdefghijkl:mnop', 'Konnect_Key_0001', 'plain-key-0000001']);
    assert.deepEqual(config.apiKeyNames, ['api7', 'konnect', apiKeyFingerprint('plain-key-0000001')]);
  });

  it('reads a colon key whose tail is too short to be a key as one unnamed key', () => {
    const config = loadConfig({ DCR_DRIVER: 'okta', DCR_API_KEYS: 'portal-key-0001:short' });
    assert.deepEqual(config.apiKeys, ['portal-key-0001:short']);
  });

  it('refuses a named key shorter than 12 characters by naming DCR_API_KEYS', () => {
    assert.throws(
      () => loadConfig({ DCR_DRIVER: 'okta', DCR_API_KEYS: 'api7:short' }),
      /^ConfigurationError: DCR_API_KEYS must be/,
    );
  });
});

describe('DCR_AUDIT_LOG', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dcr-audit-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('defaults to stdout, takes off or an absolute path, and refuses anything else', () => {
    assert.deepEqual(loadConfig({}).auditLog, { kind: 'stdout' });
    assert.equal(loadConfig({ DCR_AUDIT_LOG: 'off' }).auditLog, undefined);
    assert.deepEqual(loadConfig({ DCR_AUDIT_LOG: '/var/log/dcr/audit.jsonl' }).auditLog, {
      kind: 'file',
      path: '/var/log/dcr/audit.jsonl',
    });
    assert.throws(() => loadConfig({ DCR_AUDIT_LOG: 'audit.log' }), /DCR_AUDIT_LOG must be/);
  });

  it('appends one JSON line per change to a file only its owner can read', async () => {
    const file = join(dir, 'audit.jsonl');
    const config = testConfig({ auditLog: { kind: 'file', path: file } });
    const app = createApp(config, new MemoryDriver(), { logger: createLogger({ level: 'silent' }) });
    await request(app).post('/clients').set('X-API-Key', config.apiKeys[0]!).send({}).expect(201);
    await request(app).post('/clients').send({}).expect(401);
    await closeApp(app);
    const records = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as AuditRecord);
    assert.deepEqual(
      records.map((record) => [record.operation, record.status]),
      [
        ['register', 201],
        ['authenticate', 401],
      ],
    );
    assert.equal(statSync(file).mode & 0o077, 0);
  });

  it('refuses a file it cannot open by naming DCR_AUDIT_LOG', () => {
    const config = testConfig({ auditLog: { kind: 'file', path: join(dir, 'missing-dir', 'audit.jsonl') } });
    assert.throws(
      () => createApp(config, new MemoryDriver(), { logger: createLogger({ level: 'silent' }) }),
      /DCR_AUDIT_LOG must name a file/,
    );
  });
});
