/**
 * express-rate-limit on the key-protected routes: a per-key limit for portals, and a stricter per-address limit on
 * failed authentications. Both answer through the error renderer (429 `rate_limited` with Retry-After).
 *
 * Without `DCR_REDIS_URL` each replica counts in memory, so N replicas allow N times the limits. With it both limits
 * are counted in Redis for every replica (rate-limit-redis). When Redis cannot be reached, nothing becomes a 500:
 * - the per-key limit fails open to this replica's own memory counter (portals keep working, limited per replica);
 * - the failed-authentication limit fails closed: a failed authentication is answered 429 until Redis is back, so a
 *   key cannot be guessed unthrottled; a correct key is never counted by it and never refused.
 * Both are counted in `dcr_rate_limit_store_errors_total`, and `dcr_rate_limit_redis_up` says whether Redis is up.
 */
import type { Request, RequestHandler } from 'express';
import {
  MemoryStore,
  rateLimit,
  type IncrementResponse,
  type Options,
  type RateLimitInfo,
  type Store,
} from 'express-rate-limit';
import { Counter, Gauge, type Registry } from 'prom-client';
import { RateLimitedError } from '../errors.js';

export interface RateLimits {
  perApiKey: RequestHandler;
  failedAuth: RequestHandler;
  close(): Promise<void>;
}

export interface RateLimitOptions {
  perMinute: number;
  failedAuthPerMinute: number;
  /** Counts both limits in this Redis, for every replica. */
  redisUrl?: string;
  /** Where the store's health metrics go (the app's registry). */
  registry?: Registry;
  /** Stable ids of the configured keys (fingerprints), so every replica counts a key under the same name. */
  apiKeyIds?: readonly string[];
}

const windowMs = 60_000;
/** A Redis command slower than this counts as Redis unreachable: a hung store must not hang the request. */
const redisCommandTimeoutMs = 500;
/** What a failed authentication is told while the failed-authentication limit cannot be counted. */
const storeDownRetryAfterSeconds = 10;
/**
 * Behind a proxy every caller shares one address; that is acceptable here because only failed authentications are
 * counted by address, so the library's X-Forwarded-For warning (a stack on stderr, outside the JSON logs) is off.
 */
const validate = { xForwardedForHeader: false };

function secondsUntilReset(info: RateLimitInfo | undefined): number {
  const resetTime = info?.resetTime?.getTime();
  return resetTime === undefined ? windowMs / 1000 : Math.max(1, Math.ceil((resetTime - Date.now()) / 1000));
}

type LimitName = 'per_key' | 'failed_auth';

interface StoreHealth {
  failed(limit: LimitName, fallback: 'memory' | 'refused'): void;
}

/**
 * A Redis store that never throws into express-rate-limit: on a Redis failure the per-key limit counts in memory
 * instead and the failed-authentication limit refuses. rate-limit-redis loads its scripts once, in `init`; when that
 * failed (Redis down at start) it is run again on the next call, so the limits resume once Redis is back.
 */
class FallibleRedisStore implements Store {
  readonly #redis: Promise<Store>;
  readonly #fallback = new MemoryStore();
  readonly #limit: LimitName;
  readonly #health: StoreHealth;
  #options: Options | undefined;
  #initialised: Promise<boolean> | undefined;
  readonly localKeys = false;
  readonly prefix: string;

  constructor(redis: Promise<Store>, prefix: string, limit: LimitName, health: StoreHealth) {
    this.#redis = redis;
    this.prefix = prefix;
    this.#limit = limit;
    this.#health = health;
  }

  init(options: Options): void {
    this.#options = options;
    this.#fallback.init(options);
    this.#initialised = this.#initRedis();
  }

  async #initRedis(): Promise<boolean> {
    try {
      const redis = await this.#redis;
      await withTimeout(redis.init?.(this.#options!));
      return true;
    } catch {
      this.#initialised = undefined;
      return false;
    }
  }

  async #ready(): Promise<Store> {
    this.#initialised ??= this.#initRedis();
    if (!(await this.#initialised)) throw new Error('redis scripts not loaded');
    return this.#redis;
  }

  async increment(key: string): Promise<IncrementResponse> {
    try {
      const redis = await this.#ready();
      return await withTimeout(redis.increment(key));
    } catch {
      if (this.#limit === 'failed_auth') {
        this.#health.failed(this.#limit, 'refused');
        throw new RateLimitedError(storeDownRetryAfterSeconds);
      }
      this.#health.failed(this.#limit, 'memory');
      return this.#fallback.increment(key);
    }
  }

  async decrement(key: string): Promise<void> {
    await this.#ready()
      .then((redis) => withTimeout(redis.decrement(key)))
      .catch(() => undefined);
  }

  async resetKey(key: string): Promise<void> {
    await this.#ready()
      .then((redis) => withTimeout(redis.resetKey(key)))
      .catch(() => undefined);
  }

  shutdown(): void {
    this.#fallback.shutdown();
  }
}

function withTimeout<T>(value: T | Promise<T>): Promise<T> {
  const promise = Promise.resolve(value);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error('redis command timed out')), redisCommandTimeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

interface StoreSet {
  perApiKey: Store;
  failedAuth: Store;
  close(): Promise<void>;
}

function memoryStores(): StoreSet {
  const perApiKey = new MemoryStore();
  const failedAuth = new MemoryStore();
  return {
    perApiKey,
    failedAuth,
    async close() {
      perApiKey.shutdown();
      failedAuth.shutdown();
    },
  };
}

/** The Redis client and rate-limit-redis load only when `DCR_REDIS_URL` is set, and connect in the background. */
function redisStores(redisUrl: string, registry: Registry | undefined): StoreSet {
  const registers = registry ? [registry] : [];
  const up = new Gauge({
    name: 'dcr_rate_limit_redis_up',
    help: 'Whether the Redis that holds the shared rate limits is connected (1) or not (0).',
    registers,
  });
  const storeErrors = new Counter({
    name: 'dcr_rate_limit_store_errors_total',
    help: 'Rate-limit checks Redis could not answer, by limit and what was done instead (memory: counted by this replica; refused: answered 429).',
    labelNames: ['limit', 'fallback'],
    registers,
  });
  up.set(0);
  const connection = (async () => {
    const [{ createClient }, { RedisStore }] = await Promise.all([import('redis'), import('rate-limit-redis')]);
    const client = createClient({
      url: redisUrl,
      // Fail at once while disconnected instead of queueing requests behind a dead connection.
      disableOfflineQueue: true,
      socket: { connectTimeout: 1_000, reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 2_000) },
    });
    client.on('ready', () => up.set(1));
    client.on('end', () => up.set(0));
    // Errors are the reconnect loop's business; an unhandled 'error' event would end the process.
    client.on('error', () => up.set(0));
    void client.connect().catch(() => undefined);
    const sendCommand = (...args: string[]) => client.sendCommand(args) as Promise<never>;
    return { client, store: (prefix: string): Store => new RedisStore({ sendCommand, prefix }) };
  })();
  const health: StoreHealth = { failed: (limit, fallback) => storeErrors.inc({ limit, fallback }) };
  const perApiKey = new FallibleRedisStore(
    connection.then(({ store }) => store('dcr:rl:key:')),
    'dcr:rl:key:',
    'per_key',
    health,
  );
  const failedAuth = new FallibleRedisStore(
    connection.then(({ store }) => store('dcr:rl:auth:')),
    'dcr:rl:auth:',
    'failed_auth',
    health,
  );
  return {
    perApiKey,
    failedAuth,
    async close() {
      perApiKey.shutdown();
      failedAuth.shutdown();
      const { client } = await connection;
      if (client.isReady) await client.close().catch(() => client.destroy());
      else client.destroy();
    },
  };
}

export function createRateLimits(options: RateLimitOptions): RateLimits {
  const stores = options.redisUrl ? redisStores(options.redisUrl, options.registry) : memoryStores();
  const keyIds = options.apiKeyIds;
  const perApiKey = rateLimit({
    windowMs,
    limit: options.perMinute,
    store: stores.perApiKey,
    validate,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: (_req, res) => `key-${keyIds?.[res.locals.apiKeyIndex as number] ?? String(res.locals.apiKeyIndex)}`,
    handler: (req, _res, next) =>
      next(new RateLimitedError(secondsUntilReset((req as Request & { rateLimit?: RateLimitInfo }).rateLimit))),
  });
  const failedAuth = rateLimit({
    windowMs,
    limit: options.failedAuthPerMinute,
    store: stores.failedAuth,
    validate,
    standardHeaders: false,
    legacyHeaders: false,
    requestPropertyName: 'failedAuthRateLimit',
    handler: (req, _res, next) =>
      next(
        new RateLimitedError(
          secondsUntilReset((req as Request & { failedAuthRateLimit?: RateLimitInfo }).failedAuthRateLimit),
        ),
      ),
  });
  return { perApiKey, failedAuth, close: () => stores.close() };
}
