/**
 * The `local` driver: the conformance suite, with every secret checked by a real client_credentials token request
 * to the embedded provider served by a listening bridge, plus what only the local IdP does (restarts, its discovery
 * document, its file store).
 */
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DcrDriver } from '../../src/driver/contract.js';
import { createLocalDriver } from '../../drivers/local/index.js';
import { ClientNotFoundError, IdpUnavailableError, InvalidClientMetadataError } from '../../src/errors.js';
import { serviceMetadata, testDriver } from '../conformance/driver-suite.js';
import type { BridgeConfig } from '../../src/config.js';
import { createTestApp } from '../support/app.js';
import { completeDriver } from '../../src/core/driver.js';
import { rotateConcurrently } from '../support/concurrent-rotations.js';

interface LocalBridge {
  driver: DcrDriver;
  publicUrl: string;
  issuer: string;
  apiKey: string;
  /** Stops the server and the driver; the data directory stays. */
  stop(): Promise<void>;
}

interface LocalBridgeOptions {
  /** A path the public URL carries (a proxy in front strips it); the bridge itself answers at the root. */
  publicPath?: string;
  config?: Partial<BridgeConfig>;
  tokenRateLimitPerMinute?: number;
  maxSecretsPerClient?: number;
  /** DCR_LOCAL_INTROSPECTION_CLIENTS, read live: a test adds a resource server once it is registered. */
  introspectionClients?: Set<string>;
}

/** A bridge with the local driver listening on 127.0.0.1, its issuer being the URL it really answers at. */
async function startLocalBridge(dataDir: string, options: LocalBridgeOptions = {}): Promise<LocalBridge> {
  let listener: RequestListener = (_request, response) => response.writeHead(503).end();
  const server = createServer((request, response) => listener(request, response));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const publicUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}${options.publicPath ?? ''}`;
  const driver = completeDriver(
    await createLocalDriver({
      publicUrl,
      dataDir,
      ...(options.tokenRateLimitPerMinute ? { tokenRateLimitPerMinute: options.tokenRateLimitPerMinute } : {}),
      ...(options.maxSecretsPerClient ? { maxSecretsPerClient: options.maxSecretsPerClient } : {}),
      ...(options.introspectionClients ? { introspectionClients: options.introspectionClients } : {}),
    }),
  );
  const bridge = await createTestApp(driver, { publicUrl, ...options.config });
  listener = bridge.app;
  return {
    driver,
    publicUrl,
    issuer: `${publicUrl}/local-idp`,
    apiKey: bridge.apiKey,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await bridge.close();
      await driver.close();
    },
  };
}

function basicAuthorization(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

async function requestToken(
  issuer: string,
  clientId: string,
  secret: string,
  method: 'client_secret_basic' | 'client_secret_post' = 'client_secret_basic',
): Promise<Response> {
  return fetch(`${issuer}/token`, {
    method: 'POST',
    headers: {
      ...(method === 'client_secret_basic' ? { authorization: basicAuthorization(clientId, secret) } : {}),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      ...(method === 'client_secret_post' ? { client_id: clientId, client_secret: secret } : {}),
    }).toString(),
  });
}

/**
 * Whether the provider authenticates the client with this secret: a client_credentials token request, or for a
 * client registered without that grant, an introspection request (which authenticates the client the same way).
 */
async function secretWorks(issuer: string, clientId: string, secret: string): Promise<boolean> {
  // The provider takes the secret only the way the client registered: a client_secret_post client's in the body.
  const posted = await requestToken(issuer, clientId, secret, 'client_secret_post');
  if (posted.status === 200) return true;
  await posted.arrayBuffer();
  const token = await requestToken(issuer, clientId, secret);
  const tokenBody = (await token.json()) as { access_token?: unknown; error?: string };
  if (token.status === 200 && typeof tokenBody.access_token === 'string') return true;
  if (token.status === 401) {
    assert.equal(tokenBody.error, 'invalid_client');
    return false;
  }
  const introspection = await fetch(`${issuer}/token/introspection`, {
    method: 'POST',
    headers: {
      authorization: basicAuthorization(clientId, secret),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'token=not-a-token',
  });
  assert.ok(
    introspection.status === 200 || introspection.status === 401,
    `introspection answers 200 or 401, not ${introspection.status}`,
  );
  return introspection.status === 200;
}

/** A GET sent byte for byte, so the test chooses the Host header and the request target. */
function rawGet(
  url: string,
  target: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const sent = httpRequest(
      { host: hostname, port, method: 'GET', path: target, headers, setHost: false },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
      },
    );
    sent.on('error', reject);
    sent.end();
  });
}

async function introspect(
  issuer: string,
  token: string,
  asClient: { clientId: string; secret: string },
): Promise<{ active: boolean; client_id?: string }> {
  const response = await fetch(`${issuer}/token/introspection`, {
    method: 'POST',
    headers: {
      authorization: basicAuthorization(asClient.clientId, asClient.secret),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ token }).toString(),
  });
  assert.equal(response.status, 200);
  return (await response.json()) as { active: boolean; client_id?: string };
}

const dataDirs: string[] = [];
async function freshDataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dcr-local-'));
  dataDirs.push(dir);
  return dir;
}
after(async () => {
  await Promise.all(dataDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A client record in the data directory without the bridge's mark, as another tool (or a hand) would leave one. */
const foreignRecord = {
  createdBy: 'someone-else',
  clientId: 'foreign-client',
  clientSecret: 'foreign-secret-0123456789',
  clientIdIssuedAt: 1,
  metadata: serviceMetadata(),
  context: {},
};

/** The client files of a data directory, name → contents. */
async function clientFiles(dataDir: string): Promise<Record<string, string>> {
  const names = (await readdir(join(dataDir, 'clients'))).sort();
  return Object.fromEntries(
    await Promise.all(
      names.map(async (name) => [name, await readFile(join(dataDir, 'clients', name), 'utf8')] as const),
    ),
  );
}

testDriver({
  name: 'local',
  async start() {
    const dataDir = await freshDataDir();
    // The store reads its directory once, at start: the foreign client is there before the driver opens it.
    await mkdir(join(dataDir, 'clients'), { recursive: true, mode: 0o700 });
    await writeFile(join(dataDir, 'clients', `${foreignRecord.clientId}.json`), JSON.stringify(foreignRecord), {
      mode: 0o600,
    });
    const bridge = await startLocalBridge(dataDir);
    return {
      driver: bridge.driver,
      secretWorks: (clientId, secret) => secretWorks(bridge.issuer, clientId, secret),
      seedForeignClient: async () => ({ clientId: foreignRecord.clientId, clientSecret: foreignRecord.clientSecret }),
      idpState: () => clientFiles(dataDir),
      stop: () => bridge.stop(),
    };
  },
});

describe('local IdP', () => {
  let dataDir: string;
  let bridge: LocalBridge;
  before(async () => {
    dataDir = await freshDataDir();
    bridge = await startLocalBridge(dataDir);
  });
  after(async () => {
    await bridge?.stop();
  });

  async function callBridge(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(`${bridge.publicUrl}${path}`, {
      method,
      headers: { 'x-api-key': bridge.apiKey, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return {
      status: response.status,
      body: response.status === 204 ? {} : ((await response.json()) as Record<string, unknown>),
    };
  }

  it('publishes a discovery document whose issuer and token endpoint are under /local-idp of the public URL', async () => {
    const response = await fetch(`${bridge.issuer}/.well-known/openid-configuration`);
    assert.equal(response.status, 200);
    const discovery = (await response.json()) as Record<string, unknown>;
    assert.equal(discovery.issuer, bridge.issuer);
    assert.equal(discovery.token_endpoint, `${bridge.issuer}/token`);
    assert.equal(discovery.jwks_uri, `${bridge.issuer}/jwks`);
    assert.ok((discovery.grant_types_supported as string[]).includes('client_credentials'));
    const jwks = (await (await fetch(`${bridge.issuer}/jwks`)).json()) as { keys: Record<string, unknown>[] };
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0]!.d, undefined, 'the JWKS publishes no private key material');
  });

  it('a client registered through the API7 dialect obtains a token, loses it on rotation and on delete', async () => {
    const created = await callBridge('POST', '/clients', {
      client_name: 'orders service',
      grant_types: ['client_credentials'],
      scope: 'orders:read',
    });
    assert.equal(created.status, 201);
    const clientId = created.body.client_id as string;
    const secret = created.body.client_secret as string;
    const token = await requestToken(bridge.issuer, clientId, secret);
    assert.equal(token.status, 200);
    const tokenBody = (await token.json()) as { access_token: string; token_type: string; expires_in: number };
    assert.equal(tokenBody.token_type, 'Bearer');
    assert.ok(tokenBody.access_token.length > 20);
    assert.ok(tokenBody.expires_in > 0);

    const rotated = await callBridge('POST', `/clients/${clientId}/rotate-secret`, {});
    assert.equal(rotated.status, 200);
    assert.equal(await secretWorks(bridge.issuer, clientId, secret), false, 'the old secret is refused at once');
    assert.equal(await secretWorks(bridge.issuer, clientId, rotated.body.client_secret as string), true);

    assert.equal((await callBridge('DELETE', `/clients/${clientId}`)).status, 204);
    assert.equal(await secretWorks(bridge.issuer, clientId, rotated.body.client_secret as string), false);
  });

  it('a client registered through the Konnect dialect obtains a token', async () => {
    const created = await callBridge('POST', '/', {
      client_name: 'konnect app',
      redirect_uris: ['https://portal.example.com/cb'],
      grant_types: ['bearer'],
      portal_id: '6a1f7c52-3d0e-4b8a-9c51-0e2f4d7b9a33',
      developer_id: 'test developer_id',
    });
    assert.equal(created.status, 201);
    assert.equal(
      await secretWorks(bridge.issuer, created.body.client_id as string, created.body.client_secret as string),
      true,
    );
  });

  it("Konnect's verification probe is answered 201 without a client file, and its secret gets no token", async () => {
    const clientFiles = async () =>
      (await readdir(join(dataDir, 'clients'))).filter((name) => name.endsWith('.json')).sort();
    const before = await clientFiles();
    const probe = await callBridge('POST', '/', {
      client_name: 'test client_name',
      grant_types: ['bearer'],
      portal_id: 'test portal_id',
      developer_id: 'test developer_id',
    });
    assert.equal(probe.status, 201);
    assert.deepEqual(await clientFiles(), before);
    assert.equal(
      await secretWorks(bridge.issuer, probe.body.client_id as string, probe.body.client_secret as string),
      false,
    );
  });

  it('metadata the provider refuses is invalid_client_metadata and stores nothing', async () => {
    const before = (await readdir(join(dataDir, 'clients'))).length;
    await assert.rejects(
      bridge.driver.registerClient(serviceMetadata({ grantTypes: ['password'] }), { portal: 'api7' }),
      (error: unknown) => error instanceof InvalidClientMetadataError && !/secret/i.test(error.message),
    );
    assert.equal((await readdir(join(dataDir, 'clients'))).length, before);
  });

  it('metadata accepted once is not trusted for other metadata, and a refusal is never remembered as accepted', async () => {
    const accepted = await bridge.driver.registerClient(serviceMetadata({ clientName: 'validated once' }), {
      portal: 'api7',
    });
    await bridge.driver.registerClient(serviceMetadata({ clientName: 'validated once' }), { portal: 'api7' });
    for (let attempt = 0; attempt < 2; attempt++) {
      await assert.rejects(
        bridge.driver.registerClient(serviceMetadata({ clientName: 'validated once', grantTypes: ['password'] }), {
          portal: 'api7',
        }),
        InvalidClientMetadataError,
      );
      await assert.rejects(
        bridge.driver.updateClient(
          accepted.clientId,
          serviceMetadata({ clientName: 'validated once', grantTypes: ['password'] }),
        ),
        InvalidClientMetadataError,
      );
    }
    assert.equal(await secretWorks(bridge.issuer, accepted.clientId, accepted.clientSecret), true);
  });

  it('an id shaped like a path is client_not_found and reaches no file', async () => {
    for (const id of ['..', '../keys', 'keys', 'clients']) {
      await assert.rejects(bridge.driver.getClient(id), ClientNotFoundError);
      await assert.rejects(bridge.driver.rotateSecret(id), ClientNotFoundError);
      await assert.rejects(bridge.driver.updateClient(id, serviceMetadata()), ClientNotFoundError);
    }
    const read = await fetch(`${bridge.publicUrl}/clients/keys`, { headers: { 'x-api-key': bridge.apiKey } });
    assert.equal(read.status, 404);
  });

  it('a data directory that can no longer be written is idp_unavailable, for writes and for readiness', async () => {
    const brokenDir = await freshDataDir();
    const broken = await startLocalBridge(brokenDir);
    try {
      const client = await broken.driver.registerClient(serviceMetadata(), { portal: 'api7' });
      await rm(join(brokenDir, 'clients'), { recursive: true });
      await writeFile(join(brokenDir, 'clients'), 'not a directory');
      for (const write of [
        () => broken.driver.registerClient(serviceMetadata(), { portal: 'api7' }),
        () => broken.driver.rotateSecret(client.clientId),
        () => broken.driver.deleteClient(client.clientId),
        () => broken.driver.checkReadiness(),
      ]) {
        await assert.rejects(write(), IdpUnavailableError);
      }
      const response = await fetch(`${broken.publicUrl}/clients/${client.clientId}/rotate-secret`, {
        method: 'POST',
        headers: { 'x-api-key': broken.apiKey },
      });
      assert.equal(response.status, 503);
      assert.equal(((await response.json()) as { error: string }).error, 'idp_unavailable');
      assert.equal(
        await secretWorks(broken.issuer, client.clientId, client.clientSecret),
        true,
        'a failed rotation keeps the old secret',
      );
    } finally {
      await broken.stop();
    }
  });

  it('keeps client files and signing keys readable by the owner only', async () => {
    const client = await bridge.driver.registerClient(serviceMetadata(), { portal: 'api7' });
    assert.equal((await stat(join(dataDir, 'clients', `${client.clientId}.json`))).mode & 0o077, 0);
    assert.equal((await stat(join(dataDir, 'keys.json'))).mode & 0o077, 0);
  });
});

describe('local IdP across restarts', () => {
  it('clients, their secrets and the signing keys survive a restart on the same data directory', async () => {
    const dataDir = await freshDataDir();
    const first = await startLocalBridge(dataDir);
    const client = await first.driver.registerClient(serviceMetadata({ clientName: 'survivor', scope: 'openid' }), {
      portal: 'api7',
    });
    const jwksBefore = await (await fetch(`${first.issuer}/jwks`)).json();
    await first.stop();

    const second = await startLocalBridge(dataDir);
    try {
      assert.equal((await second.driver.getClient(client.clientId)).metadata.clientName, 'survivor');
      assert.equal(await secretWorks(second.issuer, client.clientId, client.clientSecret), true);
      assert.deepEqual(await (await fetch(`${second.issuer}/jwks`)).json(), jwksBefore);
    } finally {
      await second.stop();
    }
  });

  it('50 concurrent registrations, concurrent updates and a rotation racing an update lose nothing on disk', async () => {
    const dataDir = await freshDataDir();
    const first = await startLocalBridge(dataDir);
    const clients = await Promise.all(
      Array.from({ length: 50 }, (_, index) =>
        first.driver.registerClient(serviceMetadata({ clientName: `concurrent ${index}` }), { portal: 'konnect' }),
      ),
    );
    const target = clients[0]!;
    const names = Array.from({ length: 20 }, (_, index) => `renamed ${index}`);
    await Promise.all(
      names.map((clientName) => first.driver.updateClient(target.clientId, serviceMetadata({ clientName }))),
    );
    const lastWritten = (await first.driver.getClient(target.clientId)).metadata.clientName;
    const other = clients[1]!;
    const [rotated] = await Promise.all([
      first.driver.rotateSecret(other.clientId),
      first.driver.updateClient(other.clientId, serviceMetadata({ clientName: 'updated while rotating' })),
    ]);
    await first.stop();

    const files = await readdir(join(dataDir, 'clients'));
    assert.equal(files.length, 50, 'one file per client and no temporary file left behind');
    const second = await startLocalBridge(dataDir);
    try {
      for (const client of clients)
        assert.equal((await second.driver.getClient(client.clientId)).clientId, client.clientId);
      assert.equal((await second.driver.getClient(target.clientId)).metadata.clientName, lastWritten);
      assert.equal(await secretWorks(second.issuer, clients[49]!.clientId, clients[49]!.clientSecret), true);
      assert.equal(
        await secretWorks(second.issuer, other.clientId, rotated.clientSecret),
        true,
        'an update does not undo a concurrent rotation',
      );
      assert.equal((await second.driver.getClient(other.clientId)).metadata.clientName, 'updated while rotating');
    } finally {
      await second.stop();
    }
  });
});

describe('local IdP URLs come from DCR_PUBLIC_URL alone', () => {
  const hostile = {
    host: 'evil.example',
    'x-forwarded-host': 'evil.example',
    'x-forwarded-proto': 'http',
    forwarded: 'for=203.0.113.9;host=evil.example;proto=http',
  };

  function urlMembers(discovery: Record<string, unknown>): [string, string][] {
    return Object.entries(discovery).filter(
      (entry): entry is [string, string] => typeof entry[1] === 'string' && /^https?:/.test(entry[1]),
    );
  }

  for (const [name, config] of [
    ['without DCR_TRUST_PROXY', {}],
    ['behind DCR_TRUST_PROXY=1', { trustProxy: 1 }],
    ['behind DCR_TRUST_PROXY=loopback', { trustProxy: ['loopback'] as string[] }],
  ] as const) {
    it(`${name}, forwarded headers, Host and an absolute-form target never reach the discovery document, which is cacheable`, async () => {
      const bridge = await startLocalBridge(await freshDataDir(), { config });
      try {
        for (const target of [
          '/local-idp/.well-known/openid-configuration',
          'http://evil.example/local-idp/.well-known/openid-configuration',
        ]) {
          const response = await rawGet(bridge.publicUrl, target, hostile);
          assert.equal(response.status, 200, `${target}: ${response.body}`);
          const discovery = JSON.parse(response.body) as Record<string, unknown>;
          assert.equal(discovery.issuer, bridge.issuer);
          assert.equal(discovery.token_endpoint, `${bridge.issuer}/token`);
          assert.equal(discovery.jwks_uri, `${bridge.issuer}/jwks`);
          const members = urlMembers(discovery);
          assert.ok(members.length >= 5, 'the document has endpoint URLs');
          // Every endpoint is the issuer's, but standard DCR's registration endpoint, which is the bridge's own.
          const registrationEndpoint = `${bridge.issuer.slice(0, -'/local-idp'.length)}/register`;
          assert.equal(discovery.registration_endpoint, registrationEndpoint);
          for (const [member, url] of members) {
            if (member !== 'registration_endpoint')
              assert.ok(url.startsWith(`${bridge.issuer}/`) || url === bridge.issuer, `${member}: ${url}`);
          }
          assert.ok(!response.body.includes('evil.example'));
          assert.equal(response.headers['cache-control'], 'public, max-age=300');
        }
      } finally {
        await bridge.stop();
      }
    });
  }

  it('a public URL with a path puts every endpoint under that path', async () => {
    const bridge = await startLocalBridge(await freshDataDir(), { publicPath: '/dcr' });
    try {
      assert.match(bridge.issuer, /\/dcr\/local-idp$/);
      const response = await rawGet(bridge.publicUrl, '/local-idp/.well-known/openid-configuration', {
        host: 'evil.example',
      });
      const discovery = JSON.parse(response.body) as Record<string, unknown>;
      assert.equal(discovery.issuer, bridge.issuer);
      assert.equal(discovery.token_endpoint, `${bridge.issuer}/token`);
      // Served at the issuer's path under the public path too, so standard DCR's registration endpoint is the bridge's.
      assert.equal(discovery.registration_endpoint, `${bridge.issuer.slice(0, -'/local-idp'.length)}/register`);
      for (const [member, url] of urlMembers(discovery))
        if (member !== 'registration_endpoint')
          assert.ok(url.startsWith(`${bridge.issuer}/`) || url === bridge.issuer, `${member}: ${url}`);
    } finally {
      await bridge.stop();
    }
  });

  it('unknown /local-idp paths and methods answer 404 in the error shape', async () => {
    const bridge = await startLocalBridge(await freshDataDir());
    try {
      for (const [method, path] of [
        ['GET', '/local-idp/nope'],
        ['DELETE', '/local-idp/token'],
        ['GET', '/local-idp/token'],
        ['PUT', '/local-idp/jwks'],
      ]) {
        const response = await fetch(`${bridge.publicUrl}${path}`, { method });
        assert.equal(response.status, 404, `${method} ${path}`);
        assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
        const body = (await response.json()) as Record<string, unknown>;
        assert.deepEqual(Object.keys(body).sort(), ['error', 'error_description']);
        assert.equal(body.error, 'not_found');
      }
    } finally {
      await bridge.stop();
    }
  });
});

describe('local IdP tokens', () => {
  it('20 concurrent rotations of one client all succeed, the last answer holds a working secret (issue 23, item 6)', async () => {
    const bridge = await startLocalBridge(await freshDataDir());
    try {
      const client = await bridge.driver.registerClient(serviceMetadata(), { portal: 'api7' });
      await rotateConcurrently(bridge.driver, client.clientId, (clientId, secret) =>
        secretWorks(bridge.issuer, clientId, secret),
      );
    } finally {
      await bridge.stop();
    }
  });

  it('takes a secret only the way the client registered it (client_secret_basic or client_secret_post)', async () => {
    const bridge = await startLocalBridge(await freshDataDir());
    try {
      const basic = await bridge.driver.registerClient(serviceMetadata(), { portal: 'api7' });
      const post = await bridge.driver.registerClient(
        serviceMetadata({ tokenEndpointAuthMethod: 'client_secret_post' }),
        { portal: 'api7' },
      );
      const status = async (
        client: { clientId: string; clientSecret: string },
        method: 'client_secret_basic' | 'client_secret_post',
      ) => {
        const response = await requestToken(bridge.issuer, client.clientId, client.clientSecret, method);
        const body = (await response.json()) as { error?: string };
        return response.status === 200 ? 200 : `${response.status} ${body.error}`;
      };
      assert.equal(await status(basic, 'client_secret_basic'), 200);
      assert.equal(await status(basic, 'client_secret_post'), '401 invalid_client');
      assert.equal(await status(post, 'client_secret_post'), 200);
      assert.equal(await status(post, 'client_secret_basic'), '401 invalid_client');
    } finally {
      await bridge.stop();
    }
  });

  it('RFC 7662 §4: a client introspects only its own tokens, unless DCR_LOCAL_INTROSPECTION_CLIENTS names it', async () => {
    const resourceServers = new Set<string>();
    const bridge = await startLocalBridge(await freshDataDir(), { introspectionClients: resourceServers });
    try {
      const [owner, other, resourceServer] = await Promise.all(
        ['owner', 'other', 'resource server'].map((clientName) =>
          bridge.driver.registerClient(serviceMetadata({ clientName }), { portal: 'api7' }),
        ),
      );
      resourceServers.add(resourceServer!.clientId);
      const tokenOf = async (client: { clientId: string; clientSecret: string }) => {
        const response = await requestToken(bridge.issuer, client.clientId, client.clientSecret);
        return ((await response.json()) as { access_token: string }).access_token;
      };
      const ownerToken = await tokenOf(owner!);
      const as = (client: { clientId: string; clientSecret: string }) => ({
        clientId: client.clientId,
        secret: client.clientSecret,
      });
      assert.equal((await introspect(bridge.issuer, ownerToken, as(owner!))).active, true, 'its own token');
      assert.equal(
        (await introspect(bridge.issuer, ownerToken, as(other!))).active,
        false,
        'another client learns nothing of a token that is not its own',
      );
      assert.equal(
        (await introspect(bridge.issuer, ownerToken, as(resourceServer!))).active,
        true,
        'a named resource server',
      );
    } finally {
      await bridge.stop();
    }
  });

  it('deleting a client, or rotating its secret, revokes the tokens it was issued', async () => {
    const resourceServers = new Set<string>();
    const bridge = await startLocalBridge(await freshDataDir(), { introspectionClients: resourceServers });
    try {
      const resourceServer = await bridge.driver.registerClient(serviceMetadata({ clientName: 'resource server' }), {
        portal: 'api7',
      });
      resourceServers.add(resourceServer.clientId);
      const introspector = { clientId: resourceServer.clientId, secret: resourceServer.clientSecret };
      const tokenOf = async (clientId: string, secret: string): Promise<string> => {
        const response = await requestToken(bridge.issuer, clientId, secret);
        assert.equal(response.status, 200);
        return ((await response.json()) as { access_token: string }).access_token;
      };

      const deleted = await bridge.driver.registerClient(serviceMetadata({ clientName: 'to delete' }), {
        portal: 'api7',
      });
      const kept = await bridge.driver.registerClient(serviceMetadata({ clientName: 'kept' }), { portal: 'api7' });
      const deletedToken = await tokenOf(deleted.clientId, deleted.clientSecret);
      const keptToken = await tokenOf(kept.clientId, kept.clientSecret);
      assert.deepEqual(
        await introspect(bridge.issuer, deletedToken, introspector).then((answer) => [answer.active, answer.client_id]),
        [true, deleted.clientId],
      );
      const response = await fetch(`${bridge.publicUrl}/clients/${deleted.clientId}`, {
        method: 'DELETE',
        headers: { 'x-api-key': bridge.apiKey },
      });
      assert.equal(response.status, 204);
      assert.equal(
        (await introspect(bridge.issuer, deletedToken, introspector)).active,
        false,
        "a deleted client's token is inactive",
      );
      assert.equal(
        (await introspect(bridge.issuer, keptToken, introspector)).active,
        true,
        "another client's token is untouched",
      );

      const rotated = await bridge.driver.registerClient(serviceMetadata({ clientName: 'to rotate' }), {
        portal: 'api7',
      });
      const beforeRotation = await tokenOf(rotated.clientId, rotated.clientSecret);
      const newSecret = (await bridge.driver.rotateSecret(rotated.clientId)).clientSecret;
      assert.equal(
        (await introspect(bridge.issuer, beforeRotation, introspector)).active,
        false,
        'a rotation without grace revokes the old tokens',
      );
      assert.equal(
        (await introspect(bridge.issuer, await tokenOf(rotated.clientId, newSecret), introspector)).active,
        true,
      );
    } finally {
      await bridge.stop();
    }
  });

  it('revoking one of several secrets revokes the tokens obtained with it, not those of the secrets kept', async () => {
    const resourceServers = new Set<string>();
    const bridge = await startLocalBridge(await freshDataDir(), { introspectionClients: resourceServers });
    try {
      const introspector = await bridge.driver.registerClient(serviceMetadata(), { portal: 'api7' });
      resourceServers.add(introspector.clientId);
      const asIntrospector = { clientId: introspector.clientId, secret: introspector.clientSecret };
      const client = await bridge.driver.registerClient(serviceMetadata(), { portal: 'konnect' });
      const [first] = await bridge.driver.listSecrets!(client.clientId);
      const second = await bridge.driver.addSecret!(client.clientId);
      const tokenWith = async (secret: string): Promise<string> => {
        const response = await requestToken(bridge.issuer, client.clientId, secret);
        assert.equal(response.status, 200);
        return ((await response.json()) as { access_token: string }).access_token;
      };
      const firstToken = await tokenWith(client.clientSecret);
      const secondToken = await tokenWith(second.clientSecret);
      await bridge.driver.revokeSecret!(client.clientId, first!.secretId);
      assert.equal((await introspect(bridge.issuer, firstToken, asIntrospector)).active, false);
      assert.equal((await introspect(bridge.issuer, secondToken, asIntrospector)).active, true);
      const posted = await fetch(`${bridge.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: client.clientId,
          client_secret: second.clientSecret,
        }).toString(),
      });
      assert.equal(posted.status, 401, 'a client_secret_basic client cannot send even its kept secret in the body');
    } finally {
      await bridge.stop();
    }
  });

  it('DCR_LOCAL_MAX_SECRETS sets the limit, named in the 409; secrets and their ids survive a restart', async () => {
    const dataDir = await freshDataDir();
    const first = await startLocalBridge(dataDir, { maxSecretsPerClient: 3 });
    let clientId: string;
    let secrets: string[];
    let listed: unknown;
    try {
      const client = await first.driver.registerClient(serviceMetadata(), { portal: 'konnect' });
      clientId = client.clientId;
      secrets = [client.clientSecret];
      for (let index = 0; index < 2; index++) secrets.push((await first.driver.addSecret!(clientId)).clientSecret);
      await assert.rejects(first.driver.addSecret!(clientId), /at most 3 secrets per client \(DCR_LOCAL_MAX_SECRETS\)/);
      listed = await first.driver.listSecrets!(clientId);
    } finally {
      await first.stop();
    }
    const second = await startLocalBridge(dataDir);
    try {
      assert.deepEqual(await second.driver.listSecrets!(clientId), listed, 'the same secrets, under the same ids');
      for (const secret of secrets) assert.equal(await secretWorks(second.issuer, clientId, secret), true);
    } finally {
      await second.stop();
    }
  });

  it('a client stored before several secrets (one clientSecret) keeps working, is listed under a stable id, and takes more', async () => {
    const dataDir = await freshDataDir();
    const legacy = {
      ...foreignRecord,
      createdBy: 'dcr-bridge',
      clientId: 'legacy-client',
      clientSecret: 'legacy-secret-0123456789abcdef',
    };
    await mkdir(join(dataDir, 'clients'), { recursive: true, mode: 0o700 });
    await writeFile(join(dataDir, 'clients', 'legacy-client.json'), JSON.stringify(legacy), { mode: 0o600 });
    const bridge = await startLocalBridge(dataDir);
    try {
      assert.equal(await secretWorks(bridge.issuer, legacy.clientId, legacy.clientSecret), true);
      const [listed] = await bridge.driver.listSecrets!(legacy.clientId);
      assert.deepEqual(await bridge.driver.listSecrets!(legacy.clientId), [listed], 'the same id on every read');
      assert.ok(!listed!.secretId.includes(legacy.clientSecret));
      const added = await bridge.driver.addSecret!(legacy.clientId);
      assert.deepEqual(
        (await bridge.driver.listSecrets!(legacy.clientId)).map((secret) => secret.secretId),
        [listed!.secretId, added.secretId],
        'its id does not change when the record is rewritten',
      );
      assert.equal(await secretWorks(bridge.issuer, legacy.clientId, legacy.clientSecret), true);
      assert.equal(await secretWorks(bridge.issuer, legacy.clientId, added.clientSecret), true);
    } finally {
      await bridge.stop();
    }
  });

  it('the token endpoints are rate limited per client address: 429 in the error shape with Retry-After', async () => {
    const bridge = await startLocalBridge(await freshDataDir(), {
      tokenRateLimitPerMinute: 5,
      config: { trustProxy: 1 },
    });
    try {
      const attempt = (address: string, path = '/token') =>
        fetch(`${bridge.issuer}${path}`, {
          method: 'POST',
          headers: {
            authorization: basicAuthorization('guessed-client', 'guessed-secret'),
            'content-type': 'application/x-www-form-urlencoded',
            'x-forwarded-for': address,
          },
          body: 'grant_type=client_credentials&token=x',
        });
      for (let index = 0; index < 4; index += 1) assert.equal((await attempt('203.0.113.7')).status, 401);
      assert.equal((await attempt('203.0.113.7', '/token/introspection')).status, 401, 'introspection counts too');
      const limited = await attempt('203.0.113.7');
      assert.equal(limited.status, 429);
      assert.ok(Number(limited.headers.get('retry-after')) >= 1);
      const body = (await limited.json()) as Record<string, unknown>;
      assert.deepEqual(Object.keys(body).sort(), ['error', 'error_description']);
      assert.equal(body.error, 'rate_limited');
      assert.equal((await attempt('203.0.113.7', '/token/revocation')).status, 429);
      assert.equal(
        (await attempt('198.51.100.20')).status,
        401,
        'another address behind the trusted proxy has its own budget',
      );
      assert.equal(
        (
          await fetch(`${bridge.issuer}/.well-known/openid-configuration`, {
            headers: { 'x-forwarded-for': '203.0.113.7' },
          })
        ).status,
        200,
        'discovery is not limited',
      );
    } finally {
      await bridge.stop();
    }
  });
});
