import {
  AuthRejectedError,
  AuthUnavailableError,
  MalformedResponseError,
  TokenManagerClosedError,
} from '../../src/errors';
import { MemoryTokenStore } from '../../src/stores/memory';
import { flushPromises, makeTokenSet } from '../helpers/fake-provider';
import { T0, lifecycleOf, makeManager, minutes, useFakeClock } from '../helpers/manager';

const unavailable = (status = 503, retryAfterMs?: number): AuthUnavailableError =>
  new AuthUnavailableError({ operation: 'refresh', reason: 'http', status, retryAfterMs });
const rejected = (operation: 'refresh' | 'authenticate' = 'refresh'): AuthRejectedError =>
  new AuthRejectedError({ operation, status: 400, errorCode: 32, apiMessage: 'invalid token' });

describe('TokenManager', () => {
  beforeEach(() => useFakeClock());
  afterEach(() => jest.useRealTimers());

  describe('fallback sign-in', () => {
    it('signs in exactly once when the API rejects the refresh token', async () => {
      const { manager, provider } = makeManager();
      await manager.getAccessToken();
      provider.script.push(rejected());
      expect(await manager.getAccessToken({ forceRefresh: true })).toBe('access-2');
      expect(provider.calls.map((call) => call.kind)).toEqual(['authenticate', 'refresh', 'authenticate']);
      manager.close();
    });

    it('does not carry the refused refresh token into a sign-in that issued none', async () => {
      const { manager, provider } = makeManager({ initialTokens: makeTokenSet(T0, { expiresInMs: -1 }) });
      const withoutRefresh = (): ReturnType<typeof provider.issue> => ({
        ...provider.issue(),
        refreshToken: undefined,
      });
      provider.script.push(rejected(), withoutRefresh, withoutRefresh);
      await manager.getAccessToken();
      await manager.getAccessToken({ forceRefresh: true });
      // The second run signs in at once: the refused `seed-refresh` is not tried again (nor counted again).
      expect(provider.calls.map((call) => call.kind)).toEqual(['refresh', 'authenticate', 'authenticate']);
      expect(manager.status().refreshTokenRejections.count).toBe(1);
      manager.close();
    });

    it('signs in without trying the refresh token once it has expired', async () => {
      const { manager, provider } = makeManager({
        initialTokens: makeTokenSet(T0, { expiresInMs: -1, refreshTokenExpiresAt: T0 - 1 }),
      });
      expect(await manager.getAccessToken()).toBe('access-1');
      expect(provider.calls.map((call) => call.kind)).toEqual(['authenticate']);
      manager.close();
    });

    it('treats a refresh token inside refreshTokenMarginMs as expired', async () => {
      const { manager, provider } = makeManager({
        refreshTokenMarginMs: 60_000,
        initialTokens: { refreshToken: 'nearly-dead', refreshTokenExpiresAt: T0 + 60_000 },
      });
      await manager.getAccessToken();
      expect(provider.calls.map((call) => call.kind)).toEqual(['authenticate']);
      manager.close();
    });
  });

  describe('transient failures', () => {
    it('succeeds after 503, 503 with exponential backoff', async () => {
      const { manager, provider } = makeManager({ retry: { minDelayMs: 1000, factor: 2, randomize: false } });
      provider.script.push(unavailable(), unavailable());
      let token: string | undefined;
      const caller = manager.getAccessToken().then((value) => (token = value));
      await jest.advanceTimersByTimeAsync(999);
      expect(provider.calls).toHaveLength(1);
      await jest.advanceTimersByTimeAsync(1);
      expect(provider.calls).toHaveLength(2);
      await jest.advanceTimersByTimeAsync(1999);
      expect(provider.calls).toHaveLength(2);
      await jest.advanceTimersByTimeAsync(1);
      await caller;
      expect(provider.calls).toHaveLength(3);
      expect(token).toBe('access-1');
      manager.close();
    });

    it('waits out Retry-After before retrying', async () => {
      const { manager, provider } = makeManager({ retry: { minDelayMs: 0, maxDelayMs: 0 } });
      provider.script.push(unavailable(429, 5000));
      const caller = manager.getAccessToken();
      await jest.advanceTimersByTimeAsync(4999);
      expect(provider.calls).toHaveLength(1);
      await jest.advanceTimersByTimeAsync(1);
      await expect(caller).resolves.toBe('access-1');
      expect(provider.calls).toHaveLength(2);
      manager.close();
    });

    it('reads a Retry-After too long for a number (1e308 s) as the longest honoured, not as none', async () => {
      const { manager, provider } = makeManager({ retry: { minDelayMs: 0, maxDelayMs: 0 } });
      provider.script.push(unavailable(503, 1e308 * 1000));
      // Longer than the caller's budget: it fails at once, no retry hammers the server that asked to wait.
      await expect(manager.getAccessToken()).rejects.toMatchObject({ status: 503 });
      expect(provider.calls).toHaveLength(1);
      manager.close();
    });

    it('gives up after the configured retries with the typed transient error', async () => {
      const { manager, provider } = makeManager({ retry: { retries: 2, minDelayMs: 0, maxDelayMs: 0 } });
      provider.script.push(unavailable(), unavailable(), unavailable(502));
      await expect(manager.getAccessToken()).rejects.toMatchObject({
        code: 'ERR_ALIX_AUTH_UNAVAILABLE',
        status: 502,
        transient: true,
      });
      expect(provider.calls).toHaveLength(3);
      manager.close();
    });

    it('does not retry a permanent failure', async () => {
      const { manager, provider } = makeManager();
      provider.script.push(rejected('authenticate'));
      await expect(manager.getAccessToken()).rejects.toBeInstanceOf(AuthRejectedError);
      expect(provider.calls).toHaveLength(1);
      manager.close();
    });
  });

  describe('background failures', () => {
    it('serves the valid token, retries in the background, surfaces the error only in the forced window', async () => {
      const unhandled: unknown[] = [];
      const trap = (reason: unknown): void => void unhandled.push(reason);
      process.on('unhandledRejection', trap);
      try {
        const { manager, provider } = makeManager({ retry: { retries: 0 } });
        await manager.getAccessToken();
        for (let index = 0; index < 50; index += 1) provider.script.push(unavailable());
        await jest.advanceTimersByTimeAsync(minutes(14));
        // Background attempts 5 s apart, doubling to 60 s, from the refresh point at 10 min:
        // 10:00, 10:05, 10:15, 10:35, 11:15, 12:15, 13:15 (the next, 14:15, is after 14:00).
        expect(provider.refreshCount).toBe(7);
        expect(await manager.getAccessToken()).toBe('access-1');
        expect(manager.status()).toMatchObject({ state: 'valid', lastError: { code: 'ERR_ALIX_AUTH_UNAVAILABLE' } });
        await jest.advanceTimersByTimeAsync(minutes(1) - 10_000);
        await expect(manager.getAccessToken()).rejects.toBeInstanceOf(AuthUnavailableError);
        await new Promise((resolve) => setImmediate(resolve));
        expect(unhandled).toEqual([]);
        manager.close();
      } finally {
        process.off('unhandledRejection', trap);
      }
    });

    it('doubles the delay between background runs whatever retry.factor paces the retries within a run', async () => {
      const { manager, provider } = makeManager({ retry: { retries: 0, factor: 3 } });
      await manager.getAccessToken();
      for (let index = 0; index < 50; index += 1) provider.script.push(unavailable());
      await jest.advanceTimersByTimeAsync(minutes(14));
      // 10:00, 10:05, 10:15, 10:35, 11:15, 12:15, 13:15 (growing by 3: 10:00, 10:05, 10:20, 11:05, 12:05, 13:05).
      expect(provider.refreshCount).toBe(7);
      manager.close();
    });

    it('emits error events for background failures when someone listens', async () => {
      const { manager, provider } = makeManager({ retry: { retries: 0 } });
      const errors: unknown[] = [];
      manager.on('error', (error) => errors.push(error));
      await manager.getAccessToken();
      provider.script.push(unavailable());
      await jest.advanceTimersByTimeAsync(minutes(10));
      expect(errors).toEqual([expect.any(AuthUnavailableError)]);
      manager.close();
    });

    it('never replaces a valid held token with a malformed response', async () => {
      const store = new MemoryTokenStore();
      const { manager, provider } = makeManager({ store, retry: { retries: 0 } });
      await manager.getAccessToken();
      provider.script.push(() => ({ accessToken: '', accessTokenExpiresAt: Number.NaN }));
      await expect(manager.getAccessToken({ forceRefresh: true })).rejects.toBeInstanceOf(MalformedResponseError);
      expect(await manager.getAccessToken()).toBe('access-1');
      expect((await store.get(manager.storeKey))?.tokens.accessToken).toBe('access-1');
      manager.close();
    });

    it('refuses a refresh-token expiry in epoch seconds, as it refuses such a seed (it would read as long expired)', async () => {
      const { manager, provider } = makeManager({ retry: { retries: 0 } });
      const inSeconds = (): ReturnType<typeof provider.issue> => {
        const tokens = provider.issue();
        return { ...tokens, refreshTokenExpiresAt: Math.floor((tokens.refreshTokenExpiresAt as number) / 1000) };
      };
      provider.script.push(inSeconds);
      const failure = await manager.getAccessToken().catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(MalformedResponseError);
      expect((failure as Error).message).toMatch(/epoch seconds/);
      manager.close();
    });

    it('rejects a token set that is already expired', async () => {
      const { manager, provider } = makeManager({ retry: { retries: 0 } });
      provider.script.push(() => makeTokenSet(T0, { accessToken: 'stale', expiresInMs: -1 }));
      await expect(manager.getAccessToken()).rejects.toMatchObject({ code: 'ERR_ALIX_MALFORMED_RESPONSE' });
      manager.close();
    });

    it('rejects a token set that expires the instant it arrives', async () => {
      const { manager, provider } = makeManager({ retry: { retries: 0 } });
      provider.script.push(() => makeTokenSet(T0, { accessToken: 'stale', expiresInMs: 0 }));
      await expect(manager.getAccessToken()).rejects.toMatchObject({ code: 'ERR_ALIX_MALFORMED_RESPONSE' });
      manager.close();
    });
  });

  describe('at the deadline', () => {
    it('ends the run as abandoned, not failed, with the TimeoutError its signal was aborted with', async () => {
      const { manager, provider } = makeManager({ acquireTimeoutMs: 1_000 }, { manual: true });
      const events = lifecycleOf(manager);
      const caller = manager.getAccessToken().catch((error: unknown) => error);
      await jest.advanceTimersByTimeAsync(1_000);
      const failure = await caller;
      expect(failure).toMatchObject({ code: 'ERR_ALIX_TIMEOUT' });
      expect(provider.calls[0]?.signal?.aborted).toBe(true);
      expect(events.find((event) => event.type === 'refresh-ended')).toMatchObject({
        outcome: 'abandoned',
        errorCode: 'ERR_ALIX_TIMEOUT',
        error: failure,
      });
      manager.close();
    });
  });

  describe('after a rejected sign-in', () => {
    it('fails fast with the same error until rejectedBackoffMs has passed', async () => {
      const { manager, provider } = makeManager({ rejectedBackoffMs: 30_000 });
      provider.script.push(rejected('authenticate'));
      const first = await manager.getAccessToken().catch((error: unknown) => error);
      await jest.advanceTimersByTimeAsync(30_000 - 1);
      await expect(manager.getAccessToken()).rejects.toBe(first);
      expect(provider.calls).toHaveLength(1);
      await jest.advanceTimersByTimeAsync(1);
      expect(await manager.getAccessToken()).toBe('access-1');
      expect(provider.calls).toHaveLength(2);
      manager.close();
    });

    it('rejects a call that close() overtakes with TokenManagerClosedError, not the fail-fast error', async () => {
      const { manager, provider } = makeManager();
      provider.script.push(rejected('authenticate'));
      await manager.getAccessToken().catch(() => undefined);
      const overtaken = manager.getAccessToken();
      manager.close();
      await expect(overtaken).rejects.toBeInstanceOf(TokenManagerClosedError);
    });
  });

  describe('abort', () => {
    it('abandons only the aborted caller’s wait', async () => {
      const { manager, provider } = makeManager({}, { manual: true });
      const controller = new AbortController();
      const aborted = manager.getAccessToken({ signal: controller.signal });
      const patient = manager.getAccessToken();
      await flushPromises();
      controller.abort();
      await expect(aborted).rejects.toMatchObject({ code: 'ERR_ALIX_ABORTED' });
      provider.release();
      await expect(patient).resolves.toBe('access-1');
      expect(provider.calls).toHaveLength(1);
      expect(provider.calls[0]?.signal?.aborted).toBe(false);
      manager.close();
    });
  });

  describe('a provider that rejects with a non-Error', () => {
    it('rejects callers with an Error carrying its text, after one call', async () => {
      const { manager, provider } = makeManager();
      provider.script.push(() => {
        // eslint-disable-next-line @typescript-eslint/only-throw-error -- the contract breach under test
        throw 'signer exploded';
      });
      const failure = manager.getAccessToken();
      await expect(failure).rejects.toBeInstanceOf(Error);
      await expect(failure).rejects.toThrow(/^signer exploded$/);
      expect(provider.calls).toHaveLength(1);
      manager.close();
    });
  });
});
