/**
 * Version 2's hardening (issue #11): each test reproduces a failure of version 1.
 */
import NodeCache from 'node-cache';
import pino from 'pino';
import { createAuthorizedFetch } from '../../src/adapters/fetch';
import {
  AuthRejectedError,
  AuthUnavailableError,
  MalformedResponseError,
  TimeoutError,
  TokenManagerClosedError,
  TokenStoreError,
} from '../../src/errors';
import { TokenManager } from '../../src/manager/token-manager';
import { AlixAuthProvider } from '../../src/providers/alix/provider';
import { LocalAuthBreaker } from '../../src/stores/memory-breaker';
import { MemoryTokenStore } from '../../src/stores/memory';
import type { AuthBreaker, StoredSession, TokenStore } from '../../src/stores/types';
import type { TokenSet } from '../../src/token-set';
import { FakeProvider, flushPromises, flushUntil, makeTokenSet } from '../helpers/fake-provider';
import { INSTANT_RETRY, T0, makeManager, minutes, useFakeClock, lifecycleOf } from '../helpers/manager';

/** The token a call gets without waiting (the hot path, or a valid held one), else undefined. */
async function hotServed(manager: TokenManager): Promise<string | undefined> {
  let served: string | undefined;
  void manager.getAccessToken().then(
    (token) => (served = token),
    () => undefined,
  );
  await flushPromises();
  return served;
}

const unavailable = (retryAfterMs?: number, detail?: string): AuthUnavailableError =>
  new AuthUnavailableError({
    operation: 'refresh',
    reason: retryAfterMs === undefined && detail !== undefined ? 'network' : 'http',
    status: detail === undefined ? 503 : undefined,
    retryAfterMs,
    detail,
  });
const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

describe('TokenManager hardening', () => {
  beforeEach(() => useFakeClock());
  afterEach(() => jest.useRealTimers());

  describe('sessions belong to one identity', () => {
    it('never hands partner B the session partner A stored under the same key', async () => {
      const cache = new NodeCache({ useClones: false, checkperiod: 0 });
      const a = makeManager(
        { store: new MemoryTokenStore({ cache }), storeKey: 'shared' },
        { identity: { id: 'partner-A' }, prefix: 'A-' },
      );
      const b = makeManager(
        { store: new MemoryTokenStore({ cache }), storeKey: 'shared' },
        { identity: { id: 'partner-B' }, prefix: 'B-' },
      );
      const events = lifecycleOf(b.manager);
      expect(await a.manager.getAccessToken()).toBe('A-access-1');
      expect(await b.manager.getAccessToken()).toBe('B-access-1');
      expect(b.provider.authenticateCount).toBe(1);
      expect(events.some((event) => event.type === 'identity-mismatch')).toBe(true);
      a.manager.close();
      b.manager.close();
    });

    it('acts for its own user only: never for an empty session key, nor for any without a user', () => {
      const alice = makeManager({}, { identity: { id: 'a', user: 'alice@example.com' } }).manager;
      const anyone = makeManager().manager;
      const answers = [alice.actsFor('alice@example.com'), alice.actsFor(''), alice.actsFor('bob@example.com')];
      expect([...answers, anyone.actsFor('')]).toEqual([true, false, false, false]);
      alice.close();
      anyone.close();
    });

    it('keeps two identities apart by default key in one shared store', async () => {
      const store = new MemoryTokenStore();
      const a = makeManager({ store }, { identity: { id: 'partner-A' }, prefix: 'A-' });
      const b = makeManager({ store }, { identity: { id: 'partner-B' }, prefix: 'B-' });
      expect(a.manager.storeKey).not.toBe(b.manager.storeKey);
      await a.manager.getAccessToken();
      expect(await b.manager.getAccessToken()).toBe('B-access-1');
      expect((await store.get(a.manager.storeKey))?.tokens.accessToken).toBe('A-access-1');
      a.manager.close();
      b.manager.close();
    });

    it('reports a foreign session as a mismatch and signs in instead', async () => {
      const store = new MemoryTokenStore();
      const { manager, provider } = makeManager({ store, storeKey: 'shared' }, { identity: { id: 'partner-B' } });
      await store.set('shared', { identity: 'partner-A', tokens: makeTokenSet(T0, { accessToken: 'A-token' }) });
      const events = lifecycleOf(manager);
      expect(await manager.getAccessToken()).toBe('access-1');
      expect(provider.authenticateCount).toBe(1);
      expect(events.filter((event) => event.type === 'identity-mismatch')).toHaveLength(2);
      manager.close();
    });

    it('derives the Alix identity from origin, partner code and user email, never showing them', () => {
      const key = (overrides: Record<string, string>): string =>
        new AlixAuthProvider({
          baseUrl: 'https://api.alix.example',
          partnerCode: 'p',
          secretKey: 's',
          signer: async () => 'c2ln',
          ...overrides,
        }).identity.id;
      const base = key({});
      expect(
        new Set([
          base,
          key({ partnerCode: 'q' }),
          key({ userEmail: 'u@example.com' }),
          key({ baseUrl: 'https://other.example' }),
        ]).size,
      ).toBe(4);
      expect(key({ baseUrl: 'https://api.alix.example/prefix' })).toBe(base);
      expect(base).toMatch(/^[0-9a-f]{32}$/);
    });
  });

  describe('every wait is bounded', () => {
    it('gives 20 callers a TimeoutError naming the signer when it never answers, then starts afresh', async () => {
      const provider = new AlixAuthProvider({
        baseUrl: 'http://127.0.0.1:9',
        partnerCode: 'p',
        secretKey: 's',
        signer: never,
      });
      const manager = new TokenManager({
        provider,
        acquireTimeoutMs: 20_000,
        retry: { minDelayMs: 0, maxDelayMs: 0 },
      });
      const events = lifecycleOf(manager);
      const callers = Array.from({ length: 20 }, () => manager.getAccessToken().catch((error: unknown) => error));
      await jest.advanceTimersByTimeAsync(20_000);
      const errors = await Promise.all(callers);
      expect(errors.every((error) => error instanceof TimeoutError && error.stage === 'signer')).toBe(true);
      expect((errors[0] as TimeoutError).message).toMatch(/signer/);
      expect(manager.status().state).toBe('failed');
      const next = manager.getAccessToken().catch((error: unknown) => error);
      await jest.advanceTimersByTimeAsync(20_000);
      expect(await next).toBeInstanceOf(TimeoutError);
      expect(events.filter((event) => event.type === 'refresh-started')).toHaveLength(2);
      manager.close();
    });

    it('names the silent auth server host:port and the attempts made', async () => {
      const provider = new FakeProvider({ now: () => Date.now(), identity: { id: 'x', endpoint: 'auth.example:443' } });
      provider.authenticate = () => never();
      const { manager } = makeManager({ provider, acquireTimeoutMs: 20_000 });
      const caller = manager.getAccessToken().catch((error: unknown) => error);
      await jest.advanceTimersByTimeAsync(20_000 - 1);
      await flushPromises();
      await jest.advanceTimersByTimeAsync(1);
      expect(await caller).toMatchObject({
        code: 'ERR_ALIX_TIMEOUT',
        stage: 'auth',
        endpoint: 'auth.example:443',
        attempts: 1,
      });
      manager.close();
    });

    it('serves the new token after storeTimeoutMs when store.set() hangs, keeping it in memory', async () => {
      const store: TokenStore = { get: async () => undefined, set: never, delete: async () => undefined };
      const { manager } = makeManager({ store, storeTimeoutMs: 2_000 });
      const events = lifecycleOf(manager);
      const callers = Array.from({ length: 20 }, () => manager.getAccessToken());
      await jest.advanceTimersByTimeAsync(2_000);
      expect(new Set(await Promise.all(callers))).toEqual(new Set(['access-1']));
      expect(events).toContainEqual(
        expect.objectContaining({ type: 'store-failed', operation: 'write', errorCode: 'ERR_ALIX_TIMEOUT' }),
      );
      expect(manager.status().state).toBe('valid');
      manager.close();
    });

    it('treats a store read that hangs as nothing stored, after storeTimeoutMs', async () => {
      const store: TokenStore = { get: never, set: async () => undefined, delete: async () => undefined };
      const { manager } = makeManager({ store, storeTimeoutMs: 2_000 });
      const caller = manager.getAccessToken();
      await jest.advanceTimersByTimeAsync(4_000);
      await expect(caller).resolves.toBe('access-1');
      manager.close();
    });

    it('counts the start-up store read in acquireTimeoutMs, and keeps the process alive during it', async () => {
      const setInterval = jest.spyOn(globalThis, 'setInterval');
      const store: TokenStore = { get: never, set: async () => undefined, delete: async () => undefined };
      // 300 ms for the start-up read, 300 ms for the run's re-read, then a silent auth server.
      const { manager, provider } = makeManager({ store, storeTimeoutMs: 300, acquireTimeoutMs: 1_000 });
      provider.authenticate = () => never();
      let settled: unknown;
      const caller = manager.getAccessToken().then(
        () => (settled = 'token'),
        (error: unknown) => (settled = error),
      );
      expect(setInterval).toHaveBeenCalledTimes(1);
      await jest.advanceTimersByTimeAsync(999);
      expect(settled).toBeUndefined();
      await jest.advanceTimersByTimeAsync(1);
      await caller;
      expect(settled).toMatchObject({ code: 'ERR_ALIX_TIMEOUT', stage: 'auth', timeoutMs: 1_000 });
      setInterval.mockRestore();
      manager.close();
    });

    it('names the lock when a shared lock is never granted', async () => {
      const store: TokenStore = {
        get: async () => undefined,
        set: async () => undefined,
        delete: async () => undefined,
        acquireRefreshLock: never,
      };
      const { manager, provider } = makeManager({ store, acquireTimeoutMs: 5_000 });
      const caller = manager.getAccessToken().catch((error: unknown) => error);
      await jest.advanceTimersByTimeAsync(5_000);
      expect(await caller).toMatchObject({ code: 'ERR_ALIX_TIMEOUT', stage: 'lock' });
      expect(provider.calls).toHaveLength(0);
      manager.close();
    });
  });

  describe('no refresh storms from 401s', () => {
    it('refreshes at most once per cooldown for an endpoint rejecting every token; nobody else waits', async () => {
      const { manager, provider } = makeManager({ invalidateCooldownMs: 30_000 });
      const results: string[] = [];
      for (let request = 0; request < 100; request += 1) {
        const token = await manager.getAccessToken();
        results.push(manager.invalidate(token));
      }
      expect(provider.refreshCount).toBe(1);
      expect(results.filter((result) => result === 'refreshing')).toHaveLength(1);
      expect(results.filter((result) => result === 'cooldown')).toHaveLength(99);
      await jest.advanceTimersByTimeAsync(30_000);
      expect(manager.invalidate(await manager.getAccessToken())).toBe('refreshing');
      expect(await manager.getAccessToken()).toBe('access-3');
      manager.close();
    });
  });

  describe('a malformed answer never latches', () => {
    it('retries a malformed sign-in within the budget and recovers at once when the server is healthy', async () => {
      const { manager, provider } = makeManager({ retry: { ...INSTANT_RETRY, retries: 1 } });
      const malformed = new MalformedResponseError('sign-in answered an HTML page');
      provider.script.push(malformed, malformed);
      await expect(manager.getAccessToken()).rejects.toBe(malformed);
      expect(provider.calls).toHaveLength(2);
      expect(await manager.getAccessToken()).toBe('access-1');
      manager.close();
    });
  });

  describe('Retry-After beyond the budget', () => {
    it('fails at once with retryAfterMs instead of sleeping into a certain failure', async () => {
      const { manager, provider } = makeManager({ acquireTimeoutMs: 20_000 });
      provider.script.push(unavailable(300_000));
      await expect(manager.getAccessToken()).rejects.toMatchObject({
        code: 'ERR_ALIX_AUTH_UNAVAILABLE',
        retryAfterMs: 300_000,
      });
      expect(provider.calls).toHaveLength(1);
      manager.close();
    });

    it('schedules the next background attempt at Retry-After while a valid token is held', async () => {
      const { manager, provider } = makeManager({ retry: { retries: 0 } });
      await manager.getAccessToken();
      provider.script.push(unavailable(120_000));
      await jest.advanceTimersByTimeAsync(minutes(10));
      expect(manager.status().lastError?.nextAttemptAt).toBe(T0 + minutes(12));
      await jest.advanceTimersByTimeAsync(minutes(2) - 1);
      expect(provider.refreshCount).toBe(1);
      await jest.advanceTimersByTimeAsync(1);
      expect(provider.refreshCount).toBe(2);
      manager.close();
    });
  });

  describe('time cannot go backwards', () => {
    it('does not serve a token past its real expiry when the wall clock steps back 60 s', async () => {
      const { manager, provider } = makeManager({ now: undefined, retry: { retries: 0 }, acquireTimeoutMs: 1_000 });
      await manager.getAccessToken();
      for (let index = 0; index < 100; index += 1) provider.script.push(unavailable());
      await jest.advanceTimersByTimeAsync(minutes(15) - 5_000);
      jest.setSystemTime(Date.now() - 60_000);
      await expect(manager.getAccessToken()).rejects.toBeInstanceOf(AuthUnavailableError);
      manager.close();
    });

    it('does not serve a token past its expiry from the hot path after the wall clock stepped back 6 minutes', async () => {
      const { manager, provider } = makeManager({ now: undefined, retry: { retries: 0 }, acquireTimeoutMs: 1_000 });
      await manager.getAccessToken();
      for (let index = 0; index < 100; index += 1) provider.script.push(unavailable());
      await jest.advanceTimersByTimeAsync(minutes(15) - 5_000);
      // Back to before the refresh point on the wall clock, which is all the hot path reads.
      jest.setSystemTime(Date.now() - minutes(6));
      await jest.advanceTimersByTimeAsync(10_000);
      await expect(manager.getAccessToken()).rejects.toBeInstanceOf(AuthUnavailableError);
      manager.close();
    });

    it('does not serve a token past its expiry after the machine slept (the monotonic clock stood still)', async () => {
      const { manager, provider } = makeManager({ now: undefined });
      await manager.getAccessToken();
      // A suspend: the wall clock moves two hours on, performance.now() (CLOCK_MONOTONIC) does not.
      jest.setSystemTime(Date.now() + minutes(120));
      await expect(manager.getAccessToken()).resolves.toBe('access-2');
      expect(provider.calls).toHaveLength(2);
      manager.close();
    });

    it('does not hand its callers a set that expired while it was written', async () => {
      const store: TokenStore = { get: async () => undefined, set: never, delete: async () => undefined };
      const { manager, provider } = makeManager({ store, storeTimeoutMs: 1_000 }, { accessTtlMs: 4_000 });
      const caller = manager.getAccessToken().catch((error: unknown) => error);
      await flushUntil(() => provider.calls.length === 1);
      // The manager's clock moves on past the set's expiry while the write hangs (a suspend, a step).
      jest.setSystemTime(Date.now() + 4_500);
      await jest.advanceTimersByTimeAsync(1_000);
      expect(await caller).toBeInstanceOf(TimeoutError);
      // Held, not lost: the next run refreshes with its refresh token.
      const next = manager.getAccessToken();
      await jest.advanceTimersByTimeAsync(1_000);
      await expect(next).resolves.toBe('access-2');
      expect(provider.usedRefreshTokens).toEqual(['refresh-1']);
      manager.close();
    });

    it.each([
      [3_999, 'the set'],
      [4_000, 'a TimeoutError'],
    ])('hands its callers, when the written set lands %i ms into its 4 s life, %s', async (stepMs, expected) => {
      const store: TokenStore = { get: async () => undefined, set: never, delete: async () => undefined };
      // The hanging write is given up after 1 s: the run lands 1 ms before the set expires, or as it expires.
      const { manager, provider } = makeManager({ store, storeTimeoutMs: 1_000 }, { accessTtlMs: 4_000 });
      const caller = manager.getAccessToken().catch((error: unknown) => error);
      await flushUntil(() => provider.calls.length === 1);
      jest.setSystemTime(Date.now() + stepMs - 1_000);
      await jest.advanceTimersByTimeAsync(1_000);
      const got = await caller;
      if (expected === 'the set') expect(got).toBe('access-1');
      else expect(got).toBeInstanceOf(TimeoutError);
      manager.close();
    });

    it('ends a run whose set expired while written as its callers saw it: abandoned, not refreshed', async () => {
      const store: TokenStore = { get: async () => undefined, set: never, delete: async () => undefined };
      const { manager, provider } = makeManager({ store, storeTimeoutMs: 1_000 }, { accessTtlMs: 4_000 });
      const events = lifecycleOf(manager);
      const refreshed = jest.fn();
      manager.on('refreshed', refreshed);
      const caller = manager.getAccessToken().catch((error: unknown) => error);
      await flushUntil(() => provider.calls.length === 1);
      jest.setSystemTime(Date.now() + 4_500);
      await jest.advanceTimersByTimeAsync(1_000);
      const error = await caller;
      expect(error).toBeInstanceOf(TimeoutError);
      const ended = events.filter((event) => event.type === 'refresh-ended');
      expect(ended).toEqual([expect.objectContaining({ outcome: 'abandoned', errorCode: 'ERR_ALIX_TIMEOUT', error })]);
      expect(refreshed).not.toHaveBeenCalled();
      expect(manager.status()).toMatchObject({ refreshCount: 0, counts: { signIns: 0, failures: 1 } });
      manager.close();
    });

    it('places an expiry on the timeline as it arrived, not after a wall step back while it was written', async () => {
      const store: TokenStore = { get: async () => undefined, set: never, delete: async () => undefined };
      const options = { now: undefined, store, storeTimeoutMs: 1_000 };
      const { manager, provider } = makeManager(options, { accessTtlMs: 4_000, manual: true });
      const caller = manager.getAccessToken();
      await flushUntil(() => provider.pendingCount === 1);
      provider.release();
      await flushPromises();
      jest.setSystemTime(Date.now() - 60_000);
      await jest.advanceTimersByTimeAsync(1_000);
      await expect(caller).resolves.toBe('access-1');
      // 4.5 s after it was issued with 4 s to live: expired, whatever the wall clock says.
      await jest.advanceTimersByTimeAsync(3_500);
      expect(await hotServed(manager)).not.toBe('access-1');
      manager.close();
    });

    it('does not hot-serve a token expired in a suspend, after a failed run and a step back', async () => {
      const { manager, provider } = makeManager({ now: undefined, acquireTimeoutMs: 1_000 }, { manual: true });
      const first = manager.getAccessToken();
      await flushUntil(() => provider.pendingCount === 1);
      provider.release();
      await expect(first).resolves.toBe('access-1');
      // A 16-minute suspend: the token expired; the run it starts gets no answer.
      jest.setSystemTime(Date.now() + minutes(16));
      const waiting = manager.getAccessToken().catch((error: unknown) => error);
      await jest.advanceTimersByTimeAsync(1_000);
      expect(await waiting).toBeInstanceOf(TimeoutError);
      // The wall clock is then stepped back: the token stays expired on the timeline.
      jest.setSystemTime(Date.now() - minutes(16));
      expect(await hotServed(manager)).toBeUndefined();
      manager.close();
    });

    it('does not serve from the hot path a token its refresh timer, late after a suspend, found expired', async () => {
      const { manager, provider } = makeManager({ now: undefined });
      await expect(manager.getAccessToken()).resolves.toBe('access-1');
      // A 6-minute suspend: the refresh timer (at 10 minutes) fires when the token has expired on the timeline.
      jest.setSystemTime(Date.now() + minutes(6));
      await jest.advanceTimersByTimeAsync(minutes(10));
      expect(provider.calls).toHaveLength(1);
      jest.setSystemTime(Date.now() - minutes(7));
      provider.options.manual = true;
      expect(await hotServed(manager)).toBeUndefined();
      manager.close();
    });

    it('does not serve from the hot path a token that expired under a forced refresh after a step back', async () => {
      const { manager, provider } = makeManager({ now: undefined }, { accessTtlMs: 4_000, manual: true });
      const first = manager.getAccessToken();
      await flushUntil(() => provider.pendingCount === 1);
      provider.release();
      await expect(first).resolves.toBe('access-1');
      // Forced before the refresh point, and never answered; the wall clock is stepped back meanwhile.
      void manager.getAccessToken({ forceRefresh: true }).catch(() => undefined);
      await flushUntil(() => provider.pendingCount === 1);
      jest.setSystemTime(Date.now() - 60_000);
      await jest.advanceTimersByTimeAsync(4_000);
      expect(await hotServed(manager)).toBeUndefined();
      // Nor once that run has failed at its deadline.
      await jest.advanceTimersByTimeAsync(20_000);
      expect(await hotServed(manager)).toBeUndefined();
      manager.close();
    });

    it('does not count delivery delay as clock skew: the expiry stays the server’s', async () => {
      const provider = new FakeProvider({ now: () => Date.now(), manual: true });
      const issue = provider.issue.bind(provider);
      let sentAt = 0;
      provider.issue = () => ({ ...issue(), accessTokenExpiresAt: sentAt + minutes(15), serverTime: sentAt });
      const { manager } = makeManager({ provider });
      const caller = manager.getAccessToken();
      await flushUntil(() => provider.calls.length === 1);
      sentAt = Date.now();
      await jest.advanceTimersByTimeAsync(9_500);
      provider.release();
      await caller;
      expect(manager.status().accessTokenExpiresAt).toBeLessThanOrEqual(sentAt + minutes(15));
      manager.close();
    });

    it.each([
      ['2 s', 2_000, false],
      ['5 s', 5_000, false],
      ['20 s', 20_000, true],
    ])(
      'keeps the last-window margin for a session adopted from the store with %s left',
      async (_label, leftMs, adopted) => {
        const store = new MemoryTokenStore();
        const { manager, provider } = makeManager({ store, expirySkewMs: 10_000 });
        await store.set(manager.storeKey, {
          identity: 'unidentified',
          tokens: makeTokenSet(T0, { accessToken: 'stored', expiresInMs: leftMs }),
        });
        expect(await manager.getAccessToken()).toBe(adopted ? 'stored' : 'access-1');
        if (adopted) {
          provider.options.manual = true;
          jest.setSystemTime(T0 + leftMs - 10_000);
          let served: string | undefined;
          const waiting = manager.getAccessToken().then((token) => (served = token));
          // The caller waits for the refresh: the provider was asked and has not answered yet.
          await flushUntil(() => provider.calls.length === 1);
          expect(served).toBeUndefined();
          provider.release();
          await waiting;
          expect(served).toBe('access-1');
        }
        manager.close();
      },
    );
  });

  describe('races and listeners', () => {
    it('installs nothing after close() while the first store read is in flight', async () => {
      let answer: (session: StoredSession | undefined) => void = () => undefined;
      const store: TokenStore = {
        get: () => new Promise((resolve) => (answer = resolve)),
        set: async () => undefined,
        delete: async () => undefined,
      };
      const { manager } = makeManager({ store });
      const caller = manager.getAccessToken();
      await flushPromises();
      manager.close();
      answer({ identity: 'unidentified', tokens: makeTokenSet(T0, { accessToken: 'stored' }) });
      await expect(caller).rejects.toMatchObject({ code: 'ERR_ALIX_MANAGER_CLOSED' });
      // Once the read has landed too: nothing held, and nothing served from the hot path.
      await flushPromises();
      expect(manager.status()).toMatchObject({ state: 'closed', accessTokenExpiresAt: null });
      await expect(manager.getAccessToken()).rejects.toBeInstanceOf(TokenManagerClosedError);
    });

    it('keeps a successful sign-in when an error listener throws during a failed store write', async () => {
      const store: TokenStore = {
        get: async () => undefined,
        set: async () => Promise.reject(new Error('disk full')),
        delete: async () => undefined,
      };
      const { manager } = makeManager({ store });
      manager.on('error', () => {
        throw new Error('listener bug');
      });
      manager.on('lifecycle', () => {
        throw new Error('another listener bug');
      });
      expect(await manager.getAccessToken()).toBe('access-1');
      expect(await manager.getAccessToken()).toBe('access-1');
      expect(manager.status()).toMatchObject({ state: 'valid', lastError: null });
      manager.close();
    });

    it('serves the held token, refreshing later, when an error listener throws on a failed refresh', async () => {
      const { manager, provider } = makeManager({ retry: { ...INSTANT_RETRY, retries: 0 } });
      await manager.getAccessToken();
      const thrown: unknown[] = [];
      manager.on('error', (error) => {
        thrown.push(error);
        throw new Error('listener bug');
      });
      provider.script.push(unavailable());
      await jest.advanceTimersByTimeAsync(minutes(10));
      expect(thrown).toEqual([expect.any(AuthUnavailableError)]);
      expect(await manager.getAccessToken()).toBe('access-1');
      expect(manager.status()).toMatchObject({ state: 'valid' });
      await jest.advanceTimersByTimeAsync(minutes(3));
      expect(await manager.getAccessToken()).toBe('access-2');
      manager.close();
    });

    it('installs nothing after close() while a refresh reads the store', async () => {
      let reads = 0;
      let answer: (session: StoredSession | undefined) => void = () => undefined;
      const store: TokenStore = {
        // The start-up read and the first run's re-read find nothing; the forced refresh's read hangs.
        get: () => (reads++ < 2 ? Promise.resolve(undefined) : new Promise((resolve) => (answer = resolve))),
        set: async () => undefined,
        delete: async () => undefined,
      };
      const { manager, provider } = makeManager({ store });
      await manager.getAccessToken();
      const caller = manager.getAccessToken({ forceRefresh: true });
      await flushUntil(() => reads === 3);
      manager.close();
      answer({
        identity: 'unidentified',
        tokens: makeTokenSet(T0, { accessToken: 'stored', expiresInMs: minutes(30) }),
      });
      await expect(caller).rejects.toMatchObject({ code: 'ERR_ALIX_MANAGER_CLOSED' });
      expect(manager.status()).toMatchObject({ state: 'closed', accessTokenExpiresAt: null, counts: { adoptions: 0 } });
      expect(provider.calls).toHaveLength(1);
    });

    it('lets 10,000 slow-path callers share one AbortSignal without a MaxListenersExceededWarning', async () => {
      const warnings: Error[] = [];
      const onWarning = (warning: Error): void => void warnings.push(warning);
      process.on('warning', onWarning);
      try {
        const { manager, provider } = makeManager({}, { manual: true });
        const { signal } = new AbortController();
        const callers = Array.from({ length: 10_000 }, () => manager.getAccessToken({ signal }));
        await flushUntil(() => provider.calls.length === 1);
        provider.release();
        expect(new Set(await Promise.all(callers))).toEqual(new Set(['access-1']));
        await new Promise((resolve) => setImmediate(resolve));
        expect(warnings.filter((warning) => warning.name === 'MaxListenersExceededWarning')).toEqual([]);
        manager.close();
      } finally {
        process.off('warning', onWarning);
      }
      // 10,000 callers are seconds of CPU: a loaded machine may take longer than the default 20 s (no timer here).
    }, 60_000);
  });

  describe('token grammar', () => {
    it.each([
      ['CR/LF', 'abc\r\nX-Injected: 1'],
      ['NUL', 'abc\u0000def'],
      ['a space', 'abc def'],
    ])('rejects an access token containing %s as malformed, without quoting it', async (_label, token) => {
      const { manager, provider } = makeManager({ retry: { retries: 0 } });
      provider.script.push(() => makeTokenSet(T0, { accessToken: token }));
      const error = await manager.getAccessToken().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(MalformedResponseError);
      expect(String((error as Error).message)).not.toContain(token);
      manager.close();
    });
  });

  describe('token grammar outside the provider', () => {
    it('never serves a stored session whose access token a Bearer header cannot carry', async () => {
      const store = new MemoryTokenStore();
      const { manager, provider } = makeManager({ store });
      const events = lifecycleOf(manager);
      const tokens = makeTokenSet(T0, { accessToken: 'abc\r\nX-Injected: 1', expiresInMs: minutes(30) });
      // Written by another store's code (a MemoryTokenStore refuses to store it).
      await expect(store.set(manager.storeKey, { identity: 'unidentified', tokens })).rejects.toThrow(TokenStoreError);
      jest.spyOn(store, 'get').mockResolvedValue({ identity: 'unidentified', tokens });
      expect(await manager.getAccessToken()).toBe('access-1');
      expect(provider.authenticateCount).toBe(1);
      const failure = events.find((event) => event.type === 'store-failed');
      expect(failure).toMatchObject({ operation: 'read', errorCode: 'ERR_ALIX_MALFORMED_RESPONSE' });
      expect(JSON.stringify(failure)).not.toContain('abc');
      manager.close();
    });

    it('never serves a stored session whose expiry is not epoch ms, and says so', async () => {
      const store = new MemoryTokenStore();
      const { manager, provider } = makeManager({ store });
      const events = lifecycleOf(manager);
      const tokens = makeTokenSet(T0, { expiresInMs: minutes(30) });
      // Written by another store's code (a MemoryTokenStore refuses to store it).
      jest
        .spyOn(store, 'get')
        .mockResolvedValue({ identity: 'unidentified', tokens: { ...tokens, accessTokenExpiresAt: NaN } });
      expect(await manager.getAccessToken()).toBe('access-1');
      expect(provider.authenticateCount).toBe(1);
      const failure = events.find((event) => event.type === 'store-failed');
      expect(failure).toMatchObject({ operation: 'read', errorCode: 'ERR_ALIX_MALFORMED_RESPONSE' });
      expect(failure).toMatchObject({ message: expect.stringContaining('accessTokenExpiresAt must be epoch ms') });
      manager.close();
    });

    it('refuses seeded initialTokens whose access token a Bearer header cannot carry, without quoting it', () => {
      const build = (): unknown =>
        makeManager({ initialTokens: makeTokenSet(T0, { accessToken: 'secret\u0000part' }) });
      expect(build).toThrow(expect.objectContaining({ code: 'ERR_ALIX_CONFIGURATION' }));
      expect(() => build()).toThrow(expect.not.objectContaining({ message: expect.stringContaining('secret') }));
    });

    it('turns the fetch wrapper’s header error into a typed one that does not quote the token', async () => {
      const token = 'secret\r\nX-Injected: 1';
      const source = { getAccessToken: async () => token, invalidate: () => 'ignored' as const };
      const fetchImpl = jest.fn(async () => new Response('ok'));
      const authorizedFetch = createAuthorizedFetch(source, { origins: ['https://api.example'], fetch: fetchImpl });
      const error = await authorizedFetch('https://api.example/v1').catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(MalformedResponseError);
      expect(String((error as Error).message)).not.toContain('secret');
      expect(fetchImpl).not.toHaveBeenCalled();
    });
  });

  describe('ambiguous refresh and graceful close', () => {
    it('re-reads the store before resending a refresh whose connection broke; adopts what another stored', async () => {
      const store = new MemoryTokenStore();
      const { manager, provider } = makeManager({ store, retry: { ...INSTANT_RETRY, retries: 2 } });
      await manager.getAccessToken();
      provider.script.push(() => {
        void store.set(manager.storeKey, {
          identity: 'unidentified',
          tokens: makeTokenSet(Date.now(), { accessToken: 'from-replica', expiresInMs: minutes(20) }),
        });
        throw unavailable(undefined, 'ECONNRESET');
      });
      const events = lifecycleOf(manager);
      expect(await manager.getAccessToken({ forceRefresh: true })).toBe('from-replica');
      expect(provider.refreshCount).toBe(1);
      expect(manager.status()).toMatchObject({ counts: { ambiguousRefreshes: 1, adoptions: 1 } });
      // The re-read is not an auth call: one call started and ended, and the run made one attempt.
      expect(events.filter((event) => event.type === 'auth-call-started')).toHaveLength(1);
      expect(events.filter((event) => event.type === 'auth-call-ended')).toHaveLength(1);
      expect(events.find((event) => event.type === 'refresh-ended')).toMatchObject({ outcome: 'adopted', attempts: 1 });
      manager.close();
    });

    it('does not count a sign-in whose connection broke as ambiguous (a sign-in spends no refresh token)', async () => {
      const { manager, provider } = makeManager({ retry: { ...INSTANT_RETRY, retries: 2 } });
      provider.script.push(
        new AuthUnavailableError({ operation: 'authenticate', reason: 'network', detail: 'ECONNRESET' }),
      );
      const events = lifecycleOf(manager);
      expect(await manager.getAccessToken()).toBe('access-1');
      expect(manager.status().counts.ambiguousRefreshes).toBe(0);
      expect(events.filter((event) => event.type === 'auth-call-ended' && event.ambiguous === true)).toEqual([]);
      manager.close();
    });

    it('does not count a refresh that could not connect (ECONNREFUSED: never sent) as ambiguous', async () => {
      const { manager, provider } = makeManager({ retry: { ...INSTANT_RETRY, retries: 2 } });
      await manager.getAccessToken();
      provider.script.push(unavailable(undefined, 'connect ECONNREFUSED 127.0.0.1:443'));
      expect(await manager.getAccessToken({ forceRefresh: true })).toBe('access-2');
      expect(manager.status().counts.ambiguousRefreshes).toBe(0);
      manager.close();
    });

    it('lets a refresh in flight finish and be stored with close({ drainMs })', async () => {
      const store = new MemoryTokenStore();
      const { manager, provider } = makeManager({ store });
      await manager.getAccessToken();
      provider.options.manual = true;
      void manager.getAccessToken({ forceRefresh: true }).catch(() => undefined);
      await flushUntil(() => provider.calls.length === 2);
      const closed = manager.close({ drainMs: 5_000 });
      provider.release();
      await closed;
      expect((await store.get(manager.storeKey))?.tokens.accessToken).toBe('access-2');
      expect(manager.status().state).toBe('closed');
      // The drain's own deadline timer goes with it.
      expect(jest.getTimerCount()).toBe(0);
    });

    it('closes at once without drainMs, cancelling the refresh', async () => {
      const { manager, provider } = makeManager({}, { manual: true });
      const caller = manager.getAccessToken();
      await flushUntil(() => provider.calls.length === 1);
      await manager.close();
      await expect(caller).rejects.toMatchObject({ code: 'ERR_ALIX_MANAGER_CLOSED' });
    });

    it('closes at once with drainMs: 0, as without drainMs', async () => {
      const { manager, provider } = makeManager({}, { manual: true });
      const caller = manager.getAccessToken();
      await flushUntil(() => provider.calls.length === 1);
      void manager.close({ drainMs: 0 });
      expect(manager.status().state).toBe('closed');
      await expect(caller).rejects.toMatchObject({ code: 'ERR_ALIX_MANAGER_CLOSED' });
    });

    it('ends the run that close() cancels with a refresh-ended of outcome closed, just before closed', async () => {
      const { manager, provider } = makeManager({}, { manual: true });
      const events = lifecycleOf(manager);
      const errors: Error[] = [];
      manager.on('error', (error) => errors.push(error));
      const caller = manager.getAccessToken();
      await flushUntil(() => provider.calls.length === 1);
      await manager.close();
      await expect(caller).rejects.toBeInstanceOf(TokenManagerClosedError);
      const runEvents = events.filter((event) => event.type === 'refresh-ended' || event.type === 'closed');
      expect(runEvents).toEqual([
        expect.objectContaining({ type: 'refresh-ended', refreshId: 1, reason: 'initial', outcome: 'closed' }),
        expect.objectContaining({ type: 'closed' }),
      ]);
      // Not a failure: no 'error' event, no failure counted.
      expect(errors).toEqual([]);
      expect(manager.status().counts.failures).toBe(0);
    });
  });

  describe('sign-in rejection', () => {
    it('makes a rejected seeded refresh token visible in status() after the fallback sign-in', async () => {
      const { manager, provider } = makeManager({ initialTokens: { refreshToken: 'from-env' } });
      provider.script.push(new AuthRejectedError({ operation: 'refresh', status: 400, errorCode: 32 }));
      expect(await manager.getAccessToken()).toBe('access-1');
      expect(manager.status()).toMatchObject({
        refreshTokenRejections: { current: true, count: 1, lastAt: T0 },
        counts: { signIns: 1 },
      });
      manager.close();
    });

    it('logs the rejected refresh token as a warning, and keeps it counted after the next refresh', async () => {
      const lines: Array<{ level: number; msg: string; event: string }> = [];
      const logger = pino(
        { level: 'warn' },
        { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string; event: string }) },
      );
      const { manager, provider } = makeManager({ initialTokens: { refreshToken: 'from-env' }, logger });
      provider.script.push(new AuthRejectedError({ operation: 'refresh', status: 400, errorCode: 32 }));
      await manager.getAccessToken();
      expect(lines).toContainEqual(
        expect.objectContaining({
          level: 40,
          event: 'refresh-end',
          msg: expect.stringMatching(/refresh token was rejected/),
        }),
      );
      expect(JSON.stringify(lines)).not.toContain('from-env');
      await manager.getAccessToken({ forceRefresh: true });
      expect(manager.status()).toMatchObject({ refreshTokenRejections: { current: false, count: 1, lastAt: T0 } });
      manager.close();
    });
  });
});

describe('Guarantees with unusual providers, stores, breakers and listeners', () => {
  beforeEach(() => useFakeClock());
  afterEach(() => jest.useRealTimers());

  describe('SPEC §5: a malformed refresh never replaces a still-valid token set', () => {
    it.each<[string, Partial<TokenSet>]>([
      ['refreshTokenExpiresAt NaN', { refreshTokenExpiresAt: Number.NaN }],
      ['a non-string refresh token', { refreshToken: 42 as unknown as string }],
    ])('rejects a provider answer with %s and keeps serving the held set', async (_what, bad) => {
      // No retry: a malformed answer is retried, and the fake's next answer would be a good one.
      const { manager, provider } = makeManager({ initialTokens: makeTokenSet(T0), retry: { retries: 0 } });
      expect(await manager.getAccessToken()).toBe('seed-access');
      provider.script.push(() => ({ ...makeTokenSet(Date.now(), { accessToken: 'bad-set' }), ...bad }));
      await expect(manager.getAccessToken({ forceRefresh: true })).rejects.toBeInstanceOf(MalformedResponseError);
      expect(await manager.getAccessToken()).toBe('seed-access');
      expect(manager.status().refreshTokenExpiresAt).toBe(makeTokenSet(T0).refreshTokenExpiresAt);
      manager.close();
    });

    it('never sends a refresh call a null refresh token a provider answered with', async () => {
      const { manager, provider } = makeManager({ initialTokens: makeTokenSet(T0) });
      provider.script.push(() => ({
        ...makeTokenSet(Date.now(), { accessToken: 'next' }),
        refreshToken: null as never,
      }));
      await manager.getAccessToken({ forceRefresh: true }).catch(() => undefined);
      await manager.getAccessToken({ forceRefresh: true }).catch(() => undefined);
      expect(provider.usedRefreshTokens).toHaveLength(2);
      expect(provider.usedRefreshTokens.map((token) => typeof token)).toEqual(['string', 'string']);
      manager.close();
    });
  });

  describe('SPEC §4 bounded waits', () => {
    it('bounds the start-up store read by acquireTimeoutMs from the caller arrival, whatever storeTimeoutMs', async () => {
      const store: TokenStore = { get: never, set: async () => undefined, delete: async () => undefined };
      const { manager, provider } = makeManager({ store, storeTimeoutMs: 10_000, acquireTimeoutMs: 1_000 });
      provider.authenticate = () => never();
      let settled: unknown;
      void manager.getAccessToken().then(
        () => (settled = 'token'),
        (error: unknown) => (settled = error),
      );
      await jest.advanceTimersByTimeAsync(999);
      expect(settled).toBeUndefined();
      // The deadline's own timer is armed in the tick the read gives up: one more ms.
      await jest.advanceTimersByTimeAsync(2);
      expect(settled).toMatchObject({ code: 'ERR_ALIX_TIMEOUT', stage: 'store' });
      manager.close();
      await jest.advanceTimersByTimeAsync(10_000);
    });
  });

  describe('close() during the start-up read', () => {
    it('rejects a caller waiting on a hung store read at once at close()', async () => {
      const store: TokenStore = { get: never, set: async () => undefined, delete: async () => undefined };
      const { manager } = makeManager({ store, storeTimeoutMs: 2_000 });
      let settled: unknown;
      void manager.getAccessToken().then(
        () => (settled = 'token'),
        (error: unknown) => (settled = error),
      );
      await flushPromises();
      manager.close();
      await flushPromises();
      expect(settled).toBeInstanceOf(TokenManagerClosedError);
      await jest.advanceTimersByTimeAsync(2_000);
    });
  });

  describe('the breaker is scoped per session: providers without an identity share no circuit', () => {
    it.each([
      ['identity B because identity A failed, when both use one configured storeKey', 'shared', 'user-A', 'user-B'],
      ["partner B's provider because partner A's failed, when both declare no identity", undefined, null, null],
    ] as const)('never refuses %s and share a breaker', async (_case, storeKey, idA, idB) => {
      const store = new MemoryTokenStore();
      const breaker = new LocalAuthBreaker({ failureThreshold: 2 });
      const scope = 'partner-1@https://auth.example';
      const identity = (id: string | null) => (id === null ? undefined : { id, scope });
      const options = storeKey === undefined ? { breaker } : { store, breaker, storeKey };
      const a = makeManager(options, { identity: identity(idA), prefix: 'A-' });
      const b = makeManager(options, { identity: identity(idB), prefix: 'B-' });
      a.provider.script.push(unavailable(), unavailable(), unavailable(), unavailable());
      await expect(a.manager.getAccessToken()).rejects.toMatchObject({ code: 'ERR_ALIX_AUTH_UNAVAILABLE' });
      expect(a.manager.status().breaker?.state).toBe('open');
      // B's own account never failed: its first call must reach its auth server.
      await expect(b.manager.getAccessToken()).resolves.toBe('B-access-1');
      a.manager.close();
      b.manager.close();
    });
  });

  describe('single flight across close({ drainMs })', () => {
    it('lets reports, forced and plain callers during the drain share the one run, then leaves no timer', async () => {
      const { manager, provider } = makeManager({}, { manual: true });
      const first = manager.getAccessToken();
      await flushUntil(() => provider.pendingCount === 1);
      provider.release();
      expect(await first).toBe('access-1');
      const forced = manager.getAccessToken({ forceRefresh: true });
      await flushUntil(() => provider.pendingCount === 1);
      const closed = manager.close({ drainMs: 5_000 });
      expect(manager.invalidate('access-1')).toBe('refreshing');
      const joined = [manager.getAccessToken({ forceRefresh: true }), manager.getAccessToken()];
      await flushPromises();
      expect(provider.calls).toHaveLength(2);
      provider.release();
      await expect(Promise.all([forced, ...joined])).resolves.toEqual(['access-2', 'access-2', 'access-2']);
      await closed;
      expect(provider.calls).toHaveLength(2);
      expect(jest.getTimerCount()).toBe(0);
      await expect(manager.getAccessToken()).rejects.toBeInstanceOf(TokenManagerClosedError);
    });

    it('starts no run once the drained run has landed: a caller then gets TokenManagerClosedError at once', async () => {
      const { manager, provider } = makeManager({}, { manual: true });
      const first = manager.getAccessToken();
      await flushUntil(() => provider.pendingCount === 1);
      provider.release();
      await first;
      const forced = manager.getAccessToken({ forceRefresh: true });
      await flushUntil(() => provider.pendingCount === 1);
      const closed = manager.close({ drainMs: 5_000 });
      const events = lifecycleOf(manager);
      let late: Promise<string> | undefined;
      // Arrives after the drained run landed, before the close itself.
      manager.on('refreshed', () => {
        late = manager.getAccessToken({ forceRefresh: true });
        late.catch(() => undefined);
      });
      provider.release();
      await expect(forced).resolves.toBe('access-2');
      await expect(late).rejects.toBeInstanceOf(TokenManagerClosedError);
      await closed;
      expect(events.filter((event) => event.type === 'refresh-started')).toEqual([]);
      expect(provider.calls).toHaveLength(2);
    });
  });

  describe('a failing custom breaker admits and never escapes', () => {
    /** A custom breaker whose snapshot() starts throwing once `breakAt` says so. */
    const brittleBreaker = (breakAt: 'admit' | 'record'): AuthBreaker => {
      let broken = false;
      return {
        admit: async () => {
          broken ||= breakAt === 'admit';
          return { allowed: true, probe: false };
        },
        record: async () => {
          broken ||= breakAt === 'record';
        },
        snapshot: () => {
          if (broken) throw new Error('breaker cache not ready');
          return { state: 'closed', failures: 0, openUntil: null, level: null };
        },
      };
    };

    it('still gets the caller a token when snapshot() throws after admit()', async () => {
      const { manager } = makeManager({ breaker: brittleBreaker('admit') });
      await expect(manager.getAccessToken()).resolves.toBe('access-1');
      manager.close();
    });

    it('lets no rejection go unhandled when snapshot() throws after a successful call is recorded', async () => {
      const unhandled: unknown[] = [];
      const trap = (reason: unknown): void => void unhandled.push(reason);
      process.on('unhandledRejection', trap);
      try {
        const { manager } = makeManager({ breaker: brittleBreaker('record') });
        await expect(manager.getAccessToken()).resolves.toBe('access-1');
        await new Promise((resolve) => setImmediate(resolve));
        await new Promise((resolve) => setImmediate(resolve));
        expect(unhandled).toEqual([]);
        manager.close();
      } finally {
        process.off('unhandledRejection', trap);
      }
    });
  });

  describe('single flight against re-entrant listeners', () => {
    it('starts no second run when a refresh-started listener reports the held token', async () => {
      const { manager, provider } = makeManager({}, { manual: true });
      const first = manager.getAccessToken();
      await flushUntil(() => provider.pendingCount === 1);
      provider.release();
      expect(await first).toBe('access-1');
      manager.on('lifecycle', (event) => {
        if (event.type === 'refresh-started' && event.reason === 'forced') manager.invalidate();
      });
      const forced = manager.getAccessToken({ forceRefresh: true });
      await flushPromises();
      expect(provider.pendingCount).toBe(1);
      provider.release();
      await forced;
      manager.close();
    });

    it('keeps the caller deadline for the run that replaces a set a listener rejected as it landed', async () => {
      const options = { acquireTimeoutMs: 1_000, refreshTokenWarningMs: minutes(60 * 24 * 365) };
      const { manager, provider } = makeManager(options, { manual: true });
      manager.once('refreshTokenExpiring', () => manager.invalidate());
      let settled: unknown;
      void manager.getAccessToken().then(
        (token) => (settled = token),
        (error: unknown) => (settled = error),
      );
      await flushUntil(() => provider.pendingCount === 1);
      await jest.advanceTimersByTimeAsync(600);
      provider.release();
      await flushUntil(() => provider.calls.length === 2);
      // Arrived at T0: its wait ends at T0 + 1 s, whichever run it is answered by.
      await jest.advanceTimersByTimeAsync(400);
      expect(settled).toBeInstanceOf(TimeoutError);
      manager.close();
    });
  });

  describe('401 storms', () => {
    it('remembers at most 256 storm targets per session, forgetting the oldest first', async () => {
      const { manager } = makeManager({ initialTokens: makeTokenSet(T0, { expiresInMs: minutes(15) }) });
      expect(await manager.getAccessToken()).toBe('seed-access');
      for (let index = 0; index <= 256; index += 1)
        expect(manager.invalidate(undefined, { target: `GET /t${index}`, replay: true })).toBe('cooldown');
      expect(manager.invalidate(undefined, { target: 'GET /t1' })).toBe('cooldown');
      // The oldest target was dropped to keep the map bounded: its next 401 is a revocation again.
      expect(manager.invalidate(undefined, { target: 'GET /t0' })).toBe('refreshing');
      manager.close();
    });
  });

  describe('garbage from a custom store or provider', () => {
    const wrap = (inner: TokenStore, extra: Partial<TokenStore> = {}): TokenStore => ({
      get: (key) => inner.get(key),
      set: (key, session) => inner.set(key, session),
      delete: (key) => inner.delete(key),
      ...extra,
    });

    it('reads a store whose get() answers null (a missing Redis key) as nothing stored', async () => {
      const store = wrap(new MemoryTokenStore(), { get: async () => null as unknown as StoredSession });
      const { manager, provider } = makeManager({ store });
      const events = lifecycleOf(manager);
      expect(await manager.getAccessToken()).toBe('access-1');
      expect(await manager.getAccessToken({ forceRefresh: true })).toBe('access-2');
      expect(provider.calls.map((call) => call.kind)).toEqual(['authenticate', 'refresh']);
      expect(events.filter((event) => event.type === 'store-failed')).toEqual([]);
      manager.close();
    });

    it('reads a stored session without a token set as unreadable, not as a TypeError', async () => {
      const garbage = { identity: 'unidentified' } as unknown as StoredSession;
      const store = wrap(new MemoryTokenStore(), { get: async () => garbage });
      const { manager } = makeManager({ store });
      const events = lifecycleOf(manager);
      expect(await manager.getAccessToken()).toBe('access-1');
      expect(events.some((event) => event.type === 'store-failed' && event.operation === 'read')).toBe(true);
      manager.close();
    });

    it('keeps the tokens it obtained when the store’s watch() throws', async () => {
      const store = wrap(new MemoryTokenStore(), {
        watch: () => {
          throw new Error('subscriber down');
        },
      });
      const { manager, provider } = makeManager({ store });
      const events = lifecycleOf(manager);
      expect(await manager.getAccessToken()).toBe('access-1');
      expect(await manager.getAccessToken()).toBe('access-1');
      expect(provider.calls).toHaveLength(1);
      expect(events).toContainEqual(expect.objectContaining({ type: 'store-failed', operation: 'watch' }));
      manager.close();
    });

    it('reads a provider’s null answer as a malformed response', async () => {
      const { manager, provider } = makeManager({ retry: { ...INSTANT_RETRY, retries: 0 } });
      provider.script.push(() => null as unknown as TokenSet);
      await expect(manager.getAccessToken()).rejects.toBeInstanceOf(MalformedResponseError);
      expect(await manager.getAccessToken()).toBe('access-1');
      manager.close();
    });

    it('refuses initialTokens: null with a ConfigurationError', () => {
      expect(() => makeManager({ initialTokens: null as never })).toThrow(
        expect.objectContaining({ code: 'ERR_ALIX_CONFIGURATION' }),
      );
    });

    it('refuses initialTokens expiries in epoch seconds (as the wire has them), and takes a simulated clock near 0', () => {
      const seconds = Math.floor(T0 / 1000);
      const refused = [
        { ...makeTokenSet(T0), accessTokenExpiresAt: seconds + 900 },
        { refreshToken: 'from-env', refreshTokenExpiresAt: seconds + 86_400 },
      ];
      for (const initialTokens of refused)
        expect(() => makeManager({ initialTokens })).toThrow(/must be epoch ms; \d+ reads as epoch seconds/);
      const simulated = { refreshToken: 'from-env', refreshTokenExpiresAt: 86_400_000 };
      expect(() => makeManager({ now: () => 0, initialTokens: simulated }).manager.close()).not.toThrow();
    });

    it('answers invalidate() after close() with ignored, and emits nothing after closed', async () => {
      const { manager } = makeManager();
      await manager.getAccessToken();
      const types: string[] = [];
      manager.on('lifecycle', (event) => types.push(event.type));
      manager.close();
      expect(manager.invalidate('access-1')).toBe('ignored');
      expect(types).toEqual(['closed']);
    });

    it('reads getAccessToken(null) as no options while a token is held', async () => {
      const { manager } = makeManager();
      await manager.getAccessToken();
      await expect(manager.getAccessToken(null as never)).resolves.toBe('access-1');
      manager.close();
    });
  });

  describe('close() against listeners and stores', () => {
    it('leaves no refresh timer armed when an adopted listener closes the manager', async () => {
      const store = new MemoryTokenStore();
      await store.set('alix-token-manager:session:unidentified', {
        identity: 'unidentified',
        tokens: makeTokenSet(T0),
      });
      const { manager } = makeManager({ store });
      manager.on('lifecycle', (event) => {
        if (event.type === 'adopted') void manager.close();
      });
      await expect(manager.getAccessToken()).rejects.toBeInstanceOf(TokenManagerClosedError);
      expect(jest.getTimerCount()).toBe(0);
    });

    it('rejects the waiting caller and emits nothing after closed when a refresh-token-expiring listener closes the manager', async () => {
      const { manager } = makeManager({ refreshTokenWarningMs: minutes(60 * 24 * 365) });
      const events = lifecycleOf(manager);
      manager.on('refreshTokenExpiring', () => void manager.close());
      await expect(manager.getAccessToken()).rejects.toBeInstanceOf(TokenManagerClosedError);
      await flushPromises();
      // The stream ends with closed: not even the caller's own wait is reported after it.
      const afterClosed = events.slice(events.findIndex((event) => event.type === 'closed') + 1);
      expect(afterClosed.map((event) => event.type)).toEqual([]);
    });

    it('ends the run as closed, before closed, when a listener of an event of its landing closes the manager', async () => {
      const { manager } = makeManager({ refreshTokenWarningMs: minutes(60 * 24 * 365) });
      const events = lifecycleOf(manager);
      manager.on('refreshTokenExpiring', () => void manager.close());
      await expect(manager.getAccessToken()).rejects.toBeInstanceOf(TokenManagerClosedError);
      const ended = events.filter((event) => event.type === 'refresh-ended');
      expect(ended).toEqual([expect.objectContaining({ refreshId: 1, outcome: 'closed' })]);
      expect(events.at(-1)?.type).toBe('closed');
    });

    it('never hands a run’s callers the token a listener of its landing rejected: they get the next run’s', async () => {
      const { manager, provider } = makeManager({ refreshTokenWarningMs: minutes(60 * 24 * 365) });
      manager.once('refreshTokenExpiring', () => expect(manager.invalidate('access-1')).toBe('refreshing'));
      await expect(manager.getAccessToken()).resolves.toBe('access-2');
      expect(provider.calls).toHaveLength(2);
      manager.close();
    });

    it('emits nothing after closed when an error listener closes the manager after a failed background refresh', async () => {
      const { manager, provider } = makeManager({ retry: { ...INSTANT_RETRY, retries: 0 } });
      await manager.getAccessToken();
      manager.on('error', () => void manager.close());
      const events = lifecycleOf(manager);
      provider.script.push(unavailable());
      // In the refresh window a valid token is held: the failed run plans a background retry, which close() must not leave armed.
      jest.setSystemTime(manager.status().nextRefreshAt as number);
      await expect(manager.getAccessToken()).resolves.toBe('access-1');
      await flushUntil(() => manager.status().state === 'closed');
      await flushPromises();
      expect(events.at(-1)?.type).toBe('closed');
      expect(jest.getTimerCount()).toBe(0);
    });

    it('rejects a waiting caller at close() even when the provider ignores the run’s signal', async () => {
      const { manager, provider } = makeManager();
      let called = false;
      provider.authenticate = <T>(): Promise<T> => {
        called = true;
        return never<T>();
      };
      let outcome: unknown = 'pending';
      const waiting = manager.getAccessToken().catch((error: unknown) => (outcome = error));
      await flushUntil(() => called);
      void manager.close();
      await waiting;
      expect(outcome).toBeInstanceOf(TokenManagerClosedError);
    });

    it('still closes (timer cancelled, closed emitted) when the store’s unwatch throws', async () => {
      const inner = new MemoryTokenStore();
      const store: TokenStore = {
        get: (key) => inner.get(key),
        set: (key, session) => inner.set(key, session),
        delete: (key) => inner.delete(key),
        watch: () => () => {
          throw new Error('subscriber down');
        },
      };
      const { manager } = makeManager({ store, initialTokens: makeTokenSet(T0) });
      const events = lifecycleOf(manager);
      expect(await manager.getAccessToken()).toBe('seed-access');
      await expect(manager.close()).resolves.toBeUndefined();
      expect(manager.status().state).toBe('closed');
      expect(jest.getTimerCount()).toBe(0);
      expect(events.map((event) => event.type)).toContain('closed');
    });
  });
});
