import { MemoryTokenStore } from '../../src/stores/memory';
import type { StoredSession, TokenStore } from '../../src/stores/types';
import { flushUntil, makeTokenSet } from '../helpers/fake-provider';
import { T0, makeManager, minutes, useFakeClock } from '../helpers/manager';

describe('TokenManager', () => {
  beforeEach(() => useFakeClock());
  afterEach(() => jest.useRealTimers());

  describe('getAccessToken()', () => {
    it('signs in on first use and returns the cached token until the refresh window opens', async () => {
      const { manager, provider } = makeManager();
      expect(await manager.getAccessToken()).toBe('access-1');
      jest.setSystemTime(T0 + minutes(10) - 1);
      expect(await manager.getAccessToken()).toBe('access-1');
      expect(provider.calls).toHaveLength(1);
      manager.close();
    });

    it('does not read the store on the hot path', async () => {
      const store = new MemoryTokenStore();
      const get = jest.spyOn(store, 'get');
      const { manager } = makeManager({ store });
      await manager.getAccessToken();
      const readsAfterSignIn = get.mock.calls.length;
      for (let index = 0; index < 100; index += 1) await manager.getAccessToken();
      expect(get.mock.calls.length).toBe(readsAfterSignIn);
      manager.close();
    });

    it.each([
      ['no options', undefined],
      ['a signal that has not fired', { signal: new AbortController().signal }],
    ])('answers from the hot path, an already-settled promise, with %s', async (_label, options) => {
      const { manager } = makeManager();
      await manager.getAccessToken();
      const order: string[] = [];
      const read = manager.getAccessToken(options).then(() => order.push('token'));
      void Promise.resolve().then(() => order.push('next microtask'));
      await read;
      expect(order).toEqual(['token', 'next microtask']);
      manager.close();
    });

    it('rejects at once for a signal that already fired', async () => {
      const { manager } = makeManager();
      await manager.getAccessToken();
      await expect(manager.getAccessToken({ signal: AbortSignal.abort() })).rejects.toMatchObject({
        code: 'ERR_ALIX_ABORTED',
      });
      manager.close();
    });

    it('serves the held token at once inside the refresh window while one background refresh runs', async () => {
      const { manager, provider } = makeManager();
      await manager.getAccessToken();
      provider.options.manual = true;
      jest.setSystemTime(T0 + minutes(11));
      const tokens = await Promise.all([manager.getAccessToken(), manager.getAccessToken(), manager.getAccessToken()]);
      expect(tokens).toEqual(['access-1', 'access-1', 'access-1']);
      await flushUntil(() => provider.pendingCount === 1);
      expect(provider.refreshCount).toBe(1);
      provider.release();
      await flushUntil(() => manager.status().state === 'valid');
      expect(await manager.getAccessToken()).toBe('access-2');
      manager.close();
    });

    it('makes callers in the last expirySkewMs wait for the new token', async () => {
      const { manager, provider } = makeManager();
      await manager.getAccessToken();
      provider.options.manual = true;
      jest.setSystemTime(T0 + minutes(15) - 10_000);
      let settled: string | undefined;
      const waiting = manager.getAccessToken().then((token) => (settled = token));
      // The refresh has reached the provider, which holds it: no new token exists yet.
      await flushUntil(() => provider.pendingCount === 1);
      expect(settled).toBeUndefined();
      provider.release();
      await waiting;
      expect(settled).toBe('access-2');
      manager.close();
    });

    it('gives 1,000 concurrent callers with no token one sign-in and the same token', async () => {
      const { manager, provider } = makeManager({}, { manual: true });
      const callers = Array.from({ length: 1000 }, () => manager.getAccessToken());
      await flushUntil(() => provider.pendingCount === 1);
      provider.release();
      const tokens = await Promise.all(callers);
      expect(provider.calls).toHaveLength(1);
      expect(new Set(tokens)).toEqual(new Set(['access-1']));
      manager.close();
    });

    it('gives 1,000 concurrent callers of an expired token one refresh', async () => {
      const { manager, provider } = makeManager();
      await manager.getAccessToken();
      jest.setSystemTime(T0 + minutes(20));
      const tokens = await Promise.all(Array.from({ length: 1000 }, () => manager.getAccessToken()));
      expect(provider.refreshCount).toBe(1);
      expect(new Set(tokens)).toEqual(new Set(['access-2']));
      manager.close();
    });

    it('shares one refresh among concurrent forceRefresh calls', async () => {
      const { manager, provider } = makeManager();
      await manager.getAccessToken();
      const tokens = await Promise.all(
        Array.from({ length: 50 }, () => manager.getAccessToken({ forceRefresh: true })),
      );
      expect(provider.refreshCount).toBe(1);
      expect(new Set(tokens)).toEqual(new Set(['access-2']));
      manager.close();
    });

    it('starts from a seeded refresh token with a refresh, not a sign-in', async () => {
      const { manager, provider } = makeManager({ initialTokens: { refreshToken: 'from-env' } });
      expect(await manager.getAccessToken()).toBe('access-1');
      expect(provider.calls).toEqual([expect.objectContaining({ kind: 'refresh', refreshToken: 'from-env' })]);
      manager.close();
    });

    it('serves a seeded valid access token without calling the provider', async () => {
      const { manager, provider } = makeManager({ initialTokens: makeTokenSet(T0) });
      expect(await manager.getAccessToken()).toBe('seed-access');
      expect(provider.calls).toHaveLength(0);
      manager.close();
    });

    it('prefers the session in the store over seeded tokens', async () => {
      const store = new MemoryTokenStore();
      const { manager } = makeManager({ store, initialTokens: { refreshToken: 'stale-env-token' } });
      await store.set(manager.storeKey, {
        identity: 'unidentified',
        tokens: makeTokenSet(T0, { accessToken: 'stored-access' }),
      });
      expect(await manager.getAccessToken()).toBe('stored-access');
      manager.close();
    });

    it('finishes the store write before any caller receives the new token', async () => {
      const order: string[] = [];
      let finishWrite: () => void = () => undefined;
      const store: TokenStore = {
        get: async () => undefined,
        set: (_key: string, { tokens }: StoredSession) =>
          new Promise<void>((resolve) => {
            order.push(`write-start:${tokens.accessToken}`);
            finishWrite = () => {
              order.push('write-done');
              resolve();
            };
          }),
        delete: async () => undefined,
      };
      const { manager } = makeManager({ store });
      const caller = manager.getAccessToken().then((token) => order.push(`caller:${token}`));
      await flushUntil(() => order.length > 0);
      expect(order).toEqual(['write-start:access-1']);
      // The proof is the final order: a caller served before the write ended would come before 'write-done'.
      finishWrite();
      await caller;
      expect(order).toEqual(['write-start:access-1', 'write-done', 'caller:access-1']);
      manager.close();
    });
  });
});
