/**
 * Seventh review, manager area: deadlines, retry budgets, invalidation storms, status/health
 * agreement and what a trace-level log holds.
 */
import { AuthUnavailableError, TimeoutError } from '../../src/errors';
import type { TokenStore } from '../../src/stores/types';
import { flushUntil } from '../helpers/fake-provider';
import { makeManager, useFakeClock } from '../helpers/manager';

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

describe('TokenManager at the edges of its options and its listeners', () => {
  beforeEach(() => useFakeClock());
  afterEach(() => jest.useRealTimers());

  it('signs in past a hanging store even when acquireTimeoutMs is below storeTimeoutMs', async () => {
    const hanging: TokenStore = { get: () => never(), set: () => never(), delete: async () => undefined };
    const { manager, provider } = makeManager({ store: hanging, acquireTimeoutMs: 1_000, storeTimeoutMs: 2_000 });
    // The first caller's budget goes to the start-up read (it counts in acquireTimeoutMs).
    const first = manager.getAccessToken().catch((error: unknown) => error);
    await jest.advanceTimersByTimeAsync(1_001);
    expect(await first).toBeInstanceOf(TimeoutError);
    // Later callers: the run's store calls leave time for the auth call.
    let settled: unknown;
    void manager.getAccessToken().then(
      (token) => (settled = token),
      (error: unknown) => (settled = error),
    );
    await jest.advanceTimersByTimeAsync(1_000);
    expect(provider.authenticateCount).toBe(1);
    expect(settled).toBe('access-1');
    manager.close();
  });

  it('never serves the rejected token to a lifecycle listener of the invalidation', async () => {
    const { manager } = makeManager();
    const first = await manager.getAccessToken();
    const served: string[] = [];
    manager.on('lifecycle', (event) => {
      if (event.type === 'invalidated') void manager.getAccessToken().then((token) => served.push(token));
    });
    manager.invalidate(first);
    await flushUntil(() => served.length === 1);
    expect(served).not.toContain(first);
    manager.close();
  });

  it('storm: 1,000 callers and repeated invalidations, one auth call per invalidation', async () => {
    const { manager, provider } = makeManager({ invalidateCooldownMs: 0 });
    const first = await manager.getAccessToken();
    const rejected = new Set<string>();
    let current = first;
    for (let round = 0; round < 5; round += 1) {
      const before = provider.calls.length;
      rejected.add(current);
      manager.invalidate(current);
      manager.invalidate(current);
      const tokens = await Promise.all(Array.from({ length: 1_000 }, () => manager.getAccessToken()));
      for (const token of tokens) expect(rejected.has(token)).toBe(false);
      expect(provider.calls.length - before).toBe(1);
      current = tokens[0] as string;
    }
    manager.close();
  });

  it('a Retry-After longer than acquireTimeoutMs fails the caller at once with retryAfterMs', async () => {
    const { manager, provider } = makeManager({ acquireTimeoutMs: 5_000 });
    provider.script.push(
      new AuthUnavailableError({ operation: 'authenticate', reason: 'http', status: 429, retryAfterMs: 60_000 }),
    );
    const error = await manager.getAccessToken().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthUnavailableError);
    expect((error as AuthUnavailableError).retryAfterMs).toBe(60_000);
    expect(provider.calls).toHaveLength(1);
    manager.close();
  });

  it('makes one auth call with retry.retries: 0, and with retry.maxRetryTimeMs: 0', async () => {
    const noRetries = makeManager({ retry: { retries: 0 } });
    const noBudget = makeManager({ retry: { maxRetryTimeMs: 0, minDelayMs: 100, randomize: false } });
    for (const { manager, provider } of [noRetries, noBudget]) {
      provider.script.push(new AuthUnavailableError({ operation: 'authenticate', reason: 'http', status: 503 }));
      await expect(manager.getAccessToken()).rejects.toBeInstanceOf(AuthUnavailableError);
      expect(provider.calls).toHaveLength(1);
      manager.close();
    }
  });

  it('serves only valid tokens, without a sign-in loop, for lifetimes of 0.5 s to 5 s and refreshBeforeExpiryMs past them', async () => {
    for (const accessTtlMs of [500, 1_000, 5_000]) {
      const { manager, provider } = makeManager({ refreshBeforeExpiryMs: 3_600_000 }, { accessTtlMs });
      await Promise.all(Array.from({ length: 10 }, () => manager.getAccessToken()));
      expect(provider.calls).toHaveLength(1);
      for (let step = 0; step < 20; step += 1) {
        await manager.getAccessToken();
        expect(manager.status().accessTokenExpiresAt).toBeGreaterThan(Date.now());
        await jest.advanceTimersByTimeAsync(100);
      }
      // One call per half lifetime (the refresh window is capped at half of it), plus the first.
      expect(provider.calls.length).toBeLessThanOrEqual(1 + Math.ceil(2_000 / (accessTtlMs / 2)));
      expect(provider.authenticateCount).toBe(1);
      manager.close();
    }
  });
});
