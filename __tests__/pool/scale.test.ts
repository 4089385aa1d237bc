import { TimeoutError } from '../../src/errors';
import { MemoryTokenStore } from '../../src/stores/memory';
import type { TokenSet } from '../../src/token-set';
import { flushUntil } from '../helpers/fake-provider';
import { T0, minutes, useFakeClock } from '../helpers/manager';
import { makePool, tokenPrefix, user } from './support';

/**
 * The pool's scale rules at test size; `npm run bench` checks them at bench size (scenario 10:
 * one timer for 100,000 idle sessions, and 10,000 mixed users with no foreign token).
 */
describe('TokenManagerPool at scale', () => {
  beforeEach(() => useFakeClock(T0));
  afterEach(() => jest.useRealTimers());

  it('schedules 1,000 sessions on one timer', async () => {
    const { pool } = makePool({ maxConcurrentAuth: 1_000 });
    const users = Array.from({ length: 1_000 }, (_, index) => user(index));
    await Promise.all(users.map((name) => pool.getAccessToken(name)));
    expect(pool.status()).toMatchObject({
      sessions: { held: 1_000, scheduled: 1_000 },
      states: { valid: 1_000 },
    });
    expect(jest.getTimerCount()).toBe(1);
    pool.close();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('never runs more than maxConcurrentAuth auth calls at once in a burst; every caller gets its token', async () => {
    let inFlight = 0;
    let peak = 0;
    const { pool, providers } = makePool({ maxConcurrentAuth: 4 }, { manual: true });
    const users = Array.from({ length: 200 }, (_, index) => user(index));
    const tokens = Promise.all(users.map((name) => pool.getAccessToken(name)));
    const atServer = (): number => [...providers.values()].reduce((sum, provider) => sum + provider.pendingCount, 0);
    // Release the calls a batch at a time, as a slow auth server would answer them: each batch
    // is every call the pool let through, which must be the cap (or what is left).
    while (pool.status().counts.signIns < users.length) {
      const expected = Math.min(4, users.length - pool.status().counts.signIns);
      await flushUntil(() => atServer() === expected && pool.status().auth.inFlight === expected);
      inFlight = atServer();
      peak = Math.max(peak, inFlight);
      const signedIn = pool.status().counts.signIns;
      for (const provider of providers.values()) provider.release();
      await flushUntil(() => pool.status().counts.signIns === signedIn + inFlight);
    }
    for (const provider of providers.values()) provider.release();
    const got = await tokens;
    expect(got).toEqual(users.map((name) => `${tokenPrefix(name)}access-1`));
    expect(peak).toBe(4);
    expect(pool.status()).toMatchObject({ auth: { peak: 4, inFlight: 0, queued: 0 }, counts: { signIns: 200 } });
    pool.close();
  });

  it('fails a caller whose turn does not come within acquireTimeoutMs, and takes it out of the queue', async () => {
    const { pool, providers } = makePool({ maxConcurrentAuth: 1, acquireTimeoutMs: 5_000 }, { manual: true });
    const first = pool.getAccessToken(user(1));
    const second = pool.getAccessToken(user(2));
    await flushUntil(() => pool.status().auth.queued === 1);
    jest.advanceTimersByTime(5_000);
    await expect(second).rejects.toBeInstanceOf(TimeoutError);
    await expect(first).rejects.toBeInstanceOf(TimeoutError);
    expect(pool.status()).toMatchObject({ auth: { queued: 0, inFlight: 0 } });
    expect(providers.get(user(2))?.calls).toEqual([]);
    pool.close();
  });

  it("never hands one user's token to another: 200 users, one store, mixed requests across refreshes", async () => {
    const store = new MemoryTokenStore();
    const { pool } = makePool({ store, maxConcurrentAuth: 16, maxSessions: 120 });
    const users = Array.from({ length: 200 }, (_, index) => user(index));
    // Each user's requests, interleaved with everyone else's, over three token lifetimes.
    for (let round = 0; round < 6; round += 1) {
      const order = users.flatMap((name, index) => [name, users[(index * 7919 + round) % users.length] as string]);
      const results = await Promise.all(order.map(async (name) => ({ name, token: await pool.getAccessToken(name) })));
      for (const { name, token } of results) expect(token.startsWith(tokenPrefix(name))).toBe(true);
      jest.advanceTimersByTime(minutes(8));
    }
    // Evicted sessions (120 held at most) came back from the store, each under its own key.
    expect(pool.status().counts.adoptions).toBeGreaterThan(0);
    for (const name of users.slice(0, 50)) {
      const stored = await store.get(pool.get(name).storeKey);
      expect((stored?.tokens as TokenSet).accessToken.startsWith(tokenPrefix(name))).toBe(true);
    }
    pool.close();
  });
});
