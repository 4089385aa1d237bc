/** The pool's cap on concurrent auth calls: permits, the queues (held sessions first), and waiters that give up. */
import { AuthRejectedError } from '../../src/errors';
import { AuthSemaphore } from '../../src/pool/semaphore';
import { MemoryTokenStore } from '../../src/stores/memory';
import type { RefreshLockResult } from '../../src/stores/types';
import { flushUntil } from '../helpers/fake-provider';
import { T0, useFakeClock } from '../helpers/manager';
import { makePool, tokenPrefix, user } from './support';

describe('AuthSemaphore', () => {
  it('takes a waiter whose signal aborts out of its queue at once, and hands the permit to the next one', async () => {
    const semaphore = new AuthSemaphore(1);
    const release = await semaphore.gate(new AbortController().signal, false);
    const leaving = new AbortController();
    const left = semaphore.gate(leaving.signal, true);
    const staying = semaphore.gate(new AbortController().signal, false);
    expect(semaphore.status()).toEqual({ inFlight: 1, peak: 1, queued: 2, max: 1 });
    leaving.abort(new Error('deadline'));
    await expect(left).rejects.toThrow('deadline');
    expect(semaphore.status()).toMatchObject({ inFlight: 1, queued: 1 });
    release();
    const next = await staying;
    expect(semaphore.status()).toEqual({ inFlight: 1, peak: 1, queued: 0, max: 1 });
    next();
    expect(semaphore.status()).toMatchObject({ inFlight: 0, queued: 0 });
  });
});

describe('TokenManagerPool auth queue', () => {
  beforeEach(() => useFakeClock(T0));
  afterEach(() => jest.useRealTimers());

  /** A store whose lock is always free: the run queues for its slot before the lock, before the store is read. */
  const lockingStore = (): MemoryTokenStore => {
    const lock = { release: (): Promise<void> => Promise.resolve() };
    const acquireRefreshLock = (): Promise<RefreshLockResult> => Promise.resolve({ acquired: true, lock });
    return Object.assign(new MemoryTokenStore(), { acquireRefreshLock });
  };

  /**
   * user(0) holds a session, 20 new users queue their sign-ins for the one auth slot, then user(0)'s refresh falls
   * due: it queues last, and takes the slot user(1)'s sign-in releases. The refresh answers `refreshOutcome`.
   */
  const refreshQueuedBehindSignIns = async (store: MemoryTokenStore | undefined, refreshOutcome?: Error) => {
    const { pool, providers } = makePool({ maxConcurrentAuth: 1, store }, { manual: true });
    const held = pool.getAccessToken(user(0));
    await flushUntil(() => providers.get(user(0))?.pendingCount === 1);
    providers.get(user(0))?.script.push(refreshOutcome);
    providers.get(user(0))?.release();
    await held;
    const refreshAt = pool.get(user(0)).status().nextRefreshAt as number;
    jest.advanceTimersByTime(refreshAt - Date.now() - 1_000);
    const newUsers = Array.from({ length: 20 }, (_, index) => user(index + 1));
    const signIns = newUsers.map((name) => pool.getAccessToken(name));
    await flushUntil(() => providers.get(user(1))?.pendingCount === 1 && pool.status().auth.queued === 19);
    jest.advanceTimersByTime(1_000);
    await flushUntil(() => pool.status().auth.queued === 20);
    providers.get(user(1))?.release();
    const atServer = (): string[] =>
      [...providers].filter(([, provider]) => provider.pendingCount > 0).map(([name]) => name);
    await flushUntil(() => atServer().length === 1);
    expect([atServer(), providers.get(user(0))?.calls.at(-1)?.kind]).toEqual([[user(0)], 'refresh']);
    /** Answers the sign-ins of newUsers from `first` on, in turn; every user then holds a token, user(0) its second. */
    const signInTheRest = async (first: number): Promise<void> => {
      for (const name of newUsers.slice(first)) {
        await flushUntil(() => providers.get(name)?.pendingCount === 1);
        providers.get(name)?.release();
      }
      await expect(Promise.all(signIns)).resolves.toHaveLength(20);
      await expect(pool.getAccessToken(user(0))).resolves.toBe(`${tokenPrefix(user(0))}access-2`);
      await pool.close();
    };
    return { pool, providers, atServer, signInTheRest };
  };

  const stores = [
    ['without a refresh lock', () => undefined],
    ['with a refresh lock', lockingStore],
  ] as const;

  it.each(stores)(
    "gives a held session's refresh the next auth slot, ahead of queued first sign-ins (%s)",
    async (_, store) => {
      const { providers, signInTheRest } = await refreshQueuedBehindSignIns(store());
      providers.get(user(0))?.release();
      await signInTheRest(1);
    },
  );

  // With a lock, the sign-in queues again while the run holds the lock other replicas wait on.
  it.each(stores)(
    "gives a held session's sign-in after its refresh token is refused the next free auth slot too (%s)",
    async (_, store) => {
      const refused = new AuthRejectedError({ operation: 'refresh', status: 400, errorCode: 32 });
      const { pool, providers, atServer, signInTheRest } = await refreshQueuedBehindSignIns(store(), refused);
      providers.get(user(0))?.release();
      // The refused refresh's slot goes to the next sign-in queued, before user(0)'s own sign-in queues (19th).
      await flushUntil(() => providers.get(user(2))?.pendingCount === 1 && pool.status().auth.queued === 19);
      providers.get(user(2))?.release();
      await flushUntil(() => atServer().length === 1);
      expect([atServer(), providers.get(user(0))?.calls.at(-1)?.kind]).toEqual([[user(0)], 'authenticate']);
      providers.get(user(0))?.release();
      await signInTheRest(2);
    },
  );
});
