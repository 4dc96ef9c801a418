/**
 * The standard DCR dialect: RFC 7591 registration at POST /register and RFC 7592 management at /register/{client_id},
 * over the same driver as the portal dialects, beside the IdP's discovery documents (discovery-documents.ts) and
 * open registration (open-registrations.ts). It is mounted before the portal-key check: POST /register takes a portal
 * key as its initial access token (or none, under open registration), management takes only the client's
 * registration access token.
 *
 * Each route reads as its steps: authenticate → read and validate the body → the RFC's checks → act → answer.
 */
import { Router, type ErrorRequestHandler, type Request, type RequestHandler, type Response } from 'express';
import {
  defaultStandardDcrConfig,
  type BridgeConfig,
  type OpenRegistrationPolicy,
  type StandardDcrConfig,
} from '../config.js';
import type {
  ClientMetadata,
  DcrDriver,
  RegisteredClient,
  RegisteredClientWithSecret,
  StandardRegistration,
} from '../driver/contract.js';
import { usesClientSecret } from '../driver/rotation/grace.js';
import { isClientId } from '../driver/ownership.js';
import {
  BridgeError,
  ClientNotFoundError,
  InvalidClientMetadataError,
  InvalidRequestError,
  InvalidSoftwareStatementError,
  InvalidTokenError,
  NotFoundError,
  UnapprovedSoftwareStatementError,
} from '../errors.js';
import type { BridgeEvents } from '../events.js';
import type { PendingRegistrations } from '../pending.js';
import type { Logger } from '../logging.js';
import { api7ClientToWire, api7MetadataFromWire, type Api7ClientMetadataBody } from '../metadata.js';
import { credentialHash, matchesCredentialHash, newRegistrationAccessToken } from '../registration.js';
import { apiKeyDigests, bearerToken, matchApiKey } from './auth.js';
import { jsonBodySteps } from './body.js';
import { forbidCaching } from './caching.js';
import { discoveryDocumentsRouter } from './discovery-documents.js';
import {
  checkOpenPolicy,
  checkOpenRegistrationDriver,
  defaultOpenRegistrationPolicy,
  limitOpenRegistrations,
  OpenRegistrationCapacity,
  openRegistrationsRouter,
} from './open-registrations.js';
import { labelRoute } from './request-context.js';
import type { ApiSpec } from './spec.js';

export interface RegistrationDependencies {
  driver: DcrDriver;
  events: BridgeEvents;
  spec: ApiSpec;
  bodyLimitBytes: number;
  /** The bridge's POST /register URL; each client's `registration_client_uri` is under it. */
  registrationEndpoint: string;
  /** `DCR_API_KEYS`: each serves as an initial access token. */
  apiKeys: string[];
  /** The stricter per-address limit on failed authentication the portal dialects use too. */
  failedAuthLimit: RequestHandler;
  /** The per-key limit of the portal dialects: per portal key on POST /register, per client on its configuration. */
  perCallerLimit: RequestHandler;
  settings: StandardDcrConfig;
  /** Holds each registration until its answer is written (src/pending.ts). */
  pending: PendingRegistrations;
}

/** The standard registration body after schema validation (spec: StandardClientMetadata). */
interface StandardClientMetadataBody extends Api7ClientMetadataBody {
  client_id?: string;
  client_secret?: string;
  software_statement?: string;
  registration_access_token?: unknown;
  registration_client_uri?: unknown;
  client_id_issued_at?: unknown;
  client_secret_expires_at?: unknown;
}

/** RFC 7591 §2: without `grant_types` a client is an `authorization_code` client (the portal dialects default otherwise). */
const standardDefaultGrantTypes = ['authorization_code'];
/** RFC 7592 §2.2: server-set members a client update must not carry. */
const serverSetMembers = [
  'registration_access_token',
  'registration_client_uri',
  'client_id_issued_at',
  'client_secret_expires_at',
] as const;
const compactJws = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

interface AuthorisedClient {
  client: RegisteredClient & { registration: StandardRegistration };
  token: string;
}

function authorised(res: Response): AuthorisedClient {
  return res.locals.standardClient as AuthorisedClient;
}

function clientMetadata(res: Response): ClientMetadata {
  return res.locals.clientMetadata as ClientMetadata;
}

export function registrationRouter(dependencies: RegistrationDependencies): Router {
  const {
    driver,
    events,
    spec,
    bodyLimitBytes,
    registrationEndpoint,
    apiKeys,
    failedAuthLimit,
    perCallerLimit,
    settings,
    pending,
  } = dependencies;
  const router = Router();
  const jsonBody = jsonBodySteps(spec, bodyLimitBytes);
  const keyDigests = apiKeyDigests(apiKeys);
  const open = settings.openRegistration;
  router.use('/register', forbidCaching);

  const refuseToken = (
    req: Request,
    res: Response,
    next: (error?: unknown) => void,
    presented: boolean,
    description: string,
  ): void => {
    events.emit('registration_token.refused', {
      reason: presented ? 'wrong' : 'missing',
      ...(req.ip !== undefined ? { address: req.ip } : {}),
    });
    failedAuthLimit(req, res, (error?: unknown) => next(error ?? new InvalidTokenError(description, presented)));
  };

  /** The initial access token is a portal key, compared in constant time against every key before the body is read. */
  const authenticateInitialAccess: RequestHandler = (req, res, next) => {
    const token = bearerToken(req);
    if (token === undefined && req.get('Authorization') === undefined && open) {
      res.locals.openRegistration = true;
      return next();
    }
    if (token !== undefined) {
      const matched = matchApiKey(keyDigests, token);
      if (matched !== -1) {
        res.locals.apiKeyIndex = matched;
        return perCallerLimit(req, res, next);
      }
    }
    refuseToken(
      req,
      res,
      next,
      token !== undefined,
      'A valid initial access token is required as Authorization: Bearer.',
    );
  };

  /** RFC 7591 §2.3: the bridge trusts no software statement issuer, so a statement is never approved. */
  const checkSoftwareStatement: RequestHandler = (req, _res, next) => {
    const statement = (req.body as StandardClientMetadataBody).software_statement;
    if (statement === undefined) return next();
    next(compactJws.test(statement) ? new UnapprovedSoftwareStatementError() : new InvalidSoftwareStatementError());
  };

  /**
   * The open-registration policy a request is held to: an open registration's, and a `PUT` of a client registered
   * openly — or the client could lift its own policy (a public client turned `client_credentials`, `private_key_jwt`
   * with the caller's `jwks_uri`, `implicit`). With open registration since turned off, the default policy holds.
   */
  const openPolicyFor = (res: Response): OpenRegistrationPolicy | undefined => {
    if (res.locals.openRegistration === true) return open;
    const standard = res.locals.standardClient as AuthorisedClient | undefined;
    if (standard?.client.registration.openRegistration === true) return open ?? defaultOpenRegistrationPolicy;
    return undefined;
  };

  /** The body as client metadata, with this dialect's defaults; an open registration is held to its policy. */
  const readClientMetadata: RequestHandler = (req, res, next) => {
    const body = req.body as StandardClientMetadataBody;
    const policy = openPolicyFor(res);
    const withDefaults: Api7ClientMetadataBody = {
      ...body,
      grant_types: body.grant_types && body.grant_types.length > 0 ? body.grant_types : standardDefaultGrantTypes,
      ...(policy && body.token_endpoint_auth_method === undefined
        ? { token_endpoint_auth_method: policy.tokenEndpointAuthMethods[0] }
        : {}),
    };
    const metadata = api7MetadataFromWire(withDefaults);
    if (policy) checkOpenPolicy(metadata, policy);
    res.locals.clientMetadata = metadata;
    next();
  };

  const capacity = open ? new OpenRegistrationCapacity(driver, open) : undefined;
  const reserveOpenRegistrationPlace: RequestHandler = async (_req, res, next) => {
    if (res.locals.openRegistration === true) res.locals.releaseOpenPlace = await capacity!.reserve();
    next();
  };

  const registerClient: RequestHandler = async (_req, res) => {
    const token = newRegistrationAccessToken();
    const registration: StandardRegistration = {
      accessTokenHash: credentialHash(token),
      ...(res.locals.openRegistration === true ? { openRegistration: true } : {}),
    };
    // The secret's hash is only known once the IdP issued it, so the registration is written with the client and
    // completed right after; until then a PUT carrying client_secret is refused, which is the safe side.
    let client: RegisteredClientWithSecret;
    try {
      client = await driver.registerClient(clientMetadata(res), { portal: 'standard', registration });
    } finally {
      // Created (and now counted at the IdP) or failed: either way the reserved place is no longer needed.
      (res.locals.releaseOpenPlace as (() => void) | undefined)?.();
    }
    const secret =
      usesClientSecret(client.metadata.tokenEndpointAuthMethod) && client.clientSecret !== ''
        ? client.clientSecret
        : undefined;
    if (secret !== undefined) {
      try {
        const completed = await driver.updateClient(client.clientId, client.metadata, {
          registration: { ...registration, clientSecretHash: credentialHash(secret) },
        });
        client = { ...client, ...completed, clientSecret: client.clientSecret };
      } catch (error) {
        // Nobody will ever learn this client's registration access token: leave no orphan at the IdP.
        await driver.deleteClient(client.clientId).catch(() => undefined);
        throw error;
      }
    }
    await pending.hold(res, client.clientId, 'standard');
    res.status(201).json(clientInformation(client, token, secret));
  };

  /** RFC 7592 §2 and RFC 6750: the client's own registration access token, nothing else, opens its configuration. */
  const authenticateRegistrationToken: RequestHandler = async (req, res, next) => {
    const token = bearerToken(req);
    const clientId = req.params.client_id;
    if (token === undefined)
      return refuseToken(req, res, next, false, 'The registration access token is required as Authorization: Bearer.');
    const refuse = () =>
      refuseToken(req, res, next, true, 'The registration access token is not valid for this client.');
    if (typeof clientId !== 'string' || !isClientId(clientId)) return refuse();
    let client: RegisteredClient;
    try {
      client = await driver.getClient(clientId);
    } catch (error) {
      // RFC 7592 §2.1: a client that does not exist is a 401, indistinguishable from a wrong token.
      if (error instanceof ClientNotFoundError) return refuse();
      return next(error);
    }
    if (client.registration === undefined || !matchesCredentialHash(token, client.registration.accessTokenHash))
      return refuse();
    res.locals.standardClient = {
      client: { ...client, registration: client.registration },
      token,
    } satisfies AuthorisedClient;
    // Each client's configuration has the rate a portal key has; the limiter keys on this.
    res.locals.apiKeyIndex = `client:${client.clientId}`;
    perCallerLimit(req, res, next);
  };

  const readClient: RequestHandler = (_req, res) => {
    const { client, token } = authorised(res);
    events.emit('client.read', { clientId: client.clientId, portal: 'standard' });
    res.json(clientInformation(client, token, undefined));
  };

  /** RFC 7592 §2.2, in its order: same client_id, no server-set member, the current secret or none, then replace. */
  const checkUpdateRequest: RequestHandler = (req, res, next) => {
    const body = req.body as StandardClientMetadataBody;
    const { client } = authorised(res);
    if (body.client_id === undefined)
      return next(new InvalidClientMetadataError('The update must carry the client_id.'));
    if (body.client_id !== client.clientId)
      return next(new InvalidClientMetadataError("The client_id in the body must be the client's own."));
    const forbidden = serverSetMembers.find((member) => body[member] !== undefined);
    if (forbidden)
      return next(new InvalidClientMetadataError(`The update must not carry ${forbidden}; the server sets it.`));
    if (
      body.client_secret !== undefined &&
      !matchesCredentialHash(body.client_secret, client.registration.clientSecretHash)
    ) {
      return next(
        new InvalidClientMetadataError(
          'The client_secret must be the one currently issued; a client cannot choose its own.',
        ),
      );
    }
    next();
  };

  const replaceClient: RequestHandler = async (_req, res) => {
    const { client, token } = authorised(res);
    const nextToken = settings.tokenRotation === 'on-update' ? newRegistrationAccessToken() : token;
    const changes =
      nextToken === token
        ? {}
        : { registration: { ...client.registration, accessTokenHash: credentialHash(nextToken) } };
    const updated = await driver.updateClient(client.clientId, clientMetadata(res), changes);
    events.emit('client.updated', { clientId: client.clientId, portal: 'standard' });
    if (nextToken !== token) events.emit('registration_token.rotated', { clientId: client.clientId });
    res.json(clientInformation(updated, nextToken, undefined));
  };

  const deleteClient: RequestHandler = async (_req, res) => {
    const { client } = authorised(res);
    await driver.deleteClient(client.clientId);
    events.emit('client.deleted', { clientId: client.clientId, portal: 'standard' });
    res.status(204).end();
  };

  const clientInformation = (
    client: RegisteredClient,
    token: string,
    secret: string | undefined,
  ): Record<string, unknown> => ({
    ...api7ClientToWire({
      clientId: client.clientId,
      clientIdIssuedAt: client.clientIdIssuedAt,
      clientSecretExpiresAt: client.clientSecretExpiresAt,
      metadata: client.metadata,
    }),
    ...(secret !== undefined ? { client_secret: secret } : {}),
    registration_access_token: token,
    registration_client_uri: `${registrationEndpoint}/${encodeURIComponent(client.clientId)}`,
  });

  /** Inside this dialect every refusal is an RFC 7591 §3.2.2 or RFC 6750 code; a bad body is bad client metadata. */
  const standardErrors: ErrorRequestHandler = (error, _req, _res, next) => {
    if (error instanceof InvalidRequestError || (!(error instanceof BridgeError) && isBodyParserRefusal(error))) {
      return next(
        new InvalidClientMetadataError(
          error instanceof BridgeError ? error.message : 'The request body must be a JSON object of client metadata.',
        ),
      );
    }
    next(error);
  };

  router.post(
    '/register',
    labelRoute,
    authenticateInitialAccess,
    limitOpenRegistrations(open),
    ...jsonBody('StandardClientMetadata'),
    checkSoftwareStatement,
    readClientMetadata,
    reserveOpenRegistrationPlace,
    registerClient,
  );
  router.get('/register/:client_id', labelRoute, authenticateRegistrationToken, readClient);
  router.put(
    '/register/:client_id',
    labelRoute,
    authenticateRegistrationToken,
    ...jsonBody('StandardClientMetadata'),
    checkUpdateRequest,
    readClientMetadata,
    replaceClient,
  );
  router.delete('/register/:client_id', labelRoute, authenticateRegistrationToken, deleteClient);
  router.use('/register', standardErrors);
  router.use(/^\/register\/?$/, (_req, _res, next) =>
    next(new NotFoundError('The registration endpoint answers POST only.')),
  );
  return router;
}

/** Body-parser refusals other than size (413 stays `request_too_large`). */
function isBodyParserRefusal(error: unknown): boolean {
  if (typeof error !== 'object' || error === null || !('type' in error) || !('status' in error)) return false;
  const status = (error as { status: unknown }).status;
  return typeof status === 'number' && status >= 400 && status < 500 && status !== 413;
}

/** The whole standard DCR dialect as the app mounts it: discovery documents, open registration's admin, RFC 7591/7592. */
export function standardDcrFor(
  config: BridgeConfig,
  driver: DcrDriver,
  {
    events,
    spec,
    logger,
    pending,
    failedAuthLimit,
    perCallerLimit,
  }: {
    events: BridgeEvents;
    spec: ApiSpec;
    logger: Logger;
    pending: PendingRegistrations;
    failedAuthLimit: RequestHandler;
    perCallerLimit: RequestHandler;
  },
): Router {
  const settings = config.standardDcr ?? defaultStandardDcrConfig;
  checkOpenRegistrationDriver(settings.openRegistration, driver);
  const registrationEndpoint = `${config.publicUrl}/register`;
  // Their paths do not overlap; the routers that forbid caching come first, so even a refusal under their paths is not cached.
  return Router().use(
    openRegistrationsRouter({ driver, events, apiKeys: config.apiKeys, failedAuthLimit }),
    registrationRouter({
      driver,
      events,
      spec,
      bodyLimitBytes: config.bodyLimitBytes,
      registrationEndpoint,
      apiKeys: config.apiKeys,
      failedAuthLimit,
      perCallerLimit,
      settings,
      pending,
    }),
    discoveryDocumentsRouter({ driver, logger, registrationEndpoint, ttlSeconds: settings.discoveryTtlSeconds }),
  );
}
