/**
 * A run abandoned (its deadline, close()) while the auth server answers: nobody is served that
 * answer, but the refresh token it rotated must not be lost.
 */
import type { LifecycleEvent } from '../../src/manager/types';
import { MemoryTokenStore } from '../../src/stores/memory';
import type { TokenStore } from '../../src/stores/types';
import type { TokenSet } from '../../src/token-set';
import { flushPromises, flushUntil, makeTokenSet } from '../helpers/fake-provider';
import { T0, lifecycleOf, makeManager, useFakeClock } from '../helpers/manager';

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

  describe('a store write that outlasts the deadline after the server answered in time', () => {
    const hangingWrite = (): TokenStore => ({
      get: async () => undefined,
      set: () => new Promise<void>(() => undefined),
      delete: async () => undefined,
    });
    // The server answers (rotating the refresh token) at 3.5 s; the write then hangs past the 4 s deadline, and gives
    // up at 4.5 s (a quarter of the deadline).
    const answerLate = async (
      afterMs = 2_000,
    ): Promise<{ manager: TokenManagerOf; provider: FakeProviderOf; first: unknown }> => {
      const initialTokens = { refreshToken: 'seed-refresh' };
      const made = makeManager({ store: hangingWrite(), acquireTimeoutMs: 4_000, initialTokens }, { manual: true });
      const first = made.manager.getAccessToken().catch((error: unknown) => error);
      await flushUntil(() => made.provider.pendingCount === 1);
      await jest.advanceTimersByTimeAsync(3_500);
      made.provider.release();
      await jest.advanceTimersByTimeAsync(afterMs);
      return { ...made, first: await first };
    };

    it('names the store, not the auth server, as what the run waited for', async () => {
      const { manager, first } = await answerLate();
      expect(first).toMatchObject({ code: 'ERR_ALIX_TIMEOUT', stage: 'store' });
      await manager.close();
    });

    it('holds nothing once a listener of the abandoned run closed the manager: no watch left, no token', async () => {
      const unwatch = jest.fn();
      const watch = jest.fn(() => unwatch);
      const initialTokens = { refreshToken: 'seed-refresh' };
      const store = { ...hangingWrite(), watch };
      const { manager, provider } = makeManager({ store, acquireTimeoutMs: 4_000, initialTokens }, { manual: true });
      manager.on('error', () => void manager.close());
      const first = manager.getAccessToken().catch((error: unknown) => error);
      await flushUntil(() => provider.pendingCount === 1);
      await jest.advanceTimersByTimeAsync(3_500);
      provider.release();
      await jest.advanceTimersByTimeAsync(600);
      expect(await first).toMatchObject({ code: 'ERR_ALIX_MANAGER_CLOSED' });
      expect(manager.status()).toMatchObject({ state: 'closed', accessTokenExpiresAt: null });
      expect(unwatch).toHaveBeenCalledTimes(watch.mock.calls.length);
    });

    it.each([
      ['once the write gave up', 2_000],
      ['from the deadline on, before the write gives up', 600],
    ])('holds the set %s: the next caller gets it, never refreshing with the spent token', async (_when, afterMs) => {
      const { manager, provider, first } = await answerLate(afterMs);
      expect(first).toMatchObject({ code: 'ERR_ALIX_TIMEOUT', stage: 'store' });
      provider.options.manual = false;
      const next = manager.getAccessToken();
      // A run would wait for its own write (which hangs too).
      await jest.advanceTimersByTimeAsync(2_000);
      await expect(next).resolves.toBe('access-1');
      expect(provider.usedRefreshTokens).toEqual(['seed-refresh']);
      await manager.close();
    });

    it('keeps and serves the held set when its late write then fails, says so, and writes the next set', async () => {
      const { manager, provider, written, events, failWrite } = await abandonedByItsWrite();
      failWrite(new Error('READONLY You cannot write against a read only replica'));
      await flushPromises();

      expect(events.filter((event) => event.type === 'store-failed')).toEqual([
        expect.objectContaining({ operation: 'write', message: expect.stringContaining('READONLY') }),
      ]);
      expect(manager.health().reasons).toContainEqual(expect.stringContaining('the token set is not stored: READONLY'));
      // Nothing held is lost: served as it is, with no auth call (its refresh token is the only live one).
      provider.options.manual = false;
      await expect(manager.getAccessToken()).resolves.toBe('access-1');
      expect(provider.calls).toHaveLength(1);
      // The next refresh writes again, and the health verdict forgets the failed write.
      await expect(manager.getAccessToken({ forceRefresh: true })).resolves.toBe('access-2');
      expect((await written.get(manager.storeKey))?.tokens.accessToken).toBe('access-2');
      expect(manager.health().reasons.join()).not.toContain('not stored');
      await manager.close();
    });

    it("blames a late write's failure that lands during the next run on that write, not the run's own", async () => {
      const { manager, provider, written, failWrite } = await abandonedByItsWrite();
      // The next run is at the auth server when the late write fails; its own write then goes through.
      const next = manager.getAccessToken({ forceRefresh: true });
      await flushUntil(() => provider.pendingCount === 1);
      failWrite(new Error('READONLY You cannot write against a read only replica'));
      await flushPromises();
      provider.release();
      await expect(next).resolves.toBe('access-2');
      expect((await written.get(manager.storeKey))?.tokens.accessToken).toBe('access-2');
      expect(manager.health().reasons.join()).not.toContain('not stored');
      await manager.close();
    });
  });
});

/**
 * A manager whose first run the server answered in time but whose store write hung past the 4 s deadline (its
 * caller got a TimeoutError); `failWrite` then fails that write. Later writes go through to `written`.
 */
async function abandonedByItsWrite() {
  const written = new MemoryTokenStore({ now: () => Date.now() });
  let failWrite: ((error: Error) => void) | undefined;
  const store: TokenStore = {
    get: (key) => written.get(key),
    set: (key, session) =>
      failWrite === undefined
        ? new Promise<void>((_resolve, reject) => (failWrite = reject))
        : written.set(key, session),
    delete: (key) => written.delete(key),
  };
  const initialTokens = { refreshToken: 'seed-refresh' };
  const { manager, provider } = makeManager({ store, acquireTimeoutMs: 4_000, initialTokens }, { manual: true });
  const events = lifecycleOf(manager);
  const first = manager.getAccessToken().catch((error: unknown) => error);
  await flushUntil(() => provider.pendingCount === 1);
  await jest.advanceTimersByTimeAsync(3_500);
  provider.release();
  await jest.advanceTimersByTimeAsync(600);
  expect(await first).toMatchObject({ code: 'ERR_ALIX_TIMEOUT', stage: 'store' });
  if (failWrite === undefined) throw new Error('the first write was never made');
  return { manager, provider, written, events, failWrite };
}

type TokenManagerOf = ReturnType<typeof makeManager>['manager'];
type FakeProviderOf = ReturnType<typeof makeManager>['provider'];
