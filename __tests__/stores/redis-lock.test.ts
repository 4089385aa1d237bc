import type Redis from 'ioredis';
import { TokenStoreError } from '../../src/errors';
import { RedisTokenStore } from '../../src/redis';
import type { RedisAuthBreaker } from '../../src/redis';
import type { RedisTokenStoreOptions, StoredSession } from '../../src/redis';
import type { RefreshLockResult } from '../../src/stores/types';
import { makeTokenSet } from '../helpers/fake-provider';
import { captureLogger, describeRedis, untilSubscribers, useRedisServer } from '../helpers/redis-server';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const never = (): AbortSignal => new AbortController().signal;
const session = (identity = 'id'): StoredSession => ({ identity, tokens: makeTokenSet(Date.now()) });

/** The `sub=` (channel subscriptions) of every pub/sub connection, from CLIENT LIST. */
async function pubsubConnections(client: Redis): Promise<number[]> {
  const list = (await client.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string;
  return list
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => Number(/ sub=(\d+)/.exec(line)?.[1]));
}

describeRedis('RedisTokenStore: refresh locks', () => {
  const redis = useRedisServer();
  const stores: RedisTokenStore[] = [];
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });

  async function makeStore(options: Partial<RedisTokenStoreOptions> = {}): Promise<RedisTokenStore> {
    const client = options.client ?? (await redis.connect());
    const store = new RedisTokenStore({ lockTtlMs: 300, lockWaitMs: 1_000, pollIntervalMs: 50, ...options, client });
    stores.push(store);
    return store;
  }

  // Polling far slower than the tests: only a pub/sub notification can end these waits in time.
  const NOTIFIED_ONLY = { lockTtlMs: 20_000, lockWaitMs: 30_000, pollIntervalMs: 10_000 };
  /** Bounds a wait that a notification (or no wait at all) ends, with a wide margin for a loaded machine. */
  const WELL_BEFORE_A_POLL = NOTIFIED_ONLY.pollIntervalMs / 2;

  it('gives the lock to one acquirer; the other gets acquired:false once the holder publishes', async () => {
    const client = await redis.connect();
    const key = redis.uniqueKey('session');
    const holder = await makeStore({ client, ...NOTIFIED_ONLY });
    const waiter = await makeStore({ client, ...NOTIFIED_ONLY });
    await Promise.all([holder.get(key), waiter.get(key)]);

    const first = await holder.acquireRefreshLock(key, { signal: never() });
    expect(first.acquired).toBe(true);
    const waiting = waiter.acquireRefreshLock(key, { signal: never() });
    await untilSubscribers(client, waiter.keysFor(key).channel, 1);
    const publishedAt = Date.now();
    await holder.set(key, session());
    expect(await waiting).toEqual({ acquired: false });
    expect(Date.now() - publishedAt).toBeLessThan(WELL_BEFORE_A_POLL);
    if (first.acquired) await first.lock.release();
    expect(await client.exists(holder.keysFor(key).lock)).toBe(0);
  });

  it('a waiter woken by a hand-over reads the new version and sends no second SET', async () => {
    const client = await redis.connect();
    const waiterClient = await redis.connect();
    const key = redis.uniqueKey('session');
    const holder = await makeStore({ client, ...NOTIFIED_ONLY });
    const waiter = await makeStore({ client: waiterClient, ...NOTIFIED_ONLY });
    await Promise.all([holder.get(key), waiter.get(key)]);
    const first = await holder.acquireRefreshLock(key, { signal: never() });
    const sets = jest.spyOn(waiterClient, 'set');
    const waiting = waiter.acquireRefreshLock(key, { signal: never() });
    await untilSubscribers(client, waiter.keysFor(key).channel, 1);
    await holder.set(key, session());
    expect(await waiting).toEqual({ acquired: false });
    // The one SET NX that found the lock held; the wake-up cost a GET only.
    expect(sets).toHaveBeenCalledTimes(1);
    if (first.acquired) await first.lock.release();
  });

  it('answers acquired:false at once when a session was published since its last read, the lock still held', async () => {
    const client = await redis.connect();
    const key = redis.uniqueKey('session');
    // No poll within the wait, and no notification after it starts: only the version read first can end it.
    const options = { lockTtlMs: 1_000, lockWaitMs: 2_000, pollIntervalMs: 10_000 };
    const holder = await makeStore({ client, ...options });
    const waiter = await makeStore({ client, ...options });
    await Promise.all([holder.get(key), waiter.get(key)]);
    const held = await holder.acquireRefreshLock(key, { signal: never() });
    await holder.set(key, session());
    expect(await waiter.acquireRefreshLock(key, { signal: never() })).toEqual({ acquired: false });
    if (held.acquired) await held.lock.release();
  });

  it('hands the lock to a waiter when the holder releases it without a new session', async () => {
    const client = await redis.connect();
    const key = redis.uniqueKey('session');
    const [holder, waiter] = [
      await makeStore({ client, ...NOTIFIED_ONLY }),
      await makeStore({ client, ...NOTIFIED_ONLY }),
    ];
    await waiter.get(key);
    const first = await holder.acquireRefreshLock(key, { signal: never() });
    const waiting = waiter.acquireRefreshLock(key, { signal: never() });
    await untilSubscribers(client, waiter.keysFor(key).channel, 1);
    const releasedAt = Date.now();
    if (first.acquired) await first.lock.release();
    const second = await waiting;
    expect(second.acquired).toBe(true);
    expect(Date.now() - releasedAt).toBeLessThan(WELL_BEFORE_A_POLL);
  });

  it('tells waiters once per hold: a hold that wrote publishes the version only, one that did not publishes released', async () => {
    const client = await redis.connect();
    const listener = await redis.connect();
    const key = redis.uniqueKey('session');
    const store = await makeStore({ client });
    const { channel } = store.keysFor(key);
    const messages: string[] = [];
    let marked: () => void = () => undefined;
    listener.on('message', (_channel: string, message: string) => {
      messages.push(message);
      if (message.startsWith('marker')) marked();
    });
    await listener.subscribe(channel);
    /** Messages on one channel arrive in order: once the marker is in, so is everything sent before it. */
    const mark = async (name: string): Promise<void> => {
      const arrived = new Promise<void>((resolve) => (marked = resolve));
      await client.publish(channel, name);
      await arrived;
    };
    await store.get(key);

    const writing = await store.acquireRefreshLock(key, { signal: never() });
    if (!writing.acquired) throw new Error('the lock was not acquired');
    await store.set(key, session());
    await writing.lock.release();
    await mark('marker-1');

    const idle = await store.acquireRefreshLock(key, { signal: never() });
    if (!idle.acquired) throw new Error('the lock was not acquired');
    await idle.lock.release();
    await mark('marker-2');
    expect(messages).toEqual(['1', 'marker-1', 'released', 'marker-2']);
    // A subscribed connection left open would count in other tests' CLIENT LIST.
    await listener.quit();
  });

  it('locks each key on its own: a held lock on one session never blocks another', async () => {
    const client = await redis.connect();
    const [keyA, keyB] = [redis.uniqueKey('a'), redis.uniqueKey('b')];
    const store = await makeStore({ client, ...NOTIFIED_ONLY });
    const lockA = await store.acquireRefreshLock(keyA, { signal: never() });
    const startedAt = Date.now();
    const lockB = await store.acquireRefreshLock(keyB, { signal: never() });
    expect([lockA.acquired, lockB.acquired]).toEqual([true, true]);
    expect(Date.now() - startedAt).toBeLessThan(WELL_BEFORE_A_POLL);
    expect(await client.exists(store.keysFor(keyA).lock, store.keysFor(keyB).lock)).toBe(2);
  });

  it("refuses a store key that names another key's lock: a tenant called bob:lock never overwrites bob's lock", async () => {
    const client = await redis.connect();
    const store = await makeStore({ client, ...NOTIFIED_ONLY });
    // Keys that hold a hash tag are used as they are: `{app}:bob:lock` is the Redis name of `{app}:bob`'s lock.
    const tag = `{${redis.uniqueKey('app')}}`;
    const [bob, intruder] = [`${tag}:bob`, `${tag}:bob:lock`];
    expect(store.keysFor(bob)).toEqual({ session: bob, lock: intruder, channel: `${bob}:published` });
    // `{}` is no hash tag to Redis (it hashes the whole key): wrapped, or a cluster would put the lock in another slot.
    expect(store.keysFor('{}x').session).toBe('{{}x}');
    const held = await store.acquireRefreshLock(bob, { signal: never() });
    const owner = await client.get(store.keysFor(bob).lock);
    await expect(store.get(intruder)).rejects.toThrow(TokenStoreError);
    await expect(store.set(intruder, session('intruder'))).rejects.toThrow(TokenStoreError);
    await expect(store.acquireRefreshLock(intruder, { signal: never() })).rejects.toThrow(TokenStoreError);
    expect(() => store.watch(intruder, () => undefined)).toThrow(TokenStoreError);
    expect(await client.get(store.keysFor(bob).lock)).toBe(owner);
    if (held.acquired) await held.lock.release();
    // An untagged key is wrapped (`{…:lock}`), so it never names a lock.
    const plain = redis.uniqueKey('bob:lock');
    const stored = session('bob');
    await store.get(plain);
    await store.set(plain, stored);
    expect(await store.get(plain)).toEqual(stored);
  });

  it("refuses a hash-tagged key that names another key's session (`{bob}` is bob's) or the breaker's keys", async () => {
    const client = await redis.connect();
    const breakerKey = redis.uniqueKey('breaker');
    const store = await makeStore({ client, ...NOTIFIED_ONLY, breaker: { key: breakerKey } });
    const bob = redis.uniqueKey('bob');
    const stored = session('bob');
    await store.get(bob);
    await store.set(bob, stored);
    const call = { scope: 'partner', session: bob };
    const scopeOpen = (store.breaker as RedisAuthBreaker).keysFor(call).scope.open;
    await client.set(scopeOpen, '1', 'PX', 60_000);
    for (const intruder of [`{${bob}}`, scopeOpen, `{${breakerKey}:other}:tripped`]) {
      await expect(store.get(intruder)).rejects.toThrow(TokenStoreError);
      await expect(store.set(intruder, session('intruder'))).rejects.toThrow(TokenStoreError);
      await expect(store.delete(intruder)).rejects.toThrow(TokenStoreError);
      await expect(store.acquireRefreshLock(intruder, { signal: never() })).rejects.toThrow(TokenStoreError);
      expect(() => store.watch(intruder, () => undefined)).toThrow(TokenStoreError);
    }
    expect(await store.get(bob)).toEqual(stored);
    expect(await client.get(scopeOpen)).toBe('1');
    // A key whose tag is part of it, or that only starts like the breaker's prefix, is still its own.
    for (const own of [`{${bob}}:x`, `x:{${bob}}`, `{${breakerKey}}:x`, `{{${bob}}}`]) {
      await store.get(own);
      await store.set(own, stored);
      expect(await store.get(own)).toEqual(stored);
    }
  });

  it('refuses a key starting with `}`: wrapped as `{}x}`, it has no hash tag, and its lock would be in another slot', async () => {
    const store = await makeStore({ client: await redis.connect(), ...NOTIFIED_ONLY });
    const key = `}${redis.uniqueKey('x')}`;
    await expect(store.get(key)).rejects.toThrow(/cannot be hash-tagged/);
    await expect(store.set(key, session('x'))).rejects.toThrow(TokenStoreError);
    await expect(store.acquireRefreshLock(key, { signal: never() })).rejects.toThrow(TokenStoreError);
    // Within the key, a `}` is harmless: `{x}}` has the tag `x`.
    const own = `${redis.uniqueKey('x')}}`;
    const stored = session('own');
    await store.set(own, stored);
    expect(await store.get(own)).toEqual(stored);
  });

  it('serves waits on many keys from one subscriber connection, subscribing and unsubscribing per key', async () => {
    const client = await redis.connect();
    const [keyA, keyB] = [redis.uniqueKey('a'), redis.uniqueKey('b')];
    const holder = await makeStore({ client, ...NOTIFIED_ONLY });
    const waiter = await makeStore({ client, ...NOTIFIED_ONLY });
    const [channelA, channelB] = [waiter.keysFor(keyA).channel, waiter.keysFor(keyB).channel];
    await Promise.all([waiter.get(keyA), waiter.get(keyB)]);
    const locks = [
      await holder.acquireRefreshLock(keyA, { signal: never() }),
      await holder.acquireRefreshLock(keyB, { signal: never() }),
    ];
    expect(locks.map((lock) => lock.acquired)).toEqual([true, true]);

    // Earlier tests' subscriber connections close asynchronously: count from a clean slate.
    for (let attempt = 0; attempt < 100 && (await pubsubConnections(client)).length > 0; attempt += 1) await sleep(10);
    const waitingA = waiter.acquireRefreshLock(keyA, { signal: never() });
    const waitingB = waiter.acquireRefreshLock(keyB, { signal: never() });
    await untilSubscribers(client, channelA, 1);
    await untilSubscribers(client, channelB, 1);
    expect(await pubsubConnections(client)).toEqual([2]);

    await holder.set(keyA, session('a'));
    expect(await waitingA).toEqual({ acquired: false });
    await untilSubscribers(client, channelA, 0);
    expect(await pubsubConnections(client)).toEqual([1]);

    await holder.set(keyB, session('b'));
    expect(await waitingB).toEqual({ acquired: false });
    // The last wait ended: the subscriber connection is closed, not kept between refreshes.
    await untilSubscribers(client, channelB, 0);
    for (let attempt = 0; attempt < 100 && (await pubsubConnections(client)).length > 0; attempt += 1) await sleep(10);
    expect(await pubsubConnections(client)).toEqual([]);
  });

  it("never calls a watcher for the store's own write, though Redis may deliver it before the write's reply", async () => {
    const client = await redis.connect();
    const store = await makeStore({ client });
    const key = redis.uniqueKey('session');
    let fired = 0;
    const unwatch = store.watch(key, () => (fired += 1));
    await untilSubscribers(client, store.keysFor(key).channel, 1);
    await store.get(key);
    for (let i = 0; i < 100; i += 1) await store.set(key, { identity: 'id', tokens: makeTokenSet(Date.now() + i) });
    await sleep(100);
    unwatch();
    expect(fired).toBe(0);
  });

  it('never calls a watcher for a lock released without a new session (no version to adopt)', async () => {
    const client = await redis.connect();
    const [key, barrierKey] = [redis.uniqueKey('session'), redis.uniqueKey('barrier')];
    const store = await makeStore({ client });
    const other = await makeStore({ client });
    let fired = 0;
    let barrierReached: () => void = () => undefined;
    const barrier = new Promise<void>((resolve) => (barrierReached = resolve));
    const unwatch = store.watch(key, () => (fired += 1));
    const unwatchBarrier = store.watch(barrierKey, () => barrierReached());
    await untilSubscribers(client, store.keysFor(key).channel, 1);
    await untilSubscribers(client, store.keysFor(barrierKey).channel, 1);
    const held = await other.acquireRefreshLock(key, { signal: never() });
    if (!held.acquired) throw new Error('the lock was not acquired');
    await held.lock.release();
    // One subscriber connection gets both channels in the order Redis published them: the barrier comes after `released`.
    await client.publish(store.keysFor(barrierKey).channel, '1');
    await barrier;
    unwatch();
    unwatchBarrier();
    expect(fired).toBe(0);
  });

  it('watch subscribes a key once for all its listeners, and unwatch (or close) unsubscribes it', async () => {
    const client = await redis.connect();
    const store = await makeStore({ client });
    const keys = Array.from({ length: 20 }, (_, index) => redis.uniqueKey(`watched-${index}`));
    const stops = keys.flatMap((key) => [store.watch(key, () => undefined), store.watch(key, () => undefined)]);
    for (const key of keys) await untilSubscribers(client, store.keysFor(key).channel, 1);
    stops[0]?.();
    await sleep(1_200);
    await untilSubscribers(client, store.keysFor(keys[0] as string).channel, 1);
    for (const stop of stops) stop();
    for (const key of keys) await untilSubscribers(client, store.keysFor(key).channel, 0);
    const closing = await makeStore({ client });
    closing.watch(keys[0] as string, () => undefined);
    await untilSubscribers(client, closing.keysFor(keys[0] as string).channel, 1);
    await closing.close();
    await untilSubscribers(client, closing.keysFor(keys[0] as string).channel, 0);
  });

  it('takes over the lock of a holder that died once its TTL passes', async () => {
    const client = await redis.connect();
    const key = redis.uniqueKey('session');
    const store = await makeStore({ client, lockTtlMs: 300, lockWaitMs: 1_000 });
    await store.get(key);
    await client.set(store.keysFor(key).lock, 'crashed-process', 'PX', 300, 'NX');
    const startedAt = Date.now();
    const result = await store.acquireRefreshLock(key, { signal: never() });
    expect(result.acquired).toBe(true);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(250);
    expect(await client.get(store.keysFor(key).lock)).not.toBe('crashed-process');
  });

  it('releases only a lock it still owns', async () => {
    const client = await redis.connect();
    const { logger, lines } = captureLogger();
    const key = redis.uniqueKey('session');
    const late = await makeStore({ client, lockTtlMs: 100, lockWaitMs: 1_000, logger });
    const next = await makeStore({ client, lockTtlMs: 10_000, lockWaitMs: 20_000 });
    const expired = await late.acquireRefreshLock(key, { signal: never() });
    // The lock vanishes under its holder (its watchdog would keep it alive otherwise): as after
    // a pause longer than the lease, or a failover that lost the key.
    await client.del(late.keysFor(key).lock);
    const taken = await next.acquireRefreshLock(key, { signal: never() });
    expect(taken.acquired).toBe(true);
    if (expired.acquired) await expired.lock.release();
    expect(await client.pttl(next.keysFor(key).lock)).toBeGreaterThan(5_000);
    expect(lines).toContainEqual(expect.objectContaining({ event: 'lock-expired' }));
  });

  it('releases a lock once: a second release of the same hold sends nothing and warns of no expiry', async () => {
    const client = await redis.connect();
    const { logger, lines } = captureLogger();
    const key = redis.uniqueKey('session');
    const store = await makeStore({ client, logger });
    const next = await makeStore({ client });
    const held = await store.acquireRefreshLock(key, { signal: never() });
    if (!held.acquired) throw new Error('the lock was not acquired');
    await held.lock.release();
    const taken = await next.acquireRefreshLock(key, { signal: never() });
    if (!taken.acquired) throw new Error('the lock was not taken over');
    await held.lock.release();
    expect(await client.get(next.keysFor(key).lock)).not.toBeNull();
    expect(lines).not.toContainEqual(expect.objectContaining({ event: 'lock-expired' }));
    await taken.lock.release();
  });

  it('gives up with TokenStoreError after lockWaitMs', async () => {
    const client = await redis.connect();
    const key = redis.uniqueKey('session');
    const store = await makeStore({ client, lockTtlMs: 100, lockWaitMs: 300 });
    await store.get(key);
    await client.set(store.keysFor(key).lock, 'stuck-holder', 'PX', 10_000);
    const startedAt = Date.now();
    await expect(store.acquireRefreshLock(key, { signal: never() })).rejects.toThrow(/still held after waiting 300 ms/);
    const waitedMs = Date.now() - startedAt;
    expect(waitedMs).toBeGreaterThanOrEqual(280);
    // Long before the stuck lock's 10 s: the wait's own bound ended it.
    expect(waitedMs).toBeLessThan(5_000);
  });

  it('stops waiting when the signal aborts or the store closes', async () => {
    const client = await redis.connect();
    const key = redis.uniqueKey('session');
    const store = await makeStore({ client, lockTtlMs: 5_000, lockWaitMs: 10_000 });
    await client.set(store.keysFor(key).lock, 'someone-else', 'PX', 10_000);
    const abort = new AbortController();
    const aborted = store.acquireRefreshLock(key, { signal: abort.signal });
    await untilSubscribers(client, store.keysFor(key).channel, 1);
    abort.abort(new Error('manager closing'));
    await expect(aborted).rejects.toThrow('manager closing');

    const closing: Promise<RefreshLockResult> = store.acquireRefreshLock(key, { signal: never() });
    await untilSubscribers(client, store.keysFor(key).channel, 1);
    await store.close();
    await expect(closing).rejects.toThrow(/closed/);
    await expect(store.acquireRefreshLock(key, { signal: never() })).rejects.toThrow(/closed/);
  });

  it('rejects with the reason of a signal already aborted, and sends nothing', async () => {
    const client = await redis.connect();
    const store = await makeStore({ client });
    const sent = jest.spyOn(client, 'sendCommand');
    const reason = new Error('manager closing');
    await expect(
      store.acquireRefreshLock(redis.uniqueKey('session'), { signal: AbortSignal.abort(reason) }),
    ).rejects.toBe(reason);
    expect(sent).not.toHaveBeenCalled();
  });

  it('undoes a SET NX the caller gave up on that still ran on the server: no lock is left without an owner', async () => {
    const client = await redis.connect();
    const admin = await redis.connect();
    const key = redis.uniqueKey('session');
    const store = await makeStore({ client, ...NOTIFIED_ONLY });
    const { lock } = store.keysFor(key);
    const sets = jest.spyOn(client, 'set');
    // Writes wait on the server: the SET NX is sent, and answered only after the caller gave up.
    await admin.call('CLIENT', 'PAUSE', '10000', 'WRITE');
    try {
      const abort = new AbortController();
      const acquiring = store.acquireRefreshLock(key, { signal: abort.signal });
      while (sets.mock.calls.length === 0) await new Promise((resolve) => setImmediate(resolve));
      abort.abort(new Error('caller gave up'));
      await expect(acquiring).rejects.toThrow('caller gave up');
    } finally {
      await admin.call('CLIENT', 'UNPAUSE');
    }
    // The release follows the late SET's reply on the same connection (bounded: a left lock fails here, not at its TTL).
    for (let attempt = 0; attempt < 500 && (await client.exists(lock)) === 1; attempt += 1) await sleep(10);
    expect(await client.exists(lock)).toBe(0);
  });

  it('ends a pending wait as the store closes, not at its next poll', async () => {
    const client = await redis.connect();
    const key = redis.uniqueKey('session');
    const store = await makeStore({ client, ...NOTIFIED_ONLY });
    await client.set(store.keysFor(key).lock, 'someone-else', 'PX', 10_000);
    const gets = jest.spyOn(client, 'getBuffer');
    let settled = false;
    const waiting = store.acquireRefreshLock(key, { signal: never() }).catch((error: unknown) => {
      settled = true;
      return error;
    });
    // The wait reads the version once subscribed, then waits: once that read is answered, it waits.
    while (gets.mock.calls.length === 0) await new Promise((resolve) => setImmediate(resolve));
    await gets.mock.results[0]?.value;
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    await store.close();
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(true);
    expect(await waiting).toMatchObject({ message: expect.stringMatching(/closed/) });
  });

  it('rejects at once when Redis is unreachable, so the manager refreshes on its own', async () => {
    const client = await redis.connect();
    client.disconnect();
    // Every bound of the store far longer than the test's: only failing at once passes.
    const store = await makeStore({ client, ...NOTIFIED_ONLY, commandTimeoutMs: 30_000, connectTimeoutMs: 30_000 });
    const startedAt = Date.now();
    await expect(store.acquireRefreshLock(redis.uniqueKey('session'), { signal: never() })).rejects.toBeInstanceOf(
      TokenStoreError,
    );
    expect(Date.now() - startedAt).toBeLessThan(WELL_BEFORE_A_POLL);
  });
});
