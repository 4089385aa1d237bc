import { AuthRejectedError, AuthUnavailableError, ConfigurationError, PoolFullError } from '../../src/errors';
import { TokenManagerClosedError } from '../../src/errors';
import type { TokenManager } from '../../src/manager/token-manager';
import { TokenManagerPool } from '../../src/pool/pool';
import { MemoryTokenStore } from '../../src/stores/memory';
import type { RefreshLockResult } from '../../src/stores/types';
import type { PoolEvictedEvent, PoolLifecycleEvent } from '../../src/pool/types';
import { FakeProvider, flushUntil } from '../helpers/fake-provider';
import { T0, minutes, useFakeClock } from '../helpers/manager';
import type { TokenSet } from '../../src/token-set';
import { identityOf, makePool, tokenPrefix, user } from './support';

describe('TokenManagerPool', () => {
  beforeEach(() => useFakeClock(T0));
  afterEach(() => jest.useRealTimers());

  describe('construction', () => {
    it.each([
      ['no createProvider', {}],
      ['maxSessions 0', { maxSessions: 0 }],
      ['a fractional maxConcurrentAuth', { maxConcurrentAuth: 1.5 }],
      ['idleTtlMs under a second', { idleTtlMs: 999 }],
      ['a per-session option (storeKey)', { storeKey: 'shared' }],
      ['a per-session option (provider)', { provider: new FakeProvider({ now: () => Date.now() }) }],
      ['a bad manager option', { acquireTimeoutMs: -1 }],
      ['logger: console (not a pino logger)', { logger: console }],
    ])('throws ConfigurationError at once for %s', (_name, options) => {
      const createProvider = (): FakeProvider => new FakeProvider({ now: () => Date.now() });
      const build = (): TokenManagerPool =>
        new TokenManagerPool({
          ...(_name === 'no createProvider' ? {} : { createProvider }),
          ...options,
        } as ConstructorParameters<typeof TokenManagerPool>[0]);
      expect(build).toThrow(ConfigurationError);
    });
  });

  describe('get()', () => {
    it('returns the same manager for a key while it lives, and one per key', () => {
      const { pool } = makePool();
      const first = pool.get(user(1));
      expect(pool.get(user(1))).toBe(first);
      expect(pool.get(user(2))).not.toBe(first);
      expect(pool.size).toBe(2);
      pool.close();
    });

    it.each([[''], ['x'.repeat(321)], [undefined], [42]])(
      'refuses the key %p with a ConfigurationError that does not repeat it',
      async (key) => {
        const { pool } = makePool();
        expect(() => pool.get(key as string)).toThrow(ConfigurationError);
        await expect(pool.getAccessToken(key as string)).rejects.toBeInstanceOf(ConfigurationError);
        expect(pool.size).toBe(0);
        pool.close();
      },
    );

    it('refuses a key that only reads as a held one (an array, an object with toString), even while it is hot', async () => {
      const { pool } = makePool();
      await pool.getAccessToken(user(1));
      for (const key of [[user(1)], { toString: () => user(1) }])
        await expect(pool.getAccessToken(key as never)).rejects.toBeInstanceOf(ConfigurationError);
      pool.close();
    });

    it.each([['__proto__'], ['constructor'], ['toString'], ['hasOwnProperty']])(
      'treats the key %p as just a key: its own session, served on the hot path',
      async (key) => {
        const { pool, providers } = makePool();
        const token = await pool.getAccessToken(key);
        expect(token).toBe(`${tokenPrefix(key)}access-1`);
        await expect(pool.getAccessToken(key)).resolves.toBe(token);
        expect(pool.delete(key)).toBe(true);
        await expect(pool.getAccessToken(key)).resolves.toBe(token); // re-adopted from the store
        expect(providers.get(key)?.calls).toHaveLength(1);
        expect(pool.has('another key')).toBe(false);
        pool.close();
      },
    );

    it.each([
      ['undefined', undefined],
      ['null', null],
    ])(
      'refuses a createProvider that returns %s with a ConfigurationError (it was a TypeError)',
      async (_name, provider) => {
        const pool = new TokenManagerPool({ createProvider: () => provider as never });
        expect(() => pool.get(user(1))).toThrow(ConfigurationError);
        await expect(pool.getAccessToken(user(1))).rejects.toBeInstanceOf(ConfigurationError);
        expect(pool.size).toBe(0);
        await pool.close();
      },
    );

    it('refuses a key that is not well-formed Unicode: lone surrogates would share one store key', async () => {
      // Hashed as UTF-8, every lone surrogate reads as U+FFFD: without an identity, one user adopted another's session.
      const pool = new TokenManagerPool({ createProvider: () => new FakeProvider({ now: Date.now }) });
      const refused = new ConfigurationError(
        'TokenManagerPool: a session key must be well-formed Unicode (no lone surrogates)',
      );
      expect(() => pool.get('a\uD800')).toThrow(refused);
      await expect(pool.getAccessToken('a\uDC00')).rejects.toThrow(refused);
      expect(pool.size).toBe(0);
      await pool.close();
    });

    it('accepts a key of exactly 320 characters', () => {
      const { pool } = makePool();
      expect(() => pool.get('x'.repeat(320))).not.toThrow();
      pool.close();
    });
  });

  describe('getAccessToken()', () => {
    it("signs each user in once and hands out that user's token", async () => {
      const { pool, providers } = makePool();
      await expect(pool.getAccessToken(user(1))).resolves.toBe(`${tokenPrefix(user(1))}access-1`);
      await expect(pool.getAccessToken(user(2))).resolves.toBe(`${tokenPrefix(user(2))}access-1`);
      await expect(pool.getAccessToken(user(1))).resolves.toBe(`${tokenPrefix(user(1))}access-1`);
      expect(providers.get(user(1))?.authenticateCount).toBe(1);
      expect(pool.status()).toMatchObject({
        sessions: { held: 2 },
        counts: { signIns: 2 },
        refreshCount: 2,
        states: { valid: 2 },
      });
      pool.close();
    });
  });

  describe('eviction', () => {
    it('evicts a session idle for idleTtlMs and closes it at once', async () => {
      const { pool } = makePool({ idleTtlMs: minutes(10) });
      await pool.getAccessToken(user(1));
      const manager = pool.get(user(1));
      jest.advanceTimersByTime(minutes(10) - 1);
      expect(pool.has(user(1))).toBe(true);
      jest.advanceTimersByTime(2);
      // Its background refresh started at the same moment: it is evicted once that ends, never under it.
      await flushUntil(() => !pool.has(user(1)));
      expect(manager.status().state).toBe('closed');
      expect(pool.status()).toMatchObject({ sessions: { held: 0, scheduled: 0 }, counts: { evictions: 1 } });
      pool.close();
    });

    it('reports closed as the last event of a session evicted as its background refresh ends', async () => {
      const { pool } = makePool({ idleTtlMs: minutes(10) });
      const types: string[] = [];
      pool.on('lifecycle', (event) => types.push(event.type));
      await pool.getAccessToken(user(1));
      jest.advanceTimersByTime(minutes(10) + 1);
      await flushUntil(() => !pool.has(user(1)));
      expect(types.slice(-2)).toEqual(['refresh-ended', 'closed']);
      pool.close();
    });

    it('still evicts an idle session when a lifecycle listener of the pool throws', async () => {
      const { pool } = makePool({ idleTtlMs: minutes(10) });
      pool.on('lifecycle', () => {
        throw new Error('listener bug');
      });
      await pool.getAccessToken(user(1));
      jest.advanceTimersByTime(minutes(10) + 1);
      await flushUntil(() => !pool.has(user(1)));
      expect(pool.status().sessions.held).toBe(0);
      pool.close();
    });

    it('never evicts a session under a caller waiting on a sign-in that outlasts idleTtlMs', async () => {
      const { pool, providers } = makePool({ idleTtlMs: 5_000 }, { manual: true });
      const waiting = pool.getAccessToken(user(1));
      const manager = pool.get(user(1));
      await flushUntil(() => providers.get(user(1))?.pendingCount === 1);
      jest.advanceTimersByTime(7_500);
      // Another caller arrives meanwhile: it joins the same sign-in, nothing is evicted.
      const joining = pool.getAccessToken(user(1));
      expect(pool.has(user(1))).toBe(true);
      expect(manager.status().state).not.toBe('closed');
      providers.get(user(1))?.release();
      await expect(waiting).resolves.toBe(`${tokenPrefix(user(1))}access-1`);
      await expect(joining).resolves.toBe(`${tokenPrefix(user(1))}access-1`);
      expect(providers.get(user(1))?.authenticateCount).toBe(1);
      // Idle again from the end of the wait: evicted idleTtlMs later.
      jest.advanceTimersByTime(5_000 + 1_001);
      expect(pool.has(user(1))).toBe(false);
      await pool.close();
    });

    it('counts the end of a lone wait that outlasted idleTtlMs as a use: the served session stays', async () => {
      const { pool, providers } = makePool({ idleTtlMs: 5_000 }, { manual: true });
      const evicted: PoolEvictedEvent[] = [];
      pool.on('evicted', (event) => evicted.push(event));
      const waiting = pool.getAccessToken(user(1));
      await flushUntil(() => providers.get(user(1))?.pendingCount === 1);
      jest.advanceTimersByTime(7_500);
      providers.get(user(1))?.release();
      await expect(waiting).resolves.toBe(`${tokenPrefix(user(1))}access-1`);
      expect(pool.has(user(1))).toBe(true);
      expect(evicted).toEqual([]);
      jest.advanceTimersByTime(5_000 - 1);
      expect(pool.has(user(1))).toBe(true);
      await pool.close();
    });

    it('keeps a session without an idle TTL while a caller waits, however often others use it meanwhile', async () => {
      const { pool, providers } = makePool({ idleTtlMs: 5_000 }, { manual: true });
      const waiting = pool.getAccessToken(user(1));
      const manager = pool.get(user(1));
      await flushUntil(() => providers.get(user(1))?.pendingCount === 1);
      // Two more uses during the sign-in, each more than idleTtlMs after the one before: none starts an idle TTL.
      jest.advanceTimersByTime(6_000);
      const second = pool.getAccessToken(user(1));
      jest.advanceTimersByTime(6_000);
      const served = Promise.allSettled([waiting, second, pool.getAccessToken(user(1))]);
      const held = pool.get(user(1));
      providers.get(user(1))?.release();
      const token = `${tokenPrefix(user(1))}access-1`;
      expect(await served).toEqual(Array(3).fill({ status: 'fulfilled', value: token }));
      expect(held).toBe(manager);
      expect(providers.get(user(1))?.authenticateCount).toBe(1);
      await pool.close();
    });

    it('never evicts a session under its background refresh: it goes once that refresh is stored', async () => {
      const store = new MemoryTokenStore();
      const { pool, providers } = makePool({ store, idleTtlMs: minutes(10) + 5_000 });
      await pool.getAccessToken(user(1));
      const manager = pool.get(user(1));
      const provider = providers.get(user(1)) as FakeProvider;
      provider.options.manual = true;
      // Used within its token's lifetime: refreshed in the background at 10 minutes; the refresh hangs.
      jest.advanceTimersByTime(minutes(10));
      await flushUntil(() => provider.pendingCount === 1);
      // Idle for idleTtlMs at 10:05, within the refresh's acquireTimeoutMs.
      jest.advanceTimersByTime(6_000);
      expect(pool.has(user(1))).toBe(true);
      expect(manager.status().state).toBe('refreshing');
      provider.release();
      // Idle since its last use at 0: evicted as soon as the refresh has ended, its tokens stored.
      await flushUntil(() => !pool.has(user(1)));
      expect((await store.get(manager.storeKey))?.tokens.accessToken).toBe(`${tokenPrefix(user(1))}access-2`);
      await pool.close();
    });

    it('evicts a session whose background refresh ends exactly when its idle TTL runs out', async () => {
      const { pool, providers } = makePool({ idleTtlMs: minutes(10) + 6_000 });
      await pool.getAccessToken(user(1));
      const provider = providers.get(user(1)) as FakeProvider;
      provider.options.manual = true;
      jest.advanceTimersByTime(minutes(10));
      await flushUntil(() => provider.pendingCount === 1);
      // Idle since its last use at 0: its idle TTL runs out at 10:06, as the refresh ends.
      jest.advanceTimersByTime(6_000);
      provider.release();
      await flushUntil(() => pool.status().refreshCount === 2);
      jest.advanceTimersByTime(minutes(60));
      expect(pool.has(user(1))).toBe(false);
      await pool.close();
    });

    it('renews the idle TTL on use', async () => {
      const { pool } = makePool({ idleTtlMs: minutes(10) });
      await pool.getAccessToken(user(1));
      jest.advanceTimersByTime(minutes(6));
      await pool.getAccessToken(user(1));
      // Used within its token's lifetime, it is refreshed in the background at 10 minutes.
      jest.advanceTimersByTime(minutes(4));
      await flushUntil(() => pool.status().refreshCount === 2);
      jest.advanceTimersByTime(minutes(2));
      expect(pool.has(user(1))).toBe(true);
      jest.advanceTimersByTime(minutes(4) + 1);
      expect(pool.has(user(1))).toBe(false);
      pool.close();
    });

    it('evicts the least recently used session beyond maxSessions', async () => {
      const { pool } = makePool({ maxSessions: 2 });
      await pool.getAccessToken(user(1));
      await pool.getAccessToken(user(2));
      const first = pool.get(user(1));
      jest.advanceTimersByTime(1_000);
      pool.get(user(1));
      await pool.getAccessToken(user(3));
      expect([pool.has(user(1)), pool.has(user(2)), pool.has(user(3))]).toEqual([true, false, true]);
      expect(pool.get(user(1))).toBe(first);
      expect(pool.status().counts.evictions).toBe(1);
      pool.close();
    });

    it('frees an evicted session’s place on the shared timer', async () => {
      const { pool } = makePool({ maxSessions: 1 });
      await pool.getAccessToken(user(1));
      expect(pool.status().sessions.scheduled).toBe(1);
      await pool.getAccessToken(user(2));
      expect(pool.status().sessions.scheduled).toBe(1);
      pool.delete(user(2));
      expect(pool.status().sessions.scheduled).toBe(0);
      pool.close();
    });

    it('re-adopts an evicted session from a shared store instead of signing in again', async () => {
      const store = new MemoryTokenStore();
      const { pool, providers } = makePool({ store, maxSessions: 1 });
      const token = await pool.getAccessToken(user(1));
      await pool.getAccessToken(user(2));
      expect(pool.has(user(1))).toBe(false);

      await expect(pool.getAccessToken(user(1))).resolves.toBe(token);
      // The one sign-in of its first session, nothing since.
      expect(providers.get(user(1))?.calls.map((call) => call.kind)).toEqual(['authenticate']);
      expect(pool.get(user(1)).status().counts.adoptions).toBe(1);
      expect(pool.status()).toMatchObject({ counts: { signIns: 2, adoptions: 1 } });
      pool.close();
    });

    it('makes room before it creates a session: a get() beyond maxSessions evicts the least recently used', async () => {
      const { pool } = makePool({ maxSessions: 2 });
      await pool.getAccessToken(user(1));
      await pool.getAccessToken(user(2));
      pool.get(user(3));
      expect(pool.size).toBe(2);
      expect([pool.has(user(1)), pool.has(user(2)), pool.has(user(3))]).toEqual([false, true, true]);
      pool.close();
    });

    it('keeps a session a caller is waiting on over the cap, and evicts it once it is served', async () => {
      const { pool, providers } = makePool({ maxSessions: 1 }, { manual: true });
      const first = pool.getAccessToken(user(1));
      const second = pool.getAccessToken(user(2));
      await flushUntil(() => providers.get(user(2))?.calls.length === 1 && providers.get(user(1))?.calls.length === 1);
      expect(pool.size).toBe(2);
      providers.get(user(1))?.release();
      providers.get(user(2))?.release();
      await expect(first).resolves.toBe(`${tokenPrefix(user(1))}access-1`);
      await expect(second).resolves.toBe(`${tokenPrefix(user(2))}access-1`);
      expect(pool.size).toBe(1);
      pool.close();
    });

    it('never closes a session over the cap under its background refresh: that refresh is stored', async () => {
      const store = new MemoryTokenStore();
      const { pool, providers } = makePool({ store, maxSessions: 1 });
      await pool.getAccessToken(user(1));
      const manager = pool.get(user(1));
      const provider = providers.get(user(1)) as FakeProvider;
      provider.options.manual = true;
      jest.advanceTimersByTime(minutes(10));
      await flushUntil(() => provider.pendingCount === 1);
      await pool.getAccessToken(user(2));
      expect(manager.status().state).toBe('refreshing');
      provider.release();
      await flushUntil(() => manager.status().refreshCount === 2);
      expect((await store.get(manager.storeKey))?.tokens.accessToken).toBe(`${tokenPrefix(user(1))}access-2`);
      pool.close();
    });

    // BUG: the session just served is evicted in place of the least recently used one, kept only by its background refresh.
    it('evicts the least recently used session once its background refresh ends, not the one just served', async () => {
      const { pool, providers } = makePool({ maxSessions: 1 });
      await pool.getAccessToken(user(1));
      const provider = providers.get(user(1)) as FakeProvider;
      provider.options.manual = true;
      jest.advanceTimersByTime(minutes(10));
      await flushUntil(() => provider.pendingCount === 1);
      await pool.getAccessToken(user(2));
      expect(pool.has(user(2))).toBe(true);
      provider.release();
      await flushUntil(() => !pool.has(user(1)));
      expect(pool.has(user(2))).toBe(true);
      pool.close();
    });

    it('sheds sessions kept over the cap by failed sign-ins once no caller can be waiting on them', async () => {
      const { pool, providers } = makePool({ maxSessions: 2, acquireTimeoutMs: 5_000 });
      for (let index = 1; index <= 4; index += 1) {
        pool.get(user(index));
        providers.get(user(index))?.script.push(new AuthRejectedError({ operation: 'authenticate', status: 400 }));
        await expect(pool.getAccessToken(user(index))).rejects.toBeInstanceOf(AuthRejectedError);
      }
      // Each failed without a token just now: a caller may still ask again, so none is evicted yet.
      expect(pool.size).toBe(4);
      // No caller can be waiting on them any more; no new user arrives to trim the pool.
      jest.advanceTimersByTime(5_000 + 2_000);
      expect(pool.size).toBe(2);
      pool.close();
    });

    it('sheds them on time after its timeline gained on its timer (a suspend, a wall-clock step forward)', async () => {
      // On its own clocks: the timeline follows the wall clock's step forward; the timers do not.
      const { pool, providers } = makePool({ maxSessions: 2, acquireTimeoutMs: 5_000, now: undefined });
      await pool.getAccessToken(user(1));
      // The idle sweep was armed 30 minutes ahead; 40 minutes pass for the timeline in one step.
      jest.setSystemTime(Date.now() + minutes(40));
      for (let index = 2; index <= 4; index += 1) {
        pool.get(user(index));
        providers.get(user(index))?.script.push(new AuthRejectedError({ operation: 'authenticate', status: 400 }));
        await expect(pool.getAccessToken(user(index))).rejects.toBeInstanceOf(AuthRejectedError);
      }
      // User 1, idle, went; users 2 to 4 failed just now and are kept over the cap for a while, no longer.
      expect(pool.size).toBe(3);
      jest.advanceTimersByTime(5_000 + 2_000);
      expect(pool.size).toBe(2);
      pool.close();
    });

    it('keeps a failed session over the cap for acquireTimeoutMs and a renewal interval after its use', async () => {
      const { pool, providers } = makePool({ maxSessions: 1, acquireTimeoutMs: 5_000 });
      pool.get(user(1));
      providers.get(user(1))?.script.push(new AuthRejectedError({ operation: 'authenticate', status: 400 }));
      await expect(pool.getAccessToken(user(1))).rejects.toBeInstanceOf(AuthRejectedError);
      // A use within a renewal interval renews nothing, and its caller may wait acquireTimeoutMs from then.
      jest.advanceTimersByTime(999);
      pool.get(user(1));
      jest.advanceTimersByTime(5_000);
      pool.get(user(2));
      expect([pool.has(user(1)), pool.has(user(2))]).toEqual([true, true]);
      // From a renewal interval past acquireTimeoutMs, no caller can be waiting: the next session replaces it.
      pool.delete(user(2));
      jest.advanceTimersByTime(1);
      pool.get(user(3));
      expect([pool.has(user(1)), pool.has(user(3))]).toEqual([false, true]);
      pool.close();
    });

    it('moves a session under a wait to the recent end in a sweep: the next one evicts the idle one', async () => {
      const { pool, providers } = makePool({ maxSessions: 2, idleTtlMs: 5_000 });
      pool.get(user(1));
      (providers.get(user(1)) as FakeProvider).options.manual = true;
      const waiting = pool.getAccessToken(user(1));
      await flushUntil(() => providers.get(user(1))?.pendingCount === 1);
      jest.advanceTimersByTime(3_000);
      await pool.getAccessToken(user(2));
      // The sweep (idleTtlMs after user 1 was created) finds user 1 under its wait and user 2 live.
      jest.advanceTimersByTime(2_001);
      expect([pool.has(user(1)), pool.has(user(2))]).toEqual([true, true]);
      pool.get(user(3));
      expect([pool.has(user(1)), pool.has(user(2)), pool.has(user(3))]).toEqual([true, false, true]);
      providers.get(user(1))?.release();
      await expect(waiting).resolves.toBe(`${tokenPrefix(user(1))}access-1`);
      pool.close();
    });

    it('refuses a new user with PoolFullError once sessions callers wait on hold twice maxSessions', async () => {
      const { pool, providers } = makePool({ maxSessions: 2 }, { manual: true });
      const users = [1, 2, 3, 4].map(user);
      const waiting = users.map((name) => pool.getAccessToken(name));
      await flushUntil(() => users.every((name) => providers.get(name)?.pendingCount === 1));
      // An auth outage: every new user's sign-in hangs, and each one held would take memory without bound.
      expect(() => pool.get(user(5))).toThrow(PoolFullError);
      await expect(pool.getAccessToken(user(5))).rejects.toMatchObject({ code: 'ERR_ALIX_POOL_FULL', transient: true });
      expect([pool.size, pool.has(user(5))]).toEqual([4, false]);
      // Nothing held is lost: every waiting caller is served, and the pool is back under its cap.
      for (const name of users) providers.get(name)?.release();
      expect(await Promise.all(waiting)).toEqual(users.map((name) => `${tokenPrefix(name)}access-1`));
      expect(pool.size).toBe(2);
      await pool.close();
    });

    it('at twice maxSessions evicts the least recently used session no caller waits on, however recent', async () => {
      const { pool, providers } = makePool({ maxSessions: 2 }, { manual: true });
      const evicted: PoolEvictedEvent[] = [];
      pool.on('evicted', (event) => evicted.push(event));
      const users = [1, 2, 3, 4].map(user);
      const waiting = users.map((name) => pool.getAccessToken(name));
      await flushUntil(() => users.every((name) => providers.get(name)?.pendingCount === 1));
      providers.get(user(4))?.release();
      await waiting[3];
      // Users 1 to 3 still wait; user 4, served, is the one that goes.
      const fifth = pool.getAccessToken(user(5));
      expect(evicted).toEqual([{ session: user(4), reason: 'capacity' }]);
      await flushUntil(() => providers.get(user(5))?.pendingCount === 1);
      for (const name of [1, 2, 3, 5].map(user)) providers.get(name)?.release();
      await expect(fifth).resolves.toBe(`${tokenPrefix(user(5))}access-1`);
      await Promise.all(waiting);
      await pool.close();
    });

    it('forgets a session closed by hand, so the next use builds a new one', async () => {
      const { pool } = makePool();
      const manager = pool.get(user(1));
      manager.close();
      expect(pool.has(user(1))).toBe(false);
      expect(pool.get(user(1))).not.toBe(manager);
      pool.close();
    });

    it('keeps the session a listener asked for as the idle one it replaces closed', async () => {
      const { pool } = makePool({ idleTtlMs: minutes(10) }, { accessTtlMs: minutes(120) });
      await pool.getAccessToken(user(1));
      const idle = pool.get(user(1));
      let asked: TokenManager | undefined;
      pool.on('lifecycle', (event) => {
        if (event.type === 'closed' && asked === undefined) asked = pool.get(user(1));
      });
      jest.advanceTimersByTime(minutes(11));
      expect(idle.status().state).toBe('closed');
      expect([asked?.status().state, pool.has(user(1)), pool.get(user(1)) === asked]).toEqual(['idle', true, true]);
      await pool.close();
    });
    it('below twice maxSessions keeps a more recent session in place of a least recently used one a caller waits on', async () => {
      const { pool, providers } = makePool({ maxSessions: 2 }, { manual: true });
      const evicted: PoolEvictedEvent[] = [];
      pool.on('evicted', (event) => evicted.push(event));
      const waiting = pool.getAccessToken(user(1));
      const served = pool.getAccessToken(user(2));
      await flushUntil(() => [1, 2].every((index) => providers.get(user(index))?.pendingCount === 1));
      providers.get(user(2))?.release();
      await served;
      const third = pool.getAccessToken(user(3));
      // Over the cap, but under twice it: user 1 is kept for its caller, and user 2 is not evicted in its place.
      expect([evicted, pool.size, pool.has(user(2))]).toEqual([[], 3, true]);
      await flushUntil(() => providers.get(user(3))?.pendingCount === 1);
      for (const index of [1, 3]) providers.get(user(index))?.release();
      await Promise.all([waiting, third]);
      await pool.close();
    });

    it('evicts a session kept over the cap as soon as its caller is served, before any sweep', async () => {
      const { pool, providers } = makePool({ maxSessions: 1 }, { manual: true });
      const waiting = [1, 2].map((index) => pool.getAccessToken(user(index)));
      await flushUntil(() => [1, 2].every((index) => providers.get(user(index))?.pendingCount === 1));
      providers.get(user(1))?.release();
      await waiting[0];
      expect([pool.has(user(1)), pool.size]).toEqual([false, 1]);
      providers.get(user(2))?.release();
      await waiting[1];
      await pool.close();
    });

    it('renews the idle TTL of a session used only through the hot path: one in use is never evicted as idle', async () => {
      const { pool } = makePool({ idleTtlMs: 5_000 });
      const evicted = jest.fn();
      pool.on('evicted', evicted);
      for (let second = 0; second < 12; second += 1) {
        await pool.getAccessToken(user(1));
        jest.advanceTimersByTime(1_000);
      }
      expect(evicted).not.toHaveBeenCalled();
      await pool.close();
    });

    it('keeps its idle sweep on time when it keeps a session over the cap: an idle session goes at its idle TTL', async () => {
      const { pool, providers } = makePool(
        { maxSessions: 1, idleTtlMs: 1_000, acquireTimeoutMs: 10_000 },
        { manual: true },
      );
      const evicted: PoolEvictedEvent[] = [];
      pool.on('evicted', (event) => evicted.push(event));
      const waiting = [1, 2].map((index) => pool.getAccessToken(user(index)));
      await flushUntil(() => [1, 2].every((index) => providers.get(user(index))?.pendingCount === 1));
      for (const index of [1, 2]) providers.get(user(index))?.release();
      await Promise.all(waiting);
      expect(evicted).toEqual([{ session: user(1), reason: 'capacity' }]);
      // Kept over the cap, user 1 brought a sweep forward to 11 s from now; user 2's idle TTL ends sooner.
      jest.advanceTimersByTime(2_000);
      expect(evicted).toEqual([
        { session: user(1), reason: 'capacity' },
        { session: user(2), reason: 'idle' },
      ]);
      await pool.close();
    });

    it('keeps its sweep on time when an evicted listener makes a session during the sweep, over the cap', async () => {
      const { pool, providers } = makePool(
        { maxSessions: 2, idleTtlMs: 1_000, acquireTimeoutMs: 10_000 },
        { manual: true },
      );
      const evicted: PoolEvictedEvent[] = [];
      pool.on('evicted', (event) => {
        evicted.push(event);
        if (event.session === user(1)) pool.get(user(2)); // in the sweep, under two waits: kept over the cap
      });
      const waiting = [3, 4].map((index) => pool.getAccessToken(user(index)));
      const served = pool.getAccessToken(user(1));
      await flushUntil(() => [1, 3, 4].every((index) => providers.get(user(index))?.pendingCount === 1));
      providers.get(user(1))?.release();
      await served;
      jest.advanceTimersByTime(1_001);
      expect(evicted).toEqual([{ session: user(1), reason: 'idle' }]);
      for (const index of [3, 4]) providers.get(user(index))?.release();
      await Promise.all(waiting);
      // Served, user 3 goes at once: the pool is over its cap.
      expect(evicted).toEqual([
        { session: user(1), reason: 'idle' },
        { session: user(3), reason: 'capacity' },
      ]);
      // The sweep is due when user 4's idle TTL has run out, at the next renewal point: user 2, never used, goes too.
      jest.advanceTimersByTime(1_999);
      expect(evicted).toHaveLength(2);
      jest.advanceTimersByTime(1);
      expect(evicted.slice(2)).toEqual([
        { session: user(4), reason: 'idle' },
        { session: user(2), reason: 'idle' },
      ]);
      await pool.close();
    });
  });

  it("counts the sessions' tokens in the store it made without a store option, and none in a store passed", async () => {
    const { pool } = makePool();
    await pool.getAccessToken(user(1));
    expect(pool.status().sessions.stored).toBe(1);
    await pool.close();
    const { pool: shared } = makePool({ store: new MemoryTokenStore() });
    await shared.getAccessToken(user(1));
    expect(shared.status().sessions.stored).toBeNull();
    await shared.close();
  });

  describe('auth slots and the shared lock', () => {
    it("reports the most auth calls that ever ran at once as its peak, not the latest call's count", async () => {
      const { pool, providers } = makePool({ maxConcurrentAuth: 2 }, { manual: true });
      const first = [1, 2].map((index) => pool.getAccessToken(user(index)));
      await flushUntil(() => [1, 2].every((index) => providers.get(user(index))?.pendingCount === 1));
      for (const index of [1, 2]) providers.get(user(index))?.release();
      await Promise.all(first);
      const third = pool.getAccessToken(user(3));
      await flushUntil(() => providers.get(user(3))?.pendingCount === 1);
      expect(pool.status().auth).toMatchObject({ inFlight: 1, peak: 2 });
      providers.get(user(3))?.release();
      await third;
      await pool.close();
    });

    it("waits for its auth slot before it takes a session's shared lock: no lock is held while it queues", async () => {
      const store = new MemoryTokenStore();
      const locked = new Set<string>();
      Object.assign(store, {
        acquireRefreshLock: (key: string): Promise<RefreshLockResult> => {
          locked.add(key);
          const release = (): Promise<void> => Promise.resolve(void locked.delete(key));
          return Promise.resolve({ acquired: true, lock: { release } });
        },
      });
      const { pool, providers } = makePool({ store, maxConcurrentAuth: 1 }, { manual: true });
      const first = pool.getAccessToken(user(1));
      await flushUntil(() => providers.get(user(1))?.pendingCount === 1);
      const second = pool.getAccessToken(user(2));
      await flushUntil(() => pool.status().auth.queued === 1);
      // User 2 queues behind user 1's sign-in: another replica may refresh user 2 meanwhile.
      const secondKey = pool.get(user(2)).storeKey;
      expect([locked.has(pool.get(user(1)).storeKey), locked.has(secondKey)]).toEqual([true, false]);
      providers.get(user(1))?.release();
      await first;
      await flushUntil(() => providers.get(user(2))?.pendingCount === 1);
      expect(locked.has(secondKey)).toBe(true);
      providers.get(user(2))?.release();
      await expect(second).resolves.toBe(`${tokenPrefix(user(2))}access-1`);
      expect([locked.size, pool.status().auth]).toEqual([0, { inFlight: 0, peak: 1, queued: 0, max: 1 }]);
      await pool.close();
    });

    it('gives its auth slot back when its lock wait is abandoned: the next user still signs in', async () => {
      const store = new MemoryTokenStore();
      // A lock held by another replica that never lets go: the wait ends only at the run's deadline.
      const acquireRefreshLock = (_key: string, { signal }: { signal: AbortSignal }): Promise<RefreshLockResult> =>
        new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      Object.assign(store, { acquireRefreshLock });
      const { pool } = makePool({ store, maxConcurrentAuth: 1, acquireTimeoutMs: 2_000 });
      const first = pool.getAccessToken(user(1)).catch((error: unknown) => error);
      await jest.advanceTimersByTimeAsync(2_000);
      expect(await first).toMatchObject({ code: 'ERR_ALIX_TIMEOUT' });
      expect(pool.status().auth).toMatchObject({ inFlight: 0, queued: 0 });
      Object.assign(store, { acquireRefreshLock: undefined });
      await expect(pool.getAccessToken(user(2))).resolves.toBe(`${tokenPrefix(user(2))}access-1`);
      await pool.close();
    });
  });

  describe('background refresh', () => {
    it('refreshes a session used within its token lifetime at its refresh point exactly', async () => {
      const { pool, providers } = makePool({ refreshBeforeExpiryMs: minutes(5) });
      await pool.getAccessToken(user(1));
      jest.advanceTimersByTime(minutes(10) - 1);
      expect(providers.get(user(1))?.refreshCount).toBe(0);
      jest.advanceTimersByTime(1);
      await flushUntil(() => pool.status().refreshCount === 2);
      expect(providers.get(user(1))?.refreshCount).toBe(1);
    });

    it('leaves an idle session alone in the background and refreshes it on its next use', async () => {
      const { pool, providers } = makePool({ refreshBeforeExpiryMs: minutes(5), idleTtlMs: minutes(60) });
      await pool.getAccessToken(user(1));
      // Refreshed once in the background: it was used within its first token's lifetime.
      jest.advanceTimersByTime(minutes(10));
      await flushUntil(() => pool.status().refreshCount === 2);
      // Not used since: no more background refreshes, however long it waits.
      jest.advanceTimersByTime(minutes(40));
      await Promise.resolve();
      const provider = providers.get(user(1)) as FakeProvider;
      expect(provider.refreshCount).toBe(1);
      expect(pool.status().states.expired).toBe(1);

      await expect(pool.getAccessToken(user(1))).resolves.toBe(`${tokenPrefix(user(1))}access-3`);
      expect(provider.refreshCount).toBe(2);
      expect(provider.authenticateCount).toBe(1);
      pool.close();
    });
  });

  describe('resting', () => {
    const window = { refreshBeforeExpiryMs: minutes(5), idleTtlMs: minutes(60) };

    /** Signs `user(1)` in at T0, lets the used session refresh at 10 min, then rest unused at 20 min. */
    async function restedSession(
      overrides: Parameters<typeof makePool>[0] = {},
    ): Promise<ReturnType<typeof makePool> & { first: TokenManager }> {
      const made = makePool({ ...window, ...overrides });
      const first = made.pool.get(user(1));
      await made.pool.getAccessToken(user(1));
      jest.advanceTimersByTime(minutes(10));
      await flushUntil(() => made.pool.status().refreshCount === 2);
      expect(made.pool.status().sessions.resting).toBe(0);
      jest.advanceTimersByTime(minutes(10));
      return { ...made, first };
    }

    it('closes the manager of a session left unused for a whole token lifetime, and keeps its record', async () => {
      const { pool, first } = await restedSession();
      expect(first.status().state).toBe('closed');
      expect(pool.has(user(1))).toBe(true);
      expect(pool.status()).toMatchObject({
        sessions: { held: 1, resting: 1, scheduled: 0 },
        refreshCount: 2,
        states: { valid: 1 },
      });
      pool.close();
    });

    it('wakes on the next use with a new manager that adopts the stored tokens, without signing in', async () => {
      const { pool, providers, first } = await restedSession();
      // 20 min: the stored token (issued at 10 min, 15 min lifetime) is adopted; as for any
      // adopted token, its window is half of what is left: the refresh is due at 22.5 min.
      await expect(pool.getAccessToken(user(1))).resolves.toBe(`${tokenPrefix(user(1))}access-2`);
      jest.advanceTimersByTime(minutes(2.5));
      await flushUntil(() => pool.status().refreshCount === 3);
      expect(providers.get(user(1))?.calls.map((call) => call.kind)).toEqual(['authenticate', 'refresh', 'refresh']);
      expect(pool.get(user(1))).not.toBe(first);
      expect(pool.status()).toMatchObject({ sessions: { resting: 0 }, counts: { adoptions: 1, signIns: 1 } });
      await expect(pool.getAccessToken(user(1))).resolves.toBe(`${tokenPrefix(user(1))}access-3`);
      pool.close();
    });

    it('wakes from its own last tokens when the store lost them: a refresh, not a sign-in', async () => {
      const store = new MemoryTokenStore();
      const { pool, providers, first } = await restedSession({ store });
      await store.delete(first.storeKey);
      jest.advanceTimersByTime(minutes(10)); // 30 min: the held access token expired at 25
      await expect(pool.getAccessToken(user(1))).resolves.toBe(`${tokenPrefix(user(1))}access-3`);
      const provider = providers.get(user(1)) as FakeProvider;
      expect(provider.authenticateCount).toBe(1);
      expect(provider.usedRefreshTokens).toEqual([
        `${tokenPrefix(user(1))}refresh-1`,
        `${tokenPrefix(user(1))}refresh-2`,
      ]);
      pool.close();
    });

    it('ignores a rejection reported to a resting session (it serves nothing) and stays at rest', async () => {
      const { pool, providers } = await restedSession();
      expect(pool.invalidate(user(1), `${tokenPrefix(user(1))}access-2`)).toBe('ignored');
      expect(pool.status().sessions.resting).toBe(1);
      expect(providers.get(user(1))?.calls).toHaveLength(2);
      pool.close();
    });

    it("wakes a session whose provider says null for a refresh token's expiry (as the manager accepts)", async () => {
      let serial = 0;
      // A custom provider's `null` "none"; woken, the session was seeded with it and refused at every use.
      const issue = (): Promise<TokenSet> => {
        serial += 1;
        const set = { accessToken: `a-${serial}`, accessTokenExpiresAt: Date.now() + minutes(15) };
        return Promise.resolve({ ...set, refreshToken: `r-${serial}`, refreshTokenExpiresAt: null } as never);
      };
      const { pool } = makePool({
        ...window,
        createProvider: (key) => ({ identity: identityOf(key), authenticate: issue, refresh: issue }),
      });
      await pool.getAccessToken(user(1));
      jest.advanceTimersByTime(minutes(10));
      await flushUntil(() => pool.status().refreshCount === 2);
      jest.advanceTimersByTime(minutes(10));
      expect(pool.status().sessions.resting).toBe(1);
      await expect(pool.getAccessToken(user(1))).resolves.toBe('a-2');
      pool.close();
    });

    it('counts a use on the hot path within a renewal interval of the last renewal: it refreshes, not rests', async () => {
      const { pool, providers } = makePool(window);
      await pool.getAccessToken(user(1));
      // 4:59.5 renews the session; 5:00.2 is served on the hot path without a renewal.
      jest.advanceTimersByTime(minutes(5) - 500);
      await pool.getAccessToken(user(1));
      jest.advanceTimersByTime(700);
      await pool.getAccessToken(user(1));
      jest.advanceTimersByTime(minutes(5) - 200); // 10 min: refreshed in the background
      await flushUntil(() => pool.status().refreshCount === 2);
      // 20 min: the last use (5:00.2) is within the token's 15 min lifetime: refreshed again, not rested.
      jest.advanceTimersByTime(minutes(10));
      await flushUntil(() => pool.status().refreshCount === 3);
      expect(providers.get(user(1))?.refreshCount).toBe(2);
      expect(pool.status().sessions.resting).toBe(0);
      pool.close();
    });

    it('keeps a session awake while someone else listens to its manager', async () => {
      const made = makePool(window);
      const manager = made.pool.get(user(1));
      manager.on('refreshed', () => undefined);
      await made.pool.getAccessToken(user(1));
      jest.advanceTimersByTime(minutes(10));
      await flushUntil(() => made.pool.status().refreshCount === 2);
      jest.advanceTimersByTime(minutes(10));
      expect(made.pool.status().sessions.resting).toBe(0);
      expect(manager.status().state).not.toBe('closed');
      made.pool.close();
    });

    it('keeps awake a session whose Retry-After runs past its idle point (its failure state matters)', async () => {
      const { pool, providers } = makePool(window);
      await pool.getAccessToken(user(1));
      const provider = providers.get(user(1)) as FakeProvider;
      const limited = {
        operation: 'refresh' as const,
        reason: 'http' as const,
        status: 429,
        retryAfterMs: minutes(10),
      };
      provider.script.push(new AuthUnavailableError(limited));
      jest.advanceTimersByTime(minutes(10));
      await flushUntil(() => pool.status().counts.failures >= 1);
      // The next attempt, at 20 min, finds the session idle (unused since T0, its token gone at 15 min): the only
      // way a failed session reaches its refresh point idle (retries end at the token's blocking margin).
      jest.advanceTimersByTime(minutes(10));
      await Promise.resolve();
      expect(pool.status().sessions.resting).toBe(0);
      expect(pool.get(user(1)).status().lastError).toMatchObject({ code: 'ERR_ALIX_AUTH_UNAVAILABLE' });
      pool.close();
    });

    it('never rests a session used only on the hot path: it refreshes in the background once a lifetime', async () => {
      const { pool, providers } = makePool(window);
      const tokens = new Set<string>();
      for (let step = 0; step < 90; step += 1) {
        tokens.add(await pool.getAccessToken(user(1)));
        jest.advanceTimersByTime(30_000);
        await flushUntil(() => pool.status().states.refreshing === 0);
      }
      // 45 minutes of use: a sign-in, then a refresh at 10, 20, 30 and 40 min; no caller ever waited.
      expect(providers.get(user(1))?.calls.map((call) => call.kind)).toEqual([
        'authenticate',
        'refresh',
        'refresh',
        'refresh',
        'refresh',
      ]);
      expect(tokens.size).toBe(5);
      expect(pool.status()).toMatchObject({ sessions: { resting: 0, scheduled: 1 } });
      pool.close();
    });
  });

  describe('events, status and health', () => {
    it("re-emits each session's lifecycle events with its key", async () => {
      const { pool } = makePool();
      const events: PoolLifecycleEvent[] = [];
      pool.on('lifecycle', (event) => events.push(event));
      await pool.getAccessToken(user(1));
      await pool.getAccessToken(user(2));
      const ended = events.filter((event) => event.type === 'refresh-ended');
      expect(ended.map((event) => event.session)).toEqual([user(1), user(2)]);
      pool.delete(user(1));
      expect(events.at(-1)).toMatchObject({ type: 'closed', session: user(1) });
      pool.close();
    });

    it('answers delete() of a key it does not hold with false, and reports no eviction', async () => {
      const { pool } = makePool();
      const evicted: PoolEvictedEvent[] = [];
      pool.on('evicted', (event) => evicted.push(event));
      await pool.getAccessToken(user(1));
      expect(pool.delete(user(2))).toBe(false);
      expect(evicted).toEqual([]);
      expect(pool.delete(user(1))).toBe(true);
      expect(pool.delete(user(1))).toBe(false);
      expect(evicted).toEqual([{ session: user(1), reason: 'deleted' }]);
      pool.close();
    });

    it('reports each eviction once, with its reason, once the session is gone', async () => {
      const { pool } = makePool({ maxSessions: 1, idleTtlMs: 5_000 });
      const evicted: Array<PoolEvictedEvent & { held: boolean }> = [];
      pool.on('evicted', (event) => evicted.push({ ...event, held: pool.has(event.session) }));
      await pool.getAccessToken(user(1));
      await pool.getAccessToken(user(2));
      pool.get(user(2)).close();
      await pool.getAccessToken(user(3));
      jest.advanceTimersByTime(5_001);
      await pool.getAccessToken(user(4));
      pool.delete(user(4));
      await pool.getAccessToken(user(5));
      await pool.close();
      expect(evicted).toEqual([
        { session: user(1), reason: 'capacity', held: false },
        { session: user(2), reason: 'deleted', held: false },
        { session: user(3), reason: 'idle', held: false },
        { session: user(4), reason: 'deleted', held: false },
        { session: user(5), reason: 'closed', held: false },
      ]);
      expect(pool.status().counts.evictions).toBe(2);
    });

    it("keeps the one session an 'evicted' listener asked for while that key's session was being created", async () => {
      const { pool } = makePool({ maxSessions: 1 });
      await pool.getAccessToken(user(1));
      let asked: TokenManager | undefined;
      pool.once('evicted', () => (asked = pool.get(user(2))));
      const created = pool.get(user(2));
      expect(created).toBe(asked);
      expect(pool.get(user(2))).toBe(created);
      expect(pool.size).toBe(1);
      await expect(pool.getAccessToken(user(2))).resolves.toBe(`${tokenPrefix(user(2))}access-1`);
      await pool.close();
      expect(created.status().state).toBe('closed');
    });

    it('refuses a session whose creation an evicted listener answered by closing the pool', async () => {
      const { pool } = makePool({ maxSessions: 1 });
      await pool.getAccessToken(user(1));
      pool.once('evicted', () => void pool.close());
      expect(() => pool.get(user(2))).toThrow(TokenManagerClosedError);
      expect(pool.size).toBe(0);
    });

    it('reports the earliest expiry among valid tokens and counts, never a key or token', async () => {
      const { pool } = makePool();
      await pool.getAccessToken(user(1));
      jest.advanceTimersByTime(1_000);
      await pool.getAccessToken(user(2));
      const status = pool.status();
      expect(status.accessTokenExpiresAt).toBe(T0 + minutes(15));
      expect(JSON.stringify(status)).not.toMatch(/example|access-/);
      expect(pool.health()).toEqual({ status: 'ok', reasons: [] });
      pool.close();
    });

    it('is degraded, not down, when a failed session sits beside one refreshing a valid token', async () => {
      const { pool, providers } = makePool();
      await pool.getAccessToken(user(2));
      pool.get(user(1));
      providers.get(user(1))?.script.push(new ConfigurationError('boom'));
      await expect(pool.getAccessToken(user(1))).rejects.toThrow('boom');
      const provider = providers.get(user(2)) as FakeProvider;
      provider.options.manual = true;
      const refreshed = pool.getAccessToken(user(2), { forceRefresh: true });
      await flushUntil(() => provider.pendingCount === 1);
      expect(pool.status().states).toMatchObject({ failed: 1, valid: 0, refreshing: 1 });
      expect(pool.health()).toEqual({ status: 'degraded', reasons: ['1 of 2 sessions failed their last refresh'] });
      provider.release();
      await expect(refreshed).resolves.toBe(`${tokenPrefix(user(2))}access-2`);
      pool.close();
    });

    it('is down when no session holds a valid token and some failed; degraded when only some failed', async () => {
      const { pool, providers } = makePool();
      pool.get(user(1));
      providers.get(user(1))?.script.push(new ConfigurationError('boom'));
      await expect(pool.getAccessToken(user(1))).rejects.toThrow('boom');
      expect(pool.health().status).toBe('down');
      await pool.getAccessToken(user(2));
      expect(pool.health()).toEqual({ status: 'degraded', reasons: ['1 of 2 sessions failed their last refresh'] });
      pool.close();
      expect(pool.health().status).toBe('down');
    });
  });

  describe('close()', () => {
    it('closes every session, frees the timer and rejects later calls', async () => {
      const { pool } = makePool();
      await pool.getAccessToken(user(1));
      const manager = pool.get(user(1));
      pool.close();
      expect(manager.status().state).toBe('closed');
      expect(jest.getTimerCount()).toBe(0);
      await expect(pool.getAccessToken(user(1))).rejects.toBeInstanceOf(TokenManagerClosedError);
      expect(pool.status()).toMatchObject({ state: 'closed', sessions: { held: 0 } });
    });

    it('lets refreshes in flight finish and be stored on close({ drainMs }); idle ones close at once', async () => {
      const store = new MemoryTokenStore();
      const { pool, providers } = makePool({ store });
      await pool.getAccessToken(user(1));
      await pool.getAccessToken(user(2));
      const refreshing = pool.get(user(1));
      const idle = pool.get(user(2));
      const provider = providers.get(user(1)) as FakeProvider;
      provider.options.manual = true;
      void pool.getAccessToken(user(1), { forceRefresh: true }).catch(() => undefined);
      await flushUntil(() => provider.calls.length === 2);
      const closed = pool.close({ drainMs: 5_000 });
      expect(idle.status().state).toBe('closed');
      expect(refreshing.status().state).toBe('refreshing');
      provider.release();
      await closed;
      expect((await store.get(refreshing.storeKey))?.tokens.accessToken).toBe(`${tokenPrefix(user(1))}access-2`);
      expect(refreshing.status().state).toBe('closed');
      expect(pool.status()).toMatchObject({ state: 'closed', sessions: { held: 0 } });
      expect(jest.getTimerCount()).toBe(0);
    });

    it("closes every session even when an 'evicted' listener throws (its metrics client closed first)", async () => {
      const { pool } = makePool();
      await pool.getAccessToken(user(1));
      await pool.getAccessToken(user(2));
      const managers = [pool.get(user(1)), pool.get(user(2))];
      pool.on('evicted', () => {
        throw new Error('metrics client closed');
      });
      await expect(pool.close()).resolves.toBeUndefined();
      expect(managers.map((manager) => manager.status().state)).toEqual(['closed', 'closed']);
      expect(pool.status()).toMatchObject({ state: 'closed', sessions: { held: 0, scheduled: 0, stored: 0 } });
      expect(jest.getTimerCount()).toBe(0);
    });

    it("keeps sweeping idle sessions after an 'evicted' listener threw on one", async () => {
      const { pool } = makePool({ idleTtlMs: minutes(2) });
      pool.on('evicted', () => {
        throw new Error('metrics client closed');
      });
      await pool.getAccessToken(user(1));
      jest.advanceTimersByTime(5_000);
      await pool.getAccessToken(user(2));
      // No new user comes to restart the sweep: the throw ended the one that evicted user 1.
      jest.advanceTimersByTime(minutes(3));
      await flushUntil(() => !pool.has(user(2)));
      expect(pool.status().counts.evictions).toBe(2);
      await pool.close();
    });

    it('reads close(null) as close() (no options): every session closes', async () => {
      const { pool } = makePool();
      await pool.getAccessToken(user(1));
      const manager = pool.get(user(1));
      await expect(pool.close(null as never)).resolves.toBeUndefined();
      expect(manager.status().state).toBe('closed');
      expect(pool.status()).toMatchObject({ state: 'closed', sessions: { held: 0, scheduled: 0 } });
    });

    it.each([['abc'], [-1], [Number.NaN]])('refuses close({ drainMs: %p }) before anything closes', async (drainMs) => {
      const { pool } = makePool();
      await pool.getAccessToken(user(1));
      const manager = pool.get(user(1));
      await expect(pool.close({ drainMs } as never)).rejects.toBeInstanceOf(ConfigurationError);
      expect([pool.status().state, manager.status().state]).toEqual(['open', 'valid']);
      expect(pool.get(user(1))).toBe(manager);
      await pool.close();
      expect(manager.status().state).toBe('closed');
    });
  });
});
