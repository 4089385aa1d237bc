import { AuthRejectedError, TokenManagerClosedError } from '../../src/errors';
import { MemoryTokenStore } from '../../src/stores/memory';
import type { StoredSession } from '../../src/stores/types';
import { flushPromises, flushUntil, makeTokenSet } from '../helpers/fake-provider';
import { T0, lifecycleOf, makeManager, minutes, useFakeClock } from '../helpers/manager';

describe('TokenManager hand-overs and the wall clock', () => {
  beforeEach(() => useFakeClock());
  afterEach(() => jest.useRealTimers());

  it('drops a hand-over read that a run of its own overtook (never installs an older session over it)', async () => {
    const store = new MemoryTokenStore({ now: () => Date.now(), breaker: false });
    let announce: (() => void) | undefined;
    let held: ((session: StoredSession) => void) | undefined;
    let pending = false;
    const get = store.get.bind(store);
    Object.assign(store, {
      watch: (_key: string, onPublished: () => void) => {
        announce = onPublished;
        return () => undefined;
      },
      // Holds the next read (the hand-over's) until the test answers it.
      get: (key: string) =>
        held === undefined && announce !== undefined && pending
          ? new Promise<StoredSession>((resolve) => {
              pending = false;
              held = resolve;
            })
          : get(key),
    });
    const { manager } = makeManager({ store });
    expect(await manager.getAccessToken()).toBe('access-1');
    pending = true;
    announce?.();
    await flushUntil(() => held !== undefined);
    jest.setSystemTime(T0 + minutes(1));
    // A run of this manager ends meanwhile with access-2 (expires at 16 min).
    expect(await manager.getAccessToken({ forceRefresh: true })).toBe('access-2');
    // The hand-over's read now answers with a session newer than access-1 but older than access-2.
    const published = makeTokenSet(T0, { accessToken: 'published', expiresInMs: minutes(15) + 30_000 });
    held?.({ identity: 'unidentified', tokens: published });
    await flushPromises();
    expect(await manager.getAccessToken()).toBe('access-2');
    manager.close();
  });

  it('reports fail-fast-entered untilAt on the wall clock when the timeline differs from it', async () => {
    // No injected `now`: the manager keeps a monotonic timeline, which a wall clock stepped back does not follow.
    const { manager, provider } = makeManager({ now: undefined, rejectedBackoffMs: 30_000 });
    const events = lifecycleOf(manager);
    jest.setSystemTime(T0 - minutes(60));
    provider.script.push(new AuthRejectedError({ operation: 'authenticate', status: 400, errorCode: 32 }));
    await expect(manager.getAccessToken()).rejects.toBeInstanceOf(AuthRejectedError);
    expect(events.find((event) => event.type === 'fail-fast-entered')).toMatchObject({
      at: T0 - minutes(60),
      untilAt: T0 - minutes(60) + 30_000,
    });
    manager.close();
  });

  it('reports status().lastError.nextAttemptAt of a fail-fast with no token held on the wall clock', async () => {
    const { manager, provider } = makeManager({ now: undefined, rejectedBackoffMs: 30_000 });
    jest.setSystemTime(T0 - minutes(60));
    provider.script.push(new AuthRejectedError({ operation: 'authenticate', status: 400, errorCode: 32 }));
    await expect(manager.getAccessToken()).rejects.toBeInstanceOf(AuthRejectedError);
    expect(manager.status().lastError).toMatchObject({
      code: 'ERR_ALIX_AUTH_REJECTED',
      nextAttemptAt: T0 - minutes(60) + 30_000,
    });
    manager.close();
  });

  /** A memory store that announces hand-overs (like a RedisTokenStore) and counts its reads. */
  const announcingStore = (): { store: MemoryTokenStore; announce: () => void; reads: () => number } => {
    const store = new MemoryTokenStore({ now: () => Date.now(), breaker: false });
    let onPublished: (() => void) | undefined;
    let reads = 0;
    const get = store.get.bind(store);
    Object.assign(store, {
      watch: (_key: string, listener: () => void) => {
        onPublished = listener;
        return () => undefined;
      },
      get: (key: string) => {
        reads += 1;
        return get(key);
      },
    });
    return { store, announce: () => onPublished?.(), reads: () => reads };
  };

  it("places an adopted session's refresh point after the refreshing replica's when the store announces hand-overs", async () => {
    const stored = { identity: 'unidentified', tokens: makeTokenSet(T0, { accessToken: 'stored' }) };
    const plain = new MemoryTokenStore({ now: () => Date.now(), breaker: false });
    await plain.set('alix-token-manager:session:unidentified', stored);
    const { store: announcing } = announcingStore();
    await announcing.set('alix-token-manager:session:unidentified', stored);
    const quiet = makeManager({ store: plain, random: () => 0 }).manager;
    const watching = makeManager({ store: announcing, random: () => 0 }).manager;
    expect(await quiet.getAccessToken()).toBe('stored');
    expect(await watching.getAccessToken()).toBe('stored');
    // 15 min tokens, a 5 min window, 10 s skew: the refresher's point at 10 min; the fallback a quarter of the
    // remaining 290 s later (random 0).
    expect(quiet.status().nextRefreshAt).toBe(T0 + minutes(10));
    expect(watching.status().nextRefreshAt).toBe(T0 + minutes(10) + 72_500);
    quiet.close();
    watching.close();
  });

  it('adopts no hand-over that is not newer than the held session: its own echoed, an older one', async () => {
    const { store, announce } = announcingStore();
    const { manager } = makeManager({ store });
    expect(await manager.getAccessToken()).toBe('access-1');
    const events = lifecycleOf(manager);
    announce();
    await flushPromises();
    const older = { identity: 'unidentified', tokens: makeTokenSet(T0 - minutes(1), { accessToken: 'older' }) };
    Object.assign(store, { get: async () => older });
    announce();
    await flushPromises();
    expect(events.filter((event) => event.type === 'adopted')).toEqual([]);
    expect(await manager.getAccessToken()).toBe('access-1');
    manager.close();
  });

  it('reads the store once for hand-overs announced while a read is under way', async () => {
    const { store, announce, reads } = announcingStore();
    const { manager } = makeManager({ store });
    expect(await manager.getAccessToken()).toBe('access-1');
    const before = reads();
    announce();
    announce();
    announce();
    await flushPromises();
    expect(reads() - before).toBe(1);
    manager.close();
  });

  it('makes no hand-over read while a run is in flight (the run reads the store itself)', async () => {
    const { store, announce, reads } = announcingStore();
    const { manager, provider } = makeManager({ store });
    expect(await manager.getAccessToken()).toBe('access-1');
    provider.options.manual = true;
    const forced = manager.getAccessToken({ forceRefresh: true });
    await flushUntil(() => provider.pendingCount === 1);
    const before = reads();
    announce();
    await flushPromises();
    expect(reads()).toBe(before);
    provider.release();
    expect(await forced).toBe('access-2');
    manager.close();
  });

  it('adopts every hand-over in turn, not only the first', async () => {
    const { store, announce } = announcingStore();
    const { manager } = makeManager({ store });
    expect(await manager.getAccessToken()).toBe('access-1');
    for (const [index, name] of ['first', 'second'].entries()) {
      const tokens = makeTokenSet(T0, { accessToken: name, expiresInMs: minutes(16 + index) });
      await store.set(manager.storeKey, { identity: 'unidentified', tokens });
      announce();
      await flushPromises();
      expect(await manager.getAccessToken()).toBe(name);
    }
    manager.close();
  });

  it('installs nothing from a hand-over read that answers after close()', async () => {
    const { store, announce } = announcingStore();
    const { manager } = makeManager({ store });
    expect(await manager.getAccessToken()).toBe('access-1');
    let answer: ((session: StoredSession) => void) | undefined;
    store.get = () => new Promise<StoredSession>((resolve) => (answer = resolve));
    announce();
    await flushUntil(() => answer !== undefined);
    manager.close();
    answer?.({ identity: 'unidentified', tokens: makeTokenSet(T0, { accessToken: 'late', expiresInMs: minutes(20) }) });
    await flushPromises();
    await expect(manager.getAccessToken()).rejects.toBeInstanceOf(TokenManagerClosedError);
    expect(manager.status()).toMatchObject({ state: 'closed', accessTokenExpiresAt: null });
  });

  it('reports nothing when a hand-over read fails (the refresh timer covers a missed hand-over)', async () => {
    const { store, announce } = announcingStore();
    const { manager } = makeManager({ store });
    expect(await manager.getAccessToken()).toBe('access-1');
    const events = lifecycleOf(manager);
    store.get = () => Promise.reject(new Error('connection reset'));
    announce();
    await flushPromises();
    expect(events).toEqual([]);
    expect(await manager.getAccessToken()).toBe('access-1');
    manager.close();
  });

  it('watches the store once, under its store key, whatever number of sessions it installs', async () => {
    const store = new MemoryTokenStore({ now: () => Date.now(), breaker: false });
    const unwatch = jest.fn();
    const watch = jest.fn((_key: string, _onPublished: () => void) => unwatch);
    Object.assign(store, { watch });
    const { manager } = makeManager({ store });
    expect(await manager.getAccessToken()).toBe('access-1');
    expect(await manager.getAccessToken({ forceRefresh: true })).toBe('access-2');
    expect(await manager.getAccessToken({ forceRefresh: true })).toBe('access-3');
    expect(watch).toHaveBeenCalledTimes(1);
    expect(watch).toHaveBeenCalledWith(manager.storeKey, expect.any(Function));
    manager.close();
    manager.close();
    expect(unwatch).toHaveBeenCalledTimes(1);
  });

  it('reports a watch() that throws as store-failed, serves its tokens, asks again with its next session', async () => {
    const store = new MemoryTokenStore({ now: () => Date.now(), breaker: false });
    const unwatch = jest.fn();
    const watch = jest
      .fn<() => void, [string, () => void]>()
      .mockImplementationOnce(() => {
        throw new Error('subscriber down');
      })
      .mockImplementation(() => unwatch);
    Object.assign(store, { watch });
    const { manager } = makeManager({ store });
    const events = lifecycleOf(manager);
    expect(await manager.getAccessToken()).toBe('access-1');
    expect(events.filter((event) => event.type === 'store-failed')).toEqual([
      expect.objectContaining({ operation: 'watch', errorCode: 'UNKNOWN', message: 'subscriber down' }),
    ]);
    expect(await manager.getAccessToken({ forceRefresh: true })).toBe('access-2');
    expect(watch).toHaveBeenCalledTimes(2);
    manager.close();
    expect(unwatch).toHaveBeenCalledTimes(1);
  });

  it('stops watching the store on close()', async () => {
    const store = new MemoryTokenStore({ now: () => Date.now(), breaker: false });
    const unwatch = jest.fn();
    Object.assign(store, { watch: () => unwatch });
    const { manager } = makeManager({ store });
    await manager.getAccessToken();
    expect(unwatch).not.toHaveBeenCalled();
    manager.close();
    expect(unwatch).toHaveBeenCalledTimes(1);
  });
});
