import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBridgeProcess, until, type BridgeProcess } from './bridge-process.js';
import { startRedisServer, type RedisServer } from './redis-server.js';

const keys = ['fleet-key-one-000000001', 'fleet-key-two-000000002', 'fleet-key-three-00000003'];
const perMinute = 6;
const failedAuthPerMinute = 4;

async function status(bridge: BridgeProcess, apiKey?: string): Promise<{ status: number; retryAfter: string | null }> {
  const response = await fetch(`${bridge.baseUrl}/clients/no-such-client`, {
    headers: apiKey ? { 'X-API-Key': apiKey } : {},
  });
  await response.arrayBuffer();
  return { status: response.status, retryAfter: response.headers.get('retry-after') };
}

async function metric(bridge: BridgeProcess, pattern: RegExp): Promise<number | undefined> {
  const text = await (await fetch(`${bridge.baseUrl}/metrics`)).text();
  const match = pattern.exec(text);
  return match ? Number(match[1]) : undefined;
}

const redisUp = (bridge: BridgeProcess) => async () => (await metric(bridge, /^dcr_rate_limit_redis_up (\d+)$/m)) === 1;

describe('two replicas sharing their rate limits through Redis', { timeout: 120_000 }, () => {
  let redis: RedisServer;
  const bridges: BridgeProcess[] = [];
  const dirs: string[] = [];

  const startReplica = async (): Promise<BridgeProcess> => {
    const dataDir = mkdtempSync(join(tmpdir(), 'dcr-fleet-'));
    dirs.push(dataDir);
    const bridge = await startBridgeProcess({
      DCR_DRIVER: 'local',
      DCR_LOCAL_DATA_DIR: dataDir,
      DCR_API_KEYS: keys.map((key, n) => `portal${n}:${key}`).join(','),
      DCR_REDIS_URL: redis.url,
      DCR_RATE_LIMIT_PER_MINUTE: String(perMinute),
      DCR_AUTH_FAILURE_LIMIT_PER_MINUTE: String(failedAuthPerMinute),
    });
    bridges.push(bridge);
    return bridge;
  };

  before(async () => {
    redis = await startRedisServer();
    for (let index = 0; index < 2; index++) await startReplica();
    for (const bridge of bridges) await until(redisUp(bridge), 'the bridge is connected to Redis');
  });
  after(async () => {
    for (const bridge of bridges) await bridge.stop();
    await redis?.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('hold the per-key limit across both: the limit is for the fleet, not per replica', async () => {
    for (let n = 0; n < perMinute; n++)
      assert.equal((await status(bridges[n % 2]!, keys[0])).status, 404, `request ${n + 1} is within the limit`);
    for (const bridge of bridges) {
      const refused = await status(bridge, keys[0]);
      assert.equal(refused.status, 429, 'each replica refuses once the fleet used the limit');
      assert.ok(Number(refused.retryAfter) >= 1);
    }
    assert.equal((await status(bridges[0]!, keys[1])).status, 404, 'another key has its own limit');
  });

  it('hold the failed-authentication limit across both', async () => {
    for (let n = 0; n < failedAuthPerMinute; n++)
      assert.equal((await status(bridges[n % 2]!, 'a-wrong-key-000000000')).status, 401);
    for (const bridge of bridges)
      assert.equal((await status(bridge)).status, 429, 'the address is throttled on both replicas');
    assert.equal(
      (await status(bridges[1]!, keys[1])).status,
      404,
      'a correct key is never refused by the failed-authentication limit',
    );
    assert.match(
      bridges[0]!.stdout(),
      /"type":"audit".*"operation":"authenticate".*"status":401/,
      'refusals are audited on stdout',
    );
  });

  it('with Redis stopped: the per-key limit fails open to each replica, failed authentications are refused, never a 500', async () => {
    await redis.stop();
    for (const bridge of bridges) await until(async () => !(await redisUp(bridge)()), 'the bridge sees Redis gone');
    // keys[0] was spent in Redis; now each replica counts on its own, so each allows the whole limit again.
    for (const bridge of bridges) {
      for (let n = 0; n < perMinute; n++)
        assert.equal((await status(bridge, keys[0])).status, 404, 'open: counted by this replica');
      assert.equal((await status(bridge, keys[0])).status, 429, "this replica's own limit still holds");
    }
    for (const bridge of bridges) {
      const refused = await status(bridge, 'another-wrong-key-0000');
      assert.equal(refused.status, 429, 'closed: a failed authentication is refused while Redis is away');
      assert.equal(refused.retryAfter, '10');
      assert.equal((await status(bridge, keys[2])).status, 404, 'a correct key still works');
    }
    assert.ok(
      ((await metric(bridges[0]!, /^dcr_rate_limit_store_errors_total\{limit="per_key",fallback="memory"\} (\d+)$/m)) ??
        0) >= perMinute,
    );
    assert.ok(
      ((await metric(
        bridges[0]!,
        /^dcr_rate_limit_store_errors_total\{limit="failed_auth",fallback="refused"\} (\d+)$/m,
      )) ?? 0) >= 1,
    );
    const late = await startReplica();
    assert.equal((await status(late, keys[1])).status, 404, 'a replica started while Redis is down starts and serves');
  });

  it('with Redis back: the shared limits resume', async () => {
    redis = await startRedisServer(redis.port);
    for (const bridge of bridges) await until(redisUp(bridge), 'the bridge reconnected to Redis');
    // A fresh Redis holds no counts: keys[2] starts again, shared by all three replicas (the third started without Redis).
    for (let n = 0; n < perMinute; n++) assert.equal((await status(bridges[(n + 1) % 3]!, keys[2])).status, 404);
    for (const bridge of bridges) assert.equal((await status(bridge, keys[2])).status, 429);
    for (let n = 0; n < failedAuthPerMinute; n++)
      assert.equal(
        (await status(bridges[n % 2]!, 'a-wrong-key-000000000')).status,
        401,
        'failed authentications are counted, not refused',
      );
    assert.equal((await status(bridges[1]!)).status, 429);
  });
});
