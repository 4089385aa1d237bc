import type Redis from 'ioredis';
import { ConfigurationError, ErrorCodes, TokenStoreError } from '../../src/errors';
import { RedisTokenStore } from '../../src/redis';
import type { RedisTokenStoreOptions } from '../../src/redis';
import type { RefreshLockResult } from '../../src/stores/types';
import { makeTokenSet } from '../helpers/fake-provider';
import { captureLogger, useRedisServer } from '../helpers/redis-server';

const redis = useRedisServer();

async function makeStore(options: Partial<RedisTokenStoreOptions> = {}): Promise<RedisTokenStore> {
  const client = options.client ?? (await redis.connect());
  return new RedisTokenStore({ key: redis.uniqueKey('session'), lockTtlMs: 300, lockWaitMs: 1_000, pollIntervalMs: 50, ...options, client });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once someone subscribes to `channel`, so a test never races the subscription. */
async function untilSubscribed(client: Redis, channel: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const [, count] = (await client.pubsub('NUMSUB', channel)) as [string, number];
    if (Number(count) > 0) return;
    await sleep(10);
  }
  throw new Error(`nobody subscribed to ${channel}`);
}

describe('RedisTokenStore', () => {
  describe('get(), set(), delete()', () => {
    it('returns what was set and forgets it on delete', async () => {
      if (!redis.available) return;
      const store = await makeStore();
      const tokens = makeTokenSet(Date.now());
      expect(await store.get()).toBeUndefined();
      await store.set(tokens);
      expect(await store.get()).toEqual(tokens);
      await store.delete();
      expect(await store.get()).toBeUndefined();
    });

    it('expires the key with the refresh token, or with the access token when there is none', async () => {
      if (!redis.available) return;
      const client = await redis.connect();
      const store = await makeStore({ client });
      await store.get();
      await store.set(makeTokenSet(Date.now(), { refreshTokenExpiresAt: Date.now() + 10_000 }));
      const withRefresh = await client.pttl(store.keys.session);
      expect(withRefresh).toBeGreaterThan(9_000);
      expect(withRefresh).toBeLessThanOrEqual(10_000);

      const accessOnly = await makeStore({ client });
      await accessOnly.get();
      await accessOnly.set({ accessToken: 'a', accessTokenExpiresAt: Date.now() + 5_000 });
      const withoutRefresh = await client.pttl(accessOnly.keys.session);
      expect(withoutRefresh).toBeGreaterThan(4_000);
      expect(withoutRefresh).toBeLessThanOrEqual(5_000);
    });

    it.each([
      ['not JSON', '{oops'],
      ['a wrong shape', JSON.stringify({ version: 1, tokens: { accessToken: 5, accessTokenExpiresAt: 'soon' } })],
      ['no version', JSON.stringify({ tokens: makeTokenSet(0) })],
    ])('treats %s as absent, logs it without the value, and lets the next write repair it', async (_label, raw) => {
      if (!redis.available) return;
      const client = await redis.connect();
      const { logger, lines, text } = captureLogger();
      const store = await makeStore({ client, logger });
      await client.set(store.keys.session, raw.replace('}', ',"refreshToken":"secret-refresh"}'));
      expect(await store.get()).toBeUndefined();
      expect(lines).toContainEqual(expect.objectContaining({ event: 'store-value-invalid', level: 40 }));
      expect(text()).not.toContain('secret-refresh');
      const tokens = makeTokenSet(Date.now());
      await store.set(tokens);
      expect(await store.get()).toEqual(tokens);
    });

    it('refuses a stale write and keeps the newer session', async () => {
      if (!redis.available) return;
      const client = await redis.connect();
      const key = redis.uniqueKey('session');
      const slow = await makeStore({ client, key });
      const fast = await makeStore({ client, key });
      await slow.get();
      await fast.get();
      const newer = makeTokenSet(Date.now(), { accessToken: 'newer' });
      await fast.set(newer);

      const stale = slow.set(makeTokenSet(Date.now(), { accessToken: 'stale' }));
      await expect(stale).rejects.toBeInstanceOf(TokenStoreError);
      await expect(stale).rejects.toThrow(/stale write/);
      expect(await slow.get()).toEqual(newer);
      // Having read the newer session, the same store may write again.
      await slow.set(makeTokenSet(Date.now(), { accessToken: 'next' }));
      expect((await fast.get())?.accessToken).toBe('next');
    });

    it('rejects quickly with TokenStoreError when Redis is unreachable', async () => {
      if (!redis.available) return;
      const client = await redis.connect();
      client.disconnect();
      const store = await makeStore({ client });
      const startedAt = Date.now();
      await expect(store.get()).rejects.toMatchObject({ code: ErrorCodes.STORE });
      await expect(store.set(makeTokenSet(Date.now()))).rejects.toBeInstanceOf(TokenStoreError);
      expect(Date.now() - startedAt).toBeLessThan(500);
    });

    it('validates its options at construction', async () => {
      if (!redis.available) return;
      const client = await redis.connect();
      expect(() => new RedisTokenStore({ client: {} as never })).toThrow(ConfigurationError);
      expect(() => new RedisTokenStore({ client, key: '' })).toThrow(/key/);
      expect(() => new RedisTokenStore({ client, pollIntervalMs: 0 })).toThrow(/pollIntervalMs/);
      expect(() => new RedisTokenStore({ client, lockTtlMs: 60_000 })).toThrow(/lockWaitMs .* must exceed lockTtlMs/);
    });
  });

  describe('acquireRefreshLock()', () => {
    it('gives the lock to one acquirer; the other gets acquired:false once the holder publishes', async () => {
      if (!redis.available) return;
      const client = await redis.connect();
      const key = redis.uniqueKey('session');
      // Polling far slower than the test: only the pub/sub notification can end the wait.
      const options = { client, key, lockTtlMs: 20_000, lockWaitMs: 30_000, pollIntervalMs: 10_000 };
      const holder = await makeStore(options);
      const waiter = await makeStore(options);
      await Promise.all([holder.get(), waiter.get()]);

      const first = await holder.acquireRefreshLock({ signal: new AbortController().signal });
      expect(first.acquired).toBe(true);
      const waiting = waiter.acquireRefreshLock({ signal: new AbortController().signal });
      await untilSubscribed(client, waiter.keys.channel);
      const publishedAt = Date.now();
      await holder.set(makeTokenSet(Date.now()));
      expect(await waiting).toEqual({ acquired: false });
      expect(Date.now() - publishedAt).toBeLessThan(1_000);
      if (first.acquired) await first.lock.release();
      expect(await client.exists(holder.keys.lock)).toBe(0);
    });

    it('hands the lock to a waiter when the holder releases it without a new session', async () => {
      if (!redis.available) return;
      const client = await redis.connect();
      const key = redis.uniqueKey('session');
      const options = { client, key, lockTtlMs: 20_000, lockWaitMs: 30_000, pollIntervalMs: 10_000 };
      const [holder, waiter] = [await makeStore(options), await makeStore(options)];
      await waiter.get();
      const first = await holder.acquireRefreshLock({ signal: new AbortController().signal });
      const waiting = waiter.acquireRefreshLock({ signal: new AbortController().signal });
      await untilSubscribed(client, waiter.keys.channel);
      const releasedAt = Date.now();
      if (first.acquired) await first.lock.release();
      const second = await waiting;
      expect(second.acquired).toBe(true);
      expect(Date.now() - releasedAt).toBeLessThan(1_000);
    });

    it('takes over the lock of a holder that died once its TTL passes', async () => {
      if (!redis.available) return;
      const client = await redis.connect();
      const store = await makeStore({ client, lockTtlMs: 300, lockWaitMs: 1_000 });
      await store.get();
      await client.set(store.keys.lock, 'crashed-process', 'PX', 300, 'NX');
      const startedAt = Date.now();
      const result = await store.acquireRefreshLock({ signal: new AbortController().signal });
      expect(result.acquired).toBe(true);
      expect(Date.now() - startedAt).toBeGreaterThanOrEqual(250);
      expect(await client.get(store.keys.lock)).not.toBe('crashed-process');
    });

    it('releases only a lock it still owns', async () => {
      if (!redis.available) return;
      const client = await redis.connect();
      const { logger, lines } = captureLogger();
      const key = redis.uniqueKey('session');
      const late = await makeStore({ client, key, lockTtlMs: 100, lockWaitMs: 1_000, logger });
      const next = await makeStore({ client, key, lockTtlMs: 10_000, lockWaitMs: 20_000 });
      const expired = await late.acquireRefreshLock({ signal: new AbortController().signal });
      await sleep(150);
      const taken = await next.acquireRefreshLock({ signal: new AbortController().signal });
      expect(taken.acquired).toBe(true);
      if (expired.acquired) await expired.lock.release();
      expect(await client.pttl(next.keys.lock)).toBeGreaterThan(5_000);
      expect(lines).toContainEqual(expect.objectContaining({ event: 'lock-expired' }));
    });

    it('gives up with TokenStoreError after lockWaitMs', async () => {
      if (!redis.available) return;
      const client = await redis.connect();
      const store = await makeStore({ client, lockTtlMs: 100, lockWaitMs: 300 });
      await store.get();
      await client.set(store.keys.lock, 'stuck-holder', 'PX', 10_000);
      const startedAt = Date.now();
      await expect(store.acquireRefreshLock({ signal: new AbortController().signal })).rejects.toThrow(TokenStoreError);
      const waitedMs = Date.now() - startedAt;
      expect(waitedMs).toBeGreaterThanOrEqual(280);
      expect(waitedMs).toBeLessThan(800);
    });

    it('stops waiting when the signal aborts or the store closes', async () => {
      if (!redis.available) return;
      const client = await redis.connect();
      const store = await makeStore({ client, lockTtlMs: 5_000, lockWaitMs: 10_000 });
      await client.set(store.keys.lock, 'someone-else', 'PX', 10_000);
      const abort = new AbortController();
      const aborted = store.acquireRefreshLock({ signal: abort.signal });
      await sleep(100);
      abort.abort(new Error('manager closing'));
      await expect(aborted).rejects.toThrow('manager closing');

      const closing: Promise<RefreshLockResult> = store.acquireRefreshLock({ signal: new AbortController().signal });
      await sleep(100);
      await store.close();
      await expect(closing).rejects.toThrow(/closed/);
      await expect(store.acquireRefreshLock({ signal: new AbortController().signal })).rejects.toThrow(/closed/);
    });

    it('rejects at once when Redis is unreachable, so the manager refreshes on its own', async () => {
      if (!redis.available) return;
      const client = await redis.connect();
      client.disconnect();
      const store = await makeStore({ client });
      const startedAt = Date.now();
      await expect(store.acquireRefreshLock({ signal: new AbortController().signal })).rejects.toBeInstanceOf(TokenStoreError);
      expect(Date.now() - startedAt).toBeLessThan(500);
    });
  });
});
