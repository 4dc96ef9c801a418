/**
 * The bridge's own settings, read once from the environment through src/env.ts (so `NAME_FILE` works and a bad
 * variable stops the start with one line naming it). Driver variables are read by each driver.
 */
import { createHash, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { isAbsolute, join } from 'node:path';
import { defaultIdpMaxConnections } from './driver/contract.js';
import { driverAliases, driverNames, type DriverName } from './drivers.js';
import { ConfigurationError, envValue, integerEnv, urlEnv, type Env } from './env.js';
import { logLevels } from './logging.js';
import { derivedShutdownGraceSeconds } from './shutdown.js';

export interface BridgeConfig {
  port: number;
  host: string;
  /** Accepted portal keys; several at once so a key can be rotated without downtime. */
  apiKeys: string[];
  /** True when no key was configured and one was generated (only with the `local` driver); main prints it once. */
  apiKeyGenerated: boolean;
  /** `DCR_OPERATOR_KEYS`: the keys of `/operator/…` (the clients the bridge owns); none configured, it answers 401. */
  operatorKeys?: string[];
  /** The driver's own name, aliases resolved (`azure` is `entra`). */
  driverName: DriverName;
  logLevel: string;
  tls?: { certFile: string; keyFile: string };
  /** The URL the bridge is reached at, without a trailing slash. */
  publicUrl: string;
  rotationGraceSeconds: number;
  idpTimeoutMs: number;
  idpRetryBudgetMs: number;
  /** Connections the driver keeps open to each IdP host at most (its HTTP client's pool). */
  idpMaxConnections: number;
  bodyLimitBytes: number;
  /** Requests per minute per API key on the key-protected routes. */
  rateLimitPerMinute: number;
  /** Failed authentications per minute per client address before it is answered 429. */
  authFailureLimitPerMinute: number;
  sweepIntervalSeconds: number;
  /** At most this many IdP calls per secret sweep; what is left is the next sweep's. */
  sweepMaxIdpCalls: number;
  /** Express `trust proxy`: `false` (default), a hop count, or addresses/CIDRs of the proxies in front. */
  trustProxy: TrustProxy;
  /** Timeouts and the connection bound of the HTTP server (src/server.ts). */
  serverLimits: ServerLimits;
  /** How long requests in flight may finish after SIGTERM (src/shutdown.ts); never less than the retry budget. */
  shutdownGraceSeconds: number;
  // Running as a fleet (issue 16): key names for the audit trail, where audit events go, and the shared limits' store.
  /** A name per key, same order as `apiKeys`: the `name:` the operator gave it, else a short fingerprint. */
  apiKeyNames?: string[];
  /** `stdout`, a file path, or unset for no audit trail (tests). */
  auditLog?: AuditDestination;
  /** Redis that holds both rate limits for every replica; unset: each replica counts in memory. */
  redisUrl?: string;
  /** OpenTelemetry tracing: on when an OTLP endpoint is set (the standard OTEL_* variables) and the SDK not disabled. */
  tracing?: boolean;
  /** The standard DCR façade (RFC 7591/7592 at /register, discovery under /.well-known); defaults when absent. */
  standardDcr?: StandardDcrConfig;
  /**
   * Pending registrations (src/pending.ts): the journal file (absent: in memory, no crash recovery — tests) and how
   * long a record may stay pending before the sweep deletes its client (`DCR_PENDING_TIMEOUT_SECONDS`, default 300).
   */
  pendingRegistrations?: { journalFile?: string; timeoutSeconds: number };
}

/** The HTTP server's timeouts and connection bound (src/server.ts applies them). */
export interface ServerLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
  /** `DCR_MAX_CONNECTIONS_PER_ADDRESS`: open connections one peer address may hold (src/server.ts). */
  maxConnectionsPerAddress: number;
}

export interface StandardDcrConfig {
  /** `DCR_REGISTRATION_TOKEN_ROTATION`: whether a PUT answers with a new registration access token replacing the old. */
  tokenRotation: 'on-update' | 'never';
  /** `DCR_DISCOVERY_TTL_SECONDS`: how long the IdP's discovery document is served before it is fetched again. */
  discoveryTtlSeconds: number;
  /** Present when `DCR_OPEN_REGISTRATION=true`: POST /register without an initial access token, under this policy. */
  openRegistration?: OpenRegistrationPolicy;
}

export interface OpenRegistrationPolicy {
  /** `DCR_OPEN_REGISTRATION_GRANT_TYPES`. */
  grantTypes: string[];
  /** `DCR_OPEN_REGISTRATION_AUTH_METHODS`; the first is the default when a request names none. */
  tokenEndpointAuthMethods: string[];
  /** `DCR_OPEN_REGISTRATION_PER_ADDRESS_PER_HOUR`: open registrations one client address may make per hour. */
  perAddressPerHour: number;
  /** `DCR_OPEN_REGISTRATION_MAX_CLIENTS`: open-registered clients that may exist at once. */
  maxClients: number;
}

export type TrustProxy = false | number | string[];

export type AuditDestination = { kind: 'stdout' } | { kind: 'file'; path: string };

export const minimumApiKeyLength = 12;

/** Reads and checks every setting, the driver first: what is required (keys, for one) depends on it. */
export function loadConfig(env: Env): BridgeConfig {
  const driverName = driverNameFrom(env);
  const port = integerEnv(env, 'PORT', 3000, { min: 0, max: 65535 });
  const host = envValue(env, 'HOST') ?? '0.0.0.0';
  const logLevel = (envValue(env, 'LOG_LEVEL') ?? 'info').trim().toLowerCase();
  if (!(logLevels as readonly string[]).includes(logLevel))
    throw new ConfigurationError('LOG_LEVEL', `must be one of ${logLevels.join(', ')}`);
  const { apiKeys, apiKeyNames, apiKeyGenerated } = apiKeysFrom(env, driverName);
  const operatorKeys = operatorKeysFrom(env, apiKeys);
  const tls = tlsFrom(env);
  return withHardening(env, {
    port,
    host,
    apiKeys,
    apiKeyNames,
    apiKeyGenerated,
    ...(operatorKeys.length > 0 ? { operatorKeys } : {}),
    driverName,
    logLevel,
    ...(tls ? { tls } : {}),
    publicUrl: urlEnv(env, 'DCR_PUBLIC_URL', `${tls ? 'https' : 'http'}://localhost:${port}`),
    rotationGraceSeconds: integerEnv(env, 'DCR_ROTATION_GRACE_SECONDS', 0, { max: 30 * 24 * 3600 }),
    idpTimeoutMs: integerEnv(env, 'DCR_IDP_TIMEOUT_MS', 10_000, { min: 100, max: 300_000 }),
    idpRetryBudgetMs: integerEnv(env, 'DCR_IDP_RETRY_BUDGET_MS', 25_000, { min: 100, max: 600_000 }),
    idpMaxConnections: integerEnv(env, 'DCR_IDP_MAX_CONNECTIONS', defaultIdpMaxConnections, { min: 1, max: 1024 }),
    bodyLimitBytes: byteSizeEnv(env, 'DCR_BODY_LIMIT', 64 * 1024),
    rateLimitPerMinute: integerEnv(env, 'DCR_RATE_LIMIT_PER_MINUTE', 600, { min: 1, max: 1_000_000 }),
    authFailureLimitPerMinute: integerEnv(env, 'DCR_AUTH_FAILURE_LIMIT_PER_MINUTE', 20, { min: 1, max: 100_000 }),
    sweepIntervalSeconds: integerEnv(env, 'DCR_SWEEP_INTERVAL_SECONDS', 60, { min: 1, max: 24 * 3600 }),
    sweepMaxIdpCalls: integerEnv(env, 'DCR_SWEEP_MAX_IDP_CALLS', 1000, { min: 10, max: 1_000_000 }),
    ...fleetSettingsFrom(env),
    standardDcr: standardDcrFrom(env),
    pendingRegistrations: pendingRegistrationsFrom(env),
  });
}

/** The journal lives in the data directory (`DCR_DATA_DIR`, as the local IdP's and the state store's files do). */
function pendingRegistrationsFrom(env: Env): NonNullable<BridgeConfig['pendingRegistrations']> {
  const dataDir = envValue(env, 'DCR_DATA_DIR') ?? envValue(env, 'DCR_LOCAL_DATA_DIR') ?? './data';
  return {
    journalFile: join(dataDir, pendingJournalFile),
    timeoutSeconds: integerEnv(env, 'DCR_PENDING_TIMEOUT_SECONDS', 300, { min: 0, max: 7 * 24 * 3600 }),
  };
}

/** The pending-registrations journal's file name in the data directory (one per connection with DCR_CONFIG_FILE). */
export const pendingJournalFile = 'pending-registrations.jsonl';

function driverNameFrom(env: Env): DriverName {
  const requested = (envValue(env, 'DCR_DRIVER') ?? 'local').trim().toLowerCase();
  const name = driverAliases[requested] ?? requested;
  if (!(driverNames as readonly string[]).includes(name)) {
    throw new ConfigurationError(
      'DCR_DRIVER',
      `must be one of ${[...driverNames, ...Object.keys(driverAliases)].join(', ')}`,
    );
  }
  return name as DriverName;
}

type HardeningSettings = 'trustProxy' | 'serverLimits' | 'shutdownGraceSeconds';

/** The hardening settings: the proxy trust, the HTTP server's limits and the shutdown grace, which depends on the budget. */
function withHardening(env: Env, config: Omit<BridgeConfig, HardeningSettings>): BridgeConfig {
  return {
    ...config,
    trustProxy: trustProxyEnv(env),
    serverLimits: { ...serverLimitsFrom(env), ...perAddressConnectionsFrom(env) },
    shutdownGraceSeconds: shutdownGraceFrom(env, config),
  };
}

/** A grace shorter than the retry budget would cut requests the bridge is still retrying by design. */
function shutdownGraceFrom(
  env: Env,
  { idpRetryBudgetMs, idpTimeoutMs }: Pick<BridgeConfig, 'idpRetryBudgetMs' | 'idpTimeoutMs'>,
): number {
  const graceSeconds = integerEnv(
    env,
    'DCR_SHUTDOWN_GRACE_SECONDS',
    derivedShutdownGraceSeconds(idpRetryBudgetMs, idpTimeoutMs),
    { min: 1, max: 3600 },
  );
  if (graceSeconds * 1000 < idpRetryBudgetMs) {
    throw new ConfigurationError(
      'DCR_SHUTDOWN_GRACE_SECONDS',
      `must be at least DCR_IDP_RETRY_BUDGET_MS (${idpRetryBudgetMs} ms, so ${Math.ceil(idpRetryBudgetMs / 1000)} s): shorten the budget or lengthen the grace`,
    );
  }
  return graceSeconds;
}

function serverLimitsFrom(env: Env): Omit<ServerLimits, 'maxConnectionsPerAddress'> {
  const headersTimeoutMs = integerEnv(env, 'DCR_HEADERS_TIMEOUT_MS', 20_000, { min: 1_000, max: 600_000 });
  const requestTimeoutMs = integerEnv(env, 'DCR_REQUEST_TIMEOUT_MS', 30_000, { min: 1_000, max: 600_000 });
  if (headersTimeoutMs > requestTimeoutMs) {
    throw new ConfigurationError(
      'DCR_HEADERS_TIMEOUT_MS',
      `must not exceed DCR_REQUEST_TIMEOUT_MS (${requestTimeoutMs}): the whole request includes its headers`,
    );
  }
  return {
    headersTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs: integerEnv(env, 'DCR_KEEP_ALIVE_TIMEOUT_MS', 65_000, { min: 1_000, max: 600_000 }),
    maxConnections: integerEnv(env, 'DCR_MAX_CONNECTIONS', 1024, { min: 1, max: 1_000_000 }),
  };
}

/**
 * One peer may not hold every connection: a quarter of `DCR_MAX_CONNECTIONS` by default, all of them behind a trusted
 * proxy (`DCR_TRUST_PROXY`), where every connection comes from the proxy's address.
 */
function perAddressConnectionsFrom(env: Env): Pick<ServerLimits, 'maxConnectionsPerAddress'> {
  const maxConnections = integerEnv(env, 'DCR_MAX_CONNECTIONS', 1024, { min: 1, max: 1_000_000 });
  const fallback = trustProxyEnv(env) === false ? Math.max(1, Math.floor(maxConnections / 4)) : maxConnections;
  return {
    maxConnectionsPerAddress: integerEnv(env, 'DCR_MAX_CONNECTIONS_PER_ADDRESS', fallback, {
      min: 1,
      max: 1_000_000,
    }),
  };
}

const trustProxyRequirement =
  'must be a hop count (1, 2…) or a comma-separated list of proxy addresses, CIDRs or loopback/linklocal/uniquelocal; true is refused because it believes any caller';

/** Express `trust proxy` semantics, minus `true` (which would let any caller choose its own address). */
function trustProxyEnv(env: Env): TrustProxy {
  const value = envValue(env, 'DCR_TRUST_PROXY')?.trim().toLowerCase();
  if (value === undefined || value === 'false' || value === 'off' || value === '0') return false;
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    if (hops > 20) throw new ConfigurationError('DCR_TRUST_PROXY', trustProxyRequirement);
    return hops;
  }
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length === 0 || !entries.every(isTrustableProxy))
    throw new ConfigurationError('DCR_TRUST_PROXY', trustProxyRequirement);
  return entries;
}

function isTrustableProxy(entry: string): boolean {
  if (entry === 'loopback' || entry === 'linklocal' || entry === 'uniquelocal') return true;
  const [address = '', prefix, extra] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

function fleetSettingsFrom(env: Env): Pick<BridgeConfig, 'auditLog' | 'redisUrl' | 'tracing'> {
  const audit = envValue(env, 'DCR_AUDIT_LOG')?.trim() ?? 'stdout';
  let auditLog: AuditDestination | undefined;
  if (audit === 'stdout') auditLog = { kind: 'stdout' };
  else if (audit === 'off') auditLog = undefined;
  else if (isAbsolute(audit)) auditLog = { kind: 'file', path: audit };
  else throw new ConfigurationError('DCR_AUDIT_LOG', 'must be stdout, off, or an absolute file path');
  const redisUrl = envValue(env, 'DCR_REDIS_URL')?.trim();
  if (redisUrl !== undefined && !/^rediss?:\/\/[^\s]+$/.test(redisUrl)) {
    throw new ConfigurationError('DCR_REDIS_URL', 'must be a redis:// or rediss:// URL');
  }
  const tracing =
    (envValue(env, 'OTEL_EXPORTER_OTLP_ENDPOINT') ?? envValue(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT')) !==
      undefined &&
    env.OTEL_SDK_DISABLED?.trim().toLowerCase() !== 'true' &&
    env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() !== 'none';
  return { ...(auditLog ? { auditLog } : {}), ...(redisUrl !== undefined ? { redisUrl } : {}), tracing };
}

/** Short and non-reversible: names a key in audit events and rate-limit counters without revealing it. */
export function apiKeyFingerprint(key: string): string {
  return `key-${createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 8)}`;
}

const apiKeyName = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * `name:key` names a key; a key alone is named by its fingerprint. Unambiguous: Konnect keys are `[A-Za-z0-9_]`
 * and every key is at least 12 characters, so the text before the first `:` is a name only when the rest is a key.
 */
function namedApiKey(entry: string): { name: string; key: string } {
  const colon = entry.indexOf(':');
  if (colon > 0) {
    const name = entry.slice(0, colon);
    const key = entry.slice(colon + 1);
    if (apiKeyName.test(name) && key.length >= minimumApiKeyLength) return { name, key };
  }
  return { name: apiKeyFingerprint(entry), key: entry };
}

const openGrantTypes = [
  'authorization_code',
  'refresh_token',
  'client_credentials',
  'implicit',
  'urn:ietf:params:oauth:grant-type:device_code',
];
const openAuthMethods = ['none', 'client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt'];

export const defaultStandardDcrConfig: StandardDcrConfig = { tokenRotation: 'on-update', discoveryTtlSeconds: 300 };

function standardDcrFrom(env: Env): StandardDcrConfig {
  const rotation = (envValue(env, 'DCR_REGISTRATION_TOKEN_ROTATION') ?? 'on-update').trim().toLowerCase();
  if (rotation !== 'on-update' && rotation !== 'never')
    throw new ConfigurationError('DCR_REGISTRATION_TOKEN_ROTATION', 'must be on-update or never');
  const open = (envValue(env, 'DCR_OPEN_REGISTRATION') ?? 'false').trim().toLowerCase();
  if (open !== 'true' && open !== 'false')
    throw new ConfigurationError('DCR_OPEN_REGISTRATION', 'must be true or false');
  return {
    tokenRotation: rotation,
    discoveryTtlSeconds: integerEnv(env, 'DCR_DISCOVERY_TTL_SECONDS', 300, { min: 1, max: 24 * 3600 }),
    ...(open === 'true'
      ? {
          openRegistration: {
            grantTypes: listEnv(
              env,
              'DCR_OPEN_REGISTRATION_GRANT_TYPES',
              ['authorization_code', 'refresh_token'],
              openGrantTypes,
            ),
            tokenEndpointAuthMethods: listEnv(env, 'DCR_OPEN_REGISTRATION_AUTH_METHODS', ['none'], openAuthMethods),
            perAddressPerHour: integerEnv(env, 'DCR_OPEN_REGISTRATION_PER_ADDRESS_PER_HOUR', 10, {
              min: 1,
              max: 100_000,
            }),
            maxClients: integerEnv(env, 'DCR_OPEN_REGISTRATION_MAX_CLIENTS', 1000, { min: 1, max: 1_000_000 }),
          },
        }
      : {}),
  };
}

function listEnv(env: Env, name: string, fallback: string[], allowed: string[]): string[] {
  const value = envValue(env, name);
  if (value === undefined) return fallback;
  const items = [
    ...new Set(
      value
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== ''),
    ),
  ];
  if (items.length === 0 || items.some((item) => !allowed.includes(item))) {
    throw new ConfigurationError(name, `must be a comma-separated list of ${allowed.join(', ')}`);
  }
  return items;
}

/** Hex, because Konnect accepts only `[A-Za-z0-9_]` in the API key it sends. */
export function generateApiKey(): string {
  return randomBytes(24).toString('hex');
}

function apiKeysFrom(
  env: Env,
  driverName: string,
): { apiKeys: string[]; apiKeyNames: string[]; apiKeyGenerated: boolean } {
  const value = envValue(env, 'DCR_API_KEYS');
  if (value === undefined) {
    if (driverName === 'local')
      return { apiKeys: [generateApiKey()], apiKeyNames: ['generated'], apiKeyGenerated: true };
    throw new ConfigurationError(
      'DCR_API_KEYS',
      `is required: comma-separated portal API keys, each at least ${minimumApiKeyLength} characters`,
    );
  }
  const named = value
    .split(',')
    .map((key) => key.trim())
    .filter((key) => key !== '')
    .map(namedApiKey);
  if (named.length === 0 || named.some(({ key }) => key.length < minimumApiKeyLength)) {
    throw new ConfigurationError(
      'DCR_API_KEYS',
      `must be comma-separated keys (or name:key), each key at least ${minimumApiKeyLength} characters`,
    );
  }
  return { apiKeys: named.map(({ key }) => key), apiKeyNames: named.map(({ name }) => name), apiKeyGenerated: false };
}

/** Operator keys are their own: at least as long as a portal key, and never one of the portal keys. */
function operatorKeysFrom(env: Env, apiKeys: string[]): string[] {
  const value = envValue(env, 'DCR_OPERATOR_KEYS');
  if (value === undefined) return [];
  const keys = value
    .split(',')
    .map((key) => key.trim())
    .filter((key) => key !== '');
  if (keys.length === 0 || keys.some((key) => key.length < minimumApiKeyLength))
    throw new ConfigurationError(
      'DCR_OPERATOR_KEYS',
      `must be comma-separated keys, each at least ${minimumApiKeyLength} characters`,
    );
  if (keys.some((key) => apiKeys.includes(key)))
    throw new ConfigurationError('DCR_OPERATOR_KEYS', 'must not repeat a key of DCR_API_KEYS');
  return keys;
}

function tlsFrom(env: Env): { certFile: string; keyFile: string } | undefined {
  const certFile = envValue(env, 'TLS_CERT_FILE');
  const keyFile = envValue(env, 'TLS_KEY_FILE');
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined)
    throw new ConfigurationError('TLS_CERT_FILE', 'is required when TLS_KEY_FILE is set: a PEM certificate file');
  if (keyFile === undefined)
    throw new ConfigurationError('TLS_KEY_FILE', 'is required when TLS_CERT_FILE is set: a PEM private key file');
  return { certFile, keyFile };
}

const byteUnits: Record<string, number> = { '': 1, b: 1, kb: 1024, mb: 1024 * 1024 };

function byteSizeEnv(env: Env, name: string, fallback: number): number {
  const value = envValue(env, name);
  if (value === undefined) return fallback;
  const match = /^(\d+)\s*(b|kb|mb)?$/i.exec(value.trim());
  const bytes = match ? Number(match[1]) * byteUnits[(match[2] ?? '').toLowerCase()]! : Number.NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1024 || bytes > 10 * 1024 * 1024) {
    throw new ConfigurationError(name, 'must be a size from 1kb to 10mb, such as 64kb');
  }
  return bytes;
}
