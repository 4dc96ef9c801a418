/**
 * The suite of issue 22's sixth deliverable: what the tests exercise is what users start. The compiled bridge runs as
 * `npm start` runs it (node with the start script's V8 flags on dist/src/main.js) in a child process on a loopback
 * port, in front of one IdP, and every caller it serves walks it end to end over real HTTP: the API7 and Konnect
 * portals, a standard RFC 7591/7592 client, and an MCP client that discovers the bridge and registers itself. Every
 * secret it hands out is tried at the IdP's token endpoint. The app-factory suites cannot see how main wires the
 * driver; this one sees nothing else.
 */
import { request as httpRequest } from 'node:http';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { auth, type OAuthClientProvider, type OAuthDiscoveryState } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata } from '@modelcontextprotocol/sdk/shared/auth.js';
import { startFlags } from '../../scripts/start-arguments.js';
import { root, startBridgeProcess, until, type BridgeProcess } from '../fleet/bridge-process.js';
import { compiledMain } from '../support/built.js';
import { freeLoopbackPort } from '../support/free-port.js';
import { konnectContract } from '../support/konnect-contract.js';

/** One IdP as the suite needs it: the variables that point the bridge at it, and a real token request. */
export interface ProcessIdp {
  /** `DCR_DRIVER` and the driver's own variables, as an operator exports them. */
  env: Record<string, string>;
  /** The issuer the IdP's discovery document names, given the bridge's public URL (the local IdP's depends on it). */
  issuer(publicUrl: string): string;
  /** Whether the IdP's token endpoint authenticates this client secret now. */
  secretWorks(publicUrl: string, clientId: string, secret: string): Promise<boolean>;
  /** Secrets a client may hold at once, when the driver has the multiple-credentials calls (the 409 names it). */
  maxSecrets?: number;
  /** Brings the client to the IdP's limit of secrets where adding one by one would take too long (Entra's 1,200). */
  reachSecretLimit?(clientId: string): Promise<void>;
  /** Undoes `reachSecretLimit`: the secrets it made are gone, those the bridge added are kept. */
  leaveSecretLimit?(clientId: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A client-credentials token request as a client makes it (RFC 6749 §2.3.1 basic authentication): true when the IdP
 * issues a token, false when it refuses the client (401, or `invalid_client`: Keycloak says `unauthorized_client` with
 * its 401); anything else (a 429, a 5xx) fails the test rather than hide in a false.
 */
export async function clientCredentialsWork(tokenEndpoint: string, clientId: string, secret: string): Promise<boolean> {
  const response = await fetch(tokenEndpoint, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials' }),
  });
  const body = (await response.json()) as { access_token?: unknown; error?: unknown };
  if (response.status === 200 && typeof body.access_token === 'string' && body.access_token !== '') return true;
  if (response.status === 401 || (response.status === 400 && body.error === 'invalid_client')) return false;
  throw new Error(`${tokenEndpoint} answered ${response.status} ${JSON.stringify(body)}`);
}

interface Exchange {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** An MCP client's OAuth state, kept in memory: what the SDK's `auth()` discovers and registers, and where it would send the user. */
class McpClientState implements OAuthClientProvider {
  discovered: OAuthDiscoveryState | undefined;
  information: OAuthClientInformationMixed | undefined;
  authorizationUrl: URL | undefined;
  #codeVerifier = '';

  get redirectUrl(): string {
    return 'http://127.0.0.1:53682/callback';
  }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'an MCP client',
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  discoveryState(): OAuthDiscoveryState | undefined {
    return this.discovered;
  }

  saveDiscoveryState(state: OAuthDiscoveryState): void {
    this.discovered = state;
  }

  clientInformation(): OAuthClientInformationMixed | undefined {
    return this.information;
  }

  saveClientInformation(information: OAuthClientInformationMixed): void {
    this.information = information;
  }

  tokens(): undefined {
    return undefined;
  }

  saveTokens(): void {
    throw new Error('no token is issued before the user authorizes');
  }

  redirectToAuthorization(authorizationUrl: URL): void {
    this.authorizationUrl = authorizationUrl;
  }

  saveCodeVerifier(codeVerifier: string): void {
    this.#codeVerifier = codeVerifier;
  }

  codeVerifier(): string {
    return this.#codeVerifier;
  }
}

/**
 * The walk-through against the compiled bridge in front of the IdP `startIdp` starts; one describe per IdP. With
 * `path`, the IdP is one connection of a DCR_CONFIG_FILE (its env names the file) served under that path: every call
 * and every URL the bridge writes is under it, and the operations endpoints stay at the root. With `secretRotation:
 * 'unsupported'` the IdP has no way to change a client's secret (see `DriverConformanceOptions.secretRotation`):
 * rotations are `409`. With `operatorListing`, the operator's list (`GET /operator/clients`, DCR_OPERATOR_KEYS) is walked
 * too.
 */
export function describeCompiledBridge(
  name: string,
  startIdp: () => Promise<ProcessIdp>,
  options: { path?: string; secretRotation?: 'unsupported'; operatorListing?: boolean } = {},
): void {
  const mount = options.path ?? '';
  const rotationRefused = options.secretRotation === 'unsupported';
  describe(`npm start in front of ${name}`, () => {
    const apiKey = `process-${randomBytes(12).toString('hex')}`;
    const operatorKey = `operator-${randomBytes(12).toString('hex')}`;
    let idp: ProcessIdp | undefined;
    let bridge: BridgeProcess | undefined;
    /** Where the connection is reached: the bridge's public URL, plus the connection's path. */
    let url = '';
    let origin = '';
    // Every answer of a Konnect call, read over HTTP from the compiled bridge, is judged by Kong's contract.
    const contract = konnectContract();

    const call = async (
      method: string,
      path: string,
      options: { apiKey?: string; bearer?: string; body?: unknown } = {},
      at = url,
    ): Promise<Exchange> => {
      const response = await fetch(`${at}${path}`, {
        method,
        headers: {
          ...(options.apiKey !== undefined ? { 'x-api-key': options.apiKey } : {}),
          ...(options.bearer !== undefined ? { authorization: `Bearer ${options.bearer}` } : {}),
          ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
      });
      const text = await response.text();
      const body = text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>);
      // Kong's contract judges the bridge's own calls (under a connection's path, the path after it).
      if (at === url) contract.check(method, path.split('?')[0]!, response.status, body);
      return { status: response.status, headers: response.headers, body: body ?? {} };
    };
    const portal = (method: string, path: string, body?: unknown) =>
      call(method, path, { apiKey, ...(body !== undefined ? { body } : {}) });
    const secretWorks = (clientId: string, secret: string) => idp!.secretWorks(url, clientId, secret);

    before(async () => {
      idp = await startIdp();
      const port = await freeLoopbackPort();
      origin = `http://127.0.0.1:${port}`;
      url = `${origin}${mount}`;
      // DCR_OPEN_REGISTRATION with its defaults: the policy's variables all have one, so none is needed to start.
      bridge = await startBridgeProcess({
        ...idp.env,
        PORT: String(port),
        DCR_PUBLIC_URL: origin,
        DCR_API_KEYS: apiKey,
        DCR_OPEN_REGISTRATION: 'true',
        ...(options.operatorListing ? { DCR_OPERATOR_KEYS: operatorKey } : {}),
      });
      await until(
        async () => (await fetch(`${origin}/readyz`)).status === 200,
        `the ${name} bridge answers 200 on /readyz`,
      );
    });

    after(async () => {
      await bridge?.stop();
      await idp?.stop();
      contract.assertNoViolations();
    });

    it("runs as npm start runs it: node with the start script's flags on the compiled entry point", () => {
      const commandLine = readFileSync(`/proc/${bridge!.pid}/cmdline`, 'utf8')
        .split('\0')
        .filter((part) => part !== '');
      assert.deepEqual(commandLine, [process.execPath, ...startFlags(), compiledMain]);
      assert.match(bridge!.stdout(), /"message":"dcr-bridge listening"/);
    });

    it('answers GET / without a key, and /version and dcr_build_info with the commit the build recorded', async () => {
      // Operations endpoints live at the root, also when the dialects are under a connection's path.
      const start = await call('GET', `${origin}/`, {}, '');
      assert.equal(start.status, 200);
      assert.equal(start.body.docs, 'docs');
      const recorded = JSON.parse(readFileSync(join(root, 'dist', 'build-info.json'), 'utf8')) as { commit: string };
      const version = await call('GET', `${origin}/version`, {}, '');
      assert.deepEqual(version.body, {
        version: (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version,
        commit: recorded.commit,
      });
      const metrics = await (await fetch(`${origin}/metrics`)).text();
      assert.match(metrics, new RegExp(`dcr_build_info\\{version="[^"]+",commit="${recorded.commit}"\\} 1`));
    });

    it("the operator's list shows the client a portal registered, by name, without its secret; a portal key is refused", {
      skip: options.operatorListing ? false : 'the operator listing is walked for the drivers that ask for it',
    }, async () => {
      const created = await portal('POST', '/clients', {
        client_name: 'listed for the operator',
        grant_types: ['client_credentials'],
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const clientId = created.body.client_id as string;
      const list = (key: string) =>
        fetch(`${origin}/operator/clients?limit=500`, { headers: { 'x-api-key': key } }).then(async (response) => ({
          status: response.status,
          text: await response.text(),
        }));
      assert.equal((await list(apiKey)).status, 401, 'a portal key does not list');
      const listed = await list(operatorKey);
      assert.equal(listed.status, 200, listed.text);
      const clients = (JSON.parse(listed.text) as { clients: Array<{ client_id: string; client_name?: string }> })
        .clients;
      assert.equal(clients.find((client) => client.client_id === clientId)?.client_name, 'listed for the operator');
      assert.equal(listed.text.includes(created.body.client_secret as string), false, 'no secret in the list');
      assert.equal((await portal('DELETE', `/clients/${encodeURIComponent(clientId)}`)).status, 204);
    });

    it('API7: registers, reads, replaces, rotates and deletes a client whose secrets really authenticate', async () => {
      const metadata = {
        client_name: 'api7 app',
        grant_types: ['client_credentials'],
        redirect_uris: ['https://app.example.com/cb'],
      };
      const created = await portal('POST', '/clients', metadata);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const clientId = created.body.client_id as string;
      const secret = created.body.client_secret as string;
      assert.equal(typeof secret, 'string');
      assert.equal(await secretWorks(clientId, secret), true, 'the issued secret authenticates at the IdP');
      const path = `/clients/${encodeURIComponent(clientId)}`;

      const read = await portal('GET', path);
      assert.equal(read.status, 200, JSON.stringify(read.body));
      assert.equal(read.body.client_name, 'api7 app');
      assert.equal(read.body.client_secret, undefined);

      const replaced = await portal('PUT', path, {
        ...metadata,
        client_name: 'api7 app renamed',
        redirect_uris: ['https://new.example.com/cb'],
      });
      assert.equal(replaced.status, 200, JSON.stringify(replaced.body));
      const reread = await portal('GET', path);
      assert.equal(reread.body.client_name, 'api7 app renamed');
      assert.deepEqual(reread.body.redirect_uris, ['https://new.example.com/cb']);

      const rotated = await portal('POST', `${path}/rotate-secret`, {});
      let newSecret = secret;
      if (rotationRefused) {
        assert.equal(rotated.status, 409, JSON.stringify(rotated.body));
        assert.equal(rotated.body.error, 'conflict');
      } else {
        assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
        assert.equal(rotated.body.client_id, clientId);
        newSecret = rotated.body.client_secret as string;
        assert.notEqual(newSecret, secret);
        assert.equal(await secretWorks(clientId, newSecret), true, 'the new secret authenticates');
        assert.equal(
          await secretWorks(clientId, secret),
          false,
          'with no rotation grace the old secret is refused at once',
        );
      }

      assert.equal((await portal('DELETE', path)).status, 204);
      assert.equal((await portal('DELETE', path)).status, 204, 'deleting again is idempotent');
      const gone = await portal('GET', path);
      assert.equal(gone.status, 404);
      assert.equal(gone.body.error, 'client_not_found');
      assert.equal(await secretWorks(clientId, newSecret), false, "a deleted client's secret is refused");
    });

    it('Konnect: registers, updates the redirect URIs by event hook, issues a new secret and deletes', async () => {
      const created = await portal('POST', '/', {
        client_name: 'konnect app',
        redirect_uris: ['https://portal.example.com/cb'],
        grant_types: ['bearer'],
        application_description: 'made by the process suite',
        portal_id: randomBytes(8).toString('hex'),
        organization_id: 'org-1',
        developer_id: 'dev-1',
        dcr_provider_id: 'provider-1',
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const clientId = created.body.client_id as string;
      const secret = created.body.client_secret as string;
      assert.equal(
        await secretWorks(clientId, secret),
        true,
        'bearer is client_credentials, and the secret authenticates',
      );

      const event = await portal('POST', `/${encodeURIComponent(clientId)}/event-hook`, {
        event_type: 'update_application',
        redirect_uris: ['https://portal.example.com/new-cb'],
      });
      assert.equal(event.status, 200, JSON.stringify(event.body));
      assert.equal(event.body.status, 'applied');
      const read = await portal('GET', `/clients/${encodeURIComponent(clientId)}`);
      assert.deepEqual(
        read.body.redirect_uris,
        ['https://portal.example.com/new-cb'],
        'the IdP holds the new redirect URIs',
      );

      const renewed = await portal('POST', `/${encodeURIComponent(clientId)}/new-secret`);
      let newSecret = secret;
      if (rotationRefused) {
        assert.equal(renewed.status, 409, JSON.stringify(renewed.body));
        assert.equal(await secretWorks(clientId, secret), true, 'a refused rotation leaves the secret working');
      } else {
        assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
        newSecret = renewed.body.client_secret as string;
        assert.equal(await secretWorks(clientId, newSecret), true);
        assert.equal(await secretWorks(clientId, secret), false);
      }

      assert.equal((await portal('DELETE', `/${encodeURIComponent(clientId)}`)).status, 204);
      assert.equal((await portal('DELETE', `/${encodeURIComponent(clientId)}`)).status, 204);
      assert.equal(await secretWorks(clientId, newSecret), false);
    });

    it('Konnect multiple credentials: create, add a second, both work, revoke the first (refused, second works), the limit and the last secret are 409', async (t) => {
      const created = await portal('POST', '/', {
        client_name: 'two credentials',
        grant_types: ['bearer'],
        portal_id: 'p',
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const rawId = created.body.client_id as string;
      const clientId = encodeURIComponent(rawId);
      const first = created.body.client_secret as string;
      const secretsPath = `/${clientId}/secrets`;
      const listIds = async () =>
        ((await portal('GET', secretsPath)).body.secrets as { secret_id: string }[]).map((secret) => secret.secret_id);
      const listed = await portal('GET', secretsPath);
      if (listed.status === 501) return t.skip(`the driver in front of ${name} has no multiple-credentials calls`);
      assert.equal(listed.status, 200, JSON.stringify(listed.body));
      const [firstId] = await listIds();
      const second = await portal('POST', secretsPath);
      if (second.status === 409) {
        // An IdP of one secret per client: nothing was created, and that one secret cannot be revoked.
        assert.deepEqual(await listIds(), [firstId]);
        assert.equal((await portal('DELETE', `${secretsPath}/${encodeURIComponent(firstId!)}`)).status, 409);
        assert.equal(await secretWorks(rawId, first), true);
        return;
      }
      assert.equal(second.status, 201, JSON.stringify(second.body));
      const secondSecret = second.body.client_secret as string;
      assert.equal(await secretWorks(rawId, first), true, 'the first works');
      assert.equal(await secretWorks(rawId, secondSecret), true, 'the second works');
      assert.equal((await portal('DELETE', `${secretsPath}/${encodeURIComponent(firstId!)}`)).status, 204);
      assert.equal(await secretWorks(rawId, first), false, 'the revoked one is refused');
      assert.equal(await secretWorks(rawId, secondSecret), true, 'the second still works');
      let keptId = second.body.secret_id as string;
      let refused: Exchange | undefined;
      await idp!.reachSecretLimit?.(rawId);
      for (let attempt = 0; attempt < 10 && refused === undefined; attempt++) {
        const added = await portal('POST', secretsPath);
        if (added.status === 201) keptId = added.body.secret_id as string;
        else refused = added;
      }
      assert.equal(refused?.status, 409, JSON.stringify(refused?.body));
      const atLimit = await listIds();
      if (idp!.maxSecrets !== undefined) {
        assert.equal(atLimit.length, idp!.maxSecrets, 'the configured limit');
        assert.match(refused!.body.error_description as string, new RegExp(`at most ${idp!.maxSecrets} secrets`));
      }
      assert.equal((await portal('POST', secretsPath)).status, 409);
      assert.deepEqual(await listIds(), atLimit, 'the 409 created nothing');
      await idp!.leaveSecretLimit?.(rawId);
      for (const secretId of await listIds())
        if (secretId !== keptId)
          assert.equal((await portal('DELETE', `${secretsPath}/${encodeURIComponent(secretId)}`)).status, 204);
      assert.equal((await portal('DELETE', `${secretsPath}/${encodeURIComponent(keptId)}`)).status, 409, 'the last');
      assert.deepEqual(await listIds(), [keptId], 'it is kept');
      assert.equal((await portal('DELETE', `/${clientId}`)).status, 204);
    });

    it("standard DCR: discovery at the root and at the issuer's paths names the bridge's registration endpoint", async () => {
      const issuer = idp!.issuer(url);
      const issuerPath = new URL(issuer).pathname.replace(/\/+$/, '');
      // The issuer's own paths are the origin's (under a connection's path, the issuer's path includes it).
      const paths = [`${url}/.well-known/openid-configuration`, `${url}/.well-known/oauth-authorization-server`];
      if (issuerPath !== '')
        paths.push(
          `${origin}${issuerPath}/.well-known/openid-configuration`,
          `${origin}/.well-known/oauth-authorization-server${issuerPath}`,
        );
      for (const path of paths) {
        const discovery = await call('GET', path, {}, '');
        assert.equal(discovery.status, 200, `${path}: ${JSON.stringify(discovery.body)}`);
        assert.equal(discovery.body.issuer, issuer, path);
        assert.equal(discovery.body.registration_endpoint, `${url}/register`, path);
        assert.ok(
          String(discovery.body.token_endpoint).startsWith(`${new URL(issuer).origin}/`),
          `${path}: the token endpoint stays the IdP's`,
        );
      }
    });

    it('standard DCR: RFC 7591 registration with an initial access token, RFC 7592 read, update and delete', async () => {
      const metadata = { client_name: 'standard service', grant_types: ['client_credentials'] };
      const created = await call('POST', '/register', { bearer: apiKey, body: metadata });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const clientId = created.body.client_id as string;
      const secret = created.body.client_secret as string;
      const token = created.body.registration_access_token as string;
      assert.equal(created.body.registration_client_uri, `${url}/register/${encodeURIComponent(clientId)}`);
      assert.equal(await secretWorks(clientId, secret), true);
      // Relative to where the connection is reached (`call` adds it).
      const path = new URL(created.body.registration_client_uri as string).pathname.slice(mount.length);

      const read = await call('GET', path, { bearer: token });
      assert.equal(read.status, 200, JSON.stringify(read.body));
      assert.equal(read.body.client_id, clientId);
      assert.equal(read.body.client_secret, undefined);

      const updated = await call('PUT', path, {
        bearer: token,
        body: { ...metadata, client_id: clientId, client_name: 'standard service renamed' },
      });
      assert.equal(updated.status, 200, JSON.stringify(updated.body));
      assert.equal(updated.body.client_name, 'standard service renamed');
      const nextToken = updated.body.registration_access_token as string;
      assert.notEqual(nextToken, token, 'an update rotates the registration access token');
      assert.equal(
        (await call('GET', path, { bearer: token })).status,
        401,
        'the old registration access token is dead',
      );
      assert.equal(await secretWorks(clientId, secret), true, 'an update keeps the secret');

      assert.equal((await call('DELETE', path, { bearer: nextToken })).status, 204);
      const afterDelete = await call('GET', path, { bearer: nextToken });
      assert.equal(afterDelete.status, 401);
      assert.equal(afterDelete.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
      assert.equal(await secretWorks(clientId, secret), false, 'the client is gone at the IdP');
    });

    // The MCP SDK looks for discovery at the server's origin only (no RFC 9728 document here), so it needs the connection at `/`.
    const mcpSkip = mount === '' ? false : 'the MCP SDK discovers at the origin; this connection is under a path';
    it('open registration: an MCP SDK client discovers the bridge and registers itself, and the operator lists it', {
      skip: mcpSkip,
    }, async () => {
      const mcp = new McpClientState();
      assert.equal(
        await auth(mcp, { serverUrl: url }),
        'REDIRECT',
        'registered, and ready to send the user to authorize',
      );
      // Without a discovery document the SDK guesses {server}/register and {server}/authorize: it must not have had to.
      const metadata = mcp.discovered?.authorizationServerMetadata;
      assert.ok(metadata, "the SDK found the bridge's discovery document");
      assert.equal(metadata.registration_endpoint, `${url}/register`);
      assert.equal(metadata.issuer, idp!.issuer(url));
      const clientId = mcp.information?.client_id;
      assert.equal(typeof clientId, 'string');
      assert.equal((mcp.information as { client_secret?: string }).client_secret, undefined, 'a public client');
      const authorizationUrl = mcp.authorizationUrl!;
      assert.equal(
        `${authorizationUrl.origin}${authorizationUrl.pathname}`,
        metadata.authorization_endpoint,
        'the user goes to the IdP',
      );
      assert.equal(authorizationUrl.searchParams.get('client_id'), clientId);

      assert.equal((await call('GET', '/admin/open-registrations')).status, 401, 'the listing takes a portal key');
      const listed = await portal('GET', '/admin/open-registrations');
      assert.equal(listed.status, 200, JSON.stringify(listed.body));
      assert.deepEqual(listed.body.client_ids, [clientId], 'the open-registered client, and none the portals made');
      const purged = await portal('DELETE', '/admin/open-registrations');
      assert.deepEqual(purged.body, { deleted: 1 });
      assert.deepEqual((await portal('GET', '/admin/open-registrations')).body.client_ids, []);
    });

    it('refuses the hostile requests of issue 23: unlabelled bodies, TRACE, one wrong key, public machines, PUT escalation', async () => {
      const plain = await fetch(`${url}/register`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: JSON.stringify({ redirect_uris: ['http://127.0.0.1:1/cb'] }),
      });
      assert.equal(plain.status, 415, 'a body a browser could post cross-site');
      // fetch refuses to send TRACE; node:http sends it.
      const traced = await new Promise<number>((resolve, reject) =>
        httpRequest(`${url}/clients`, { method: 'TRACE' }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        })
          .on('error', reject)
          .end(),
      );
      assert.equal(traced, 405);
      const oneWrong = await fetch(`${url}/clients`, {
        method: 'POST',
        headers: {
          'x-api-key': apiKey,
          authorization: 'Bearer a-wrong-portal-key-000',
          'content-type': 'application/json',
        },
        body: '{}',
      });
      assert.equal(oneWrong.status, 401);
      const publicMachine = { grant_types: ['client_credentials'], token_endpoint_auth_method: 'none' };
      assert.equal((await portal('POST', '/clients', publicMachine)).status, 400);
      assert.equal((await portal('POST', '/', publicMachine)).status, 400);
      assert.equal(
        (await portal('POST', '/clients', { grant_types: ['authorization_code'], redirect_uris: ['http://127.1/cb'] }))
          .status,
        400,
      );
      const open = await call('POST', '/register', {
        body: { redirect_uris: ['http://127.0.0.1:53682/cb'], token_endpoint_auth_method: 'none' },
      });
      assert.equal(open.status, 201, JSON.stringify(open.body));
      // The client's own URI, whole: under a connection's path it already holds the path.
      const escalated = await call(
        'PUT',
        open.body.registration_client_uri as string,
        {
          bearer: open.body.registration_access_token as string,
          body: {
            client_id: open.body.client_id,
            grant_types: ['client_credentials'],
            token_endpoint_auth_method: 'none',
          },
        },
        '',
      );
      assert.equal(escalated.status, 400, 'an open client cannot lift its own policy');
      await portal('DELETE', '/admin/open-registrations');
    });

    it('stops on SIGTERM with exit code 0', async () => {
      assert.equal(await bridge!.stop(), 0, bridge!.stderr());
      assert.match(bridge!.stdout(), /"message":"shut down"/);
    });
  });
}
