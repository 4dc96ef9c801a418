/**
 * The bridge's own settings, read once from the environment through src/env.ts (so `NAME_FILE` works and a bad
 * variable stops the start with one line naming it). Driver variables are read by each driver.
 */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { ConfigurationError, envValue, integerEnv, urlEnv, type Env } from './env.js';
import { logLevels } from './logging.js';
import type { ServerLimits } from './server.js';
import { derivedShutdownGraceSeconds } from './shutdown.js';

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
  /** Express `trust proxy`: `false` (default), a hop count, or addresses/CIDRs of the proxies in front. */
  trustProxy: TrustProxy;
  /** Timeouts and the connection bound of the HTTP server (src/server.ts). */
  serverLimits: ServerLimits;
  /** How long requests in flight may finish after SIGTERM (src/shutdown.ts); never less than the retry budget. */
  shutdownGraceSeconds: number;
}

export type TrustProxy = false | number | string[];

export const minimumApiKeyLength = 12;

export function loadConfig(env: Env): BridgeConfig {
  const port = integerEnv(env, 'PORT', 3000, { min: 0, max: 65535 });
  const host = envValue(env, 'HOST') ?? '0.0.0.0';
  const driverName = (envValue(env, 'DCR_DRIVER') ?? 'local').trim().toLowerCase();
  const logLevel = (envValue(env, 'LOG_LEVEL') ?? 'info').trim().toLowerCase();
  if (!(logLevels as readonly string[]).includes(logLevel)) throw new ConfigurationError('LOG_LEVEL', `must be one of ${logLevels.join(', ')}`);
  const { apiKeys, apiKeyGenerated } = apiKeysFrom(env, driverName);
  const tls = tlsFrom(env);
  return withHardening(env, {
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
  });
}

type HardeningSettings = 'trustProxy' | 'serverLimits' | 'shutdownGraceSeconds';

/** Issue 11's settings, one block so merges stay simple. */
function withHardening(env: Env, config: Omit<BridgeConfig, HardeningSettings>): BridgeConfig {
  return { ...config, trustProxy: trustProxyEnv(env), serverLimits: serverLimitsFrom(env), shutdownGraceSeconds: shutdownGraceFrom(env, config) };
}

/** A grace shorter than the retry budget would cut requests the bridge is still retrying by design. */
function shutdownGraceFrom(env: Env, { idpRetryBudgetMs, idpTimeoutMs }: Pick<BridgeConfig, 'idpRetryBudgetMs' | 'idpTimeoutMs'>): number {
  const graceSeconds = integerEnv(env, 'DCR_SHUTDOWN_GRACE_SECONDS', derivedShutdownGraceSeconds(idpRetryBudgetMs, idpTimeoutMs), { min: 1, max: 3600 });
  if (graceSeconds * 1000 < idpRetryBudgetMs) {
    throw new ConfigurationError(
      'DCR_SHUTDOWN_GRACE_SECONDS',
      `must be at least DCR_IDP_RETRY_BUDGET_MS (${idpRetryBudgetMs} ms, so ${Math.ceil(idpRetryBudgetMs / 1000)} s): shorten the budget or lengthen the grace`,
    );
  }
  return graceSeconds;
}

function serverLimitsFrom(env: Env): ServerLimits {
  const headersTimeoutMs = integerEnv(env, 'DCR_HEADERS_TIMEOUT_MS', 20_000, { min: 1_000, max: 600_000 });
  const requestTimeoutMs = integerEnv(env, 'DCR_REQUEST_TIMEOUT_MS', 30_000, { min: 1_000, max: 600_000 });
  if (headersTimeoutMs > requestTimeoutMs) {
    throw new ConfigurationError('DCR_HEADERS_TIMEOUT_MS', `must not exceed DCR_REQUEST_TIMEOUT_MS (${requestTimeoutMs}): the whole request includes its headers`);
  }
  return {
    headersTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs: integerEnv(env, 'DCR_KEEP_ALIVE_TIMEOUT_MS', 65_000, { min: 1_000, max: 600_000 }),
    maxConnections: integerEnv(env, 'DCR_MAX_CONNECTIONS', 1024, { min: 1, max: 1_000_000 }),
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
  const entries = value.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  if (entries.length === 0 || !entries.every(isTrustableProxy)) throw new ConfigurationError('DCR_TRUST_PROXY', trustProxyRequirement);
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
