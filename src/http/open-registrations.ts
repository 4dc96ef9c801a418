/**
 * Open registration (`DCR_OPEN_REGISTRATION=true`): POST /register without an initial access token, always under a
 * policy — allowed grant types and authentication methods, a per-address rate limit, a cap on open-registered
 * clients — and the operator's `/admin/open-registrations`, which lists and purges the clients registered that way.
 */
import { Router, type RequestHandler } from 'express';
import { MemoryStore, rateLimit } from 'express-rate-limit';
import type { OpenRegistrationPolicy } from '../config.js';
import type { ClientMetadata, DcrDriver } from '../driver/contract.js';
import { ConfigurationError } from '../env.js';
import { BridgeError, InvalidClientMetadataError, RateLimitedError } from '../errors.js';
import type { BridgeEvents } from '../events.js';
import { requireApiKey } from './auth.js';
import { forbidCaching } from './caching.js';
import { sendError } from './errors.js';
import { labelRoute } from './request-context.js';

/**
 * The policy an openly registered client stays under when open registration has since been turned off (the
 * defaults of the DCR_OPEN_REGISTRATION_* variables; the rate and the cap do not apply to an update).
 */
export const defaultOpenRegistrationPolicy: OpenRegistrationPolicy = {
  grantTypes: ['authorization_code', 'refresh_token'],
  tokenEndpointAuthMethods: ['none'],
  perAddressPerHour: 10,
  maxClients: 1000,
};

/** How many open-registered clients one listing or purge call handles. */
const openRegistrationListLimit = 1000;

/** Open registration needs a driver that can find the clients registered that way (for the cap and the purge). */
export function checkOpenRegistrationDriver(policy: OpenRegistrationPolicy | undefined, driver: DcrDriver): void {
  if (policy && !driver.listOpenRegistrations) {
    throw new ConfigurationError(
      'DCR_OPEN_REGISTRATION',
      `cannot be true with the ${driver.name} driver, which cannot list open-registered clients`,
    );
  }
}

/** The per-address limit on open registrations; a registration with an initial access token passes untouched. */
export function limitOpenRegistrations(policy: OpenRegistrationPolicy | undefined): RequestHandler {
  return rateLimit({
    windowMs: 3600_000,
    limit: policy?.perAddressPerHour ?? 1,
    store: new MemoryStore(),
    validate: { xForwardedForHeader: false },
    standardHeaders: false,
    legacyHeaders: false,
    // Counts accepted registrations only: a refused one (a typo, a full cap) gives its place back.
    skipFailedRequests: true,
    requestPropertyName: 'openRegistrationRateLimit',
    skip: (_req, res) => res.locals.openRegistration !== true,
    handler: (_req, _res, next) =>
      next(
        new RateLimitedError(
          3600,
          'Too many open registrations from this address; retry after the time in the Retry-After header.',
        ),
      ),
  });
}

/**
 * The open-registration policy, on whenever open registration is: only the allowed grant types and authentication
 * methods, and redirect URIs only loopback http (any port, RFC 8252 §7.3), https, or a private-use scheme — which
 * `checkRedirectUri` already enforces for every dialect — and at least one for an authorization-code client.
 */
export function checkOpenPolicy(metadata: ClientMetadata, policy: OpenRegistrationPolicy): void {
  const refusedGrant = metadata.grantTypes.find((grant) => !policy.grantTypes.includes(grant));
  if (refusedGrant !== undefined) {
    throw new InvalidClientMetadataError(
      `Open registration allows only the grant types ${policy.grantTypes.join(', ')}.`,
    );
  }
  if (!policy.tokenEndpointAuthMethods.includes(metadata.tokenEndpointAuthMethod)) {
    throw new InvalidClientMetadataError(
      `Open registration allows only the token_endpoint_auth_method ${policy.tokenEndpointAuthMethods.join(', ')}.`,
    );
  }
  if (metadata.jwksUri !== undefined && metadata.tokenEndpointAuthMethod !== 'private_key_jwt') {
    throw new InvalidClientMetadataError('Open registration allows a jwks_uri only with private_key_jwt.');
  }
  if (metadata.grantTypes.includes('authorization_code') && metadata.redirectUris.length === 0) {
    throw new InvalidClientMetadataError(
      'An authorization_code client registered openly must have at least one redirect_uris entry.',
    );
  }
}

/**
 * The cap on open-registered clients, counted at the IdP plus the registrations under way in this process: checking
 * and reserving a place is one step (one at a time), so a burst cannot pass the cap between the count and the
 * creation. Across replicas each process reserves only its own places.
 */
export class OpenRegistrationCapacity {
  readonly #driver: DcrDriver;
  readonly #policy: OpenRegistrationPolicy;
  #reserved = 0;
  #turns: Promise<unknown> = Promise.resolve();

  constructor(driver: DcrDriver, policy: OpenRegistrationPolicy) {
    this.#driver = driver;
    this.#policy = policy;
  }

  /** A place for one more open-registered client, or a 429; call the release once the client exists or failed. */
  async reserve(): Promise<() => void> {
    const turn = this.#turns.then(async () => {
      const existing = await this.#driver.listOpenRegistrations!(this.#policy.maxClients);
      if (existing.length + this.#reserved >= this.#policy.maxClients) {
        throw new RateLimitedError(
          3600,
          'The bridge holds as many open-registered clients as it allows; retry later or ask for an initial access token.',
        );
      }
      this.#reserved += 1;
    });
    this.#turns = turn.catch(() => undefined);
    await turn;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#reserved -= 1;
    };
  }
}

export interface OpenRegistrationsDependencies {
  driver: DcrDriver;
  events: BridgeEvents;
  /** `DCR_API_KEYS`: the operator's side takes a portal key, exactly as the portal dialects do. */
  apiKeys: string[];
  failedAuthLimit: RequestHandler;
}

/** `GET /admin/open-registrations` lists the open-registered clients; `DELETE` purges them. */
export function openRegistrationsRouter({
  driver,
  events,
  apiKeys,
  failedAuthLimit,
}: OpenRegistrationsDependencies): Router {
  const router = Router();
  router.use('/admin', forbidCaching);
  const authenticateOperator = requireApiKey(apiKeys, failedAuthLimit, events);

  const requireOpenListing: RequestHandler = (_req, res, next) => {
    if (driver.listOpenRegistrations) return next();
    sendError(
      res,
      new BridgeError(404, 'invalid_request', `The ${driver.name} driver cannot list open-registered clients.`),
    );
  };

  const listOpenRegistrations: RequestHandler = async (_req, res) => {
    const clientIds = await driver.listOpenRegistrations!(openRegistrationListLimit);
    res.json({ client_ids: clientIds });
  };

  /** Deletes every open-registered client (at most the listing limit per call; call again until `deleted` is 0). */
  const purgeOpenRegistrations: RequestHandler = async (_req, res) => {
    const clientIds = await driver.listOpenRegistrations!(openRegistrationListLimit);
    for (const clientId of clientIds) {
      await driver.deleteClient(clientId);
      events.emit('client.deleted', { clientId, portal: 'standard' });
    }
    res.json({ deleted: clientIds.length });
  };

  router.get('/admin/open-registrations', labelRoute, authenticateOperator, requireOpenListing, listOpenRegistrations);
  router.delete(
    '/admin/open-registrations',
    labelRoute,
    authenticateOperator,
    requireOpenListing,
    purgeOpenRegistrations,
  );
  return router;
}
