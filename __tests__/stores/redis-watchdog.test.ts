import { randomUUID } from 'node:crypto';
import type { TokenProvider } from '../../src/providers/types';
import type { RedisTokenStore } from '../../src/redis';
import type { RedisTokenStoreOptions } from '../../src/redis';
import { EXTEND_LOCK_SCRIPT } from '../../src/stores/redis-scripts';
import type { TokenSet } from '../../src/token-set';
import { INSTANT_RETRY } from '../helpers/manager';
import { captureLogger, closedAfterEach, describeRedis, useRedisServer } from '../helpers/redis-server';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const never = (): AbortSignal => new AbortController().signal;

/** An auth server that takes `delayMs` to answer each call, counting them across every replica. */
function slowAuthServer(delayMs: number): { calls: number; providerFor: (id: string) => TokenProvider } {
  const server = { calls: 0, providerFor: (id: string): TokenProvider => provider(id) };
  const issue = async (): Promise<TokenSet> => {
    server.calls += 1;
    const serial = server.calls;
    await sleep(delayMs);
    const now = Date.now();
    return {
      accessToken: `access-${serial}`,
      accessTokenExpiresAt: now + 60_000,
      refreshToken: `refresh-${serial}`,
      refreshTokenExpiresAt: now + 3_600_000,
    };
  };
  const provider = (id: string): TokenProvider => ({ identity: { id }, authenticate: issue, refresh: issue });
  return server;
}

describeRedis('RedisTokenStore: the lock watchdog', () => {
  const redis = useRedisServer();
  const made = closedAfterEach();

  async function makeStore(options: Partial<RedisTokenStoreOptions> = {}): Promise<RedisTokenStore> {
    return made.store({
      lockTtlMs: 300,
      lockWaitMs: 5_000,
      pollIntervalMs: 50,
      ...options,
      client: options.client ?? (await redis.connect()),
    });
  }

  it('keeps the lock through a refresh slower than lockTtlMs: 4 replicas make one auth call in all', async () => {
    const server = slowAuthServer(1_200);
    const id = `slow-${randomUUID()}`;
    const replicas = await Promise.all(
      Array.from({ length: 4 }, async () =>
        made.manager({
          provider: server.providerFor(id),
          store: await makeStore(),
          refreshJitterMs: 0,
          retry: INSTANT_RETRY,
        }),
      ),
    );
    const tokens = await Promise.all(replicas.map((manager) => manager.getAccessToken()));
    expect(server.calls).toBe(1);
    expect(new Set(tokens)).toEqual(new Set(['access-1']));
  });

  it('extends a held lock past lockTtlMs and deletes it on release; a released hold extends no more', async () => {
    const client = await redis.connect();
    const { logger, lines } = captureLogger();
    const store = await makeStore({ client, logger });
    const key = redis.uniqueKey('held');
    const before = await store.acquireRefreshLock(key, { signal: never() });
    if (before.acquired) await before.lock.release();
    const result = await store.acquireRefreshLock(key, { signal: never() });
    if (!result.acquired) throw new Error('the lock was not acquired');
    await sleep(900); // three lifetimes of an unextended lock
    const ttl = await client.pttl(store.keysFor(key).lock);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(300);
    // The first hold's watchdog, had it outlived its release, would have found the lock another owner's.
    expect(lines).not.toContainEqual(expect.objectContaining({ event: 'lock-lost' }));
    await result.lock.release();
    expect(await client.exists(store.keysFor(key).lock)).toBe(0);
  });

  it('extends a held lock for lockWaitMs at most: a holder stuck longer than every waiter waits loses it', async () => {
    const client = await redis.connect();
    const evals = jest.spyOn(client, 'eval');
    const extensions = (): number => evals.mock.calls.filter(([script]) => script === EXTEND_LOCK_SCRIPT).length;
    // Only the watchdog's interval and its clock are faked: Redis still answers in real time.
    jest.useFakeTimers({
      doNotFake: [
        'nextTick',
        'queueMicrotask',
        'setImmediate',
        'clearImmediate',
        'setTimeout',
        'clearTimeout',
        'hrtime',
        'performance',
      ],
    });
    try {
      const store = await makeStore({ client, lockTtlMs: 300, lockWaitMs: 1_000 });
      const result = await store.acquireRefreshLock(redis.uniqueKey('stuck'), { signal: never() });
      if (!result.acquired) throw new Error('the lock was not acquired');
      await jest.advanceTimersByTimeAsync(900);
      const withinTheWait = extensions();
      expect(withinTheWait).toBeGreaterThan(0);
      await jest.advanceTimersByTimeAsync(3_000);
      expect(extensions()).toBe(withinTheWait);
      await result.lock.release();
    } finally {
      jest.useRealTimers();
    }
  });

  it('extends a lock whose lockTtlMs / 3 exceeds what a Node timer holds no sooner than the timer can wait', async () => {
    const client = await redis.connect();
    const evals = jest.spyOn(client, 'eval');
    const extensions = (): number => evals.mock.calls.filter(([script]) => script === EXTEND_LOCK_SCRIPT).length;
    jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate', 'setTimeout', 'clearTimeout'] });
    try {
      // Past 2^31 − 1 ms Node fires an interval every millisecond: an EVAL storm for the whole hold.
      const store = await makeStore({ client, lockTtlMs: 7_000_000_000, lockWaitMs: 8_000_000_000 });
      const result = await store.acquireRefreshLock(redis.uniqueKey('long-ttl'), { signal: never() });
      if (!result.acquired) throw new Error('the lock was not acquired');
      await jest.advanceTimersByTimeAsync(20);
      expect(extensions()).toBe(0);
      await result.lock.release();
    } finally {
      jest.useRealTimers();
    }
  });

  it('lets a holder that stopped extending (a dead process) be replaced once its lock expires', async () => {
    const client = await redis.connect();
    const dead = await makeStore({ client });
    const key = redis.uniqueKey('dead-holder');
    expect((await dead.acquireRefreshLock(key, { signal: never() })).acquired).toBe(true);
    await dead.close(); // stops its watchdog without releasing, as a crash would
    const successor = await makeStore({ client });
    await successor.get(key);
    const next = await successor.acquireRefreshLock(key, { signal: never() });
    expect(next.acquired).toBe(true);
    if (next.acquired) await next.lock.release();
  });

  it('stops extending a lock it lost, and warns: the new owner keeps it', async () => {
    const client = await redis.connect();
    const { logger, lines } = captureLogger();
    const store = await makeStore({ client, logger });
    const key = redis.uniqueKey('lost');
    const result = await store.acquireRefreshLock(key, { signal: never() });
    if (!result.acquired) throw new Error('the lock was not acquired');
    const { lock } = store.keysFor(key);
    await client.set(lock, 'someone-else', 'PX', 300);
    await sleep(600);
    expect(await client.get(lock)).toBeNull();
    expect(lines.filter((line) => line.event === 'lock-lost')).toEqual([expect.objectContaining({ level: 40 })]);
    await result.lock.release();
  });

  describe('lock edges', () => {
    afterEach(() => jest.restoreAllMocks());

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
