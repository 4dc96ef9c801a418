/**
 * The standard DCR driver: any IdP that already speaks RFC 7591 (registration) and RFC 7592 (read, update, delete with
 * the client's registration access token) — Keycloak's `clients-registrations`, Ory Hydra, node-oidc-provider, ZITADEL,
 * Curity… The bridge registers with an initial access token (static, fetched with client credentials, or none where the
 * IdP registers openly) and keeps what RFC 7592 hands each client — its registration access token and
 * `registration_client_uri` — in the state store (src/driver/state/), replaced under the client's lock and durable
 * before the bridge answers whenever the IdP rotates them (Keycloak, Hydra and node-oidc-provider on every update,
 * some servers on every read too). Ownership is presence in the store: a client the store does not hold is not the
 * bridge's, whatever the IdP says.
 *
 * A rotation is an RFC 7592 update without `client_secret`: an IdP that issues a new secret on it (RFC 7592 §2.2
 * allows it) rotates; one that keeps the secret (node-oidc-provider, Hydra) gets a `409` that says so, its client
 * unchanged. One secret per client: the multiple-credentials calls list it, refuse a second and never revoke the last.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  carryFailure,
  checkClientId,
  clientCredentialsGrant,
  createAdminCall,
  flatMark,
  openStateStore,
  ownedClientSummary,
  pageOfOwnedClients,
  registeredClient,
  statusFailure,
  upstreamStatusOf,
  usableAnswer,
  type AdminCallSettings,
  type CallSafety,
  type ClientMetadata,
  type DriverFactory,
  type DriverImplementation,
  type RegisteredClient,
  type RegistrationSession,
  type StateStore,
  type StoredRegistration,
} from '../src/driver/index.js';
import { fetchDiscoveryJson } from '../src/discovery.js';
import { ConfigurationError, envValue, urlEnv } from '../src/env.js';
import { ClientNotFoundError, ConflictError } from '../src/errors.js';
import { clientMetadataFromWire, clientMetadataToWire } from '../src/metadata.js';
import { hasStrings, isRecord } from '../src/records.js';

/** How the bridge gets the initial access token its registrations carry. */
export type InitialAccessToken =
  | { kind: 'none' }
  | { kind: 'static'; token: string }
  | { kind: 'client credentials'; tokenEndpoint: string; clientId: string; clientSecret: string; scope?: string };

export interface Rfc7591DriverOptions extends AdminCallSettings {
  /** The IdP's RFC 7591 registration endpoint. */
  registrationEndpoint: string;
  initialAccessToken: InitialAccessToken;
  store: StateStore;
  /** Closes the store with the driver (the driver opened it). */
  ownsStore?: boolean;
  /** The IdP's discovery URL, when known (served to the standard DCR façade). */
  discoveryUrl?: string;
  warn?: (message: string, fields: Record<string, unknown>) => void;
}

/** The bridge's facts about a client, kept in the store beside its registration access token. */
interface ClientFacts {
  /** The ownership mark (portal ids, issued-at, the standard registration), as flat strings. */
  mark: Record<string, string>;
  /** The current secret: a stable random id, its hash (to tell whether an update issued a new one) and when it was issued. */
  secret?: { id: string; hash: string; issuedAt: number };
  /** The client's name as last registered or updated, for the operator's list (records older than it have none). */
  clientName?: string;
}

const mark = flatMark({ prefix: '' });
/** How many records of the store the operator's list reads at a time. */
const STORE_PAGE = 200;
const sha256 = (text: string) => createHash('sha256').update(text).digest('base64url');
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** What RFC 7591/7592 answers for a client: its metadata, and the management pair the bridge must keep. */
type WireClient = Record<string, unknown> & { client_id: string };
const isWireClient = hasStrings('client_id');
const isRegistration = (
  value: unknown,
): value is WireClient & { registration_access_token: string; registration_client_uri: string } =>
  hasStrings('client_id', 'registration_access_token', 'registration_client_uri')(value);

export function createRfc7591Driver(options: Rfc7591DriverOptions): DriverImplementation {
  const { store } = options;
  const namespace = options.registrationEndpoint;
  const iat = options.initialAccessToken;
  // Registrations carry the initial access token (a fetched one is cached and renewed by the kit); the management calls
  // carry each client's own registration access token, so they go through a call without a token of the kit's.
  const registering = createAdminCall({
    host: new URL(options.registrationEndpoint).host,
    ...(iat.kind === 'client credentials'
      ? {
          fetchToken: clientCredentialsGrant(iat.tokenEndpoint, {
            client_id: iat.clientId,
            client_secret: iat.clientSecret,
            ...(iat.scope ? { scope: iat.scope } : {}),
          }),
          tokenHost: new URL(iat.tokenEndpoint).host,
        }
      : {}),
    idpCallPolicy: options.idpCallPolicy,
    onIdpFailure: options.onIdpFailure,
    idpMaxConnections: options.idpMaxConnections,
  });
  const managing = createAdminCall({
    host: new URL(options.registrationEndpoint).host,
    idpCallPolicy: options.idpCallPolicy,
    onIdpFailure: options.onIdpFailure,
    idpMaxConnections: options.idpMaxConnections,
  });

  /** One RFC 7591/7592 request; a non-2xx answer keeps its status for the retry layer and the error mapping. */
  const send = async (
    url: string,
    method: string,
    bearer: string | undefined,
    signal: AbortSignal,
    body?: unknown,
  ): Promise<unknown> => {
    const answer = await managing.http.request(url, {
      method,
      headers: {
        accept: 'application/json',
        ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal,
    });
    if (!answer.ok)
      throw carryFailure(
        new Error(`${method} answered ${answer.status}`),
        statusFailure(transientConflict(answer.status, answer.jsonOrUndefined()) ? 503 : answer.status, answer.headers),
      );
    return answer.status === 204 || answer.text === '' ? undefined : answer.jsonOrUndefined();
  };

  /** A management call with the client's stored token; a token the IdP refuses is a client the bridge can no longer manage. */
  const manage = async (
    operation: string,
    safety: CallSafety,
    registration: StoredRegistration,
    method: string,
    body?: unknown,
  ): Promise<unknown> => {
    try {
      return await managing(operation, safety, (signal) =>
        send(registration.registrationClientUri, method, registration.registrationAccessToken, signal, body),
      );
    } catch (error) {
      if (upstreamStatusOf(error) === 401) throw new LostRegistrationTokenError({ cause: error });
      throw error;
    }
  };

  /**
   * Keeps what the IdP answered: a rotated registration access token or a moved `registration_client_uri` replaces the
   * stored one before the caller hears of the answer.
   */
  const keepRotated = async (
    session: Pick<RegistrationSession, 'replace'>,
    registration: StoredRegistration,
    answer: WireClient,
    facts: ClientFacts = factsOf(registration),
  ): Promise<StoredRegistration> => {
    const token = typeof answer.registration_access_token === 'string' ? answer.registration_access_token : undefined;
    const uri = typeof answer.registration_client_uri === 'string' ? answer.registration_client_uri : undefined;
    const next: StoredRegistration = {
      ...registration,
      registrationAccessToken: token ?? registration.registrationAccessToken,
      registrationClientUri: uri ?? registration.registrationClientUri,
      data: { ...facts },
    };
    if (
      next.registrationAccessToken !== registration.registrationAccessToken ||
      next.registrationClientUri !== registration.registrationClientUri ||
      JSON.stringify(next.data) !== JSON.stringify(registration.data)
    )
      await session.replace(next);
    return next;
  };

  /** An answer the driver cannot use may still carry the rotated token (the old one is dead): it is kept all the same. */
  const keepTokenOfUnusable = async (
    session: Pick<RegistrationSession, 'replace'>,
    registration: StoredRegistration,
    raw: unknown,
    facts: ClientFacts,
  ): Promise<void> => {
    if (!isWireClient(raw) && isRecord(raw) && typeof raw.registration_access_token === 'string')
      await keepRotated(session, registration, { ...raw, client_id: registration.clientId }, facts);
  };

  /** Runs `work` on the bridge's own client `clientId` under its lock; a client the store does not hold is `404`. */
  const owned = <T>(
    clientId: string,
    work: (registration: StoredRegistration, session: RegistrationSession) => Promise<T>,
  ): Promise<T> => {
    checkClientId(clientId);
    return store.withRegistration(namespace, clientId, async (session) => {
      if (!session.current) throw new ClientNotFoundError();
      return work(session.current, session);
    });
  };

  /** Reads the client at the IdP (RFC 7592 GET), keeping a rotated token. */
  const read = async (
    registration: StoredRegistration,
    session: Pick<RegistrationSession, 'replace'>,
  ): Promise<{ answer: WireClient; registration: StoredRegistration }> => {
    const raw = await manage('read client', 'idempotent', registration, 'GET');
    await keepTokenOfUnusable(session, registration, raw, factsOf(registration));
    const answer = usableAnswer(raw, isWireClient, 'a client read');
    return { answer, registration: await keepRotated(session, registration, answer) };
  };

  /** RFC 7592 PUT of the full metadata (never `client_secret`), keeping a rotated token and a newly issued secret's hash. */
  const put = async (
    operation: string,
    registration: StoredRegistration,
    session: Pick<RegistrationSession, 'replace'>,
    metadata: ClientMetadata,
    facts: ClientFacts,
  ): Promise<{ answer: WireClient; newSecret?: string }> => {
    const raw = await manage(operation, 'idempotent', registration, 'PUT', {
      client_id: registration.clientId,
      ...clientMetadataToWire(metadata),
    });
    await keepTokenOfUnusable(session, registration, raw, facts);
    const answer = usableAnswer(raw, isWireClient, 'a client update');
    const secret =
      typeof answer.client_secret === 'string' && answer.client_secret !== '' ? answer.client_secret : undefined;
    const issued = secret !== undefined && sha256(secret) !== facts.secret?.hash;
    const kept: ClientFacts = issued ? { ...facts, secret: secretFacts(secret) } : facts;
    await keepRotated(session, registration, answer, kept);
    return issued ? { answer, newSecret: secret } : { answer };
  };

  /** Every record of this endpoint in the store, oldest first, read `STORE_PAGE` at a time. */
  async function* storedRegistrations(): AsyncGenerator<StoredRegistration> {
    for (let offset = 0; ; offset += STORE_PAGE) {
      const page = await store.list(namespace, STORE_PAGE, offset);
      yield* page;
      if (page.length < STORE_PAGE) return;
    }
  }

  return {
    name: 'rfc7591',
    capabilities: { rotationGrace: false, apiAccessGrants: false },

    async registerClient(metadata, context) {
      // A store that does not answer now would lose the client the IdP is about to make: refuse before asking it.
      await store.check();
      const stamp = mark.create(context);
      const answer = await registering('register client', 'unsafe', async (signal, fetched) =>
        usableAnswer(
          await send(
            options.registrationEndpoint,
            'POST',
            iat.kind === 'static' ? iat.token : iat.kind === 'client credentials' ? fetched : undefined,
            signal,
            clientMetadataToWire(metadata),
          ),
          isRegistration,
          'a registration with a registration access token',
        ),
      );
      const clientSecret = typeof answer.client_secret === 'string' ? answer.client_secret : '';
      const registration: StoredRegistration = {
        clientId: answer.client_id,
        registrationClientUri: answer.registration_client_uri,
        registrationAccessToken: answer.registration_access_token,
        data: {
          mark: mark.write(stamp),
          ...(clientSecret ? { secret: secretFacts(clientSecret) } : {}),
          ...nameFacts(metadata),
        } satisfies ClientFacts,
      };
      try {
        checkClientId(registration.clientId);
        await store.insert(namespace, registration);
      } catch (error) {
        // Kept nowhere, the client could never be managed again: take it back while the token is still in hand.
        await managing('delete unkept client', 'idempotent', (signal) =>
          send(registration.registrationClientUri, 'DELETE', registration.registrationAccessToken, signal),
        ).catch(() => undefined);
        throw error;
      }
      return {
        ...toRegistered(answer, registration),
        clientSecret,
      };
    },

    getClient: (clientId) =>
      owned(clientId, async (registration, session) =>
        toRegistered((await read(registration, session)).answer, registration),
      ),

    updateClient: (clientId, metadata, changes) =>
      owned(clientId, async (registration, session) => {
        const facts = factsOf(registration);
        const stamp = mark.read(facts.mark) ?? {};
        const { clientName: _previous, ...unnamed } = facts;
        const updatedFacts: ClientFacts = {
          ...unnamed,
          ...(changes?.registration ? { mark: mark.write(stamp, changes) } : {}),
          ...nameFacts(metadata),
        };
        const { answer } = await put('update client', registration, session, metadata, updatedFacts);
        return toRegistered(answer, { ...registration, data: { ...updatedFacts } });
      }),

    deleteClient: async (clientId) => {
      checkClientId(clientId);
      await store.withRegistration(namespace, clientId, async (session) => {
        const registration = session.current;
        if (!registration) return;
        try {
          await manage('delete client', 'idempotent', registration, 'DELETE');
        } catch (error) {
          if (error instanceof ClientNotFoundError) {
            // Gone at the IdP already: the record goes too.
          } else if (error instanceof LostRegistrationTokenError) {
            // The IdP takes the token no more (removed there, or a rotated token lost): the bridge can do nothing more
            // with this client; the operator checks the IdP.
            options.warn?.(
              'rfc7591: the IdP refused the registration access token of a client being deleted; forgotten',
              {
                clientId,
              },
            );
          } else throw error;
        }
        await session.remove();
      });
    },

    rotateSecret: (clientId) =>
      owned(clientId, async (registration, session) => {
        const facts = factsOf(registration);
        if (!facts.secret)
          throw new ConflictError('This client has no secret to rotate (its token_endpoint_auth_method uses none).');
        // The update carries the metadata the IdP holds now, so a rotation changes nothing else.
        const current = await read(registration, session);
        const metadata = toRegistered(current.answer, registration).metadata;
        const { newSecret, answer } = await put('rotate secret', current.registration, session, metadata, facts);
        if (newSecret === undefined) throw new RotationUnsupportedError();
        return {
          clientId,
          clientSecret: newSecret,
          clientSecretExpiresAt:
            typeof answer.client_secret_expires_at === 'number' ? answer.client_secret_expires_at : 0,
        };
      }),

    listSecrets: (clientId) =>
      owned(clientId, async (registration) => {
        const { secret } = factsOf(registration);
        return secret ? [{ secretId: secret.id, clientId, status: 'ACTIVE' as const, createdAt: secret.issuedAt }] : [];
      }),

    addSecret: (clientId) =>
      owned(clientId, async () => {
        throw new ConflictError(
          'RFC 7591 gives a client one secret: this identity provider holds no second one (the limit is 1).',
        );
      }),

    revokeSecret: (clientId, secretId) =>
      owned(clientId, async (registration) => {
        if (factsOf(registration).secret?.id === secretId)
          throw new ConflictError("This is the client's last secret (RFC 7591 gives a client one); it is not revoked.");
      }),

    listOpenRegistrations: async (limit) =>
      (await store.list(namespace, Number.MAX_SAFE_INTEGER))
        .filter((registration) => mark.read(factsOf(registration).mark)?.standardRegistration?.openRegistration)
        .slice(0, limit)
        .map((registration) => registration.clientId),

    // The operator's view: the store's records of this endpoint, oldest first (ownership is presence in the store),
    // read a page at a time; what the mark records and the name, never the registration access token or a secret.
    listClients: (listing) =>
      pageOfOwnedClients(storedRegistrations(), listing, (registration) => {
        const facts = factsOf(registration);
        const stamp = mark.read(facts.mark);
        return ownedClientSummary(registration.clientId, stamp ?? {}, { clientName: facts.clientName });
      }),

    ...(options.discoveryUrl
      ? {
          fetchDiscoveryDocument: () => fetchDiscoveryJson(managing.http, options.discoveryUrl!),
        }
      : {}),

    async checkReadiness() {
      await store.check();
      // The registration endpoint answers (any status but a 5xx: without a token it refuses, and that is an answer).
      await managing('readiness', 'idempotent', async (signal) => {
        const answer = await managing.http.request(options.registrationEndpoint, { method: 'GET', signal });
        if (answer.status >= 500)
          throw carryFailure(new Error('readiness'), statusFailure(answer.status, answer.headers));
      });
    },

    async close() {
      await Promise.all([registering.close(), managing.close()]);
      if (options.ownsStore) await store.close();
    },
  };
}

/**
 * A refusal that only says the IdP's database met a concurrent transaction, which a repeat passes: Hydra answers
 * `400 {"error":"Unable to serialize access due to a concurrent update in another session"}` to concurrent changes. It
 * counts as a `503` (retried where the call is safe to repeat), never as the client's metadata refused.
 */
function transientConflict(status: number, body: unknown): boolean {
  return (
    status === 400 &&
    isRecord(body) &&
    typeof body.error === 'string' &&
    /unable to serialize access|concurrent update/i.test(body.error)
  );
}

function secretFacts(secret: string): NonNullable<ClientFacts['secret']> {
  return { id: randomUUID(), hash: sha256(secret), issuedAt: nowSeconds() };
}

function factsOf(registration: StoredRegistration): ClientFacts {
  const data = registration.data as Partial<ClientFacts>;
  return {
    mark: isRecord(data.mark) ? (data.mark as Record<string, string>) : {},
    ...(isRecord(data.secret) ? { secret: data.secret as ClientFacts['secret'] } : {}),
    ...(typeof data.clientName === 'string' ? { clientName: data.clientName } : {}),
  };
}

function nameFacts(metadata: ClientMetadata): Pick<ClientFacts, 'clientName'> {
  return metadata.clientName === undefined ? {} : { clientName: metadata.clientName };
}

/** The IdP refuses the client's registration access token: the bridge cannot manage this client any more. */
export class LostRegistrationTokenError extends ConflictError {
  constructor(options?: { cause?: unknown }) {
    super(
      'The identity provider no longer accepts the registration access token the bridge holds for this client (an answer that rotated it was lost, or the client was removed at the IdP); see docs/drivers/rfc7591.md.',
      options,
    );
  }
}

/** The IdP kept the secret on an RFC 7592 update: it has no standard way to change it. */
export class RotationUnsupportedError extends ConflictError {
  constructor() {
    super(
      'This identity provider does not issue a new client secret through RFC 7592 (an update keeps the secret); delete the client and register it again for a new one.',
    );
  }
}

function toRegistered(client: WireClient, registration: StoredRegistration): RegisteredClient {
  const metadata = clientMetadataFromWire(client, { grantTypes: ['authorization_code'] });
  const stamp = mark.read(factsOf(registration).mark);
  const issuedAt = typeof client.client_id_issued_at === 'number' ? client.client_id_issued_at : undefined;
  const expiresAt = typeof client.client_secret_expires_at === 'number' ? client.client_secret_expires_at : undefined;
  return registeredClient(client.client_id, metadata, stamp, {
    ...(issuedAt === undefined && stamp?.issuedAt === undefined ? { issuedAt: 0 } : {}),
    ...(issuedAt !== undefined ? { issuedAt } : {}),
    ...(expiresAt !== undefined ? { secretExpiresAt: expiresAt } : {}),
  });
}

export const createDriverFromEnv: DriverFactory = async (env, settings) => {
  const issuer = envValue(env, 'RFC7591_ISSUER') === undefined ? undefined : urlEnv(env, 'RFC7591_ISSUER');
  const given = envValue(env, 'RFC7591_REGISTRATION_ENDPOINT');
  if (!issuer && !given)
    throw new ConfigurationError(
      'RFC7591_ISSUER',
      'is required (or RFC7591_REGISTRATION_ENDPOINT): the issuer whose discovery document names the registration endpoint',
    );
  let discovered: Record<string, unknown> | undefined;
  let discoveryUrl: string | undefined;
  if (issuer) {
    const probe = createAdminCall({ host: new URL(issuer).host, ...settings });
    try {
      for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
        discovered = await fetchDiscoveryJson(probe.http, `${issuer}${path}`).catch(() => undefined);
        if (discovered) {
          discoveryUrl = `${issuer}${path}`;
          break;
        }
      }
    } finally {
      await probe.close();
    }
    if (!discovered)
      throw new ConfigurationError(
        'RFC7591_ISSUER',
        `names an issuer whose discovery document could not be fetched (${issuer})`,
      );
  }
  const advertised =
    typeof discovered?.registration_endpoint === 'string' ? discovered.registration_endpoint : undefined;
  const registrationEndpoint = given ? urlEnv(env, 'RFC7591_REGISTRATION_ENDPOINT') : advertised;
  if (!registrationEndpoint)
    throw new ConfigurationError(
      'RFC7591_REGISTRATION_ENDPOINT',
      "is required: the issuer's discovery document names no registration_endpoint",
    );
  const staticToken = envValue(env, 'RFC7591_INITIAL_ACCESS_TOKEN');
  const clientId = envValue(env, 'RFC7591_CLIENT_ID');
  let initialAccessToken: InitialAccessToken = { kind: 'none' };
  if (staticToken && clientId)
    throw new ConfigurationError('RFC7591_INITIAL_ACCESS_TOKEN', 'and RFC7591_CLIENT_ID are both set; set only one');
  if (staticToken) initialAccessToken = { kind: 'static', token: staticToken };
  else if (clientId) {
    const advertisedToken = typeof discovered?.token_endpoint === 'string' ? discovered.token_endpoint : undefined;
    const tokenEndpoint = urlEnv(env, 'RFC7591_TOKEN_ENDPOINT', advertisedToken);
    const clientSecret = envValue(env, 'RFC7591_CLIENT_SECRET');
    if (!clientSecret)
      throw new ConfigurationError(
        'RFC7591_CLIENT_SECRET',
        'is required with RFC7591_CLIENT_ID: the secret of the client that fetches initial access tokens',
      );
    const scope = envValue(env, 'RFC7591_SCOPE');
    initialAccessToken = {
      kind: 'client credentials',
      tokenEndpoint,
      clientId,
      clientSecret,
      ...(scope ? { scope } : {}),
    };
  }
  const store = await openStateStore({
    ...(envValue(env, 'DCR_STATE_URL') ? { url: envValue(env, 'DCR_STATE_URL')! } : {}),
    dataDir: envValue(env, 'DCR_DATA_DIR') ?? envValue(env, 'DCR_LOCAL_DATA_DIR') ?? './data',
  });
  return createRfc7591Driver({
    registrationEndpoint,
    initialAccessToken,
    store,
    ownsStore: true,
    ...(discoveryUrl ? { discoveryUrl } : {}),
    ...settings,
  });
};
