import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import type { RedisTokenStore } from '../../src/redis';
import type { RedisTokenStoreOptions } from '../../src/redis';
import { ErrorCodes } from '../../src/errors';
import { EXTEND_LOCK_SCRIPT } from '../../src/stores/redis-scripts';
import type { TokenManager } from '../../src/manager/token-manager';
import { FakeProvider, makeTokenSet } from '../helpers/fake-provider';
import { INSTANT_RETRY } from '../helpers/manager';
import {
  captureLogger,
  closedAfterEach,
  describeRedis,
  REAL_TIME_BUT_INTERVALS,
  useRedisServer,
} from '../helpers/redis-server';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const never = (): AbortSignal => new AbortController().signal;

/** Polls `done` (bounded, in real time) until it holds: a phase ends on observed state, never on a fixed wait. */
async function eventually(what: string, done: () => boolean): Promise<void> {
  for (let polls = 0; !done(); polls += 1) {
    if (polls === 1_000) throw new Error(`never happened: ${what}`);
    await sleep(10);
  }
}

/** The replies to the lock extensions (EVALs of EXTEND_LOCK_SCRIPT) `client` sent so far, in order: 1 extended, 0 lost. */
function extensionsSentBy(client: Redis): () => Array<Promise<unknown>> {
  const { mock } = jest.spyOn(client, 'eval');
  return () =>
    mock.calls.flatMap(([script], index) => (script === EXTEND_LOCK_SCRIPT ? [mock.results[index]?.value] : []));
}

/** Counts the lock SETs Redis refused `client` (a nil reply to SET … NX: another replica held the lock). */
function countLockRefusals(client: Redis): () => number {
  let refusals = 0;
  const set = client.set.bind(client) as (...args: unknown[]) => Promise<unknown>;
  jest.spyOn(client, 'set').mockImplementation((async (...args: unknown[]) => {
    const reply = await set(...args);
    if (reply === null) refusals += 1;
    return reply;
  }) as never);
  return () => refusals;
}

/**
 * Lock bounds for a watchdog driven on fake time (Redis ages the lock in step): only the test's own work runs in real
 * time, which these outlast on a loaded machine.
 */
const patientLock = (lockTtlMs: number): Partial<RedisTokenStoreOptions> => ({
  lockTtlMs,
  lockWaitMs: 2 * lockTtlMs,
  commandTimeoutMs: 15_000,
});

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
    // The watchdog's interval runs on fake time; Redis ages the lock in step (below), so a stalled machine cannot
    // expire it in real time: lockTtlMs only has to outlast the test's own work.
    const lockTtlMs = 30_000;
    const tick = lockTtlMs / 3;
    jest.useFakeTimers({ doNotFake: [...REAL_TIME_BUT_INTERVALS] });
    try {
      const provider = new FakeProvider({
        now: () => Date.now(),
        manual: true,
        identity: { id: `slow-${randomUUID()}` },
      });
      const clients = await Promise.all(Array.from({ length: 4 }, () => redis.connect()));
      const refusals = clients.map(countLockRefusals);
      const stores = clients.map((client) =>
        made.store({ client, lockTtlMs, lockWaitMs: 2 * lockTtlMs, pollIntervalMs: 50 }),
      );
      const sent = clients.map(extensionsSentBy);
      const extensions = (): Array<Promise<unknown>> => sent.flatMap((extensionsOfOne) => extensionsOfOne());
      const replicas = stores.map((store) =>
        made.manager({ provider, store, refreshJitterMs: 0, retry: INSTANT_RETRY }),
      );
      const { lock } = (stores[0] as RedisTokenStore).keysFor((replicas[0] as TokenManager).storeKey);
      const admin = await redis.connect();
      /** Resolves once every replica but the holder has been refused the lock from now on. */
      const waitersRefusedAgain = async (): Promise<void> => {
        const before = refusals.map((count) => count());
        const refused = (): number => refusals.filter((count, i) => count() > (before[i] ?? 0)).length;
        await eventually('3 replicas refused the lock', () => refused() === 3);
      };

      const tokens = Promise.all(replicas.map((manager) => manager.getAccessToken()));
      await eventually('the holder calls the auth server', () => provider.calls.length > 0);
      await waitersRefusedAgain();
      for (let aged = 0; aged < lockTtlMs; aged += tick) {
        await admin.pexpire(lock, (await admin.pttl(lock)) - tick);
        await jest.advanceTimersByTimeAsync(tick);
        await eventually('the watchdog extends the lock', () => extensions().length > aged / tick);
      }
      // Aged a whole lockTtlMs, the lock is still held, and held out every waiter once more.
      expect(await Promise.all(extensions())).toEqual([1, 1, 1]);
      expect(await admin.pttl(lock)).toBeGreaterThan(lockTtlMs - tick);
      await waitersRefusedAgain();
      provider.release();
      expect(new Set(await tokens)).toEqual(new Set(['access-1']));
      expect(provider.calls).toHaveLength(1);
    } finally {
      jest.useRealTimers();
    }
  });

  /** A store whose lock watchdog runs on fake intervals (the test ages the lock in Redis), with its log and EVALs. */
  async function watchedStore(name: string) {
    const lockTtlMs = 30_000;
    jest.useFakeTimers({ doNotFake: [...REAL_TIME_BUT_INTERVALS] });
    const client = await redis.connect();
    const extensions = extensionsSentBy(client);
    const { logger, lines } = captureLogger();
    const store = await makeStore({ client, logger, ...patientLock(lockTtlMs) });
    return { lockTtlMs, tick: lockTtlMs / 3, client, extensions, lines, store, key: redis.uniqueKey(name) };
  }

  it('extends a held lock past lockTtlMs and deletes it on release; a released hold extends no more', async () => {
    try {
      const { lockTtlMs, tick, client, extensions, lines, store, key } = await watchedStore('held');
      const { lock } = store.keysFor(key);
      const before = await store.acquireRefreshLock(key, { signal: never() });
      if (before.acquired) await before.lock.release();
      const result = await store.acquireRefreshLock(key, { signal: never() });
      if (!result.acquired) throw new Error('the lock was not acquired');
      // Three lifetimes of an unextended lock, aged in Redis in step with the watchdog's interval.
      for (let aged = 0; aged < 3 * lockTtlMs; aged += tick) {
        await client.pexpire(lock, (await client.pttl(lock)) - tick);
        await jest.advanceTimersByTimeAsync(tick);
        await eventually('the watchdog extends the lock', () => extensions().length > aged / tick);
      }
      // One extension a tick, each of them this hold's: the first hold's watchdog, had it outlived its release, would
      // have found the lock another owner's.
      expect(await Promise.all(extensions())).toEqual(Array.from({ length: 9 }, () => 1));
      const ttl = await client.pttl(lock);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(lockTtlMs);
      expect(lines).not.toContainEqual(expect.objectContaining({ event: 'lock-lost' }));
      await result.lock.release();
      expect(await client.exists(lock)).toBe(0);
    } finally {
      jest.useRealTimers();
    }
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

  it('forgets a hold it stopped extending: a holder that never releases leaves no write base behind', async () => {
    const client = await redis.connect();
    // Only the watchdog's interval and its clock are faked: Redis still answers in real time.
    jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate', 'setTimeout', 'clearTimeout'] });
    try {
      const store = await makeStore({ client, lockTtlMs: 300, lockWaitMs: 1_000, commandTimeoutMs: 30_000 });
      const key = redis.uniqueKey('never-released');
      const session = {
        identity: 'id',
        tokens: makeTokenSet(Date.now(), { refreshTokenExpiresAt: Date.now() + 60_000 }),
      };
      await store.get(key);
      await store.set(key, session);
      const result = await store.acquireRefreshLock(key, { signal: never() });
      if (!result.acquired) throw new Error('the lock was not acquired');
      await store.get(key);
      await jest.advanceTimersByTimeAsync(3_000); // past lockWaitMs: the watchdog stops, the lock is let lapse
      // The store forgets its read of the key among 10,000 others; only a hold still kept would remember it.
      const others = Array.from({ length: 10_000 }, (_, index) => `${redis.uniqueKey('other')}:${index}`);
      for (let start = 0; start < others.length; start += 1_000) {
        await Promise.all(others.slice(start, start + 1_000).map((other) => store.get(other)));
      }
      await expect(store.set(key, { ...session, identity: 'refreshed' })).rejects.toMatchObject({
        code: ErrorCodes.STORE_STALE_WRITE,
      });
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
    try {
      const { lockTtlMs, tick, client, extensions, lines, store, key } = await watchedStore('lost');
      const result = await store.acquireRefreshLock(key, { signal: never() });
      if (!result.acquired) throw new Error('the lock was not acquired');
      const { lock } = store.keysFor(key);
      await client.set(lock, 'someone-else', 'PX', lockTtlMs);
      // Aged in step with the watchdog's interval for two lifetimes: the new owner's lock expires unextended in the
      // first, and no tick after the loss tries again.
      for (let aged = 0; aged < 2 * lockTtlMs; aged += tick) {
        await client.pexpire(lock, (await client.pttl(lock)) - tick);
        await jest.advanceTimersByTimeAsync(tick);
      }
      expect(await client.get(lock)).toBeNull();
      expect(await Promise.all(extensions())).toEqual([0]);
      await eventually('the watchdog warns of the lost lock', () => lines.some((line) => line.event === 'lock-lost'));
      expect(lines.filter((line) => line.event === 'lock-lost')).toEqual([expect.objectContaining({ level: 40 })]);
      await result.lock.release();
    } finally {
      jest.useRealTimers();
    }
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
