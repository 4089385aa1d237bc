import { AuthUnavailableError } from '../../src/errors';
import { isNewerSession } from '../../src/manager/acquire';
import type { AcquireContext } from '../../src/manager/acquire';
import { MemoryTokenStore } from '../../src/stores/memory';
import type { AuthBreaker, RefreshLockResult, TokenStore } from '../../src/stores/types';
import type { TokenSet } from '../../src/token-set';
import { flushPromises, makeTokenSet } from '../helpers/fake-provider';
import { INSTANT_RETRY, T0, lifecycleOf, makeManager, minutes, useFakeClock } from '../helpers/manager';

/** The key makeManager's provider (identity `unidentified`) stores its session under. */
const KEY = 'alix-token-manager:session:unidentified';

const plainStore = (): MemoryTokenStore => new MemoryTokenStore({ now: () => Date.now(), breaker: false });
const publish = (store: TokenStore, tokens: TokenSet): Promise<void> =>
  store.set(KEY, { identity: 'unidentified', tokens });

describe('TokenManager runs on a shared store', () => {
  beforeEach(() => useFakeClock());
  afterEach(() => jest.useRealTimers());

  it('adopts a session another replica published while the breaker is open, instead of failing', async () => {
    const breaker: AuthBreaker = {
      admit: () => Promise.resolve({ allowed: false, retryAfterMs: minutes(10) }),
      record: () => Promise.resolve(),
      snapshot: () => ({ state: 'open', failures: 5, openUntil: T0 + minutes(10), level: 'scope' }),
    };
    const store = plainStore();
    const { manager, provider } = makeManager({
      store,
      breaker,
      initialTokens: makeTokenSet(T0, { expiresInMs: 60_000 }),
    });
    expect(await manager.getAccessToken()).toBe('seed-access');
    // Published after the start-up read: only the run's own store read can find it.
    await publish(store, makeTokenSet(T0, { accessToken: 'published', expiresInMs: minutes(15) }));
    jest.setSystemTime(T0 + 60_000);
    await expect(manager.getAccessToken()).resolves.toBe('published');
    expect(provider.calls).toEqual([]);
    manager.close();
  });

  it('serves what it obtained, and reports the failure, when releasing the lock fails', async () => {
    const store = plainStore();
    const release = (): Promise<void> => Promise.reject(new Error('lock store gone'));
    Object.assign(store, { acquireRefreshLock: () => Promise.resolve({ acquired: true, lock: { release } }) });
    const { manager } = makeManager({ store });
    const events = lifecycleOf(manager);
    expect(await manager.getAccessToken()).toBe('access-1');
    expect(events).toContainEqual(expect.objectContaining({ type: 'store-failed', operation: 'release' }));
    manager.close();
  });

  it('does not write back a session it adopted after an ambiguous refresh (another replica stored it)', async () => {
    const store = plainStore();
    const { manager, provider } = makeManager({ store, retry: { ...INSTANT_RETRY, retries: 2 } });
    await manager.getAccessToken();
    const replica = makeTokenSet(T0, { accessToken: 'from-replica', expiresInMs: minutes(20) });
    provider.script.push(() => {
      void publish(store, replica);
      throw new AuthUnavailableError({ operation: 'refresh', reason: 'network', detail: 'ECONNRESET' });
    });
    const set = jest.spyOn(store, 'set');
    expect(await manager.getAccessToken({ forceRefresh: true })).toBe('from-replica');
    expect(set.mock.calls).toEqual([[KEY, { identity: 'unidentified', tokens: replica }]]);
    manager.close();
  });

  it.each([
    ['exactly expirySkewMs', 10_000, false],
    ['1 ms more than expirySkewMs', 10_001, true],
  ])('adopts a stored session with %s left: %p', (_label, leftMs, adopted) => {
    const context = { expirySkewMs: 10_000, wallNow: () => T0 } as AcquireContext;
    const stored = { accessToken: 'stored', accessTokenExpiresAt: T0 + leftMs };
    expect(isNewerSession(context, stored, undefined)).toBe(adopted);
  });

  it('queues for the lock again when the session published meanwhile is the rejected one', async () => {
    const store = plainStore();
    const answers: boolean[] = [];
    let lockCalls = 0;
    let locked = false;
    Object.assign(store, {
      acquireRefreshLock: (): Promise<RefreshLockResult> => {
        lockCalls += 1;
        if (answers.shift() === false) return Promise.resolve({ acquired: false });
        locked = true;
        const release = (): Promise<void> => {
          locked = false;
          return Promise.resolve();
        };
        return Promise.resolve({ acquired: true, lock: { release } });
      },
    });
    const { manager, provider } = makeManager({ store });
    expect(await manager.getAccessToken()).toBe('access-1');
    // Another replica held the lock and "published": the store still holds access-1, the token just rejected.
    answers.push(false);
    lockCalls = 0;
    let calledUnderLock: boolean | undefined;
    provider.script.push(() => {
      calledUnderLock = locked;
      return provider.issue();
    });
    expect(manager.invalidate('access-1')).toBe('refreshing');
    expect(await manager.getAccessToken()).toBe('access-2');
    expect([lockCalls, calledUnderLock, provider.usedRefreshTokens]).toEqual([2, true, ['refresh-1']]);
    manager.close();
  });

  it('does not adopt a stored session that lives no longer than the held one', async () => {
    const store = plainStore();
    const { manager, provider } = makeManager({ store });
    expect(await manager.getAccessToken()).toBe('access-1');
    await publish(store, makeTokenSet(T0, { accessToken: 'same-expiry', refreshToken: 'same-refresh' }));
    manager.invalidate('access-1');
    expect(await manager.getAccessToken()).toBe('access-2');
    expect(provider.calls.map((call) => call.kind)).toEqual(['authenticate', 'refresh']);
    manager.close();
  });

  it('refreshes with the refresh token of the newest set, stored or held, even one too short-lived to adopt', async () => {
    const store = plainStore();
    const { manager, provider } = makeManager({ store, initialTokens: makeTokenSet(T0, { expiresInMs: 60_000 }) });
    expect(await manager.getAccessToken()).toBe('seed-access');
    // Another replica refreshed later (its refresh token rotated), and its set nears its own end too.
    await publish(
      store,
      makeTokenSet(T0, { accessToken: 'stored-access', refreshToken: 'stored-refresh', expiresInMs: 70_000 }),
    );
    jest.setSystemTime(T0 + 65_000);
    expect(await manager.getAccessToken()).toBe('access-1');
    expect(provider.usedRefreshTokens).toEqual(['stored-refresh']);
    manager.close();
  });

  it('refreshes without the lock after three rounds of publications it cannot use, and releases every lock it took', async () => {
    const store = plainStore();
    const answers: boolean[] = [];
    let lockCalls = 0;
    let releases = 0;
    Object.assign(store, {
      acquireRefreshLock: (): Promise<RefreshLockResult> => {
        lockCalls += 1;
        if (answers.shift() === false) return Promise.resolve({ acquired: false });
        const release = (): Promise<void> => {
          releases += 1;
          return Promise.resolve();
        };
        return Promise.resolve({ acquired: true, lock: { release } });
      },
    });
    const { manager, provider } = makeManager({ store });
    expect(await manager.getAccessToken()).toBe('access-1');
    expect([lockCalls, releases]).toEqual([1, 1]);
    // Every round, another replica "publishes" the rejected access-1 again.
    answers.push(false, false, false);
    manager.invalidate('access-1');
    expect(await manager.getAccessToken()).toBe('access-2');
    expect([lockCalls, releases, provider.refreshCount]).toEqual([4, 1, 1]);
    manager.close();
  });

  it('never adopts the rejected token again, even stored with a later expiry', async () => {
    const store = plainStore();
    const get = store.get.bind(store);
    // A store that rounds expiries up (to the second, say) hands back the same token "newer".
    Object.assign(store, {
      get: async (key: string) => {
        const session = await get(key);
        if (session === undefined) return undefined;
        const tokens = { ...session.tokens, accessTokenExpiresAt: session.tokens.accessTokenExpiresAt + 1_000 };
        return { ...session, tokens };
      },
    });
    const { manager } = makeManager({ store });
    expect(await manager.getAccessToken()).toBe('access-1');
    manager.invalidate('access-1');
    expect(await manager.getAccessToken()).toBe('access-2');
    manager.close();
  });

  it('ends a lock wait its deadline aborted as a timeout, not as a store failure', async () => {
    const store = plainStore();
    Object.assign(store, {
      acquireRefreshLock: (_key: string, { signal }: { signal: AbortSignal }): Promise<RefreshLockResult> =>
        new Promise((_resolve, reject) =>
          signal.addEventListener('abort', () => reject(new Error('lock wait aborted'))),
        ),
    });
    const { manager, provider } = makeManager({ store, acquireTimeoutMs: 1_000 });
    const events = lifecycleOf(manager);
    const caller = manager.getAccessToken().catch((error: unknown) => error);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(await caller).toMatchObject({ code: 'ERR_ALIX_TIMEOUT', stage: 'lock' });
    await flushPromises();
    expect(events.filter((event) => event.type === 'store-failed')).toEqual([]);
    expect(provider.calls).toEqual([]);
    manager.close();
  });
});
