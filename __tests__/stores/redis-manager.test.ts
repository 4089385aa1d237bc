import type Redis from 'ioredis';
import { RedisTokenStore } from '../../src/redis';
import type { RedisTokenStoreOptions } from '../../src/redis';
import { TokenManager } from '../../src/token-manager';
import type { TokenManagerOptions } from '../../src/manager/options';
import { FakeProvider } from '../helpers/fake-provider';
import { INSTANT_RETRY } from '../helpers/manager';
import { captureLogger, freePort, useRedisServer } from '../helpers/redis-server';

const redis = useRedisServer();

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Replica {
  manager: TokenManager;
  store: RedisTokenStore;
}

const opened: Replica[] = [];
afterEach(async () => {
  for (const { manager, store } of opened.splice(0)) {
    manager.close();
    await store.close();
  }
});

function makeReplica(client: Redis, store: Partial<RedisTokenStoreOptions>, manager: Partial<TokenManagerOptions> & { provider: FakeProvider }): Replica {
  const replica = {
    store: new RedisTokenStore({ lockTtlMs: 1_000, lockWaitMs: 1_500, pollIntervalMs: 50, commandTimeoutMs: 200, ...store, client }),
    manager: undefined as unknown as TokenManager,
  };
  replica.manager = new TokenManager({ refreshJitterMs: 0, retry: INSTANT_RETRY, ...manager, store: replica.store });
  opened.push(replica);
  return replica;
}

/** Calls getAccessToken() on every manager every `everyMs` until `durationMs` passed; counts failures. */
async function hammer(managers: TokenManager[], durationMs: number, everyMs = 20): Promise<{ calls: number; failures: unknown[] }> {
  const failures: unknown[] = [];
  let calls = 0;
  const until = Date.now() + durationMs;
  while (Date.now() < until) {
    await Promise.all(
      managers.map((manager) => {
        calls += 1;
        return manager.getAccessToken().catch((error: unknown) => failures.push(error));
      }),
    );
    await sleep(everyMs);
  }
  return { calls, failures };
}

describe('RedisTokenStore with TokenManager', () => {
  it('lets 8 managers on one key share one sign-in, and one refresh once their tokens expire', async () => {
    if (!redis.available) return;
    let offsetMs = 0;
    const now = (): number => Date.now() + offsetMs;
    const provider = new FakeProvider({ now, accessTtlMs: 60_000 });
    const key = redis.uniqueKey('session');
    const replicas = await Promise.all(
      Array.from({ length: 8 }, async () => makeReplica(await redis.connect(), { key, now }, { provider, now })),
    );

    const first = await Promise.all(replicas.map(({ manager }) => manager.getAccessToken()));
    expect(provider.calls).toHaveLength(1);
    expect(new Set(first)).toEqual(new Set(['access-1']));

    offsetMs = 61_000;
    const second = await Promise.all(replicas.map(({ manager }) => manager.getAccessToken()));
    expect(provider.calls.map((call) => call.kind)).toEqual(['authenticate', 'refresh']);
    expect(new Set(second)).toEqual(new Set(['access-2']));
  });

  it('serves every call while Redis restarts and publishes to it again afterwards', async () => {
    if (!redis.available) return;
    if (!redis.restartable) {
      // eslint-disable-next-line no-console
      console.warn('redis restart test skipped: the server at REDIS_URL cannot be restarted by the test');
      return;
    }
    const provider = new FakeProvider({ now: () => Date.now(), accessTtlMs: 1_200 });
    const key = redis.uniqueKey('session');
    const timing = { provider, refreshBeforeExpiryMs: 500, expirySkewMs: 100 };
    const replicas = await Promise.all(Array.from({ length: 3 }, async () => makeReplica(await redis.connect(), { key }, timing)));
    const managers = replicas.map(({ manager }) => manager);

    const running = hammer(managers, 3_000);
    await sleep(700);
    await redis.kill();
    await sleep(300);
    await redis.start();
    const { calls, failures } = await running;

    expect(failures).toEqual([]);
    expect(calls).toBeGreaterThan(100);
    const reader = new RedisTokenStore({ client: await redis.connect(), key });
    expect((await reader.get())?.accessToken).toBe(await managers[0]?.getAccessToken());
  });

  it.each([
    ['fails fast (no offline queue)', {}],
    ['queues offline (ioredis defaults)', { enableOfflineQueue: true, maxRetriesPerRequest: 20 }],
  ])('serves and refreshes process-locally, and logs it, when Redis is down: a client that %s', async (_label, clientOptions) => {
    if (!redis.available) return;
    const client = redis.createClient({ port: await freePort(), ...clientOptions });
    const { logger, lines } = captureLogger();
    const provider = new FakeProvider({ now: () => Date.now(), accessTtlMs: 600 });
    const { manager } = makeReplica(client, {}, { provider, logger, refreshBeforeExpiryMs: 200, expirySkewMs: 50 });

    const startedAt = Date.now();
    await manager.getAccessToken();
    expect(Date.now() - startedAt).toBeLessThan(1_500);
    const { failures } = await hammer([manager], 1_500);

    expect(failures).toEqual([]);
    expect(provider.calls.length).toBeGreaterThanOrEqual(3);
    const events = lines.map((line) => line.event);
    expect(events).toContain('lock-unavailable');
    expect(events).toContain('store-write-failed');
  });
});
