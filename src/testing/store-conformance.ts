/**
 * `describeTokenStoreConformance()`: the contract a token store must keep for the manager
 * (round trip with identity, newest-wins fencing, the refresh lock and its hand-over, close,
 * encryption at rest, the auth breaker's scopes), as tests for any runner that has `describe`
 * and `it`. Assertions use `node:assert`, so it needs no test framework of ours.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { parseJsonObject } from '../json';
import { pickTokenSet } from '../token-set';
import type {
  AuthBreaker,
  BreakerAdmission,
  BreakerCall,
  BreakerStatus,
  RefreshLockResult,
  StoredSession,
  TokenStore,
} from '../stores/types';

/** A test runner's `describe`: jest's, vitest's, or `node:test`'s. */
export type ConformanceDescribe = (name: string, body: () => void) => unknown;

/** A test runner's `it` (or `test`): jest's, vitest's, or `node:test`'s. */
export type ConformanceIt = (name: string, body: () => Promise<void>) => unknown;

/**
 * Makes a store for one test. Every call must return a store over the same backend (the
 * same Redis, database or cache), as another process of the same service would see it: the
 * kit plays two replicas with two calls.
 */
export type CreateTokenStore = () => TokenStore | Promise<TokenStore>;

/** Options of `describeTokenStoreConformance()`. */
export interface TokenStoreConformanceOptions {
  /**
   * The runner's `describe`.
   * @default globalThis.describe (jest, vitest with globals); pass `describe` from `node:test` there
   */
  describe?: ConformanceDescribe;
  /**
   * The runner's `it`. The kit's own waits are bounded (a few seconds at most with the
   * defaults); wrap `it` to give a runner a longer per-test timeout if you raise them.
   * @default globalThis.it
   */
  it?: ConformanceIt;
  /**
   * Whether `set()` is fenced: a write based on a stale read (another writer stored a session
   * since this store's last `get()` of the key) is refused. Required of a store with a lock.
   * @default false
   */
  fencing?: boolean;
  /**
   * The store's `acquireRefreshLock()` contract to check; `false` (the default) for a store
   * without one. A store that has the method must pass this.
   * @default false
   */
  lock?: ConformanceLockOptions | false;
  /**
   * Raw access to the backend, to check encryption at rest: the store must keep no token in
   * the clear and refuse a value moved to another key or altered. Leave out for a store
   * without encryption.
   * @default undefined (the encryption checks are skipped)
   */
  encryption?: ConformanceRawAccess;
  /** How the kit checks the store's `breaker`, which it does whenever the store has one. */
  breaker?: ConformanceBreakerOptions;
  /**
   * Closes a store made by `createStore` after each test (and, in the lock checks, plays a
   * holder that died).
   * @default calls the store's `close()` when it has one
   */
  close?: (store: TokenStore) => Promise<void> | void;
}

/** How the kit exercises a store's refresh lock. */
export interface ConformanceLockOptions {
  /** How long a lock outlives a holder that died (closed without releasing), in ms. */
  lockTtlMs: number;
  /**
   * The most a waiter may take to notice that the holder released the lock or published a
   * session (pub/sub, or polling), in ms. Keep it below `lockTtlMs` − 50 to have a lock that
   * its holder does not extend checked for telling a waiter of a session published under it.
   * @default 2_000
   */
  handOverMs?: number;
}

/** How the kit exercises a store's auth breaker. */
export interface ConformanceBreakerOptions {
  /**
   * The most the breaker may keep a session's circuit open after its failures (its `openMs`), in ms: the kit
   * waits for the probe once. Give the store's breaker a short `openMs` in the test.
   * @default 2_000
   */
  openMs?: number;
}

/** Reads and writes the backend's raw value for a session key, bypassing the store. */
export interface ConformanceRawAccess {
  /** The value as kept in the backend (serialised to text), or undefined when there is none. */
  read(key: string): Promise<string | undefined>;
  /** Replaces the raw value under `key` (the kit writes back a value it read, moved or altered). */
  write(key: string, value: string): Promise<void>;
}

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
  const runner = globalThis as { describe?: ConformanceDescribe; it?: ConformanceIt };
  const { describe = runner.describe, it = runner.it, fencing, lock, encryption } = options;
  if (typeof describe !== 'function' || typeof it !== 'function') {
    throw new Error('describeTokenStoreConformance needs describe and it: pass them (from node:test, say) as options');
  }
  const closeStore = options.close ?? ((store: TokenStore) => (store as { close?: () => unknown }).close?.());
  /** Runs `check` with a fresh key and stores made for it, closing every one afterwards (even a failed check's). */
  const test: Test = (title, check) =>
    it(title, async () => {
      const open = new Set<TokenStore>();
      const make = async (): Promise<TokenStore> => {
        const store = await createStore();
        open.add(store);
        return store;
      };
      /** Closes a store once, however often asked (a check may close one early, as a holder that died). */
      const close: Close = async (store) => {
        if (open.delete(store)) await closeStore(store);
      };
      try {
        await check(make, conformanceKey('check'), close);
      } finally {
        await Promise.allSettled([...open].map(close));
      }
    });
  describe(`${name} (TokenStore conformance)`, () => {
    describe('get() and set()', () => roundTrip(test, options));
    if (fencing === true) describe('fencing', () => fencingChecks(test));
    if (lock) describe('acquireRefreshLock()', () => lockChecks(test, lock));
    if (encryption !== undefined) describe('encryption at rest', () => encryptionChecks(test, encryption));
    describe('breaker', () => breakerChecks(test, options.breaker));
  });
}

type Close = (store: TokenStore) => Promise<void>;
type Check = (make: () => Promise<TokenStore>, key: string, close: Close) => Promise<void>;
type Test = (title: string, check: Check) => void;

/** Reads `key` (the base of a fenced write), then stores `session` under it. */
async function write(store: TokenStore, key: string, session: StoredSession): Promise<void> {
  await store.get(key);
  await store.set(key, session);
}

function roundTrip(test: Test, options: TokenStoreConformanceOptions): void {
  test('resolves undefined for a key never written', async (make, key) => {
    assert.equal(await (await make()).get(key), undefined);
  });

  test('returns the session set, with its identity, to this store and to another', async (make, key) => {
    const [store, other, session] = [await make(), await make(), conformanceSession()];
    assert.equal(await store.get(key), undefined);
    await store.set(key, session);
    await assertReads(store, key, session);
    await assertReads(other, key, session);
  });

  test('keeps a session without a refresh token as it is', async (make, key) => {
    const [store, { identity, tokens }] = [await make(), conformanceSession()];
    const { accessToken, accessTokenExpiresAt } = tokens;
    const session = { identity, tokens: Object.freeze({ accessToken, accessTokenExpiresAt }) };
    await write(store, key, session);
    await assertReads(store, key, session);
  });

  test('replaces a session with the next one set after a read', async (make, key) => {
    const [store, second] = [await make(), conformanceSession()];
    await write(store, key, conformanceSession());
    await write(store, key, second);
    await assertReads(store, key, second);
  });

  test('shows a replacement to another store that read the session before', async (make, key) => {
    const [store, other, second] = [await make(), await make(), conformanceSession()];
    await write(store, key, conformanceSession());
    await other.get(key);
    await write(store, key, second);
    // A replica serving what it read before would refresh with a spent refresh token.
    await assertReads(other, key, second, 'another store still serves a replaced session');
  });

  test('keeps sessions apart by key, and delete() forgets one', async (make, a) => {
    const [store, b] = [await make(), conformanceKey('b')];
    const [sessionA, sessionB] = [conformanceSession(), conformanceSession()];
    await write(store, a, sessionA);
    await write(store, b, sessionB);
    await assertReads(store, a, sessionA);
    await store.delete(a);
    assert.equal(await store.get(a), undefined);
    assert.equal(await (await make()).get(a), undefined, 'another store still serves a deleted session');
    await assertReads(store, b, sessionB);
  });

  test('keeps a session until its refresh token expires, not its access token', async (make, key) => {
    const [store, other, { identity, tokens }] = [await make(), await make(), conformanceSession()];
    // A session left idle past its access token (no replica running) is still refreshed, not signed in again. Its
    // refresh token ends in 10 min: a lifetime in the wrong unit (seconds given as ms) ends before the read below.
    const [now, minutes] = [Date.now(), 10 * 60_000];
    const lifetimes = { accessTokenExpiresAt: now + 100, refreshTokenExpiresAt: now + minutes };
    const session = { identity, tokens: Object.freeze({ ...tokens, ...lifetimes }) };
    await write(store, key, session);
    // Long enough for a value kept only as long as its access token, even rounded up to a whole second, to be gone.
    await delay(1_100);
    const dropped =
      'a session was dropped before its refresh token expired (with its access token, or a TTL in s as ms)';
    await assertReads(other, key, session, dropped);
  });

  const watchMs = (options.lock && options.lock.handOverMs) || 2_000;
  /**
   * Watches `key` with one store while another (the writer) publishes sessions under it, each read by the watcher
   * first as the manager holding it has, until a call comes whose get() (made at once, as the manager's is) reads the
   * session just written, or `watchMs` is spent (a store may subscribe in the background); then stops watching. A
   * call made as watch() is called (a "subscribed" signal), or before the write lands, announces nothing. Undefined
   * for a store without watch().
   */
  const watchPublished = async (make: () => Promise<TokenStore>, key: string) => {
    const [watcher, writer] = [await make(), await make()];
    if (typeof watcher.watch !== 'function') return undefined;
    let [calls, calledBack, wake] = [0, false, (): void => undefined];
    const stop = watcher.watch(key, () => {
      calls += 1;
      wake();
    });
    try {
      for (let round = 0; round < 4 && !calledBack; round += 1) {
        await watcher.get(key);
        const session = conformanceSession();
        const reads = (read?: StoredSession): boolean => read?.tokens.accessToken === session.tokens.accessToken;
        const called = new Promise<void>((resolve) => {
          wake = () =>
            void watcher.get(key).then(
              (read) => reads(read) && resolve(),
              () => undefined,
            );
        });
        await write(writer, key, session);
        calledBack = (await settleWithin(called, watchMs / 4)).state === 'resolved';
      }
    } finally {
      stop();
    }
    return { writer, calledBack, calls: () => calls };
  };

  test('calls a watch() callback when another store publishes a session under its key', async (make, key) => {
    const watched = await watchPublished(make, key);
    const late = `watch() did not call back within ${watchMs} ms of another store's writes, with them readable`;
    if (watched !== undefined) assert.ok(watched.calledBack, late);
  });

  test('stops calling back once its watch() is stopped', async (make, key) => {
    const watched = await watchPublished(make, key);
    if (!watched?.calledBack) return; // the check above reports a watch() that never calls back
    const before = watched.calls();
    await write(watched.writer, key, conformanceSession());
    // Each dropped manager's callback would stay behind: a pool over many users would pile them up.
    await delay(watchMs / 4);
    assert.equal(watched.calls(), before, 'watch() called back after the function it returned was called');
  });

  test('declares the lock it has', async (make) => {
    const hasLock = typeof (await make()).acquireRefreshLock === 'function';
    const mismatch = hasLock
      ? 'the store has acquireRefreshLock(): pass options.lock'
      : 'options.lock is set, but the store has no acquireRefreshLock()';
    assert.equal(Boolean(options.lock), hasLock, mismatch);
    const unfenced = 'a store with a refresh lock must fence its writes (options.fencing): a holder may lose its lock';
    if (hasLock) assert.equal(options.fencing, true, unfenced);
  });
}

function fencingChecks(test: Test): void {
  test('refuses a write based on a stale read, and keeps the newer session', async (make, key) => {
    const [a, b] = [await make(), await make()];
    const [newer, stale] = [conformanceSession('fenced'), conformanceSession('fenced')];
    await a.get(key);
    await b.get(key);
    await a.set(key, newer);
    await assert.rejects(b.set(key, stale), 'a write based on a read older than the last write must reject');
    await assertReads(b, key, newer);
    // Having read the newer session, the same store may write again.
    await b.set(key, stale);
    await assertReads(a, key, stale);
  });

  test('refuses a write based on a read from before the session was deleted and stored again', async (make, key) => {
    const [a, b] = [await make(), await make()];
    const [newer, stale] = [conformanceSession('fenced'), conformanceSession('fenced')];
    await write(b, key, conformanceSession('fenced'));
    await a.get(key);
    // A version that restarts once the key is gone (deleted, expired) repeats the number `a` read.
    await b.delete(key);
    await write(b, key, newer);
    const restarted = 'a write based on a read from before a delete() and a newer write must reject';
    await assert.rejects(a.set(key, stale), restarted);
    await assertReads(b, key, newer);
  });
}

type Held = Extract<RefreshLockResult, { acquired: true }>;
type Wait = Promise<RefreshLockResult>;

function lockChecks(test: Test, { lockTtlMs, handOverMs = 2_000 }: ConformanceLockOptions): void {
  const acquire = (store: TokenStore, key: string, signal = new AbortController().signal): Wait =>
    store.acquireRefreshLock?.(key, { signal }) ?? assert.fail('the store has no acquireRefreshLock()');
  const held = async (result: Wait): Promise<Held> => {
    const value = await result;
    assert.equal(value.acquired, true, 'the lock was free: acquireRefreshLock() must resolve { acquired: true }');
    return value as Held;
  };
  /** Asserts how the wait stood after `ms` (else fails with `message`); its result, once resolved. */
  const assertWait = async (waiting: Wait, ms: number, state: Settled<unknown>['state'], message: string) => {
    const after = await settleWithin(waiting, ms);
    assert.equal(after.state, state, message);
    return (after as { value: RefreshLockResult }).value;
  };
  /** The result of a wait that resolved within `ms` (else fails with `late`), its lock released. */
  const resolvedWithin = async (waiting: Wait, ms: number, late: string): Promise<RefreshLockResult> => {
    const result = await assertWait(waiting, ms, 'resolved', late);
    if (result.acquired) await result.lock.release();
    return result;
  };
  // Within the lock's lifetime (a store may also extend it while held, as RedisTokenStore does).
  const halfTtlMs = Math.max(lockTtlMs / 2, 50);
  const bothHeld = 'a second store got past acquireRefreshLock() while the first held the lock';
  const diedLate = `the lock of a holder that died was not taken over within lockTtlMs + ${handOverMs} ms`;
  const handOverLate = `the waiter did not get the released lock within ${handOverMs} ms`;

  test('grants the lock to one store at a time, and to a waiter once released', async (make, key) => {
    const [a, b] = [await make(), await make()];
    const first = await held(acquire(a, key));
    const waiting = acquire(b, key);
    await assertWait(waiting, halfTtlMs, 'pending', bothHeld);
    await first.lock.release();
    const taken = await assertWait(waiting, handOverMs, 'resolved', handOverLate);
    assert.equal(taken.acquired, true, 'a lock released without a new session is taken over (not "published")');
    // The waiter must really hold it now: told "acquired" without taking it, two waiters would both refresh.
    const third = acquire(await make(), key);
    await assertWait(third, halfTtlMs, 'pending', 'a third store got the lock a waiter had just been handed');
    await (taken as Held).lock.release();
    await resolvedWithin(third, handOverMs, handOverLate);
  });

  test('frees the lock at release(), not only when its lifetime ends', async (make, key) => {
    const [a, b] = [await make(), await make()];
    await (await held(acquire(a, key))).lock.release();
    // A free lock is granted at once; within half its lifetime, a lock still held by a no-op release() is not.
    const late = 'a released lock was not granted to another store within lockTtlMs / 2: release() did not free it';
    const result = await resolvedWithin(acquire(b, key), halfTtlMs, late);
    assert.equal(result.acquired, true, 'a free lock must resolve { acquired: true }');
  });

  test('hands over to a waiter when the holder publishes a session', async (make, key) => {
    const [a, b, session] = [await make(), await make(), conformanceSession()];
    const first = await held(acquire(a, key));
    await b.get(key);
    const waiting = acquire(b, key);
    await write(a, key, session);
    await first.lock.release();
    await resolvedWithin(waiting, handOverMs, `the waiter was not told of the new session within ${handOverMs} ms`);
    await assertReads(b, key, session, 'after the hand-over the waiter reads the published session');
  });

  test('tells a waiter of a session the holder publishes while it still holds the lock', async (make, key) => {
    const [a, b] = [await make(), await make()];
    const late = `the waiter was not told of the session published under the lock within ${handOverMs} ms`;
    const published = 'a waiter must resolve { acquired: false } once the holder published a session';
    const pendingMs = Math.min(50, lockTtlMs / 4);
    // A lock that is not extended lapses before any waiter need be told when lockTtlMs is this short: no try can
    // prove a waiter that takes it wrong (an extended lock, as RedisTokenStore's, is still checked).
    const provable = pendingMs + handOverMs < lockTtlMs;
    for (let tries = 1; ; tries += 1) {
      const lockedFrom = Date.now();
      const first = await held(acquire(a, key));
      try {
        await b.get(key);
        const waiting = acquire(b, key);
        await assertWait(waiting, pendingMs, 'pending', bothHeld);
        await write(a, key, conformanceSession());
        const toldInTime = Date.now() + handOverMs <= lockedFrom + lockTtlMs;
        if (!(await resolvedWithin(waiting, handOverMs, late)).acquired || !provable) return;
        // Taking the lock is right if the holder's lock (not extended) ran out before the waiter could be told. A write
        // that a loaded machine slowed so far tells nothing of the store: try again, but not for ever, or a waiter that
        // only ever takes the lock at its end would pass on a slow machine.
        const why = toldInTime
          ? `it had ${handOverMs} ms to be told`
          : `${tries} publishes came too near the lock's end`;
        assert.ok(!toldInTime && tries < 4, `${published}: ${why}`);
      } finally {
        await first.lock.release();
      }
    }
  });

  test('keeps the locks of different keys apart', async (make, key) => {
    const [a, b] = [await make(), await make()];
    const first = await held(acquire(a, key));
    // One lock for every session would make a pool's users, and the fleet's, refresh one at a time.
    const shared = 'the lock of one key kept another store from the lock of another key';
    const result = await resolvedWithin(acquire(b, conformanceKey('other')), halfTtlMs, shared);
    await first.lock.release();
    assert.equal(result.acquired, true, shared);
    if (result.acquired) await result.lock.release();
  });

  test('lets another store take the lock when its holder is gone', async (make, key, close) => {
    const [a, b] = [await make(), await make()];
    await held(acquire(a, key));
    await close(a); // the holder dies without releasing
    assert.equal((await resolvedWithin(acquire(b, key), lockTtlMs + handOverMs, diedLate)).acquired, true);
  });

  test('keeps the lock of its next holder when a holder whose lock expired releases it', async (make, key, close) => {
    const [a, b, c] = [await make(), await make(), await make()];
    const first = await held(acquire(a, key));
    await close(a); // its lock now lasts lockTtlMs, with no holder to extend it
    const second = await held(assertWait(acquire(b, key), lockTtlMs + handOverMs, 'resolved', diedLate));
    // The late release of the first holder (which a closed store may also refuse) must not free the lock b holds.
    await first.lock.release().catch(() => undefined);
    const third = acquire(c, key);
    const freed = "release() by a holder whose lock had expired freed the next holder's lock";
    await assertWait(third, halfTtlMs, 'pending', freed);
    await second.lock.release();
    await resolvedWithin(third, handOverMs, handOverLate);
  });

  test("never extends the next holder's lock for a live holder whose lock lapsed", async (make, key, close) => {
    const [a, b, c] = [await make(), await make(), await make()];
    const first = await held(acquire(a, key));
    try {
      // A live holder loses its lock by stalling (a GC pause, a starved CPU), its watchdog with it, past the lock's
      // lifetime: twice it, so an extension sent just before the stall has lapsed too.
      stall(2 * lockTtlMs);
      // Asked at once, before the stalled holder's watchdog runs again (and, ignoring the owner, would extend b's).
      const lapsed = `the lock of a holder stalled for 2 × lockTtlMs was not taken over within ${handOverMs} ms`;
      await held(assertWait(acquire(b, key), handOverMs, 'resolved', lapsed));
      await close(b); // the next holder dies: its lock must lapse lockTtlMs later, whatever the stalled holder does
      const kept = "a holder whose lock had lapsed kept extending the next holder's lock after that holder died";
      await resolvedWithin(acquire(c, key), lockTtlMs + handOverMs, kept);
    } finally {
      await first.lock.release();
    }
  });

  test('rejects a wait whose signal aborts', async (make, key) => {
    const [a, b, controller] = [await make(), await make(), new AbortController()];
    const first = await held(acquire(a, key));
    const waiting = acquire(b, key, controller.signal);
    controller.abort(new Error('caller gave up'));
    await assertWait(waiting, handOverMs, 'rejected', `an aborted wait did not reject within ${handOverMs} ms`);
    await first.lock.release();
  });

  test('ends pending and later waits when closed', async (make, key, close) => {
    const [a, b] = [await make(), await make()];
    if (typeof (b as { close?: unknown }).close !== 'function') return;
    const first = await held(acquire(a, key));
    const waiting = acquire(b, key);
    await close(b);
    const notEnded = `a wait pending at close() did not reject within ${handOverMs} ms`;
    await assertWait(waiting, handOverMs, 'rejected', notEnded);
    const afterClose = 'acquireRefreshLock() afterClose() must reject (the manager then refreshes on its own)';
    await assert.rejects(acquire(b, key), afterClose);
    await first.lock.release();
  });
}

function encryptionChecks(test: Test, raw: ConformanceRawAccess): void {
  /** What get() did with a value it must not serve: resolved undefined, or rejected. */
  const refused = async (store: TokenStore, key: string): Promise<void> => {
    const outcome = await settleWithin(store.get(key), 5_000);
    assert.notEqual(outcome.state, 'pending', 'get() did not answer');
    if (outcome.state === 'resolved') assert.equal(outcome.value, undefined, 'get() served a value that must not open');
  };
  /** Stores `session` under `key` and returns the raw value kept for it. */
  const written = async (store: TokenStore, key: string, session = conformanceSession()): Promise<string> => {
    await write(store, key, session);
    const value = await raw.read(key);
    assert.ok(value, 'the raw value was not found under the key just written');
    return value;
  };

  test('keeps no token, nor any 8-character run of one, in the stored value', async (make, key) => {
    const session = conformanceSession();
    const value = await written(await make(), key, session);
    const tokens = [session.tokens.accessToken, session.tokens.refreshToken ?? ''];
    const leaked = tokens.flatMap(fragmentsOf).filter((fragment) => value.includes(fragment));
    assert.equal(leaked.length, 0, 'the stored value holds part of a token in the clear');
  });

  test('does not serve a value moved under another session key', async (make, key) => {
    const [store, target] = [await make(), conformanceKey('moved-to')];
    const value = await written(store, key);
    await write(store, target, conformanceSession());
    await raw.write(target, value);
    await refused(await make(), target);
  });

  test('does not serve a value with one character changed', async (make, key) => {
    const store = await make();
    await raw.write(key, flipOneCharacter(await written(store, key)));
    await refused(await make(), key);
  });

  test('does not serve a session whose identity was changed', async (make, key) => {
    const envelope = parseJsonObject(await written(await make(), key));
    // The identity kept in the clear beside the sealed tokens; a store that seals it with them ignores this one.
    const other = conformanceSession().identity;
    await raw.write(key, JSON.stringify({ ...envelope, identity: other }));
    const outcome = await settleWithin((await make()).get(key), 5_000);
    const denied = outcome.state !== 'pending' && (outcome.state !== 'resolved' || outcome.value?.identity !== other);
    assert.ok(denied, 'get() served a session under an identity it was not sealed for: put the identity in the aad');
  });

  test('does not serve a plaintext session planted under its key', async (make, key) => {
    const session = conformanceSession();
    const value = await written(await make(), key, session);
    // The store's own envelope (a version, say), with the tokens in the clear where the sealed value was; a value
    // that is no JSON object has none: the plain session alone is planted.
    const { sealed: _sealed, ...envelope } = parseJsonObject(value) ?? {};
    await raw.write(key, JSON.stringify({ ...envelope, ...conformanceSession(session.identity) }));
    await refused(await make(), key);
  });
}

/** A session's own circuit must open within this many of its transient failures (the bundled breakers': 5). */
const BREAKER_FAILURES = 20;

/** Checks that hold for any breaker keeping a circuit per session and per scope; a store without one passes them. */
function breakerChecks(test: Test, { openMs = 2_000 }: ConformanceBreakerOptions = {}): void {
  const breakerTest = (title: string, check: (breaker: AuthBreaker) => Promise<void>): void =>
    test(title, async (make) => {
      const { breaker } = await make();
      if (breaker !== undefined) await check(breaker);
    });
  const call = (scope = conformanceKey('scope')): BreakerCall => ({ scope, session: conformanceKey('session') });
  /** Fails `call` (each attempt admitted first, as a manager asks) until refused, or BREAKER_FAILURES times. */
  const trip = async (breaker: AuthBreaker, failing: BreakerCall): Promise<BreakerAdmission> => {
    for (let failures = 0; ; failures += 1) {
      const admission = await breaker.admit(failing);
      if (!admission.allowed || failures === BREAKER_FAILURES) return admission;
      await breaker.record(failing, 'transient-failure');
    }
  };
  /** The admission of `open`'s probe: waits as long as the breaker asks, within `openMs`. */
  const probe = async (breaker: AuthBreaker, open: BreakerCall): Promise<BreakerAdmission> => {
    const deadline = Date.now() + openMs;
    let admission = await breaker.admit(open);
    while (!admission.allowed && Date.now() + admission.retryAfterMs <= deadline) {
      await delay(admission.retryAfterMs);
      admission = await breaker.admit(open);
    }
    return admission;
  };

  breakerTest(`opens a session's circuit within ${BREAKER_FAILURES} failures, as snapshot() shows`, async (b) => {
    const failing = call();
    assertStatus(b.snapshot(failing), 'closed');
    const refused = await trip(b, failing);
    assert.equal(refused.allowed, false, `${BREAKER_FAILURES} transient failures did not open the session's circuit`);
    assert.ok(refused.retryAfterMs > 0, 'a refusal must say how long to wait (retryAfterMs > 0)');
    assertStatus(b.snapshot(failing), 'open');
  });

  breakerTest("closes a session's circuit when its probe succeeds", async (b) => {
    const failing = call();
    if ((await trip(b, failing)).allowed) return; // the check above reports a breaker that never opens
    const noProbe = `no probe ({ allowed: true, probe: true }) within options.breaker.openMs, ${openMs} ms`;
    assert.deepEqual(await probe(b, failing), { allowed: true, probe: true }, noProbe);
    await b.record(failing, 'success');
    assert.deepEqual(await b.admit(failing), { allowed: true, probe: false }, 'a success did not close the circuit');
    assertStatus(b.snapshot(failing), 'closed');
  });

  breakerTest("never refuses another session of the scope for one session's failures", async (b) => {
    const failing = call();
    // Its probes fail too: one account that keeps failing is still one user.
    if ((await trip(b, failing)).allowed || (await probe(b, failing)).allowed) {
      await b.record(failing, 'transient-failure');
    }
    const refused = "one session's failures refused another session of its scope";
    assert.equal((await b.admit(call(failing.scope))).allowed, true, refused);
  });

  breakerTest('never refuses a call of another scope for failures in one', async (b) => {
    const scope = conformanceKey('scope');
    // An outage of one partner's auth server (every session failing) may open its scope, never another's.
    for (let n = 0; n < BREAKER_FAILURES; n += 1) await trip(b, call(scope));
    assert.equal((await b.admit(call())).allowed, true, "one scope's failures refused a call of another scope");
  });
}

/** Asserts a {@link BreakerStatus}'s shape (its fields agree with each other) and its `state`. */
function assertStatus(status: BreakerStatus, state: BreakerStatus['state']): void {
  assert.equal(status.state, state, `snapshot() reads ${status.state} where the circuit is ${state}`);
  assert.ok(Number.isInteger(status.failures) && status.failures >= 0, 'snapshot().failures is not a count');
  assert.equal(status.openUntil !== null, state === 'open', 'snapshot().openUntil must be set only while open');
  assert.ok(status.openUntil === null || Number.isFinite(status.openUntil), 'snapshot().openUntil is not a time');
  const levels: Array<BreakerStatus['level']> = state === 'closed' ? [null] : ['session', 'scope'];
  assert.ok(levels.includes(status.level), `snapshot().level is ${String(status.level)} where the circuit is ${state}`);
  const unavailable = status.unavailable === undefined || typeof status.unavailable === 'string';
  assert.ok(unavailable, 'snapshot().unavailable must be a reason (a string) or absent');
}

/** A fresh key for one check, so checks never see each other's sessions. */
function conformanceKey(name: string): string {
  return `alix-conformance:${randomUUID()}:${name}`;
}

/**
 * A session with random tokens (so a fragment of one can be searched for) valid for 15 min; its token set frozen, as
 * the manager's is (a store that changes it fails every write).
 */
function conformanceSession(identity = `identity-${randomUUID()}`): StoredSession {
  const [now, token] = [Date.now(), (): string => randomBytes(24).toString('base64url')];
  const tokens = { accessToken: token(), accessTokenExpiresAt: now + 15 * 60_000 };
  const refresh = { refreshToken: token(), refreshTokenExpiresAt: now + 180 * 86_400_000 };
  return { identity, tokens: Object.freeze({ ...tokens, ...refresh }) };
}

/**
 * Asserts `store` reads `session` under `key`, compared by the fields the manager relies on (a store may add or drop
 * nothing else).
 */
async function assertReads(store: TokenStore, key: string, session: StoredSession, message?: string): Promise<void> {
  const comparable = (read?: StoredSession): unknown =>
    read && { identity: read.identity, tokens: pickTokenSet(read.tokens) };
  assert.deepEqual(comparable(await store.get(key)), comparable(session), message);
}

/** How a promise stood after waiting at most `ms`. */
type Settled<T> = { state: 'pending' } | { state: 'resolved'; value: T } | { state: 'rejected' };

/** Waits for `promise` at most `ms`; never rejects. */
function settleWithin<T>(promise: Promise<T>, ms: number): Promise<Settled<T>> {
  const settled = promise.then(
    (value): Settled<T> => ({ state: 'resolved', value }),
    (): Settled<T> => ({ state: 'rejected' }),
  );
  // Unref'd: the timer left behind once the promise settled holds neither the runner nor the process open.
  return Promise.race([settled, delay<Settled<T>>(ms, { state: 'pending' }, { ref: false })]);
}

/** Blocks this process (its timers, its sockets) for `ms`, as a long GC pause would. */
function stall(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Every run of 8 characters of `token`. */
function fragmentsOf(token: string): string[] {
  return Array.from({ length: Math.max(0, token.length - 7) }, (_, start) => token.slice(start, start + 8));
}

/** `raw` with one character changed in the middle of its longest run of base64/base64url/hex characters. */
function flipOneCharacter(raw: string): string {
  const runs = [...raw.matchAll(/[A-Za-z0-9+/_-]{16,}/g)];
  // A stable sort: the first of the longest runs.
  const longest = runs.sort((a, b) => b[0].length - a[0].length)[0];
  const at = longest === undefined ? raw.length >> 1 : longest.index + (longest[0].length >> 1);
  return `${raw.slice(0, at)}${raw[at] === 'A' ? 'B' : 'A'}${raw.slice(at + 1)}`;
}
