import { Writable } from 'node:stream';
import { AxiosError } from 'axios';
import pino from 'pino';
import { AuthRejectedError, AuthUnavailableError, ConfigurationError, TimeoutError } from '../../src/errors';
import { createLogger } from '../../src/logger';
import { TokenManager } from '../../src/manager/token-manager';
import { TokenManagerPool } from '../../src/pool/pool';
import { FakeProvider, flushUntil, makeTokenSet } from '../helpers/fake-provider';
import { T0, lifecycleOf, makeManager, minutes, useFakeClock } from '../helpers/manager';
import { MemoryTokenStore } from '../../src/stores/memory';

function captureLogs(): { logger: pino.Logger; lines: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines: () => chunks.join('') };
}

describe('TokenManager', () => {
  beforeEach(() => useFakeClock());
  afterEach(() => jest.useRealTimers());

  describe('events', () => {
    it('emits refreshed with expiries and whether it was a sign-in, never a token', async () => {
      const { manager } = makeManager();
      const events: unknown[] = [];
      manager.on('refreshed', (event) => events.push(event));
      await manager.getAccessToken();
      await manager.getAccessToken({ forceRefresh: true });
      expect(events).toEqual([
        {
          accessTokenExpiresAt: T0 + minutes(15),
          refreshTokenExpiresAt: expect.any(Number),
          signIn: true,
          reason: 'initial',
        },
        {
          accessTokenExpiresAt: T0 + minutes(15),
          refreshTokenExpiresAt: expect.any(Number),
          signIn: false,
          reason: 'forced',
        },
      ]);
      expect(JSON.stringify(events)).not.toMatch(/access-|refresh-/);
      manager.close();
    });

    it('derives error from the refresh-ended event of a failed run: the same Error, right after it', async () => {
      const { manager, provider } = makeManager();
      provider.script.push(new AuthRejectedError({ operation: 'authenticate', status: 400, errorCode: 32 }));
      const seen: Array<[string, unknown]> = [];
      manager.on('lifecycle', (event) => {
        if (event.type === 'refresh-ended') seen.push(['refresh-ended', event.error]);
      });
      manager.on('error', (error) => seen.push(['error', error]));
      const failure: unknown = await manager.getAccessToken().catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(AuthRejectedError);
      expect(seen.map(([name]) => name)).toEqual(['refresh-ended', 'error']);
      for (const [, error] of seen) expect(error).toBe(failure);
      manager.close();
    });

    it('reports each wait for a token as token-waited: how long, and the error code of one that failed', async () => {
      const { manager, provider } = makeManager({ acquireTimeoutMs: 1_000 }, { manual: true });
      const events = lifecycleOf(manager);
      const first = manager.getAccessToken();
      await flushUntil(() => provider.pendingCount === 1);
      await jest.advanceTimersByTimeAsync(250);
      provider.release();
      expect(await first).toBe('access-1');
      const forced = manager.getAccessToken({ forceRefresh: true }).catch((error: unknown) => error);
      await flushUntil(() => provider.pendingCount === 1);
      await jest.advanceTimersByTimeAsync(1_000);
      const failure = await forced;
      expect(failure).toBeInstanceOf(TimeoutError);
      expect(events.filter((event) => event.type === 'token-waited')).toEqual([
        { type: 'token-waited', at: T0 + 250, durationMs: 250, outcome: 'success' },
        { type: 'token-waited', at: T0 + 1_250, durationMs: 1_000, outcome: 'failure', errorCode: 'ERR_ALIX_TIMEOUT' },
      ]);
      manager.close();
    });

    it('reports a wait that failed with an error of no code as a failure, errorCode UNKNOWN', async () => {
      const { manager, provider } = makeManager();
      provider.script.push(new RangeError('a provider bug'));
      const events = lifecycleOf(manager);
      await expect(manager.getAccessToken()).rejects.toThrow(RangeError);
      expect(events.filter((event) => event.type === 'token-waited')).toEqual([
        { type: 'token-waited', at: T0, durationMs: 0, outcome: 'failure', errorCode: 'UNKNOWN' },
      ]);
      manager.close();
    });

    it('warns once per refresh token when it nears its own expiry', async () => {
      const { manager } = makeManager({ refreshTokenWarningMs: minutes(60) }, { refreshTtlMs: minutes(59) });
      const warnings: unknown[] = [];
      manager.on('refreshTokenExpiring', (event) => warnings.push(event));
      await manager.getAccessToken();
      await manager.getAccessToken();
      expect(warnings).toEqual([{ refreshTokenExpiresAt: T0 + minutes(59), remainingMs: minutes(59) }]);
      manager.close();
    });

    it('never warns of a refresh token whose expiry the provider gave as null (none), and holds it as absent', async () => {
      const { manager, provider } = makeManager({ refreshTokenWarningMs: minutes(60) });
      provider.script.push(() => ({ ...provider.issue(), refreshTokenExpiresAt: null as never }));
      const warnings: unknown[] = [];
      manager.on('refreshTokenExpiring', (event) => warnings.push(event));
      await manager.getAccessToken();
      expect(warnings).toEqual([]);
      expect(manager.status()).toMatchObject({ refreshTokenExpiresAt: null });
      manager.close();
    });

    it('emits error for a run abandoned at its deadline, with its TimeoutError', async () => {
      const { manager, provider } = makeManager({ acquireTimeoutMs: 1_000 }, { manual: true });
      const errors: Error[] = [];
      manager.on('error', (error) => errors.push(error));
      const caller = manager.getAccessToken();
      caller.catch(() => undefined);
      await flushUntil(() => provider.pendingCount === 1);
      await jest.advanceTimersByTimeAsync(1_000);
      const failure: unknown = await caller.catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(TimeoutError);
      expect(errors).toEqual([failure]);
      manager.close();
    });

    it('emits no error event when nobody listens to it (and logs no listener failure)', async () => {
      const { logger, lines } = captureLogs();
      const { manager, provider } = makeManager({ logger });
      provider.script.push(new AuthRejectedError({ operation: 'authenticate', status: 400, errorCode: 32 }));
      await expect(manager.getAccessToken()).rejects.toBeInstanceOf(AuthRejectedError);
      expect(lines()).toContain('"event":"refresh-end"');
      expect(lines()).not.toContain('listener-threw');
      manager.close();
    });

    it("logs a listener's error without the request a custom provider's AxiosError carries", async () => {
      const { logger, lines } = captureLogs();
      const { manager, provider } = makeManager({ logger }, { prefix: 'tok_4f9a2c' });
      await manager.getAccessToken();
      const config = { data: '{"refreshToken":"tok_4f9a2crefresh-1"}', headers: { Authorization: 'Bearer abc' } };
      provider.script.push(new AxiosError('Request failed with status code 400', 'ERR_BAD_REQUEST', config as never));
      // A listener that passes the failure on: what it throws is logged by the manager.
      manager.on('error', (error) => {
        throw error;
      });
      await expect(manager.getAccessToken({ forceRefresh: true })).rejects.toBeInstanceOf(AxiosError);
      expect(lines()).toContain('"event":"listener-threw"');
      expect(lines()).toContain('Request failed with status code 400');
      expect(lines()).not.toContain('tok_4f9a2crefresh-1');
      expect(lines()).not.toContain('Bearer abc');
      manager.close();
    });

    it('keeps the outcome when a listener throws and the logger throws too', async () => {
      const logger = pino({
        level: 'error',
        hooks: {
          logMethod() {
            throw new Error('log sink down');
          },
        },
      });
      const { manager } = makeManager({ logger });
      manager.on('refreshed', () => {
        throw new Error('listener bug');
      });
      expect(await manager.getAccessToken()).toBe('access-1');
      manager.close();
    });
  });

  describe('status()', () => {
    it('reports state, expiries and counters without any secret', async () => {
      const { manager } = makeManager();
      expect(manager.status().state).toBe('idle');
      await manager.getAccessToken();
      const status = manager.status();
      expect(status).toMatchObject({
        state: 'valid',
        accessTokenExpiresAt: T0 + minutes(15),
        nextRefreshAt: T0 + minutes(10),
        lastRefreshAt: T0,
        lastError: null,
        refreshCount: 1,
        counts: { signIns: 1 },
      });
      expect(JSON.stringify(status)).not.toMatch(/access-1|refresh-1/);
      jest.setSystemTime(T0 + minutes(16));
      expect(manager.status().state).toBe('expired');
      manager.close();
    });

    it('counts a run abandoned at its deadline as a failure', async () => {
      const { manager, provider } = makeManager({ acquireTimeoutMs: 1_000 }, { manual: true });
      const caller = manager.getAccessToken();
      caller.catch(() => undefined);
      await flushUntil(() => provider.pendingCount === 1);
      await jest.advanceTimersByTimeAsync(1_000);
      await expect(caller).rejects.toBeInstanceOf(TimeoutError);
      expect(manager.status().counts.failures).toBe(1);
      manager.close();
    });

    it('counts token sets obtained in refreshCount and lastRefreshAt, not sessions adopted from the store', async () => {
      const store = new MemoryTokenStore({ breaker: false });
      const { manager, provider } = makeManager({ store });
      await manager.getAccessToken();
      jest.setSystemTime(T0 + minutes(1));
      const tokens = makeTokenSet(T0 + minutes(1), { accessToken: 'from-replica' });
      await store.set(manager.storeKey, { identity: 'unidentified', tokens });
      expect(await manager.getAccessToken({ forceRefresh: true })).toBe('from-replica');
      expect(provider.calls).toHaveLength(1);
      expect(manager.status()).toMatchObject({ refreshCount: 1, lastRefreshAt: T0, counts: { adoptions: 1 } });
      manager.close();
    });

    it('counts only the invalidations that started a refresh', async () => {
      const { manager } = makeManager();
      await manager.getAccessToken();
      expect(manager.invalidate('an-older-token')).toBe('stale');
      expect(manager.status().counts.invalidations).toBe(0);
      expect(manager.invalidate('access-1')).toBe('refreshing');
      expect(manager.status().counts.invalidations).toBe(1);
      manager.close();
    });

    it('counts store failures that are no unreadable session apart from unreadableSessions', async () => {
      const store = new MemoryTokenStore({ breaker: false });
      store.get = () => Promise.reject(new Error('connection reset'));
      store.set = () => Promise.reject(new Error('READONLY replica'));
      const { manager } = makeManager({ store });
      const events = lifecycleOf(manager);
      expect(await manager.getAccessToken()).toBe('access-1');
      expect(events.filter((event) => event.type === 'store-failed').map((event) => event.operation)).toEqual(
        expect.arrayContaining(['read', 'write']),
      );
      expect(manager.status().counts.unreadableSessions).toBe(0);
      manager.close();
    });
  });

  describe('status() on the wall clock', () => {
    it('reports nextRefreshAt on the wall clock the token set arrived on, as its expiry is', async () => {
      // No injected `now`: the held session is tracked on the monotonic timeline, which a wall clock stepped back
      // does not follow.
      const { manager } = makeManager({ now: undefined });
      await manager.getAccessToken();
      jest.setSystemTime(T0 - minutes(60));
      expect(manager.status()).toMatchObject({
        accessTokenExpiresAt: T0 + minutes(15),
        nextRefreshAt: T0 + minutes(10),
      });
      manager.close();
    });

    it('judges health() on that clock too: a wall clock stepped back adds no time left to the token', async () => {
      const { manager } = makeManager({ now: undefined });
      await manager.getAccessToken();
      await jest.advanceTimersByTimeAsync(minutes(6));
      jest.setSystemTime(Date.now() - minutes(60));
      // 9 minutes are left, whatever the wall clock says now.
      expect(manager.health({ minValidityMs: minutes(10) })).toEqual({
        status: 'degraded',
        reasons: ['access token expires in 540 s'],
      });
      manager.close();
    });

    it("reports a seeded refresh token's expiry before the first refresh has ended", async () => {
      const refreshTokenExpiresAt = T0 + minutes(60 * 24);
      const { manager, provider } = makeManager(
        { initialTokens: { refreshToken: 'seeded', refreshTokenExpiresAt } },
        { manual: true },
      );
      const caller = manager.getAccessToken();
      await flushUntil(() => provider.pendingCount === 1);
      expect(manager.status()).toMatchObject({ state: 'refreshing', refreshTokenExpiresAt });
      provider.release();
      expect(await caller).toBe('access-1');
      manager.close();
    });
  });

  describe('status() snapshots', () => {
    it('reports no nextRefreshAt while a rejected token waits for its refresh', async () => {
      const { manager, provider } = makeManager();
      await manager.getAccessToken();
      provider.options.manual = true;
      expect(manager.invalidate('access-1')).toBe('refreshing');
      expect(manager.status()).toMatchObject({ state: 'refreshing', nextRefreshAt: null });
      await flushUntil(() => provider.pendingCount === 1);
      provider.release();
      expect(await manager.getAccessToken()).toBe('access-2');
      expect(manager.status().nextRefreshAt).toBe(T0 + minutes(10));
      manager.close();
    });

    it('reports whole epoch ms for expiries that arrive with a fraction', async () => {
      const { manager, provider } = makeManager();
      provider.script.push(() =>
        makeTokenSet(T0, { expiresInMs: minutes(15) + 0.75, refreshTokenExpiresAt: T0 + 0.5e9 + 0.25 }),
      );
      await manager.getAccessToken();
      expect(manager.status()).toMatchObject({
        accessTokenExpiresAt: T0 + minutes(15),
        refreshTokenExpiresAt: T0 + 0.5e9,
        nextRefreshAt: T0 + minutes(10),
      });
      manager.close();
    });

    it('is a snapshot: later events change no status() already taken', async () => {
      const { manager, provider } = makeManager();
      await manager.getAccessToken();
      const before = manager.status();
      manager.invalidate('access-1');
      provider.script.push(new AuthRejectedError({ operation: 'refresh', status: 400, errorCode: 32 }));
      expect(await manager.getAccessToken()).toBe('access-2');
      expect(manager.status()).toMatchObject({ counts: { invalidations: 1 }, refreshTokenRejections: { count: 1 } });
      expect(before.counts.invalidations).toBe(0);
      expect(before.refreshTokenRejections).toEqual({ count: 0, lastAt: null, current: false });
      manager.close();
    });
  });

  describe('health()', () => {
    it('is not ok while callers wait for a refresh: a rejected token, or one in its last expirySkewMs', async () => {
      const { manager, provider } = makeManager({ expirySkewMs: minutes(2) }, { manual: true });
      const answered = async (caller: Promise<string>): Promise<string> => {
        await flushUntil(() => provider.pendingCount === 1);
        provider.release();
        return caller;
      };
      expect(await answered(manager.getAccessToken())).toBe('access-1');
      manager.invalidate('access-1');
      const waiting = manager.getAccessToken();
      await flushUntil(() => provider.pendingCount === 1);
      expect(manager.health().status).toBe('degraded');
      expect(await answered(waiting)).toBe('access-2');
      // 1 min 59 s left: callers wait, though more than minValidityMs is left.
      jest.setSystemTime(T0 + minutes(13) + 1_000);
      const blocked = manager.getAccessToken();
      await flushUntil(() => provider.pendingCount === 1);
      expect(manager.health({ minValidityMs: 0 }).status).toBe('degraded');
      expect(await answered(blocked)).toBe('access-3');
      manager.close();
    });

    it("is degraded while the store's refresh lock cannot be used", async () => {
      const store = new MemoryTokenStore({ breaker: false });
      Object.assign(store, { acquireRefreshLock: () => Promise.reject(new Error('NOPERM no permission')) });
      const { manager } = makeManager({ store });
      expect(await manager.getAccessToken()).toBe('access-1');
      expect(manager.health()).toEqual({
        status: 'degraded',
        reasons: ['refresh lock unavailable: NOPERM no permission'],
      });
      manager.close();
    });

    it('is ok again once a run adopts a stored session after a failed write', async () => {
      const store = new MemoryTokenStore({ breaker: false });
      const set = store.set.bind(store);
      store.set = () => Promise.reject(new Error('READONLY replica'));
      const { manager } = makeManager({ store });
      await manager.getAccessToken();
      expect(manager.health().reasons).toEqual(['the token set is not stored: READONLY replica']);
      jest.setSystemTime(T0 + minutes(1));
      await set(manager.storeKey, {
        identity: 'unidentified',
        tokens: makeTokenSet(T0 + minutes(1), { accessToken: 'from-replica' }),
      });
      expect(await manager.getAccessToken({ forceRefresh: true })).toBe('from-replica');
      expect(manager.health()).toEqual({ status: 'ok', reasons: [] });
      manager.close();
    });
  });

  describe('logging', () => {
    it('logs lifecycle events through the given pino logger with no token in them', async () => {
      const { logger, lines } = captureLogs();
      const { manager } = makeManager({ logger });
      await manager.getAccessToken();
      manager.invalidate('access-1');
      await manager.getAccessToken();
      const output = lines();
      expect(output).toContain('"event":"refresh-start"');
      expect(output).toContain('"event":"invalidated"');
      expect(output).toContain('"module":"alix-token-manager"');
      expect(output).not.toMatch(/access-\d|refresh-\d/);
      manager.close();
    });

    it('logs a failed run with its errorCode and without the error object', async () => {
      const { logger, lines } = captureLogs();
      const { manager, provider } = makeManager({ logger });
      provider.script.push(new AuthRejectedError({ operation: 'authenticate', status: 400, errorCode: 32 }));
      await expect(manager.getAccessToken()).rejects.toBeInstanceOf(AuthRejectedError);
      const ended = lines()
        .split('\n')
        .filter((line) => line.includes('"event":"refresh-end"'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(ended).toEqual([expect.objectContaining({ outcome: 'failed', errorCode: 'ERR_ALIX_AUTH_REJECTED' })]);
      expect(ended[0]).not.toHaveProperty('error');
      manager.close();
    });

    it('warns about what an operator acts on: a transient auth failure, a refused refresh token', async () => {
      const { logger, lines } = captureLogs();
      logger.level = 'warn';
      const { manager, provider } = makeManager({ logger });
      await manager.getAccessToken();
      provider.script.push(
        new AuthUnavailableError({ operation: 'refresh', reason: 'http', status: 503 }),
        new AuthRejectedError({ operation: 'refresh', status: 400, errorCode: 32 }),
      );
      expect(await manager.getAccessToken({ forceRefresh: true })).toBe('access-2');
      const warned = lines()
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as { level: number; event: string });
      expect(warned.map(({ level, event }) => [level, event])).toEqual([
        [40, 'auth-retry'],
        [40, 'refresh-end'],
      ]);
      manager.close();
    });

    it('redacts tokens and authorization headers at any depth the library logs', () => {
      const { logger, lines } = captureLogs();
      const log = createLogger(logger);
      log.info({
        accessToken: 'secret-a',
        err: { config: { headers: { authorization: 'Bearer secret-b' } } },
        nested: { refreshToken: 'secret-c' },
      });
      expect(lines()).not.toMatch(/secret-[abc]/);
      expect(lines()).toContain('[REDACTED]');
    });
  });

  describe('constructor', () => {
    it.each([
      ['no provider', {}],
      ['a negative window', { provider: new FakeProvider({ now: Date.now }), refreshBeforeExpiryMs: -1 }],
      ['a non-function clock', { provider: new FakeProvider({ now: Date.now }), now: 5 }],
      [
        'seed tokens with nothing in them',
        { provider: new FakeProvider({ now: Date.now }), initialTokens: { refreshToken: '' } },
      ],
      ['a store without methods', { provider: new FakeProvider({ now: Date.now }), store: {} }],
      [
        'a randomize that is not a boolean',
        { provider: new FakeProvider({ now: Date.now }), retry: { randomize: 'no' } },
      ],
      [
        'retries that are not a whole number',
        { provider: new FakeProvider({ now: Date.now }), retry: { retries: 1.5 } },
      ],
      ['a negative number of retries', { provider: new FakeProvider({ now: Date.now }), retry: { retries: -1 } }],
      ['a retry factor below 1', { provider: new FakeProvider({ now: Date.now }), retry: { factor: 0 } }],
      [
        'no pause between background runs',
        { provider: new FakeProvider({ now: Date.now }), retry: { backgroundMinDelayMs: 0 } },
      ],
    ])('throws a ConfigurationError for %s', (_label, options) => {
      expect(() => new TokenManager(options as never)).toThrow(ConfigurationError);
    });

    it.each([
      ['a negative retry delay', { retry: { maxDelayMs: -1 } }, 'retry.maxDelayMs must be a non-negative number of ms'],
      ['a retry budget as text', { retry: { maxRetryTimeMs: '30s' } }, 'retry.maxRetryTimeMs must be a non-negative'],
      ['an onServable that is no function', { onServable: true }, 'onServable must be a function'],
      [
        'a breaker without snapshot()',
        { breaker: { admit: () => undefined, record: () => undefined } },
        'breaker must be an AuthBreaker',
      ],
      ['an empty storeKey', { storeKey: '' }, 'storeKey must be a non-empty string'],
      ['a duration as numeric text', { storeTimeoutMs: '2000' }, 'storeTimeoutMs must be a non-negative number of ms'],
      ['a null cooldown', { invalidateCooldownMs: null }, 'invalidateCooldownMs must be a non-negative number of ms'],
      ['a shrinking retry factor', { retry: { factor: 0.5 } }, 'retry.factor must be a number ≥ 1'],
      ['a Redis URL as the store', { store: 'redis://localhost:6379' }, 'store.get must be a function'],
      [
        'a provider without refresh()',
        { provider: { authenticate: jest.fn(), identity: { id: 'p' } } },
        'provider must implement authenticate() and refresh()',
      ],
      [
        'no ceiling between background runs',
        { retry: { backgroundMaxDelayMs: 0 } },
        'retry.backgroundMaxDelayMs must be above 0',
      ],
      // Read as no retry options at all (the defaults), silently: `retry: 3` is not three retries.
      ['retry options that are a number', { retry: 3 }, 'retry must be an object'],
      [
        'a seed whose refresh expiry is no number',
        { initialTokens: { refreshToken: 'seeded', refreshTokenExpiresAt: 'tomorrow' } },
        'initialTokens: refreshTokenExpiresAt must be epoch ms',
      ],
      ['no time to acquire a token', { acquireTimeoutMs: 0 }, 'acquireTimeoutMs must be positive'],
      // A timer cannot wait longer: it would end the wait after 24.8 days, not at the time given (nor never).
      ['no deadline', { acquireTimeoutMs: Infinity }, 'acquireTimeoutMs must be positive and at most 2147483647'],
      ['a deadline no timer holds', { acquireTimeoutMs: 2 ** 31 }, 'acquireTimeoutMs must be positive and at most'],
      [
        'a store without delete()',
        { store: { get: () => undefined, set: () => undefined } },
        'store.delete must be a function',
      ],
    ])('refuses %s, naming what is wrong', (_label, bad, message) => {
      const options = { provider: new FakeProvider({ now: Date.now, identity: { id: 'p' } }), ...bad };
      expect(() => new TokenManager(options as never)).toThrow(ConfigurationError);
      expect(() => new TokenManager(options as never)).toThrow(message);
    });

    it('accepts the longest deadline a timer holds, 2^31 − 1 ms', () => {
      const provider = new FakeProvider({ now: Date.now, identity: { id: 'p' } });
      expect(() => new TokenManager({ provider, acquireTimeoutMs: 2 ** 31 - 1 }).close()).not.toThrow();
    });

    it('refuses a provider without identity on a store passed in, and accepts it on its own store', () => {
      const provider = new FakeProvider({ now: Date.now });
      expect(() => new TokenManager({ provider, store: new MemoryTokenStore() })).toThrow(
        'the provider declares no identity',
      );
      expect(() => new TokenManager({ provider }).close()).not.toThrow();
    });

    it('refuses a provider identity without an id: every such session would share one store key', async () => {
      // A JavaScript provider's `identity: { user }`: a pool would hand bob the session alice signed in.
      for (const identity of [{ user: 'bob' }, { id: '' }, 'partner-a']) {
        const provider = { authenticate: jest.fn(), refresh: jest.fn(), identity } as never;
        expect(() => new TokenManager({ provider })).toThrow('provider.identity.id must be a non-empty string');
      }
      const pool = new TokenManagerPool({
        createProvider: (key) =>
          new FakeProvider({ now: Date.now, prefix: `${key}-`, identity: { user: key } as never }),
      });
      await expect(pool.getAccessToken('alice')).rejects.toThrow(ConfigurationError);
      await pool.close();
    });

    it('reads an option given as undefined as not given (its default applies)', async () => {
      const provider = new FakeProvider({ now: Date.now });
      const options = { refreshBeforeExpiryMs: undefined, acquireTimeoutMs: undefined, retry: { retries: undefined } };
      const manager = new TokenManager({ provider, refreshJitterMs: 0, ...options });
      await manager.getAccessToken();
      expect(manager.status().nextRefreshAt).toBe(T0 + minutes(10));
      manager.close();
    });

    it('reads a call option given as undefined as not given', async () => {
      const manager = new TokenManager({ provider: new FakeProvider({ now: Date.now }) });
      const token = await manager.getAccessToken();
      expect(await manager.getAccessToken({ signal: undefined, forceRefresh: undefined })).toBe(token);
      expect(manager.health({ minValidityMs: undefined })).toEqual(manager.health());
      expect(manager.invalidate(undefined, { target: undefined, replay: undefined })).toBe('refreshing');
      await expect(manager.close({ drainMs: undefined })).resolves.toBeUndefined();
    });

    it('accepts endless retries and a constant delay (factor 1)', () => {
      const provider = new FakeProvider({ now: Date.now });
      expect(() => new TokenManager({ provider, retry: { retries: Infinity, factor: 1 } }).close()).not.toThrow();
    });

    it.each([
      [{ retry: { minTimeoutMs: 0 } }, 'retry.minTimeoutMs is now retry.minDelayMs'],
      [{ retry: { maxTimeoutMs: 0 } }, 'retry.maxTimeoutMs is now retry.maxDelayMs'],
      [{ backgroundRetryDelayMs: 1 }, 'backgroundRetryDelayMs is now retry.backgroundMinDelayMs'],
      [{ backgroundRetryMaxDelayMs: 1 }, 'backgroundRetryMaxDelayMs is now retry.backgroundMaxDelayMs'],
    ])('refuses the renamed option in %j, naming its new name', (renamed, message) => {
      const options = { provider: new FakeProvider({ now: Date.now }), ...renamed };
      expect(() => new TokenManager(options as never)).toThrow(ConfigurationError);
      expect(() => new TokenManager(options as never)).toThrow(message);
    });

    it.each(['constructor', 'toString'])('takes an option named %s as any other unknown option', (name) => {
      const provider = new FakeProvider({ now: Date.now });
      expect(() => new TokenManager({ provider, unknownOption: 1 } as never).close()).not.toThrow();
      expect(() => new TokenManager({ provider, [name]: 1 } as never).close()).not.toThrow();
    });
  });
});
