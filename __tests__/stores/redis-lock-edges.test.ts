import type { RedisTokenStore, RedisTokenStoreOptions } from '../../src/redis';
import { closedAfterEach, describeRedis, useRedisServer } from '../helpers/redis-server';

const never = (): AbortSignal => new AbortController().signal;

describeRedis('RedisTokenStore: lock edges', () => {
  const redis = useRedisServer();
  const made = closedAfterEach();

  afterEach(() => jest.restoreAllMocks());

  async function makeStore(options: Partial<RedisTokenStoreOptions> = {}): Promise<RedisTokenStore> {
    return made.store({
      lockTtlMs: 300,
      lockWaitMs: 5_000,
      pollIntervalMs: 50,
      ...options,
      client: await redis.connect(),
    });
  }

  it('takes the lock with a lockTtlMs above what a Redis PX holds (capped, as a session TTL is)', async () => {
    const store = await makeStore({ lockTtlMs: 1e19, lockWaitMs: 2e19 });
    const result = await store.acquireRefreshLock(redis.uniqueKey('huge-ttl'), { signal: never() });
    expect(result.acquired).toBe(true);
    if (result.acquired) await result.lock.release();
  });

  it('starts no lock watchdog for a lock whose SET answered after close()', async () => {
    const store = await makeStore();
    const intervals = jest.spyOn(globalThis, 'setInterval');
    const cleared = jest.spyOn(globalThis, 'clearInterval');
    const acquiring = store.acquireRefreshLock(redis.uniqueKey('closed-mid-set'), { signal: never() });
    await store.close();
    const result = await acquiring;
    expect(result.acquired).toBe(true);
    const running = intervals.mock.results.filter(({ value }) => !cleared.mock.calls.some(([id]) => id === value));
    expect(running).toHaveLength(0);
    if (result.acquired) await result.lock.release();
  });
});

describeRedis('RedisTokenStore: a lock wait aborted while it subscribes', () => {
  const redis = useRedisServer();
  const made = closedAfterEach();

  it('rejects at once, not after the subscription or a poll interval', async () => {
    const client = await redis.connect();
    const duplicate = client.duplicate.bind(client);
    let answer = (): void => undefined;
    const subscribing = new Promise<void>((resolve) => {
      jest.spyOn(client, 'duplicate').mockImplementation((options) => {
        const subscriber = duplicate(options);
        jest.spyOn(subscriber, 'subscribe').mockImplementation(() => {
          resolve();
          return new Promise((settle) => (answer = () => settle(1)));
        });
        return subscriber;
      });
    });
    const store = made.store({ client, lockTtlMs: 20_000, lockWaitMs: 60_000, pollIntervalMs: 30_000 });
    const key = redis.uniqueKey('aborted-subscribing');
    await client.set(store.keysFor(key).lock, 'someone else', 'PX', 20_000);
    const controller = new AbortController();
    const acquiring = store.acquireRefreshLock(key, { signal: controller.signal });
    await subscribing;
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await expect(acquiring).rejects.toBe(reason);
    answer();
  });
});
