/**
 * The one interface every identity-provider driver implements, at the floor of the kit: it imports plain types only.
 * A driver translates these calls into its IdP's admin API and nothing else: retries, token caching and error mapping
 * live in the kit (src/driver/), validation of the caller's input in the dialect routers. Drivers throw only the
 * bridge's typed errors (src/errors.ts). A driver module writes a `DriverImplementation`; the one wrapper
 * (src/core/driver.ts) fills the optional methods, and the rest of the bridge sees the complete `DcrDriver`.
 *
 * Names are camelCase here; the RFC 7591 snake_case names live only on the wire.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** RFC 7591 client metadata after validation and defaulting (src/metadata.ts). */
export interface ClientMetadata {
  clientName?: string;
  redirectUris: string[];
  /** Never empty; defaults to `["client_credentials"]`. */
  grantTypes: string[];
  responseTypes: string[];
  /** `client_secret_basic` (default), `client_secret_post`, `client_secret_jwt`, `private_key_jwt` or `none`. */
  tokenEndpointAuthMethod: string;
  /** Space-separated scope values, as in RFC 7591. */
  scope?: string;
  clientUri?: string;
  logoUri?: string;
  contacts?: string[];
  jwksUri?: string;
  postLogoutRedirectUris?: string[];
  applicationType?: 'web' | 'native';
}

/** Where a registration came from (the Konnect dialect sends these ids); drivers may record them on the client. */
export interface RegistrationContext {
  portal?: 'api7' | 'konnect' | 'standard';
  portalId?: string;
  organizationId?: string;
  developerId?: string;
  applicationDescription?: string;
  /** Set by the standard DCR façade (RFC 7591/7592): kept in the client's ownership mark, next to the portal ids. */
  registration?: StandardRegistration;
}

/**
 * What the standard DCR façade keeps for a client it registered, stored by the driver inside the client's ownership
 * mark as the one string `encodeStandardRegistration` makes (src/registration.ts) and read back by `getClient`.
 * Hashes only: the registration access token and the secret themselves are never stored by the bridge.
 */
export interface StandardRegistration {
  /** base64url SHA-256 of the registration access token (RFC 7592). */
  accessTokenHash: string;
  /** base64url SHA-256 of the client secret issued at registration, so a PUT carrying `client_secret` can be checked. */
  clientSecretHash?: string;
  /** Registered without an initial access token (`DCR_OPEN_REGISTRATION`). */
  openRegistration?: boolean;
}

export interface RegisteredClient {
  clientId: string;
  /** Epoch seconds. */
  clientIdIssuedAt: number;
  /** Epoch seconds; `0` = never. */
  clientSecretExpiresAt: number;
  metadata: ClientMetadata;
  /** Present when the client was registered through the standard DCR façade. */
  registration?: StandardRegistration;
}

export interface RegisteredClientWithSecret extends RegisteredClient {
  clientSecret: string;
}

export interface RotatedSecret {
  clientId: string;
  clientSecret: string;
  /** Epoch seconds; `0` = never. */
  clientSecretExpiresAt: number;
}

/**
 * One secret of a client, as the multiple-credentials calls list it (Konnect `GET /{id}/secrets`): metadata only,
 * never the value.
 */
export interface ClientSecretInfo {
  /**
   * The IdP's own id for the secret where it has one (Okta `ocs…`, Entra `keyId`, Cognito `ClientSecretId`), otherwise
   * a stable id that reveals nothing about the secret. It never changes while the secret lives.
   */
  secretId: string;
  clientId: string;
  /** `INACTIVE` where the IdP keeps a deactivated secret (Okta); it no longer works. */
  status: 'ACTIVE' | 'INACTIVE';
  /** Epoch seconds, when the IdP tells. */
  createdAt?: number;
  /** Epoch seconds, for a secret that ends (one kept for a rotation grace). */
  expiresAt?: number;
}

/** What `addSecret` gives: the new secret's metadata and its value, shown this once. */
export interface AddedClientSecret extends ClientSecretInfo {
  clientSecret: string;
}

/**
 * One client this bridge owns at the IdP, as the operator's list shows it (`npm run clients`, `/operator/clients`):
 * what its ownership mark records, never a secret, a token or a hash.
 */
export interface OwnedClientSummary {
  clientId: string;
  clientName?: string;
  /** The dialect it was registered through, as the mark records it. */
  dialect?: 'api7' | 'konnect' | 'standard';
  portalId?: string;
  organizationId?: string;
  developerId?: string;
  /** Epoch seconds, from the IdP or the mark. */
  createdAt?: number;
  /** Registered under open registration (`DCR_OPEN_REGISTRATION`). */
  openRegistration?: boolean;
  /** An old secret is still kept for a rotation grace: the sweep has yet to retire it. */
  pending?: boolean;
}

/** One page of `listClients`: `cursor` is the `next` of the page before (opaque), `limit` at most this many. */
export interface ListClientsOptions {
  limit: number;
  cursor?: string;
}

export interface OwnedClientsPage {
  clients: OwnedClientSummary[];
  /** Present when there may be more: pass it as `cursor` for the next page. */
  next?: string;
}

/** An API the client is granted access to (Konnect `add_registration` / `remove_registration`). */
export interface ApiAccess {
  /** The API's audience / identifier at the IdP, when the portal sent one. */
  audience?: string;
  apiProductVersionId?: string;
}

export interface DriverCapabilities {
  /**
   * Whether rotation can keep the old secret valid for `DCR_ROTATION_GRACE_SECONDS` (the IdP holds two secrets).
   * A driver without it rotates immediately: the old secret stops working at once.
   */
  rotationGrace: boolean;
  /** Whether `grantApiAccess` / `revokeApiAccess` do something at this IdP (Auth0 client grants). */
  apiAccessGrants: boolean;
}

/**
 * Routes a driver serves itself: node's request and response, and `next` for what the handler does not serve. The
 * handler is a method, so an Express handler (whose request and response extend node's) is one too.
 */
export interface PublicRoutes {
  path: string;
  handler(req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void): void;
}

export interface DcrDriver {
  /** `local`, `keycloak`, `okta`, `auth0`, `entra`... */
  readonly name: string;
  readonly capabilities: DriverCapabilities;
  /**
   * Routes the driver serves itself, without the API key (the embedded local IdP under `/local-idp`).
   * The app mounts `handler` at `path` before any key-protected route.
   */
  readonly publicRoutes?: PublicRoutes;

  /** Creates a client marked as owned by this bridge; returns it with its one and only copy of the secret. */
  registerClient(metadata: ClientMetadata, context: RegistrationContext): Promise<RegisteredClientWithSecret>;
  /** `ClientNotFoundError` for an unknown client or one this bridge did not create. */
  getClient(clientId: string): Promise<RegisteredClient>;
  /**
   * Replaces the metadata (RFC 7592 semantics). Same not-found rule as `getClient`. `changes.registration`, when
   * given, replaces the stored standard registration (a rotated registration access token); otherwise it is kept.
   */
  updateClient(
    clientId: string,
    metadata: ClientMetadata,
    changes?: { registration?: StandardRegistration },
  ): Promise<RegisteredClient>;
  /** Idempotent: deleting an unknown client resolves; a client this bridge did not create is `ClientNotFoundError`. */
  deleteClient(clientId: string): Promise<void>;
  /**
   * Issues a new secret. Without grace (or without the capability) the old secret stops working before this
   * resolves; with `rotationGrace` and a grace > 0 it keeps working until `retireExpiredSecrets` passes its end.
   * If it fails, the old secret still works.
   */
  rotateSecret(clientId: string): Promise<RotatedSecret>;
  /**
   * Multiple credentials: the client's secrets, metadata only. Same not-found rule as `getClient`. A secret kept for a
   * rotation grace is listed with its `expiresAt`, so the sweep and this list agree on what exists.
   */
  listSecrets?(clientId: string): Promise<ClientSecretInfo[]>;
  /**
   * One more working secret, the others untouched. The IdP's limit reached is a `ConflictError` naming the limit,
   * with nothing created. If the answer is lost after the IdP acted, no secret nobody holds is left behind.
   */
  addSecret?(clientId: string): Promise<AddedClientSecret>;
  /**
   * That secret stops working at the IdP before this resolves. An id already gone resolves (idempotent); the
   * client's last working secret is a `ConflictError` and is never removed.
   */
  revokeSecret?(clientId: string, secretId: string): Promise<void>;
  /**
   * The periodic sweep: retires every old secret of this bridge's clients whose grace ended before `now`
   * (epoch milliseconds). Reads creation times from the IdP, so it needs no state and is safe in several
   * replicas. Returns how many secrets it retired. Drivers without `rotationGrace` return 0. `options` bounds the
   * IdP calls of one sweep (src/driver/rotation/sweep.ts); what a sweep leaves is the next one's.
   */
  retireExpiredSecrets(now: number, options?: SweepOptions): Promise<number>;
  /**
   * The ids of this bridge's clients registered under open registration (`registration.openRegistration`), at most
   * `limit` of them: how the façade counts them against its cap and how an operator lists and purges them.
   */
  listOpenRegistrations?(limit: number): Promise<string[]>;
  /**
   * The operator's view: the clients this bridge owns at the IdP (its mark), a page at a time, in the IdP's listing
   * order. Metadata from the mark only; never a secret.
   */
  listClients?(options: ListClientsOptions): Promise<OwnedClientsPage>;
  /** The IdP's own OpenID Provider / RFC 8414 metadata, as its discovery URL serves it (the façade caches it). */
  fetchDiscoveryDocument?(): Promise<Record<string, unknown>>;
  /** Resolves when the IdP is reachable with the bridge's credentials; throws a typed error otherwise. */
  checkReadiness(): Promise<void>;
  grantApiAccess(clientId: string, access: ApiAccess): Promise<void>;
  revokeApiAccess(clientId: string, access: ApiAccess): Promise<void>;
  /** Releases timers, sockets and files. */
  close(): Promise<void>;
}

/**
 * Every operation of the contract, in one list: the one wrapper (src/core/driver.ts) passes each of them through its
 * observers, so an operation added to `DcrDriver` and not here fails the type check below, and cannot be dropped on
 * its way to the routes.
 */
export const driverOperations = [
  'registerClient',
  'getClient',
  'updateClient',
  'deleteClient',
  'rotateSecret',
  'listSecrets',
  'addSecret',
  'revokeSecret',
  'retireExpiredSecrets',
  'listOpenRegistrations',
  'listClients',
  'fetchDiscoveryDocument',
  'checkReadiness',
  'grantApiAccess',
  'revokeApiAccess',
  'close',
] as const;

export type DriverOperation = (typeof driverOperations)[number];

/** The members of `DcrDriver` that are functions: exactly `driverOperations`, or the line below does not compile. */
type FunctionMembers = {
  [K in keyof DcrDriver]-?: NonNullable<DcrDriver[K]> extends (...args: never[]) => unknown ? K : never;
}[keyof DcrDriver];
const everyOperationListed: [
  Exclude<FunctionMembers, DriverOperation>,
  Exclude<DriverOperation, FunctionMembers>,
] extends [never, never]
  ? true
  : never = true;
void everyOperationListed;

/** The methods a driver may leave out, and what the kit's defaults (src/core/driver.ts) put in their place. */
type OptionalDriverMethods = 'retireExpiredSecrets' | 'grantApiAccess' | 'revokeApiAccess' | 'close';

/**
 * What a driver module writes: `DcrDriver` without the methods it has no use for. Left out, `retireExpiredSecrets`
 * retires nothing, `close` releases nothing, and `grantApiAccess` / `revokeApiAccess` only check that the client is
 * the bridge's own (so the Konnect events answer `404` for an unknown or foreign client, like every other operation).
 */
export type DriverImplementation = Omit<DcrDriver, OptionalDriverMethods> &
  Partial<Pick<DcrDriver, OptionalDriverMethods>>;

/** The bridge settings every driver receives, next to its own IdP settings. */
export interface DriverSettings {
  /** `DCR_ROTATION_GRACE_SECONDS`. */
  rotationGraceSeconds: number;
  /** Timeouts and retry budget for calls to the IdP (`DCR_IDP_TIMEOUT_MS`, `DCR_IDP_RETRY_BUDGET_MS`); tests shorten them. */
  idpCallPolicy?: Partial<IdpCallPolicy>;
  /** Something the operator should know that is not an error (a damaged client file moved aside at start). */
  warn?: (message: string, fields: Record<string, unknown>) => void;
  /** Told of every failed IdP attempt, with its cause class and the IdP host (the composition root logs it as an event). */
  onIdpFailure?: (report: IdpFailureReport) => void;
  /** `DCR_IDP_MAX_CONNECTIONS`: connections the driver's HTTP client keeps open to each IdP host at most. */
  idpMaxConnections?: number;
}

/** Time as the call layer reads and waits on it; tests pass a virtual one, so no test waits for a real timer. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Runs `callback` after `ms`, unless the returned cancel function runs first. */
  setTimer(callback: () => void, ms: number): () => void;
}

/** Timeouts and retries of every call to the IdP (src/driver/call/caller.ts). */
export interface IdpCallPolicy {
  /** Per attempt. */
  timeoutMs: number;
  /** Over all attempts and waits of one call. */
  budgetMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
  maxAttempts: number;
  /** What timeouts and waits run on; default the system clock. Part of the policy so it reaches every driver's caller. */
  clock?: Clock;
}

/** What kind of failure an attempt met, as the log names it. */
export type IdpFailureCause =
  | 'connection refused'
  | 'connection reset'
  | 'dns'
  | 'tls'
  | 'timeout'
  | 'status'
  | 'network';

/** One failed attempt, as the composition root logs it (`idp.attempt_failed`). Ids and names only. */
export interface IdpFailureReport {
  operation: string;
  attempt: number;
  cause: IdpFailureCause;
  /** `host[:port]` of the IdP endpoint called. */
  host: string;
  status?: number;
  retrying: boolean;
}

/** What the sweep loop hands a driver's `retireExpiredSecrets`: its bound, and where it hears that the bound ended it. */
export interface SweepOptions {
  /** At most this many IdP calls in one sweep; the clients left are the next sweep's. Default `DEFAULT_SWEEP_MAX_IDP_CALLS`. */
  maxIdpCalls?: number;
  /** Called when the bound ended a sweep with clients left, with the IdP calls it made. */
  onUnfinished?: (idpCalls: number) => void;
}

/** `DCR_IDP_MAX_CONNECTIONS`' default (here, not in call/http.ts, so reading the configuration loads no HTTP client). */
export const defaultIdpMaxConnections = 32;

/**
 * Every driver module exports one of these, e.g. `export const createDriverFromEnv: DriverFactory` — it reads its own
 * variables from `env` (src/env.ts's `Env`, read through its readers, so `NAME_FILE` works and a bad variable is one
 * clear line) and builds the driver.
 */
export type DriverFactory = (
  env: Record<string, string | undefined>,
  settings: DriverSettings & { publicUrl: string },
) => Promise<DriverImplementation>;
