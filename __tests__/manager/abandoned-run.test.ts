/**
 * A run abandoned (its deadline, close()) while the auth server answers: nobody is served that
 * answer, but the refresh token it rotated must not be lost.
 */
import type { LifecycleEvent } from '../../src/manager/types';
import { MemoryTokenStore } from '../../src/stores/memory';
import type { TokenSet } from '../../src/token-set';
import { flushPromises, flushUntil, makeTokenSet } from '../helpers/fake-provider';
import { T0, makeManager, useFakeClock } from '../helpers/manager';

afterEach(() => jest.useRealTimers());

describe('TokenManager: an answer to an abandoned run', () => {
  beforeEach(() => useFakeClock());

  it('stores a token set the server issued after the run was abandoned, so its rotated refresh token is not lost', async () => {
    const store = new MemoryTokenStore({ now: () => Date.now() });
    const seed = makeTokenSet(T0, { expiresInMs: 1_000 });
    const { manager, provider } = makeManager({ store, acquireTimeoutMs: 5_000, initialTokens: seed });
    const events: LifecycleEvent[] = [];
    manager.on('lifecycle', (event) => events.push(event));
    // A provider that ignores the run's signal and answers after the deadline.
    let answer: ((tokens: TokenSet) => void) | undefined;
    const refresh = provider.refresh.bind(provider);
    provider.refresh = () => new Promise<TokenSet>((resolve) => (answer = resolve));
    const abandoned = manager.getAccessToken();
    abandoned.catch(() => undefined);
    await flushUntil(() => answer !== undefined);
    jest.advanceTimersByTime(5_000);
    await expect(abandoned).rejects.toMatchObject({ code: 'ERR_ALIX_TIMEOUT' });
    // The server rotated the refresh token: 'seed-refresh' is spent.
    answer?.(makeTokenSet(Date.now(), { accessToken: 'late-access', refreshToken: 'late-refresh' }));
    await flushUntil(() => events.some((event) => event.type === 'auth-call-ended'));
    await flushPromises();
    provider.refresh = refresh;

    expect((await store.get(manager.storeKey))?.tokens.refreshToken).toBe('late-refresh');
    // Not installed by the abandoned run; the next run adopts it instead of refreshing with the spent token.
    await expect(manager.getAccessToken()).resolves.toBe('late-access');
    expect(provider.usedRefreshTokens).toEqual([]);
    // The one call ended once, with its tokens (not a second time as a failure).
    const ended = events.filter((event) => event.type === 'auth-call-ended');
    expect(ended).toEqual([expect.objectContaining({ outcome: 'success', attempt: 1 })]);
    await manager.close();
  });
});
