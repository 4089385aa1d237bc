/**
 * What the manager takes from outside and must not trust: a store's error messages (which may
 * echo the session they were given) and a JavaScript caller's getAccessToken() and invalidate() options.
 */
import pino from 'pino';
import { ConfigurationError } from '../../src/errors';
import type { TokenStore } from '../../src/stores/types';
import { MemoryTokenStore } from '../../src/stores/memory';
import type { RefreshLockResult, StoredSession } from '../../src/stores/types';
import { flushPromises, flushUntil } from '../helpers/fake-provider';
import { makeManager, minutes, useFakeClock, lifecycleOf } from '../helpers/manager';

describe('TokenManager: untrusted input', () => {
  beforeEach(() => useFakeClock());
  afterEach(() => jest.useRealTimers());

  it('keeps the tokens a failed store write echoes out of the store-failed event, the log and health()', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
    // A store (or a Redis client) whose error quotes the command it failed, value and all.
    class EchoingStore extends MemoryTokenStore {
      override set(key: string, session: StoredSession): Promise<void> {
        return Promise.reject(new Error(`ERR value refused: SET ${key} ${JSON.stringify(session)}`));
      }
    }
    const { manager } = makeManager({ store: new EchoingStore(), logger });
    const events = lifecycleOf(manager);
    expect(await manager.getAccessToken()).toBe('access-1');
    await flushPromises();
    const failed = events.find((event) => event.type === 'store-failed');
    expect(failed).toMatchObject({ operation: 'write', message: expect.stringContaining('ERR value refused') });
    const everything = JSON.stringify(events) + lines.join('') + JSON.stringify([manager.status(), manager.health()]);
    expect(everything).not.toContain('access-1');
    expect(everything).not.toContain('refresh-1');
    manager.close();
  });

  it('redacts a token-shaped run in any store failure message (a read echoing the stored value)', async () => {
    const secret = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwYXJ0bmVyLTEyMyJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg';
    class EchoingStore extends MemoryTokenStore {
      override get(): Promise<StoredSession | undefined> {
        return Promise.reject(new Error(`cannot parse stored value {"accessToken":"${secret}"}`));
      }
    }
    const { manager } = makeManager({ store: new EchoingStore() });
    const events = lifecycleOf(manager);
    await manager.getAccessToken();
    expect(events.some((event) => event.type === 'store-failed' && event.operation === 'read')).toBe(true);
    expect(JSON.stringify(events)).not.toContain(secret.slice(0, 20));
    manager.close();
  });

  it('redacts the held tokens, however short, from a failed read or lock that echoes the stored value', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
    let echoing = false;
    // 19 characters: too short for the shape rule, so only the manager's knowledge of the held tokens redacts them.
    class EchoingStore extends MemoryTokenStore {
      readonly #echo = async (key: string): Promise<Error> =>
        new Error(`cannot parse stored value ${JSON.stringify(await super.get(key))}`);
      override async get(key: string): Promise<StoredSession | undefined> {
        if (echoing) throw await this.#echo(key);
        return super.get(key);
      }
      async acquireRefreshLock(key: string): Promise<never> {
        throw await this.#echo(key);
      }
    }
    const { manager } = makeManager({ store: new EchoingStore(), logger }, { prefix: 'tok_4f9a2c' });
    const events = lifecycleOf(manager);
    expect(await manager.getAccessToken()).toBe('tok_4f9a2caccess-1');
    echoing = true;
    await manager.getAccessToken({ forceRefresh: true });
    const failed = events.filter((event) => event.type === 'store-failed').map((event) => event.operation);
    expect(failed).toEqual(expect.arrayContaining(['lock', 'read']));
    const everything = JSON.stringify(events) + lines.join('') + JSON.stringify([manager.status(), manager.health()]);
    expect(everything).toContain('cannot parse stored value');
    expect(everything).not.toContain('tok_4f9a2caccess-1');
    expect(everything).not.toContain('tok_4f9a2crefresh-1');
    manager.close();
  });

  it("keeps the refresh token a custom provider's error quotes out of status(), also after close()", async () => {
    const { manager, provider } = makeManager({}, { prefix: 'tok_4f9a2c' });
    await manager.getAccessToken();
    // A provider's own error (not one of the library's classes) that quotes the refresh token it was given.
    const thrown = new Error('refresh failed: tok_4f9a2crefresh-1 is unknown');
    provider.script.push(thrown);
    // The callers get the provider's error as it threw it: it is the user's own object.
    await expect(manager.getAccessToken({ forceRefresh: true })).rejects.toBe(thrown);
    expect(manager.status().lastError).toMatchObject({ message: 'refresh failed: [REDACTED] is unknown' });
    expect(JSON.stringify(manager.health())).not.toContain('tok_4f9a2crefresh-1');
    manager.close();
    expect(JSON.stringify(manager.status())).not.toContain('tok_4f9a2crefresh-1');
  });

  it('redacts the tokens a run refreshes with from the store, before it holds them, out of status()', async () => {
    const store = new MemoryTokenStore();
    const { manager, provider } = makeManager({ store }, { prefix: 'tok_4f9a2c' });
    await manager.getAccessToken();
    // In the held token's last seconds, another replica stored a set that lives a little longer: not worth adopting,
    // but the run refreshes with its refresh token, which a custom provider's error may quote.
    jest.setSystemTime(Date.now() + minutes(15) - 5_000);
    const tokens = { accessToken: 'tok_4f9a2cstored-a', accessTokenExpiresAt: Date.now() + 6_000 };
    await store.set(manager.storeKey, {
      identity: 'unidentified',
      tokens: { ...tokens, refreshToken: 'tok_4f9a2cstored-r' },
    });
    provider.script.push(new Error('refresh failed: tok_4f9a2cstored-r is unknown'));
    await expect(manager.getAccessToken()).rejects.toThrow('tok_4f9a2cstored-r is unknown');
    expect(provider.usedRefreshTokens).toEqual(['tok_4f9a2cstored-r']);
    expect(manager.status().lastError).toMatchObject({ message: 'refresh failed: [REDACTED] is unknown' });
    manager.close();
  });

  it("redacts the seed's tokens and the run's new ones from store failures that echo them, however short", async () => {
    const seed = { refreshToken: 'tok_4f9a2cseed-r' };
    // A provider that does not rotate its refresh token: the stored session keeps the seed's.
    class EchoingStore extends MemoryTokenStore {
      readonly #echo = async (key: string): Promise<Error> =>
        new Error(`cannot parse stored value ${JSON.stringify((await super.get(key)) ?? seed)}`);
      override async get(key: string): Promise<StoredSession | undefined> {
        throw await this.#echo(key);
      }
      async acquireRefreshLock(key: string): Promise<RefreshLockResult> {
        return { acquired: true, lock: { release: async () => Promise.reject(await this.#echo(key)) } };
      }
    }
    const { manager } = makeManager({ store: new EchoingStore(), initialTokens: seed }, { prefix: 'tok_4f9a2c' });
    const events = lifecycleOf(manager);
    expect(await manager.getAccessToken()).toBe('tok_4f9a2caccess-1');
    const failed = events.filter((event) => event.type === 'store-failed');
    expect(failed.map((event) => event.operation)).toEqual(['read', 'read', 'release']);
    expect(JSON.stringify(failed)).toContain('cannot parse stored value');
    for (const token of ['tok_4f9a2cseed-r', 'tok_4f9a2caccess-1', 'tok_4f9a2crefresh-1'])
      expect(JSON.stringify(failed)).not.toContain(token);
    manager.close();
  });

  it.each([
    ['a signal that is not an AbortSignal', { signal: 'abc' }, /signal must be an AbortSignal/],
    ['a signal without addEventListener', { signal: {} }, /signal must be an AbortSignal/],
    ['a signal that only says it is not aborted', { signal: { aborted: false } }, /signal must be an AbortSignal/],
    ['a forceRefresh that is not a boolean', { forceRefresh: 'yes' }, /forceRefresh must be a boolean/],
    ['options that are not an object', 'now', /options must be an object/],
  ])('refuses %s with a ConfigurationError, whether or not a token is held', async (_what, options, message) => {
    const { manager, provider } = makeManager();
    // None held: the slow path.
    await expect(manager.getAccessToken(options as never)).rejects.toThrow(ConfigurationError);
    await manager.getAccessToken();
    // One held: the hot path refuses it alike.
    await expect(manager.getAccessToken(options as never)).rejects.toThrow(message);
    expect(provider.calls).toHaveLength(1);
    manager.close();
  });

  it('still accepts null options, a null signal, forceRefresh false and a real signal', async () => {
    const { manager, provider } = makeManager();
    const signal = new AbortController().signal;
    expect(await manager.getAccessToken(null as never)).toBe('access-1');
    expect(await manager.getAccessToken({ signal: null as never, forceRefresh: false })).toBe('access-1');
    expect(await manager.getAccessToken({ signal, forceRefresh: null as never })).toBe('access-1');
    expect(await manager.getAccessToken({ signal, forceRefresh: true })).toBe('access-2');
    expect(provider.calls).toHaveLength(2);
    manager.close();
  });

  it('reads invalidate() options of null as none, and refuses options of the wrong type with a ConfigurationError', async () => {
    const { manager, provider } = makeManager();
    const token = await manager.getAccessToken();
    const invalidate = manager.invalidate.bind(manager) as (...args: unknown[]) => unknown;
    for (const options of ['GET /a', { target: 5 }, { target: 'GET /a', replay: 'true' }])
      expect(() => invalidate(token, options)).toThrow(ConfigurationError);
    // Refused before anything changed: the token is still held and served.
    await expect(manager.getAccessToken()).resolves.toBe(token);
    expect(invalidate(token, null)).toBe('refreshing');
    await expect(manager.getAccessToken()).resolves.toBe('access-2');
    expect(provider.calls).toHaveLength(2);
    await manager.close();
  });

  it('reads an invalidate() token of null as none, like undefined, and refuses one that is no string', async () => {
    const { manager, provider } = makeManager({ invalidateCooldownMs: 0 });
    const invalidate = manager.invalidate.bind(manager) as (...args: unknown[]) => unknown;
    const held = await manager.getAccessToken();
    for (const token of [42, {}, ['access-1']]) {
      expect(() => invalidate(token)).toThrow(ConfigurationError);
      expect(() => invalidate(token)).toThrow(/rejectedAccessToken must be a string/);
    }
    // Refused before anything changed: the token is still held and served.
    await expect(manager.getAccessToken()).resolves.toBe(held);
    expect(invalidate(null)).toBe('refreshing');
    await expect(manager.getAccessToken()).resolves.toBe('access-2');
    expect(invalidate(undefined, { target: null, replay: null })).toBe('refreshing');
    await expect(manager.getAccessToken()).resolves.toBe('access-3');
    expect(provider.calls).toHaveLength(3);
    await manager.close();
  });

  it.each([
    ['a string', '60s'],
    ['NaN', Number.NaN],
    ['a negative number', -1],
  ])(
    'refuses health({ minValidityMs }) given %s with a ConfigurationError (it was used as given)',
    async (_label, minValidityMs) => {
      const { manager } = makeManager();
      await manager.getAccessToken();
      expect(() => manager.health({ minValidityMs: minValidityMs as number })).toThrow(ConfigurationError);
      expect(manager.health({ minValidityMs: 0 }).status).toBe('ok');
      await manager.close();
    },
  );

  it.each([
    ['a drainMs that is a string', { drainMs: 'abc' }],
    ['a drainMs that is NaN', { drainMs: Number.NaN }],
    ['a negative drainMs', { drainMs: -1 }],
    ['options that are not an object', 5_000],
  ])('refuses close() given %s with a ConfigurationError, and stays open', async (_label, options) => {
    const { manager, provider } = makeManager({}, { manual: true });
    const events = lifecycleOf(manager);
    const first = manager.getAccessToken().catch((error: unknown) => error);
    await flushUntil(() => provider.pendingCount === 1);
    // A run in flight (what drainMs is about): refused, it is neither drained nor cancelled.
    await expect(manager.close(options as never)).rejects.toThrow(ConfigurationError);
    expect(manager.state).toBe('refreshing');
    provider.release();
    expect(await first).toBe('access-1');
    await expect(manager.getAccessToken()).resolves.toBe('access-1');
    expect(events.some((event) => event.type === 'closed')).toBe(false);
    await manager.close();
  });

  it('reads a stored value whose getters throw as a failed read: reported, absent, read again by the next run', async () => {
    let broken = true;
    const throwing = {
      identity: 'unidentified',
      tokens: {
        get accessToken(): string {
          throw new Error('getter failed');
        },
      },
    };
    const store: TokenStore = {
      get: async () => (broken ? (throwing as never) : undefined),
      set: async () => undefined,
      delete: async () => undefined,
    };
    const { manager, provider } = makeManager({ store });
    const events = lifecycleOf(manager);
    // As for a get() that rejects: the read is reported and counts as nothing stored, so the manager signs in.
    await expect(manager.getAccessToken()).resolves.toBe('access-1');
    expect(events).toContainEqual(expect.objectContaining({ type: 'store-failed', operation: 'read' }));
    broken = false;
    await expect(manager.getAccessToken({ forceRefresh: true })).resolves.toBe('access-2');
    expect(provider.calls).toHaveLength(2);
    manager.close();
  });

  it('reads a stored set whose refresh token getter throws as a failed read, not as a run that fails', async () => {
    const tokens = { accessToken: 'stored-1', accessTokenExpiresAt: Date.now() + 60_000 };
    Object.defineProperty(tokens, 'refreshToken', {
      enumerable: true,
      get: () => {
        throw new Error('getter failed');
      },
    });
    const store: TokenStore = {
      get: async () => ({ identity: 'unidentified', tokens }) as never,
      set: async () => undefined,
      delete: async () => undefined,
    };
    const { manager } = makeManager({ store });
    await manager.getAccessToken();
    // Refreshing reads the refresh token: a getter that throws then would fail every run, untyped.
    await expect(manager.getAccessToken({ forceRefresh: true })).resolves.toMatch(/^access-/);
    manager.close();
  });

  it('reads health(null) and close(null) as no options, as getAccessToken(null): close() still closes', async () => {
    const { manager } = makeManager();
    await manager.getAccessToken();
    expect(manager.health(null as never).status).toBe('ok');
    await manager.close(null as never);
    expect(manager.state).toBe('closed');
  });

  it.each([
    ['a string', '60s'],
    ['a number', 60_000],
  ])('refuses health() given %s for options', async (_name, options) => {
    const { manager } = makeManager();
    await manager.getAccessToken();
    expect(() => manager.health(options as never)).toThrow(ConfigurationError);
    manager.close();
  });
});
