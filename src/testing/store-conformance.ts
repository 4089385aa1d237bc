/**
 * `describeTokenStoreConformance()`: the contract a token store must keep for the manager
 * (round trip with identity, newest-wins fencing, the refresh lock and its hand-over, close,
 * encryption at rest), as tests for any runner that has `describe` and `it`. Assertions use
 * `node:assert`, so it needs no test framework of ours.
 */
import assert from 'node:assert/strict';
import type { RefreshLockResult, TokenStore } from '../stores/types';
import {
  comparable,
  conformanceKey,
  conformanceSession,
  flipOneCharacter,
  fragmentsOf,
  settleWithin,
} from './conformance-support';
import type {
  ConformanceDescribe,
  ConformanceIt,
  ConformanceRawAccess,
  CreateTokenStore,
  TokenStoreConformanceOptions,
} from './conformance-support';

const DEFAULT_HAND_OVER_MS = 2_000;

/**
 * Declares the conformance tests of a {@link TokenStore} under `name`: run it in your store's
 * test file. `createStore` makes a store over your backend (each call another replica's view
 * of the same backend); declare what the store offers (`fencing`, `lock`, `encryption`) so
 * those checks run too.
 * @throws Error when no `describe`/`it` is given and the runner has no globals.
 * @example
 * ```ts
 * import { describe, it } from 'node:test';
 * import { MemoryTokenStore } from 'alix-token-manager';
 * import { describeTokenStoreConformance } from 'alix-token-manager/testing';
 *
 * describeTokenStoreConformance('MemoryTokenStore', () => new MemoryTokenStore(), { describe, it });
 * ```
 */
export function describeTokenStoreConformance(
  name: string,
  createStore: CreateTokenStore,
  options: TokenStoreConformanceOptions = {},
): void {
  const describe = options.describe ?? (globalThis as { describe?: ConformanceDescribe }).describe;
  const it = options.it ?? (globalThis as { it?: ConformanceIt }).it;
  if (typeof describe !== 'function' || typeof it !== 'function') {
    throw new Error('describeTokenStoreConformance needs describe and it: pass them (from node:test, say) as options');
  }
  const closeStore = options.close ?? ((store: TokenStore) => (store as { close?: () => unknown }).close?.());
  const closed = new WeakSet<TokenStore>();
  /** Closes a store once, however often asked (a check may close one early, as a holder that died). */
  const close = async (store: TokenStore): Promise<void> => {
    if (closed.has(store)) return;
    closed.add(store);
    await closeStore(store);
  };
  /** Runs `check` with stores made for it, closing every one afterwards (even a failed check's). */
  const test = (title: string, check: (make: () => Promise<TokenStore>) => Promise<void>): void => {
    it(title, async () => {
      const made: TokenStore[] = [];
      try {
        await check(async () => {
          const store = await createStore();
          made.push(store);
          return store;
        });
      } finally {
        await Promise.allSettled(made.map(async (store) => close(store)));
      }
    });
  };

  describe(`${name} (TokenStore conformance)`, () => {
    describe('get() and set()', () => roundTrip(test, options));
    if (options.fencing === true) describe('fencing', () => fencing(test));
    const lockOptions = options.lock === undefined || options.lock === false ? undefined : options.lock;
    if (lockOptions !== undefined) {
      const handOverMs = lockOptions.handOverMs ?? DEFAULT_HAND_OVER_MS;
      describe('acquireRefreshLock()', () => lock(test, lockOptions.lockTtlMs, handOverMs, close));
    }
    const raw = options.encryption;
    if (raw !== undefined) describe('encryption at rest', () => encryption(test, raw));
  });
}

type Test = (title: string, check: (make: () => Promise<TokenStore>) => Promise<void>) => void;

function roundTrip(test: Test, options: TokenStoreConformanceOptions): void {
  test('resolves undefined for a key never written', async (make) => {
    const store = await make();
    assert.equal(await store.get(conformanceKey('never')), undefined);
  });

  test('returns the session set, with its identity, to this store and to another', async (make) => {
    const [store, other] = [await make(), await make()];
    const key = conformanceKey('round-trip');
    const session = conformanceSession();
    assert.equal(await store.get(key), undefined);
    await store.set(key, session);
    assert.deepEqual(comparable(await store.get(key)), comparable(session));
    assert.deepEqual(comparable(await other.get(key)), comparable(session));
  });

  test('keeps a session without a refresh token as it is', async (make) => {
    const store = await make();
    const key = conformanceKey('access-only');
    const { identity, tokens } = conformanceSession();
    const { accessToken, accessTokenExpiresAt } = tokens;
    const session = { identity, tokens: { accessToken, accessTokenExpiresAt } };
    await store.get(key);
    await store.set(key, session);
    assert.deepEqual(comparable(await store.get(key)), comparable(session));
  });

  test('replaces a session with the next one set after a read', async (make) => {
    const store = await make();
    const key = conformanceKey('replace');
    const [first, second] = [conformanceSession(), conformanceSession()];
    await store.get(key);
    await store.set(key, first);
    await store.get(key);
    await store.set(key, second);
    assert.deepEqual(comparable(await store.get(key)), comparable(second));
  });

  test('keeps sessions apart by key, and delete() forgets one', async (make) => {
    const store = await make();
    const [a, b] = [conformanceKey('a'), conformanceKey('b')];
    const [sessionA, sessionB] = [conformanceSession(), conformanceSession()];
    for (const [key, session] of [
      [a, sessionA],
      [b, sessionB],
    ] as const) {
      await store.get(key);
      await store.set(key, session);
    }
    assert.deepEqual(comparable(await store.get(a)), comparable(sessionA));
    await store.delete(a);
    assert.equal(await store.get(a), undefined);
    assert.deepEqual(comparable(await store.get(b)), comparable(sessionB));
  });

  test('declares the lock it has', async (make) => {
    const store = await make();
    const hasLock = typeof store.acquireRefreshLock === 'function';
    const declared = options.lock !== undefined && options.lock !== false;
    const mismatch = hasLock
      ? 'the store has acquireRefreshLock(): pass options.lock'
      : 'options.lock is set, but the store has no acquireRefreshLock()';
    assert.equal(declared, hasLock, mismatch);
    const unfenced = 'a store with a refresh lock must fence its writes (options.fencing): a holder may lose its lock';
    if (hasLock) assert.equal(options.fencing, true, unfenced);
  });
}

function fencing(test: Test): void {
  test('refuses a write based on a stale read, and keeps the newer session', async (make) => {
    const [a, b] = [await make(), await make()];
    const key = conformanceKey('fencing');
    const [newer, stale] = [conformanceSession('fenced'), conformanceSession('fenced')];
    await a.get(key);
    await b.get(key);
    await a.set(key, newer);
    await assert.rejects(b.set(key, stale), 'a write based on a read older than the last write must reject');
    assert.deepEqual(comparable(await b.get(key)), comparable(newer));
    // Having read the newer session, the same store may write again.
    await b.set(key, stale);
    assert.deepEqual(comparable(await a.get(key)), comparable(stale));
  });
}

function lock(test: Test, lockTtlMs: number, handOverMs: number, close: (store: TokenStore) => Promise<void>): void {
  const acquire = (store: TokenStore, key: string, signal?: AbortSignal): Promise<RefreshLockResult> => {
    const method = store.acquireRefreshLock;
    assert.equal(typeof method, 'function', 'the store has no acquireRefreshLock()');
    const options = { signal: signal ?? new AbortController().signal };
    return (method as NonNullable<TokenStore['acquireRefreshLock']>).call(store, key, options);
  };
  const held = async (result: Promise<RefreshLockResult>): Promise<Extract<RefreshLockResult, { acquired: true }>> => {
    const value = await result;
    assert.equal(value.acquired, true, 'the lock was free: acquireRefreshLock() must resolve { acquired: true }');
    return value as Extract<RefreshLockResult, { acquired: true }>;
  };

  test('grants the lock to one store at a time, and to a waiter once released', async (make) => {
    const [a, b] = [await make(), await make()];
    const key = conformanceKey('exclusive');
    const first = await held(acquire(a, key));
    const waiting = acquire(b, key);
    // Within the lock's lifetime (a store may also extend it while held, as RedisTokenStore does).
    const early = await settleWithin(waiting, Math.max(lockTtlMs / 2, 50));
    assert.equal(early.state, 'pending', 'a second store got past acquireRefreshLock() while the first held the lock');
    await first.lock.release();
    const after = await settleWithin(waiting, handOverMs);
    assert.equal(after.state, 'resolved', `the waiter did not get the released lock within ${handOverMs} ms`);
    const result = (after as { value: RefreshLockResult }).value;
    assert.equal(result.acquired, true, 'a lock released without a new session is taken over (not "published")');
    if (result.acquired) await result.lock.release();
  });

  test('hands over to a waiter when the holder publishes a session', async (make) => {
    const [a, b] = [await make(), await make()];
    const key = conformanceKey('hand-over');
    const session = conformanceSession();
    const first = await held(acquire(a, key));
    await b.get(key);
    const waiting = acquire(b, key);
    await a.get(key);
    await a.set(key, session);
    await first.lock.release();
    const after = await settleWithin(waiting, handOverMs);
    assert.equal(after.state, 'resolved', `the waiter was not told of the new session within ${handOverMs} ms`);
    const result = (after as { value: RefreshLockResult }).value;
    if (result.acquired) await result.lock.release();
    const read = comparable(await b.get(key));
    assert.deepEqual(read, comparable(session), 'after the hand-over the waiter reads the published session');
  });

  test('lets another store take the lock when its holder is gone', async (make) => {
    const [a, b] = [await make(), await make()];
    const key = conformanceKey('expiry');
    await held(acquire(a, key));
    await close(a); // the holder dies without releasing
    const after = await settleWithin(acquire(b, key), lockTtlMs + handOverMs);
    const late = `the lock of a holder that died was not taken over within lockTtlMs + ${handOverMs} ms`;
    assert.equal(after.state, 'resolved', late);
    const result = (after as { value: RefreshLockResult }).value;
    assert.equal(result.acquired, true);
    if (result.acquired) await result.lock.release();
  });

  test('rejects a wait whose signal aborts', async (make) => {
    const [a, b] = [await make(), await make()];
    const key = conformanceKey('abort');
    const first = await held(acquire(a, key));
    const controller = new AbortController();
    const waiting = acquire(b, key, controller.signal);
    controller.abort(new Error('caller gave up'));
    const after = await settleWithin(waiting, handOverMs);
    assert.equal(after.state, 'rejected', `an aborted wait did not reject within ${handOverMs} ms`);
    await first.lock.release();
  });

  test('ends pending and later waits when closed', async (make) => {
    const [a, b] = [await make(), await make()];
    const closable = typeof (b as { close?: unknown }).close === 'function';
    if (!closable) return;
    const key = conformanceKey('close');
    const first = await held(acquire(a, key));
    const waiting = acquire(b, key);
    await close(b);
    const after = await settleWithin(waiting, handOverMs);
    assert.equal(after.state, 'rejected', `a wait pending at close() did not reject within ${handOverMs} ms`);
    const afterClose = 'acquireRefreshLock() afterClose() must reject (the manager then refreshes on its own)';
    await assert.rejects(acquire(b, key), afterClose);
    await first.lock.release();
  });
}

function encryption(test: Test, raw: ConformanceRawAccess): void {
  /** What get() did with a value it must not serve: resolved undefined, or rejected. */
  const refused = async (store: TokenStore, key: string): Promise<void> => {
    const outcome = await settleWithin(store.get(key), 5_000);
    assert.notEqual(outcome.state, 'pending', 'get() did not answer');
    if (outcome.state === 'resolved') assert.equal(outcome.value, undefined, 'get() served a value that must not open');
  };
  const written = async (store: TokenStore, name: string): Promise<{ key: string; value: string }> => {
    const key = conformanceKey(name);
    await store.get(key);
    await store.set(key, conformanceSession());
    const value = await raw.read(key);
    assert.equal(typeof value, 'string', 'the raw value was not found under the key just written');
    return { key, value: value as string };
  };

  test('keeps no token, nor any 8-character run of one, in the stored value', async (make) => {
    const store = await make();
    const key = conformanceKey('at-rest');
    const session = conformanceSession();
    await store.get(key);
    await store.set(key, session);
    const value = (await raw.read(key)) ?? '';
    assert.ok(value.length > 0, 'the raw value was not found under the key just written');
    for (const token of [session.tokens.accessToken, session.tokens.refreshToken ?? '']) {
      const leaked = fragmentsOf(token).filter((fragment) => value.includes(fragment));
      assert.equal(leaked.length, 0, 'the stored value holds part of a token in the clear');
    }
  });

  test('does not serve a value moved under another session key', async (make) => {
    const store = await make();
    const { value } = await written(store, 'moved-from');
    const target = conformanceKey('moved-to');
    await store.get(target);
    await store.set(target, conformanceSession());
    await raw.write(target, value);
    await refused(await make(), target);
  });

  test('does not serve a value with one character changed', async (make) => {
    const store = await make();
    const { key, value } = await written(store, 'altered');
    await raw.write(key, flipOneCharacter(value));
    await refused(await make(), key);
  });
}
