/**
 * The bridge's own settings, read once from the environment through src/env.ts (so `NAME_FILE` works and a bad
 * variable stops the start with one line naming it). Driver variables are read by each driver.
 */
import { randomBytes } from 'node:crypto';
import { ConfigurationError, envValue, integerEnv, urlEnv, type Env } from './env.js';
import { logLevels } from './logging.js';

export interface BridgeConfig {
  port: number;
  host: string;
  /** Accepted portal keys; several at once so a key can be rotated without downtime. */
  apiKeys: string[];
  /** True when no key was configured and one was generated (only with the `local` driver); main prints it once. */
  apiKeyGenerated: boolean;
  driverName: string;
  logLevel: string;
  tls?: { certFile: string; keyFile: string };
  /** The URL the bridge is reached at, without a trailing slash. */
  publicUrl: string;
  rotationGraceSeconds: number;
  idpTimeoutMs: number;
  idpRetryBudgetMs: number;
  bodyLimitBytes: number;
  /** Requests per minute per API key on the key-protected routes. */
  rateLimitPerMinute: number;
  /** Failed authentications per minute per client address before it is answered 429. */
  authFailureLimitPerMinute: number;
  sweepIntervalSeconds: number;
  /** The standard DCR façade (RFC 7591/7592 at /register, discovery under /.well-known); defaults when absent. */
  standardDcr?: StandardDcrConfig;
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

export const minimumApiKeyLength = 12;

export function loadConfig(env: Env): BridgeConfig {
  const port = integerEnv(env, 'PORT', 3000, { min: 0, max: 65535 });
  const host = envValue(env, 'HOST') ?? '0.0.0.0';
  const driverName = (envValue(env, 'DCR_DRIVER') ?? 'local').trim().toLowerCase();
  const logLevel = (envValue(env, 'LOG_LEVEL') ?? 'info').trim().toLowerCase();
  if (!(logLevels as readonly string[]).includes(logLevel)) throw new ConfigurationError('LOG_LEVEL', `must be one of ${logLevels.join(', ')}`);
  const { apiKeys, apiKeyGenerated } = apiKeysFrom(env, driverName);
  const tls = tlsFrom(env);
  return {
    port,
    host,
    apiKeys,
    apiKeyGenerated,
    driverName,
    logLevel,
    ...(tls ? { tls } : {}),
    publicUrl: urlEnv(env, 'DCR_PUBLIC_URL', `${tls ? 'https' : 'http'}://localhost:${port}`),
    rotationGraceSeconds: integerEnv(env, 'DCR_ROTATION_GRACE_SECONDS', 0, { max: 30 * 24 * 3600 }),
    idpTimeoutMs: integerEnv(env, 'DCR_IDP_TIMEOUT_MS', 10_000, { min: 100, max: 300_000 }),
    idpRetryBudgetMs: integerEnv(env, 'DCR_IDP_RETRY_BUDGET_MS', 25_000, { min: 100, max: 600_000 }),
    bodyLimitBytes: byteSizeEnv(env, 'DCR_BODY_LIMIT', 64 * 1024),
    rateLimitPerMinute: integerEnv(env, 'DCR_RATE_LIMIT_PER_MINUTE', 600, { min: 1, max: 1_000_000 }),
    authFailureLimitPerMinute: integerEnv(env, 'DCR_AUTH_FAILURE_LIMIT_PER_MINUTE', 20, { min: 1, max: 100_000 }),
    sweepIntervalSeconds: integerEnv(env, 'DCR_SWEEP_INTERVAL_SECONDS', 60, { min: 1, max: 24 * 3600 }),
    standardDcr: standardDcrFrom(env),
  };
}

const openGrantTypes = ['authorization_code', 'refresh_token', 'client_credentials', 'implicit', 'urn:ietf:params:oauth:grant-type:device_code'];
const openAuthMethods = ['none', 'client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt'];

export const defaultStandardDcrConfig: StandardDcrConfig = { tokenRotation: 'on-update', discoveryTtlSeconds: 300 };

function standardDcrFrom(env: Env): StandardDcrConfig {
  const rotation = (envValue(env, 'DCR_REGISTRATION_TOKEN_ROTATION') ?? 'on-update').trim().toLowerCase();
  if (rotation !== 'on-update' && rotation !== 'never') throw new ConfigurationError('DCR_REGISTRATION_TOKEN_ROTATION', 'must be on-update or never');
  const open = (envValue(env, 'DCR_OPEN_REGISTRATION') ?? 'false').trim().toLowerCase();
  if (open !== 'true' && open !== 'false') throw new ConfigurationError('DCR_OPEN_REGISTRATION', 'must be true or false');
  return {
    tokenRotation: rotation,
    discoveryTtlSeconds: integerEnv(env, 'DCR_DISCOVERY_TTL_SECONDS', 300, { min: 1, max: 24 * 3600 }),
    ...(open === 'true'
      ? {
          openRegistration: {
            grantTypes: listEnv(env, 'DCR_OPEN_REGISTRATION_GRANT_TYPES', ['authorization_code', 'refresh_token'], openGrantTypes),
            tokenEndpointAuthMethods: listEnv(env, 'DCR_OPEN_REGISTRATION_AUTH_METHODS', ['none'], openAuthMethods),
            perAddressPerHour: integerEnv(env, 'DCR_OPEN_REGISTRATION_PER_ADDRESS_PER_HOUR', 10, { min: 1, max: 100_000 }),
            maxClients: integerEnv(env, 'DCR_OPEN_REGISTRATION_MAX_CLIENTS', 1000, { min: 1, max: 1_000_000 }),
          },
        }
      : {}),
  };
}

function listEnv(env: Env, name: string, fallback: string[], allowed: string[]): string[] {
  const value = envValue(env, name);
  if (value === undefined) return fallback;
  const items = [...new Set(value.split(',').map((item) => item.trim()).filter((item) => item !== ''))];
  if (items.length === 0 || items.some((item) => !allowed.includes(item))) {
    throw new ConfigurationError(name, `must be a comma-separated list of ${allowed.join(', ')}`);
  }
  return items;
}

/** Hex, because Konnect accepts only `[A-Za-z0-9_]` in the API key it sends. */
export function generateApiKey(): string {
  return randomBytes(24).toString('hex');
}

function apiKeysFrom(env: Env, driverName: string): { apiKeys: string[]; apiKeyGenerated: boolean } {
  const value = envValue(env, 'DCR_API_KEYS');
  if (value === undefined) {
    if (driverName === 'local') return { apiKeys: [generateApiKey()], apiKeyGenerated: true };
    throw new ConfigurationError('DCR_API_KEYS', `is required: comma-separated portal API keys, each at least ${minimumApiKeyLength} characters`);
  }
  const apiKeys = value.split(',').map((key) => key.trim()).filter((key) => key !== '');
  if (apiKeys.length === 0 || apiKeys.some((key) => key.length < minimumApiKeyLength)) {
    throw new ConfigurationError('DCR_API_KEYS', `must be comma-separated keys, each at least ${minimumApiKeyLength} characters`);
  }
  return { apiKeys, apiKeyGenerated: false };
}

function tlsFrom(env: Env): { certFile: string; keyFile: string } | undefined {
  const certFile = envValue(env, 'TLS_CERT_FILE');
  const keyFile = envValue(env, 'TLS_KEY_FILE');
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined) throw new ConfigurationError('TLS_CERT_FILE', 'is required when TLS_KEY_FILE is set: a PEM certificate file');
  if (keyFile === undefined) throw new ConfigurationError('TLS_KEY_FILE', 'is required when TLS_CERT_FILE is set: a PEM private key file');
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
