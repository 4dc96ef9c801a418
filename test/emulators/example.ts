/**
 * The example IdP on 127.0.0.1 (test/vendor-specs/example/example-idp-admin.yaml): OAuth clients as JSON resources
 * under /clients, one IdP-generated secret per client, and a client-credentials token endpoint that issues the bridge's
 * admin token (scope `admin`, bearer, really expiring) and authenticates every other client the same way. Built on the
 * emulator framework the way a fork builds one for its own IdP: real state, the published description as the judge
 * of every request, faults from the framework for free.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { Emulator, type EmulatorDefinition, type EmulatorRequest, type EmulatorResponse } from './framework.js';
import { SpecValidator, vendorSpecFile } from './spec-validator.js';

type Json = Record<string, unknown>;

interface StoredSecret {
  id: string;
  value: string;
  created_at: number;
}

interface StoredClient {
  fields: Json & { client_id: string; metadata: Record<string, string>; created_at: number };
  /** Oldest first; at most `SECRET_LIMIT`. */
  secrets: StoredSecret[];
}

/** Secrets one client holds at most, as the admin API's description says. */
const SECRET_LIMIT = 2;

export interface ExampleEmulator {
  emulator: Emulator;
  /** The bridge's own admin client at the token endpoint. */
  admin: { clientId: string; clientSecret: string };
  /** `EXAMPLE_*` variables for the driver. */
  driverEnv: Record<string, string>;
  /** Client ids carrying the bridge's mark (`metadata["dcr_bridge.managed"]`). */
  ownedClientIds(): string[];
  /** Creates a client the bridge did not create (an operator's own) and returns its credentials. */
  seedForeignClient(clientId?: string): { clientId: string; clientSecret: string };
  /** Every client with its secret, as plain JSON: a refused call must leave it equal. */
  clientState(): unknown;
  /** Secrets of this client the IdP accepts now (at most two). */
  workingSecretCount(clientId: string): number;
  /** A real client-credentials token request: does the IdP authenticate this secret? */
  secretWorks(clientId: string, secret: string): Promise<boolean>;
  /** Token requests answered for the admin client. */
  adminTokenRequests(): number;
  stop(): Promise<void>;
}

const OWNER_MEMBER = 'dcr_bridge.managed';
const error = (status: number, code: string, description: string): EmulatorResponse => ({
  status,
  body: { error: code, error_description: description },
});
const NOT_FOUND = error(404, 'not_found', 'No client has this id.');

export async function startExampleEmulator(
  options: { port?: number; tokenLifetimeSeconds?: number } = {},
): Promise<ExampleEmulator> {
  const emulator = new Emulator({
    name: 'example',
    spec: SpecValidator.load(vendorSpecFile('example/example-idp-admin.yaml')),
  });
  const clients = new Map<string, StoredClient>();
  const tokens = new Map<string, number>();
  const admin = { clientId: 'dcr-bridge-admin', clientSecret: randomBytes(24).toString('base64url') };
  let adminTokenRequests = 0;
  const newSecret = (id = `sec-${randomBytes(8).toString('hex')}`): StoredSecret => ({
    id,
    value: randomBytes(24).toString('base64url'),
    created_at: Math.floor(Date.now() / 1000),
  });
  const same = (expected: string, secret: string) =>
    expected.length === secret.length && timingSafeEqual(Buffer.from(expected), Buffer.from(secret));
  const publicView = (client: StoredClient): Json => structuredClone(client.fields);

  function authenticates(clientId: string, secret: string): boolean {
    if (clientId === admin.clientId) return same(admin.clientSecret, secret);
    return clients.get(clientId)?.secrets.some((stored) => same(stored.value, secret)) ?? false;
  }

  /** Admin routes: a live bearer token of the admin client, else 401. */
  const asAdmin =
    (handler: (request: EmulatorRequest) => EmulatorResponse) =>
    (request: EmulatorRequest): EmulatorResponse => {
      const token = /^Bearer (\S+)$/.exec(String(request.headers.authorization ?? ''))?.[1];
      const expiresAt = token === undefined ? undefined : tokens.get(token);
      if (expiresAt === undefined || expiresAt <= Date.now())
        return error(401, 'invalid_token', 'The access token is missing, unknown or expired.');
      return handler(request);
    };
  const withClient = (handler: (client: StoredClient, request: EmulatorRequest) => EmulatorResponse) =>
    asAdmin((request) => {
      const client = clients.get(request.params.client_id!);
      return client ? handler(client, request) : NOT_FOUND;
    });

  function store(fields: Json): StoredClient {
    const client: StoredClient = {
      fields: {
        ...fields,
        metadata: { ...(fields.metadata as Record<string, string>) },
        client_id: String(fields.client_id),
        created_at: Math.floor(Date.now() / 1000),
      },
      secrets: [newSecret()],
    };
    clients.set(client.fields.client_id, client);
    return client;
  }

  emulator.route(
    'POST',
    '/oauth/token',
    (request) => {
      const form = (request.body ?? {}) as Record<string, string>;
      const basic = /^Basic (\S+)$/i.exec(String(request.headers.authorization ?? ''))?.[1];
      const [id, secret] = basic
        ? Buffer.from(basic, 'base64').toString('utf8').split(':').map(decodeURIComponent)
        : [form.client_id, form.client_secret];
      if (id === admin.clientId) adminTokenRequests++;
      if (form.grant_type !== 'client_credentials')
        return error(400, 'unsupported_grant_type', 'Only client_credentials is supported.');
      if (!id || !secret || !authenticates(id, secret))
        return error(401, 'invalid_client', 'Client authentication failed.');
      const token = randomBytes(24).toString('base64url');
      const lifetime = options.tokenLifetimeSeconds ?? 3600;
      if (id === admin.clientId) tokens.set(token, Date.now() + lifetime * 1000);
      return { status: 200, body: { access_token: token, token_type: 'Bearer', expires_in: lifetime } };
    },
    { spec: false },
  );
  emulator.route(
    'GET',
    '/clients',
    asAdmin((request) => {
      const limit = Number(request.query.get('limit') ?? 100);
      return { status: 200, body: { clients: [...clients.values()].slice(0, limit).map(publicView) } };
    }),
  );
  emulator.route(
    'POST',
    '/clients',
    asAdmin((request) => {
      const fields = request.body as Json;
      if (clients.has(String(fields.client_id))) return error(409, 'conflict', 'A client with this id exists.');
      const client = store(fields);
      return { status: 201, body: { ...publicView(client), client_secret: client.secrets[0]!.value } };
    }),
  );
  emulator.route(
    'GET',
    '/clients/:client_id',
    withClient((client) => ({ status: 200, body: publicView(client) })),
  );
  emulator.route(
    'PUT',
    '/clients/:client_id',
    withClient((client, request) => {
      client.fields = {
        ...(request.body as Json),
        metadata: { ...((request.body as Json).metadata as Record<string, string>) },
        client_id: client.fields.client_id,
        created_at: client.fields.created_at,
      };
      return { status: 200, body: publicView(client) };
    }),
  );
  emulator.route(
    'DELETE',
    '/clients/:client_id',
    withClient((client) => {
      clients.delete(client.fields.client_id);
      return { status: 204 };
    }),
  );
  emulator.route(
    'POST',
    '/clients/:client_id/secret',
    withClient((client) => {
      const secret = newSecret();
      client.secrets = [secret];
      return { status: 200, body: { client_id: client.fields.client_id, client_secret: secret.value } };
    }),
  );
  emulator.route(
    'GET',
    '/clients/:client_id/secrets',
    withClient((client) => ({
      status: 200,
      body: { secrets: client.secrets.map(({ id, created_at }) => ({ id, created_at })) },
    })),
  );
  emulator.route(
    'POST',
    '/clients/:client_id/secrets',
    withClient((client, request) => {
      const { id } = request.body as { id: string };
      if (client.secrets.some((secret) => secret.id === id))
        return error(409, 'conflict', 'A secret with this id exists.');
      if (client.secrets.length >= SECRET_LIMIT)
        return error(409, 'secret_limit', `A client holds at most ${SECRET_LIMIT} secrets.`);
      const secret = newSecret(id);
      client.secrets.push(secret);
      return { status: 201, body: { id, created_at: secret.created_at, client_secret: secret.value } };
    }),
  );
  emulator.route(
    'DELETE',
    '/clients/:client_id/secrets/:secret_id',
    withClient((client, request) => {
      const kept = client.secrets.filter((secret) => secret.id !== request.params.secret_id);
      if (kept.length === client.secrets.length) return error(404, 'not_found', 'No secret has this id.');
      if (kept.length === 0) return error(409, 'last_secret', "A client's last secret cannot be deleted.");
      client.secrets = kept;
      return { status: 204 };
    }),
  );

  await emulator.start(options.port ?? 0);
  const driverEnv = {
    DCR_DRIVER: 'example',
    EXAMPLE_URL: emulator.url,
    EXAMPLE_CLIENT_ID: admin.clientId,
    EXAMPLE_CLIENT_SECRET: admin.clientSecret,
  };
  return {
    emulator,
    admin,
    driverEnv,
    ownedClientIds: () =>
      [...clients.values()]
        .filter((client) => client.fields.metadata[OWNER_MEMBER] === 'true')
        .map((client) => client.fields.client_id),
    seedForeignClient(clientId = 'operator-console') {
      const client = store({
        client_id: clientId,
        client_name: 'operator console',
        redirect_uris: [],
        grant_types: ['client_credentials'],
        token_endpoint_auth_method: 'client_secret_basic',
        metadata: { team: 'operations' },
      });
      return { clientId, clientSecret: client.secrets[0]!.value };
    },
    clientState: () => JSON.parse(JSON.stringify([...clients.values()])),
    workingSecretCount: (clientId) => clients.get(clientId)?.secrets.length ?? 0,
    async secretWorks(clientId, secret) {
      const response = await fetch(`${emulator.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret }),
      });
      await response.arrayBuffer();
      return response.status === 200;
    },
    adminTokenRequests: () => adminTokenRequests,
    stop: () => emulator.stop(),
  };
}

export const exampleEmulator: EmulatorDefinition = {
  name: 'example',
  async start({ port }) {
    const started = await startExampleEmulator({ port });
    return { emulator: started.emulator, driverEnv: started.driverEnv };
  },
};
