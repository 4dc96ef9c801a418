/**
 * Hydra's answer to concurrent changes, `400 {"error":"Unable to serialize access due to a concurrent update in another
 * session"}` (seen under `npm run test:hydra`'s 50 concurrent deletes), is transient: the driver repeats the call where
 * that is safe, and never reports it as refused metadata. A loopback stand-in answers as Hydra did, once.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createRfc7591Driver } from '../../drivers/rfc7591.js';
import { completeDriver } from '../../src/core/driver.js';
import { openStateStore, type StateStore } from '../../src/driver/index.js';
import { InvalidClientMetadataError } from '../../src/errors.js';
import { rejectsWith, serviceMetadata } from '../conformance/driver-suite.js';
import { VirtualClock } from '../support/virtual-clock.js';

describe('rfc7591 driver: a transient serialization conflict', () => {
  let server: Server;
  let base = '';
  let store: StateStore;
  const deletes: number[] = [];
  let nextAnswer: { status: number; error: string } | undefined;
  let nextBody: unknown;
  before(async () => {
    server = createServer((request, response) => {
      const send = (status: number, body?: unknown) => {
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(body === undefined ? undefined : JSON.stringify(body));
      };
      if (nextBody !== undefined) {
        const body = nextBody;
        nextBody = undefined;
        return send(200, body);
      }
      if (nextAnswer) {
        const { status, error } = nextAnswer;
        nextAnswer = undefined;
        if (request.method === 'DELETE') deletes.push(status);
        return send(status, { error, error_description: '' });
      }
      if (request.method === 'POST')
        return send(201, {
          client_id: 'c1',
          client_secret: 'a-secret-of-real-length',
          registration_access_token: 'rat-1',
          registration_client_uri: `${base}/reg/c1`,
        });
      if (request.method === 'DELETE') deletes.push(204);
      return send(request.method === 'DELETE' ? 204 : 404);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    store = await openStateStore({ url: 'sqlite::memory:', dataDir: '/nonexistent' });
  });
  after(async () => {
    await store?.close();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => server?.close(() => resolve()));
  });

  const driver = () =>
    completeDriver(
      createRfc7591Driver({
        registrationEndpoint: `${base}/reg`,
        initialAccessToken: { kind: 'none' },
        store,
        idpCallPolicy: { timeoutMs: 5_000, budgetMs: 10_000, baseDelayMs: 1, maxDelayMs: 1, clock: new VirtualClock() },
      }),
    );

  it('a delete that meets it is repeated and succeeds', async () => {
    const bridge = driver();
    try {
      await bridge.registerClient(serviceMetadata(), { portal: 'api7' });
      nextAnswer = { status: 400, error: 'Unable to serialize access due to a concurrent update in another session' };
      await bridge.deleteClient('c1');
      assert.deepEqual(deletes, [400, 204]);
    } finally {
      await bridge.close();
    }
  });

  it('an update answer the driver cannot use still has its rotated token kept', async () => {
    const bridge = driver();
    try {
      const client = await bridge.registerClient(serviceMetadata(), { portal: 'api7' });
      nextBody = { registration_access_token: 'rat-2', client_name: 42 };
      await assert.rejects(bridge.updateClient(client.clientId, serviceMetadata({ clientName: 'x' })));
      const stored = await store.withRegistration(`${base}/reg`, client.clientId, async (session) => session.current);
      assert.equal(stored?.registrationAccessToken, 'rat-2');
      await bridge.deleteClient(client.clientId);
    } finally {
      await bridge.close();
    }
  });

  it('any other 400 is still the metadata refused', async () => {
    const bridge = driver();
    try {
      nextAnswer = { status: 400, error: 'invalid_client_metadata' };
      await rejectsWith(bridge.registerClient(serviceMetadata(), { portal: 'api7' }), InvalidClientMetadataError);
    } finally {
      await bridge.close();
    }
  });
});
