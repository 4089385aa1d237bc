/**
 * The pool under hostile providers, keys and load: a provider that ignores its signal, a key that
 * names an object's prototype, and a readiness probe over many sessions.
 */
import { ConfigurationError } from '../../src/errors';
import { TokenManager } from '../../src/manager/token-manager';
import type { GetAccessTokenOptions } from '../../src/manager/types';
import { TokenManagerPool } from '../../src/pool/pool';
import type { TokenProvider } from '../../src/providers/types';
import { makeTokenSet } from '../helpers/fake-provider';
import { INSTANT_RETRY, T0, useFakeClock } from '../helpers/manager';
import { captureLogger } from '../helpers/redis-server';
import { identityOf, makePool, tokenPrefix, user } from './support';

beforeEach(() => useFakeClock(T0));
afterEach(() => jest.useRealTimers());

describe('TokenManagerPool under hostile input', () => {
  it("gives back an abandoned run's auth slot even when its provider ignores the signal: others are still served", async () => {
    const bad = 'hanging@example.com';
    const pool = new TokenManagerPool({
      now: () => Date.now(),
      retry: INSTANT_RETRY,
      maxConcurrentAuth: 2,
      acquireTimeoutMs: 5_000,
      createProvider: (key): TokenProvider => ({
        identity: identityOf(key),
        // Never settles, and never looks at its signal.
        authenticate: () =>
          key === bad ? new Promise<never>(() => undefined) : Promise.resolve(makeTokenSet(Date.now())),
        refresh: () => Promise.resolve(makeTokenSet(Date.now())),
      }),
    });
    for (let ask = 0; ask < 3; ask += 1) {
      const asked = pool.getAccessToken(bad).catch((error: unknown) => error);
      await jest.advanceTimersByTimeAsync(5_000);
      await expect(asked).resolves.toMatchObject({ code: 'ERR_ALIX_TIMEOUT' });
    }
    expect(pool.status().auth.inFlight).toBe(0);
    const served = pool.getAccessToken(user(1));
    await jest.advanceTimersByTimeAsync(0);
    await expect(served).resolves.toEqual(expect.any(String));
    await pool.close();
  });

  it("keeps a session keyed '__proto__' from breaking others' idle eviction (node-cache keeps entries in a plain object)", async () => {
    const { pool } = makePool({ idleTtlMs: 10_000 });
    const evicted: string[] = [];
    pool.on('evicted', ({ session, reason }) => evicted.push(`${session}:${reason}`));
    for (const key of ['__proto__', 'v', 't']) await pool.getAccessToken(key);
    jest.advanceTimersByTime(5_000);
    await pool.getAccessToken('v');
    jest.advanceTimersByTime(6_000);
    expect(evicted.sort()).toEqual(['__proto__:idle', 't:idle']);
    expect([pool.has('__proto__'), pool.has('t'), pool.has('v')]).toEqual([false, false, true]);
    jest.advanceTimersByTime(10_000);
    expect(pool.size).toBe(0);
    await expect(pool.getAccessToken('__proto__')).resolves.toBe(`${tokenPrefix('__proto__')}access-1`);
    await expect(pool.getAccessToken('v')).resolves.toBe(`${tokenPrefix('v')}access-1`);
    await pool.close();
  });

  it("counts its sessions' states without building each manager's status() snapshot (a readiness probe at 100k sessions)", async () => {
    const { pool } = makePool();
    for (let index = 0; index < 5; index += 1) await pool.getAccessToken(user(index));
    const snapshot = jest.spyOn(TokenManager.prototype, 'status');
    expect(pool.health()).toEqual({ status: 'ok', reasons: [] });
    expect(pool.status().states).toMatchObject({ valid: 5 });
    expect(snapshot).not.toHaveBeenCalled();
    await pool.close();
  });
  it('refuses bad per-call options before it creates (or evicts) anything: no session is made for a call it refuses', async () => {
    const { pool, providers } = makePool({ maxSessions: 1 });
    await pool.getAccessToken(user(1));
    const evicted = jest.fn();
    pool.on('evicted', evicted);
    const bad = [{ signal: 'abort' }, { forceRefresh: 'yes' }, 'options'] as unknown as GetAccessTokenOptions[];
    for (const options of bad)
      await expect(pool.getAccessToken(user(2), options)).rejects.toMatchObject({ code: 'ERR_ALIX_CONFIGURATION' });
    expect([pool.has(user(1)), pool.has(user(2)), providers.has(user(2))]).toEqual([true, false, false]);
    expect(evicted).not.toHaveBeenCalled();
    await pool.close();
  });

  it("reads invalidate()'s null token as none, and refuses one that is no string, held session or not", async () => {
    const { pool } = makePool();
    const invalidate = pool.invalidate.bind(pool) as (...args: unknown[]) => unknown;
    expect(() => invalidate(user(1), 42)).toThrow(ConfigurationError);
    expect(() => invalidate(user(1), 'token', { replay: 'yes' })).toThrow(ConfigurationError);
    const held = await pool.getAccessToken(user(1));
    expect(() => invalidate(user(1), 42)).toThrow(ConfigurationError);
    await expect(pool.getAccessToken(user(1))).resolves.toBe(held);
    expect(invalidate(user(1), null)).toBe('refreshing');
    await expect(pool.getAccessToken(user(1))).resolves.not.toBe(held);
    await pool.close();
  });
});

describe('TokenManagerPool: a throwing evicted listener', () => {
  it('logs its error without the request an AxiosError it rethrows carries', async () => {
    const { logger, text } = captureLogger();
    const { pool } = makePool({ logger });
    await pool.getAccessToken(user(1));
    pool.on('evicted', () => {
      // As a listener that passes on a custom provider's AxiosError would: its config holds the refresh call's body.
      throw Object.assign(new Error('Request failed with status code 500'), {
        config: { data: 'refresh_token=rt-short-1' },
      });
    });
    expect(pool.delete(user(1))).toBe(true);
    expect(text()).toContain('Request failed with status code 500');
    expect(text()).not.toContain('rt-short-1');
    await pool.close();
  });
});
