/**
 * No token crosses a tenant, and nothing a pool keeps per user grows without bound: a provider
 * without identity is refused on a store that could be shared, and the pool's private store
 * keeps at most `maxStoredSessions` sessions and is emptied by close().
 */
import { ConfigurationError, ErrorCodes } from '../../src/errors';
import { TokenManager } from '../../src/manager/token-manager';
import { TokenManagerPool } from '../../src/pool/pool';
import type { TokenProvider } from '../../src/providers/types';
import { MemoryTokenStore } from '../../src/stores/memory';
import { FakeProvider } from '../helpers/fake-provider';
import { INSTANT_RETRY } from '../helpers/manager';

/** What a service writes to add metrics around a provider: it forgets `identity`. */
function wrapped(inner: TokenProvider): TokenProvider {
  return {
    authenticate: (signal) => inner.authenticate(signal),
    refresh: (token, signal) => inner.refresh(token, signal),
  };
}

describe('a provider without identity on a store passed in', () => {
  it('is refused at construction for two single managers on one store, naming the fix', () => {
    const store = new MemoryTokenStore();
    const build = (): TokenManager =>
      new TokenManager({ provider: wrapped(new FakeProvider({ now: Date.now })), store });
    expect(build).toThrow(ConfigurationError);
    expect(build).toThrow(/identity: inner\.identity/);
  });

  it('serves each partner its own session once the wrapper forwards identity', async () => {
    const store = new MemoryTokenStore();
    const partnerA = new FakeProvider({
      now: Date.now,
      prefix: 'A-',
      identity: { id: 'partner-a:jane', scope: 'partner-a' },
    });
    const partnerB = new FakeProvider({
      now: Date.now,
      prefix: 'B-',
      identity: { id: 'partner-b:jane', scope: 'partner-b' },
    });
    const forward = (inner: FakeProvider): TokenProvider => ({ ...wrapped(inner), identity: inner.identity });
    const a = new TokenManager({ provider: forward(partnerA), store, retry: INSTANT_RETRY });
    const b = new TokenManager({ provider: forward(partnerB), store, retry: INSTANT_RETRY });
    expect(await a.getAccessToken()).toBe('A-access-1');
    expect(await b.getAccessToken()).toBe('B-access-1');
    expect([partnerA.authenticateCount, partnerB.authenticateCount]).toEqual([1, 1]);
    a.close();
    b.close();
  });

  it('is refused by a pool with a store passed in, when the session is created', async () => {
    const pool = new TokenManagerPool({
      createProvider: () => wrapped(new FakeProvider({ now: Date.now })),
      store: new MemoryTokenStore(),
      retry: INSTANT_RETRY,
    });
    expect(() => pool.get('jane@example.com')).toThrow(ConfigurationError);
    await expect(pool.getAccessToken('jane@example.com')).rejects.toMatchObject({ code: ErrorCodes.CONFIGURATION });
    await pool.close();
  });

  it("keeps a pool's private store allowed: each user gets their own session", async () => {
    const pool = new TokenManagerPool({
      createProvider: (key) => wrapped(new FakeProvider({ now: Date.now, prefix: `${key}-` })),
      retry: INSTANT_RETRY,
    });
    expect(await pool.getAccessToken('a')).toBe('a-access-1');
    expect(await pool.getAccessToken('b')).toBe('b-access-1');
    await pool.close();
  });
});

describe("the pool's private store is bounded", () => {
  const makePool = (maxStoredSessions: number): { pool: TokenManagerPool; providers: Map<string, FakeProvider> } => {
    const providers = new Map<string, FakeProvider>();
    const pool = new TokenManagerPool({
      createProvider: (key) => {
        const provider =
          providers.get(key) ??
          new FakeProvider({ now: Date.now, prefix: `${key}-`, identity: { id: key, scope: 'partner' } });
        providers.set(key, provider);
        return provider;
      },
      maxSessions: 5,
      maxStoredSessions,
      retry: INSTANT_RETRY,
    });
    return { pool, providers };
  };

  it('keeps at most maxStoredSessions of 50 churned users, and none after close()', async () => {
    const { pool } = makePool(10);
    for (let index = 0; index < 50; index += 1) await pool.getAccessToken(`user-${index}`);
    expect(pool.status()).toMatchObject({ sessions: { held: 5, stored: 10 } });
    await pool.close();
    expect(pool.status().sessions.stored).toBe(0);
  });

  it('lets a returning user whose entry is held adopt it without a sign-in; one dropped signs in again', async () => {
    const { pool, providers } = makePool(10);
    const first = await pool.getAccessToken('user-0');
    for (let index = 1; index <= 6; index += 1) await pool.getAccessToken(`user-${index}`);
    expect(pool.has('user-0')).toBe(false);
    expect(await pool.getAccessToken('user-0')).toBe(first);
    expect(providers.get('user-0')?.authenticateCount).toBe(1);
    for (let index = 7; index <= 30; index += 1) await pool.getAccessToken(`user-${index}`);
    expect(await pool.getAccessToken('user-0')).toBe('user-0-access-2');
    expect(providers.get('user-0')?.authenticateCount).toBe(2);
    await pool.close();
  });

  it('refuses a maxStoredSessions that is not a positive integer', () => {
    expect(
      () => new TokenManagerPool({ createProvider: () => new FakeProvider({ now: Date.now }), maxStoredSessions: 0 }),
    ).toThrow(/maxStoredSessions/);
  });
});
