import NodeCache from 'node-cache';
import { ConfigurationError, TokenStoreError } from '../../src/errors';
import { MemoryTokenStore } from '../../src/stores/memory';
import { makeTokenSet } from '../helpers/fake-provider';
import { T0, useFakeClock } from '../helpers/manager';

describe('MemoryTokenStore', () => {
  beforeEach(() => useFakeClock());
  afterEach(() => jest.useRealTimers());

  it('returns what was set, with its identity, and forgets it on delete', async () => {
    const store = new MemoryTokenStore();
    const session = { identity: 'id-a', tokens: makeTokenSet(T0) };
    await store.set('k', session);
    expect(await store.get('k')).toEqual(session);
    await store.delete('k');
    expect(await store.get('k')).toBeUndefined();
  });

  it('reads an option given as undefined as not given (its default applies)', async () => {
    const unset = {
      cache: undefined,
      now: undefined,
      breaker: undefined,
      maxSessions: undefined,
      encryption: undefined,
    };
    const store = new MemoryTokenStore(unset);
    const session = { identity: 'id-a', tokens: makeTokenSet(T0) };
    await store.set('k', session);
    expect(await store.get('k')).toEqual(session);
    expect(store.breaker).toBeDefined();
  });

  it("copies a caller's mutable token set, and shares a frozen one (the manager's) instead of copying it", async () => {
    const store = new MemoryTokenStore();
    const mutable = makeTokenSet(T0);
    await store.set('mutable', { identity: 'id-a', tokens: mutable });
    mutable.accessToken = 'changed-after-set';
    expect((await store.get('mutable'))?.tokens.accessToken).not.toBe('changed-after-set');
    expect(Object.isFrozen((await store.get('mutable'))?.tokens)).toBe(true);
    expect(Object.isFrozen(await store.get('mutable'))).toBe(true);

    const frozen = Object.freeze(makeTokenSet(T0));
    await store.set('frozen', { identity: 'id-a', tokens: frozen });
    expect((await store.get('frozen'))?.tokens).toBe(frozen);
  });

  it('drops the session when the refresh token expires', async () => {
    const store = new MemoryTokenStore();
    await store.set('k', { identity: 'id-a', tokens: makeTokenSet(T0, { refreshTokenExpiresAt: T0 + 10_000 }) });
    jest.setSystemTime(T0 + 9_000);
    expect(await store.get('k')).toBeDefined();
    jest.setSystemTime(T0 + 10_001);
    expect(await store.get('k')).toBeUndefined();
  });

  it('keeps a session until its refresh token expires, rounding a part of a second up, not down', async () => {
    const store = new MemoryTokenStore();
    await store.set('k', { identity: 'id-a', tokens: makeTokenSet(T0, { refreshTokenExpiresAt: T0 + 1_500 }) });
    jest.setSystemTime(T0 + 1_499);
    expect(await store.get('k')).toBeDefined();
  });

  it.each([
    ['a minute ago', T0 - 60_000],
    ['this very ms: node-cache reads a lifetime of 0 s as none', T0],
  ])('keeps a session stored already expired (%s) for one second at most, never without a lifetime', async (_, at) => {
    const store = new MemoryTokenStore();
    await store.set('k', { identity: 'id-a', tokens: makeTokenSet(T0, { refreshTokenExpiresAt: at }) });
    jest.setSystemTime(T0 + 1_001);
    expect(await store.get('k')).toBeUndefined();
    expect(store.size).toBe(0);
  });

  it('counts a session stored again as the most recently stored: the bound drops the one left untouched', async () => {
    const store = new MemoryTokenStore({ maxSessions: 2 });
    const session = { identity: 'id-a', tokens: makeTokenSet(T0) };
    for (const key of ['a', 'b', 'a', 'c']) await store.set(key, session);
    expect(await store.get('a')).toBeDefined();
    expect(await store.get('b')).toBeUndefined();
    expect(await store.get('c')).toBeDefined();
  });

  it('holds many sessions apart by key, in one store or a shared cache, and arms no timer of its own', async () => {
    const cache = new NodeCache({ useClones: false, checkperiod: 0 });
    const timersBefore = jest.getTimerCount();
    const first = new MemoryTokenStore({ cache });
    const second = new MemoryTokenStore({ cache });
    await first.set('a', { identity: 'id-a', tokens: makeTokenSet(T0, { accessToken: 'first' }) });
    await first.set('b', { identity: 'id-b', tokens: makeTokenSet(T0, { accessToken: 'other' }) });
    expect((await second.get('a'))?.tokens.accessToken).toBe('first');
    expect((await second.get('b'))?.tokens.accessToken).toBe('other');
    expect(await second.get('c')).toBeUndefined();
    expect(jest.getTimerCount()).toBe(timersBefore);
  });

  it('treats a value of another kind under its key in a shared cache (a string, a number, null) as no session', async () => {
    const cache = new NodeCache({ useClones: false, checkperiod: 0 });
    const store = new MemoryTokenStore({ cache });
    for (const value of ["someone else's", 42, null]) {
      cache.set('shared', value);
      await expect(store.get('shared')).resolves.toBeUndefined();
    }
  });

  it('adds no listener to a cache it shares with other stores, however many share it', () => {
    const cache = new NodeCache({ useClones: false, checkperiod: 0 });
    const listeners = (): number => cache.eventNames().reduce((sum, name) => sum + cache.listenerCount(name), 0);
    for (let index = 0; index < 20; index += 1) new MemoryTokenStore({ cache });
    expect(listeners()).toBeLessThanOrEqual(1);
  });

  it('counts and bounds its own sessions, without those another store deleted or that expired', async () => {
    const cache = new NodeCache({ useClones: false, checkperiod: 0 });
    const [store, other] = [new MemoryTokenStore({ cache, maxSessions: 2 }), new MemoryTokenStore({ cache })];
    const session = (expiresAt = T0 + 60_000) => ({
      identity: 'id-a',
      tokens: makeTokenSet(T0, { refreshTokenExpiresAt: expiresAt }),
    });
    await store.set('a', session());
    await store.set('b', session(T0 + 10_000));
    await other.delete('a');
    expect(store.size).toBe(1);
    jest.setSystemTime(T0 + 10_001);
    expect(store.size).toBe(0);
    for (const key of ['c', 'd', 'e']) await store.set(key, session());
    expect(store.size).toBe(2);
    expect(await other.get('c')).toBeUndefined();
    expect(await other.get('e')).toBeDefined();
    store.clear();
    expect(store.size).toBe(0);
    expect(await other.get('e')).toBeUndefined();
  });

  it.each([
    ['an empty key', () => new MemoryTokenStore().get('')],
    ['an undefined key', () => new MemoryTokenStore().get(undefined as unknown as string)],
  ])('rejects %s with a ConfigurationError instead of node-cache’s EKEYTYPE', async (_label, call) => {
    await expect(call()).rejects.toBeInstanceOf(ConfigurationError);
  });

  it.each([
    ['a cache that is not a NodeCache', { cache: {} }],
    ['a clock that is not a function', { now: 5 }],
    ['maxSessions 0', { maxSessions: 0 }],
    ['a fractional maxSessions', { maxSessions: 1.5 }],
    ['encryption null (never read as "no encryption")', { encryption: null }],
  ])('throws a ConfigurationError at construction for %s', (_label, options) => {
    expect(() => new MemoryTokenStore(options as never)).toThrow(ConfigurationError);
  });

  // As RedisTokenStore does: a value the manager could not read back is refused at the write, typed.
  it.each([
    ['null', null],
    ['no identity', { tokens: makeTokenSet(T0) }],
    ['no access-token expiry', { identity: 'id-a', tokens: { accessToken: 'a' } }],
    ['an expiry as a string', { identity: 'id-a', tokens: { ...makeTokenSet(T0), accessTokenExpiresAt: '1' } }],
  ])('refuses a malformed session (%s) with a TokenStoreError, and keeps what it held', async (_label, session) => {
    const store = new MemoryTokenStore();
    const held = { identity: 'id-a', tokens: makeTokenSet(T0) };
    await store.set('k', held);
    await expect(store.set('k', session as never)).rejects.toBeInstanceOf(TokenStoreError);
    expect(await store.get('k')).toEqual(held);
  });

  it('accepts maxSessions Infinity (no bound) and 1', () => {
    expect(() => new MemoryTokenStore({ maxSessions: Infinity })).not.toThrow();
    expect(() => new MemoryTokenStore({ maxSessions: 1 })).not.toThrow();
  });

  it('gives its managers no breaker with breaker: false', () => {
    expect(new MemoryTokenStore().breaker).toBeDefined();
    expect(new MemoryTokenStore({ breaker: false }).breaker).toBeUndefined();
  });
});
