import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import NodeCache from 'node-cache';
import { describeTokenStoreConformance } from '../../src/sandbox/index';
import type { TokenStoreConformanceOptions } from '../../src/sandbox/index';
import { AesGcmTokenCipher, type TokenCipher } from '../../src/stores/encryption';
import { MemoryTokenStore } from '../../src/stores/memory';
import { LocalAuthBreaker } from '../../src/stores/memory-breaker';
import type { AuthBreaker, BreakerCall, RefreshLockResult, StoredSession, TokenStore } from '../../src/stores/types';

type Check = { name: string; run: () => Promise<void> };

/**
 * The kit's checks declared through a runner of our own (as node:test's or vitest's would be), run one by one (`only`:
 * those whose names start so): the names of those that failed (`withReason`: each followed by its assertion's message).
 */
async function failedChecks(
  createStore: () => TokenStore,
  options: TokenStoreConformanceOptions = {},
  withReason = false,
  only = '',
): Promise<string[]> {
  const checks: Check[] = [];
  const names: string[] = [];
  const describe = (name: string, body: () => void): void => {
    names.push(name);
    body();
    names.pop();
  };
  const it = (name: string, run: () => Promise<void>): void => {
    checks.push({ name: [...names.slice(1), name].join(' › '), run });
  };
  describeTokenStoreConformance('store', createStore, { ...options, describe, it });
  const failed: string[] = [];
  // The message's first line: node:assert may append the values compared.
  const reason = (error: unknown): string => (withReason ? `: ${(error as Error).message.split('\n')[0]}` : '');
  for (const check of checks.filter(({ name }) => name.startsWith(only))) {
    await check.run().catch((error: unknown) => failed.push(check.name + reason(error)));
  }
  return failed;
}

/** A cache the stores of one check share. */
function sharedCache(): NodeCache {
  const cache = new NodeCache({ useClones: false, checkperiod: 0 });
  return cache;
}

/** The kit's raw access to a MemoryTokenStore's backend: the value stored under a key, as JSON. */
function rawAccess(cache: NodeCache): {
  read(key: string): Promise<string>;
  write(key: string, value: string): Promise<void>;
} {
  return {
    read: async (key) => JSON.stringify(cache.get(key)),
    write: async (key, value) => void cache.set(key, JSON.parse(value) as unknown),
  };
}

/** MemoryTokenStores over one cache, with `change` made to each. */
function memoryStores(change: (store: MemoryTokenStore) => Partial<TokenStore> = () => ({})): () => TokenStore {
  const cache = sharedCache();
  return () => {
    const store = new MemoryTokenStore({ cache });
    const methods: TokenStore = {
      get: (key) => store.get(key),
      set: (key, session) => store.set(key, session),
      delete: (key) => store.delete(key),
    };
    return { ...methods, ...change(store) };
  };
}

/**
 * Fenced stores over one map of versioned rows: each write is based on the version this store last read. With
 * `restart`, a key's versions count from 1 again once it is deleted; otherwise they come from one sequence.
 */
function versionedStores(restart: boolean): () => TokenStore {
  const rows = new Map<string, { version: number; session: StoredSession }>();
  let last = 0;
  return () => {
    const seen = new Map<string, number>();
    return {
      get: async (key) => {
        seen.set(key, rows.get(key)?.version ?? 0);
        return rows.get(key)?.session;
      },
      set: async (key, session) => {
        const base = seen.get(key) ?? 0;
        if ((rows.get(key)?.version ?? 0) !== base) throw new Error(`stale write to ${key}`);
        const version = restart ? base + 1 : (last += 1);
        rows.set(key, { version, session });
        seen.set(key, version);
      },
      delete: async (key) => void rows.delete(key),
    };
  };
}

/** A breaker open period short enough for the kit's breaker checks, which wait for one probe. */
const SHORT_OPEN = { openMs: 50 };

/** A "lock" every caller gets at once. */
const EVERYONE_HOLDS = async (): Promise<RefreshLockResult> => ({
  acquired: true,
  lock: { release: async () => undefined },
});

describe('describeTokenStoreConformance()', () => {
  it('passes MemoryTokenStore through any runner given its describe and it', async () => {
    expect(await failedChecks(memoryStores())).toEqual([]);
  });

  it('refuses to declare its checks without a describe and an it', () => {
    const declare = () => describeTokenStoreConformance('store', memoryStores(), { describe: null as never });
    expect(declare).toThrow(/needs describe and it/);
  });

  it('fails a store that loses the identity', async () => {
    const loses = memoryStores((store) => ({
      get: async (key) => {
        const stored = await store.get(key);
        return stored === undefined ? undefined : { ...stored, identity: 'someone else' };
      },
    }));
    expect(await failedChecks(loses)).toContain(
      'get() and set() › returns the session set, with its identity, to this store and to another',
    );
  });

  const restarted = 'fencing › refuses a write based on a read from before the session was deleted and stored again';

  it('fails a store declared fenced that lets a stale write through', async () => {
    expect(await failedChecks(memoryStores(), { fencing: true })).toEqual([
      'fencing › refuses a write based on a stale read, and keeps the newer session',
      restarted,
    ]);
  });

  it('fails a fenced store whose versions restart once a key is deleted, and passes one whose do not', async () => {
    expect(await failedChecks(versionedStores(true), { fencing: true })).toEqual([restarted]);
    expect(await failedChecks(versionedStores(false), { fencing: true })).toEqual([]);
  });

  it('fails a store whose get() returns a copy with a field of the token set dropped', async () => {
    const dropping = memoryStores((store) => ({
      get: async (key) => {
        const stored = await store.get(key);
        const { refreshTokenExpiresAt: _dropped, ...tokens } = stored?.tokens ?? { accessToken: '' };
        return stored && { identity: stored.identity, tokens: tokens as StoredSession['tokens'] };
      },
    }));
    expect(await failedChecks(dropping)).toContain(
      'get() and set() › returns the session set, with its identity, to this store and to another',
    );
  });

  it('fails a store that changes the token set it is given (the manager gives a frozen one)', async () => {
    // Changed in place, as it then serves it: a read compared with the very object written would still match.
    const normalising = memoryStores((store) => ({
      set: async (key, session) => {
        const tokens = session.tokens as { accessTokenExpiresAt: number };
        tokens.accessTokenExpiresAt = Math.floor(tokens.accessTokenExpiresAt / 1000) * 1000;
        await store.set(key, session);
      },
    }));
    expect(await failedChecks(normalising)).toContain(
      'get() and set() › returns the session set, with its identity, to this store and to another',
    );
  });

  it('fails a store whose delete() forgets the session for itself only', async () => {
    const cache = sharedCache();
    const forgetsLocally = (): TokenStore => {
      const [store, deleted] = [new MemoryTokenStore({ cache }), new Set<string>()];
      return {
        get: async (key) => (deleted.has(key) ? undefined : store.get(key)),
        set: async (key, session) => void (deleted.delete(key), await store.set(key, session)),
        delete: async (key) => void deleted.add(key),
      };
    };
    expect(await failedChecks(forgetsLocally)).toEqual([
      'get() and set() › keeps sessions apart by key, and delete() forgets one',
    ]);
  });

  it("fails a store keeping a session 1/1000 of its refresh token's lifetime (seconds read as ms)", async () => {
    const rows = new Map<string, { session: StoredSession; until: number }>();
    const slipped = (): TokenStore => ({
      get: async (key) => ((rows.get(key)?.until ?? 0) > Date.now() ? rows.get(key)?.session : undefined),
      set: async (key, session) => {
        const { refreshTokenExpiresAt, accessTokenExpiresAt } = session.tokens;
        const lifetimeMs = (refreshTokenExpiresAt ?? accessTokenExpiresAt) - Date.now();
        rows.set(key, { session, until: Date.now() + lifetimeMs / 1000 });
      },
      delete: async (key) => void rows.delete(key),
    });
    expect(await failedChecks(slipped)).toEqual([
      'get() and set() › keeps a session until its refresh token expires, not its access token',
    ]);
  });

  it('fails a store that drops a session once its access token expires', async () => {
    const dropsWithAccessToken = memoryStores((store) => ({
      get: async (key) => {
        const stored = await store.get(key);
        return stored !== undefined && stored.tokens.accessTokenExpiresAt > Date.now() ? stored : undefined;
      },
    }));
    expect(await failedChecks(dropsWithAccessToken)).toEqual([
      'get() and set() › keeps a session until its refresh token expires, not its access token',
    ]);
  });

  it('fails a store with a lock it does not declare, and a lock that is not exclusive', async () => {
    const locking = memoryStores(() => ({ acquireRefreshLock: EVERYONE_HOLDS }));
    expect(await failedChecks(locking)).toEqual(['get() and set() › declares the lock it has']);
    const failed = await failedChecks(locking, { fencing: true, lock: { lockTtlMs: 100, handOverMs: 200 } });
    const exclusive = 'grants the lock to one store at a time, and to a waiter once released';
    expect(failed).toContain(`acquireRefreshLock() › ${exclusive}`);
  });

  it('fails a store with a lock declared without fencing', async () => {
    const locking = memoryStores(() => ({ acquireRefreshLock: EVERYONE_HOLDS }));
    const lock = { lockTtlMs: 100, handOverMs: 200 };
    expect(await failedChecks(locking, { lock }, true, 'get() and set()')).toEqual([
      'get() and set() › declares the lock it has: a store with a refresh lock must fence its writes ' +
        '(options.fencing): a holder may lose its lock',
    ]);
  });

  it('fails a store declared with a lock it does not have, each lock check saying so', async () => {
    const lock = { lockTtlMs: 100, handOverMs: 200 };
    const failed = await failedChecks(memoryStores(), { fencing: true, lock }, true);
    expect(failed).toContain(
      'get() and set() › declares the lock it has: options.lock is set, but the store has no acquireRefreshLock()',
    );
    const lockChecks = failed.filter((check) => check.startsWith('acquireRefreshLock() › '));
    expect(lockChecks).toHaveLength(9);
    for (const check of lockChecks) expect(check).toMatch(/: the store has no acquireRefreshLock\(\)$/);
  });

  it('fails a store declared encrypted that keeps tokens in the clear and serves moved or altered values', async () => {
    const cache = sharedCache();
    const encryption = rawAccess(cache);
    expect(await failedChecks(() => new MemoryTokenStore({ cache, breaker: SHORT_OPEN }), { encryption })).toEqual([
      'encryption at rest › keeps no token, nor any 8-character run of one, in the stored value',
      'encryption at rest › does not serve a value moved under another session key',
      'encryption at rest › does not serve a value with one character changed',
      'encryption at rest › does not serve a session whose identity was changed',
      'encryption at rest › does not serve a plaintext session planted under its key',
    ]);
  });

  it('fails an encrypting store that serves a plaintext session planted under its key (readPlaintext on)', async () => {
    const cache = sharedCache();
    const encryption = rawAccess(cache);
    const keys = { keys: { k1: randomBytes(32) }, current: 'k1' };
    const migrating = (): MemoryTokenStore =>
      new MemoryTokenStore({ cache, breaker: SHORT_OPEN, encryption: { ...keys, readPlaintext: true } });
    expect(await failedChecks(migrating, { encryption })).toEqual([
      'encryption at rest › does not serve a plaintext session planted under its key',
    ]);
    const encrypting = (): MemoryTokenStore => new MemoryTokenStore({ cache, breaker: SHORT_OPEN, encryption: keys });
    expect(await failedChecks(encrypting, { encryption })).toEqual([]);
  });

  it('fails a store whose values are no JSON object and that serves a plaintext session planted under its key', async () => {
    const values = new Map<string, string>();
    const encryption = {
      read: async (key: string) => values.get(key),
      write: async (key: string, value: string) => void values.set(key, value),
    };
    // "Sealed" as base64, and a value that is JSON read as a plaintext session (a migration left switched on).
    const encoded = (): TokenStore => ({
      get: async (key) => {
        const value = values.get(key);
        const text = value?.startsWith('{') ? value : value && Buffer.from(value, 'base64').toString();
        return text === undefined ? undefined : (JSON.parse(text) as StoredSession);
      },
      set: async (key, session) => void values.set(key, Buffer.from(JSON.stringify(session)).toString('base64')),
      delete: async (key) => void values.delete(key),
    });
    expect(await failedChecks(encoded, { encryption }, true)).toContain(
      'encryption at rest › does not serve a plaintext session planted under its key: get() served a value that must not open',
    );
  });

  it('fails an encrypting store that keeps 8 characters of a token in the clear beside the sealed value', async () => {
    const cache = sharedCache();
    const encryption = rawAccess(cache);
    const aes = new AesGcmTokenCipher({ keys: { k1: randomBytes(32) }, current: 'k1' });
    // A "hint" to tell sessions apart in logs: the access token's last 8 characters.
    const hinting: TokenCipher = {
      seal: async (plaintext, aad) => {
        const hint = (JSON.parse(plaintext) as { accessToken: string }).accessToken.slice(-8);
        return `${hint}.${await aes.seal(plaintext, aad)}`;
      },
      open: (sealed, aad) => aes.open(sealed.slice(sealed.indexOf('.') + 1), aad),
    };
    const stores = (): MemoryTokenStore =>
      new MemoryTokenStore({ cache, breaker: false, encryption: { cipher: hinting } });
    expect(await failedChecks(stores, { encryption }, false, 'encryption at rest')).toEqual([
      'encryption at rest › keeps no token, nor any 8-character run of one, in the stored value',
    ]);
  });

  it('fails an encrypting store whose get() never answers for a value that does not open', async () => {
    const cache = sharedCache();
    const encryption = rawAccess(cache);
    const keys = { keys: { k1: randomBytes(32) }, current: 'k1' };
    // Retrying an unreadable value for ever: the manager's read would wait out its deadline each time.
    const forever = (): TokenStore => {
      const store = new MemoryTokenStore({ cache, breaker: false, encryption: keys });
      return {
        get: (key) => store.get(key).catch(() => new Promise<never>(() => undefined)),
        set: (key, session) => store.set(key, session),
        delete: (key) => store.delete(key),
      };
    };
    const changed = 'encryption at rest › does not serve a value with one character changed';
    expect(await failedChecks(forever, { encryption }, true, changed)).toEqual([`${changed}: get() did not answer`]);
  });

  it('fails an encrypting store whose sealed value is bound to its key but not to the identity beside it', async () => {
    const cache = sharedCache();
    const encryption = rawAccess(cache);
    const aes = new AesGcmTokenCipher({ keys: { k1: randomBytes(32) }, current: 'k1' });
    // The aad's first two lines (format, store key): the identity, its third, is left out.
    const keyOnly = (aad: string): string => aad.split('\n').slice(0, 2).join('\n');
    const cipher: TokenCipher = {
      seal: (plaintext, aad) => aes.seal(plaintext, keyOnly(aad)),
      open: (sealed, aad) => aes.open(sealed, keyOnly(aad)),
    };
    const relabelled = (): MemoryTokenStore =>
      new MemoryTokenStore({ cache, breaker: SHORT_OPEN, encryption: { cipher } });
    expect(await failedChecks(relabelled, { encryption })).toEqual([
      'encryption at rest › does not serve a session whose identity was changed',
    ]);
  });
});

/**
 * A lock over one shared map whose release() checks no owner and whose waiters wait for the lock
 * even once a session was published. Besides, `leaky` waiters that see the lock freed are told
 * they hold it without taking it (so a third store gets it too); `sticky` release() does
 * nothing, the lock lasting until its `ttlMs`; `global` is one lock for every key.
 */
function sharedLock(
  flaw: 'leaky' | 'sticky' | 'global' | 'none',
  ttlMs: number,
): NonNullable<TokenStore['acquireRefreshLock']> {
  const held = new Map<string, number>();
  const isHeld = (key: string): boolean => (held.get(key) ?? 0) > Date.now();
  return async (sessionKey, { signal }) => {
    const key = flaw === 'global' ? 'every session' : sessionKey;
    let waited = false;
    while (isHeld(key)) {
      waited = true;
      signal.throwIfAborted();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    if (!(flaw === 'leaky' && waited)) held.set(key, Date.now() + ttlMs);
    return { acquired: true, lock: { release: async () => void (flaw === 'sticky' || held.delete(key)) } };
  };
}

/**
 * Fenced stores with a lock over one table, kept by a watchdog that extends it every third of `ttlMs` (as
 * RedisTokenStore's) until released, closed, or found lost; a waiter is told of a session published meanwhile. A
 * `blind` watchdog extends the key's lock whoever holds it (a PEXPIRE with no owner check), and goes on.
 */
function watchdogStores(blind: boolean, ttlMs: number): () => TokenStore & { close(): Promise<void> } {
  const sessions = versionedStores(false);
  const [locks, writes] = [new Map<string, { owner: symbol; expiresAt: number }>(), new Map<string, number>()];
  const isHeld = (key: string): boolean => (locks.get(key)?.expiresAt ?? 0) > Date.now();
  return () => {
    const [store, watchdogs] = [sessions(), new Set<() => void>()];
    const hold = (key: string): RefreshLockResult => {
      const owner = Symbol(key);
      locks.set(key, { owner, expiresAt: Date.now() + ttlMs });
      const extend = (): void => {
        const lock = locks.get(key);
        if (lock && lock.expiresAt > Date.now() && (blind || lock.owner === owner)) lock.expiresAt = Date.now() + ttlMs;
        else stop();
      };
      const timer = setInterval(extend, ttlMs / 3);
      const stop = (): void => void (clearInterval(timer), watchdogs.delete(stop));
      watchdogs.add(stop);
      const release = async (): Promise<void> => void (stop(), locks.get(key)?.owner === owner && locks.delete(key));
      return { acquired: true, lock: { release } };
    };
    let closed = false;
    return {
      ...store,
      set: async (key, session) => {
        await store.set(key, session);
        writes.set(key, (writes.get(key) ?? 0) + 1);
      },
      acquireRefreshLock: async (key, { signal }) => {
        const writesAtStart = writes.get(key);
        for (;;) {
          if (closed) throw new Error('closed');
          signal.throwIfAborted();
          if (!isHeld(key)) return hold(key);
          if (writes.get(key) !== writesAtStart) return { acquired: false };
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      },
      close: async () => {
        closed = true;
        for (const stop of [...watchdogs]) stop();
      },
    };
  };
}

describe('describeTokenStoreConformance() on broken locks', () => {
  const lock = { lockTtlMs: 300, handOverMs: 600 };
  const handOver = 'acquireRefreshLock() › grants the lock to one store at a time, and to a waiter once released';

  it('fails a lock whose waiter is told it holds the released lock without taking it', async () => {
    const acquireRefreshLock = sharedLock('leaky', lock.lockTtlMs);
    const failed = await failedChecks(
      memoryStores(() => ({ acquireRefreshLock })),
      { fencing: true, lock },
    );
    expect(failed).toContain(handOver);
  });

  it('fails a lock whose release() does nothing (freed only by its TTL)', async () => {
    const acquireRefreshLock = sharedLock('sticky', lock.lockTtlMs);
    const failed = await failedChecks(
      memoryStores(() => ({ acquireRefreshLock })),
      { fencing: true, lock },
    );
    expect(failed).toContain('acquireRefreshLock() › frees the lock at release(), not only when its lifetime ends');
  });

  describe('a lock whose waiter is told of a published session only at the release', () => {
    const toldUnderLock =
      'acquireRefreshLock() › tells a waiter of a session the holder publishes while it still holds the lock';
    // Told within less than the lock's lifetime: a waiter cannot take the lock over meanwhile.
    const options = { fencing: true, lock: { lockTtlMs: lock.lockTtlMs, handOverMs: lock.lockTtlMs / 2 } };

    it('fails', async () => {
      const acquireRefreshLock = sharedLock('none', lock.lockTtlMs);
      const failed = await failedChecks(
        memoryStores(() => ({ acquireRefreshLock })),
        options,
        false,
        toldUnderLock,
      );
      expect(failed).toEqual([toldUnderLock]);
    });

    it('fails even if a slowed first publish lands after the waiter took the expired lock', async () => {
      const acquireRefreshLock = sharedLock('none', lock.lockTtlMs);
      let [acquisitions, waiterTookIt] = [0, (): void => undefined];
      const tookExpired = new Promise<void>((resolve) => (waiterTookIt = resolve));
      const slowed = memoryStores((store) => ({
        acquireRefreshLock: async (key, wait) => {
          const result = await acquireRefreshLock(key, wait);
          if ((acquisitions += 1) === 2) waiterTookIt();
          return result;
        },
        set: async (key, session) => {
          await tookExpired;
          await store.set(key, session);
        },
      }));
      expect(await failedChecks(slowed, options, false, toldUnderLock)).toEqual([toldUnderLock]);
    });
  });

  it('passes a lock that is not extended, whose waiter takes it once lapsed, when lockTtlMs leaves no time to tell', async () => {
    const toldUnderLock =
      'acquireRefreshLock() › tells a waiter of a session the holder publishes while it still holds the lock';
    const [lockTtlMs, handOverMs] = [100, 300];
    const acquireRefreshLock = sharedLock('none', lockTtlMs);
    const writes = new Map<string, number>();
    // A waiter that asks for the lock every 10 ms and for a new session every 150 ms (within handOverMs): the holder's
    // lock lapses before it hears of the session, and taking a free lock is right.
    const polling = memoryStores((store) => ({
      set: async (key, session) => {
        await store.set(key, session);
        writes.set(key, (writes.get(key) ?? 0) + 1);
      },
      acquireRefreshLock: async (key, wait) => {
        const [writesAtStart, controller] = [writes.get(key), new AbortController()];
        const told = setInterval(() => writes.get(key) !== writesAtStart && controller.abort(), 150);
        const signal = AbortSignal.any([wait.signal, controller.signal]);
        try {
          return await acquireRefreshLock(key, { signal });
        } catch (error) {
          if (controller.signal.aborted && !wait.signal.aborted) return { acquired: false };
          throw error;
        } finally {
          clearInterval(told);
        }
      },
    }));
    const options = { fencing: true, lock: { lockTtlMs, handOverMs } };
    expect(await failedChecks(polling, options, true, toldUnderLock)).toEqual([]);
  });

  it('fails one lock for every session key, and passes a lock per key', async () => {
    const apart = 'acquireRefreshLock() › keeps the locks of different keys apart';
    const stores = (flaw: 'global' | 'none') => {
      const acquireRefreshLock = sharedLock(flaw, lock.lockTtlMs); // one lock table, shared by the stores
      return memoryStores(() => ({ acquireRefreshLock }));
    };
    expect(await failedChecks(stores('global'), { fencing: true, lock }, false, apart)).toEqual([apart]);
    expect(await failedChecks(stores('none'), { fencing: true, lock }, false, apart)).toEqual([]);
  });

  it('fails a lock whose waiter cannot read the published session (set() resolves before it lands)', async () => {
    const acquireRefreshLock = sharedLock('none', lock.lockTtlMs);
    const writeBehind = memoryStores((store) => ({
      acquireRefreshLock,
      set: async (key, session) => void setTimeout(() => void store.set(key, session).catch(() => undefined), 100),
    }));
    const only = 'acquireRefreshLock() › hands over to a waiter when the holder publishes a session';
    expect(await failedChecks(writeBehind, { fencing: true, lock }, false, only)).toEqual([only]);
  });

  it("fails a lock whose holder's watchdog extends the next holder's lock once its own lapsed", async () => {
    const lapsed = "acquireRefreshLock() › never extends the next holder's lock for a live holder whose lock lapsed";
    expect(await failedChecks(watchdogStores(true, lock.lockTtlMs), { fencing: true, lock })).toEqual([lapsed]);
    expect(await failedChecks(watchdogStores(false, lock.lockTtlMs), { fencing: true, lock })).toEqual([]);
  });

  it('fails a lock whose release() frees it for a holder that no longer owns it', async () => {
    const acquireRefreshLock = sharedLock('none', lock.lockTtlMs);
    const failed = await failedChecks(
      memoryStores(() => ({ acquireRefreshLock })),
      { fencing: true, lock },
    );
    expect(failed).toContain(
      'acquireRefreshLock() › keeps the lock of its next holder when a holder whose lock expired releases it',
    );
  });
});

/**
 * MemoryTokenStores over one cache whose watch() is told of every set() (by any of them) unless `deaf`; a `clingy`
 * one goes on being told once stopped; an `early` one is told before the write lands (a publish sent before the SET).
 */
function watchedMemoryStores(deaf: boolean, clingy = false, early = false): () => TokenStore {
  const [cache, published] = [new NodeCache({ useClones: false, checkperiod: 0 }), new EventEmitter()];
  return () => {
    const store = new MemoryTokenStore({ cache });
    return {
      get: (key) => store.get(key),
      set: async (key, session) => {
        if (early) published.emit(key);
        // The write's round trip: a reader told early reads the session before this one.
        if (early) await new Promise((resolve) => setTimeout(resolve, 10));
        await store.set(key, session);
        if (!early) published.emit(key);
      },
      delete: (key) => store.delete(key),
      watch: (key, onPublished) => {
        if (deaf) return () => undefined;
        published.on(key, onPublished);
        return () => void (clingy || published.off(key, onPublished));
      },
    };
  };
}

describe('describeTokenStoreConformance(): replicas that read and watch', () => {
  it('fails a store whose get() keeps serving what it read before another store replaced it', async () => {
    const memory = watchedMemoryStores(false);
    const readOnce = (): TokenStore => {
      const store = memory();
      const seen = new Map<string, StoredSession>();
      const get = async (key: string): Promise<StoredSession | undefined> => {
        const session = seen.get(key) ?? (await store.get(key));
        if (session !== undefined) seen.set(key, session);
        return session;
      };
      const set = async (key: string, session: StoredSession): Promise<void> => {
        await store.set(key, session);
        seen.set(key, session); // its own writes it does see
      };
      const remove = async (key: string): Promise<void> => {
        await store.delete(key);
        seen.delete(key);
      };
      return { ...store, get, set, delete: remove };
    };
    const replaced = 'shows a replacement to another store that read the session before';
    expect(await failedChecks(readOnce)).toEqual([expect.stringContaining(replaced)]);
  });

  it('fails a store whose watch() never calls back, and passes one whose watch() does', async () => {
    const watchCheck = 'calls a watch() callback when another store publishes a session under its key';
    expect(await failedChecks(watchedMemoryStores(true))).toEqual([expect.stringContaining(watchCheck)]);
    expect(await failedChecks(watchedMemoryStores(false))).toEqual([]);
  });

  it('fails a store whose watch() calls back once as it is called, and never for a write', async () => {
    const memory = watchedMemoryStores(true);
    const announcing = (): TokenStore => ({
      ...memory(),
      // A "subscribed" callback taken for a publication: the manager would never hear a hand-over.
      watch: (_key, onPublished) => {
        onPublished();
        return () => undefined;
      },
    });
    const watchCheck = 'calls a watch() callback when another store publishes a session under its key';
    expect(await failedChecks(announcing)).toEqual([expect.stringContaining(watchCheck)]);
  });

  it('fails a store whose watch() calls back before the write it announces can be read', async () => {
    const watchCheck = 'calls a watch() callback when another store publishes a session under its key';
    expect(await failedChecks(watchedMemoryStores(false, false, true))).toEqual([expect.stringContaining(watchCheck)]);
  });

  it('fails a store whose watch() goes on calling back once stopped', async () => {
    expect(await failedChecks(watchedMemoryStores(false, true))).toEqual([
      'get() and set() › stops calling back once its watch() is stopped',
    ]);
  });
});

/** MemoryTokenStores whose breaker is a LocalAuthBreaker (open 50 ms) that takes each call for `as(call)`. */
function breakerStores(as: (call: BreakerCall) => BreakerCall = (call) => call): () => TokenStore {
  return memoryStores(() => {
    const breaker = new LocalAuthBreaker(SHORT_OPEN);
    return {
      breaker: {
        admit: (call) => breaker.admit(as(call)),
        record: (call, outcome, retryAfterMs) => breaker.record(as(call), outcome, retryAfterMs),
        snapshot: (call) => breaker.snapshot(as(call)),
      },
    };
  });
}

describe('describeTokenStoreConformance() on broken breakers', () => {
  const sameScope =
    "breaker › never refuses another session of the scope for one session's failures: " +
    "one session's failures refused another session of its scope";
  const otherScope =
    'breaker › never refuses a call of another scope for failures in one: ' +
    "one scope's failures refused a call of another scope";

  it('passes a breaker with a circuit per session and per scope', async () => {
    expect(await failedChecks(breakerStores())).toEqual([]);
  });

  it('fails a breaker with one circuit for every call', async () => {
    const shared = breakerStores(() => ({ scope: 'every', session: 'every' }));
    expect(await failedChecks(shared, {}, true)).toEqual([sameScope, otherScope]);
  });

  it('fails a breaker with one circuit per scope only', async () => {
    const perScope = breakerStores(({ scope }) => ({ scope, session: 'every' }));
    expect(await failedChecks(perScope, {}, true)).toEqual([sameScope]);
  });

  it('fails a breaker whose snapshot() gives a reason of unavailability that is not a string', async () => {
    const stores = memoryStores(() => {
      const breaker = new LocalAuthBreaker(SHORT_OPEN);
      return {
        breaker: {
          admit: (call) => breaker.admit(call),
          record: (call, outcome) => breaker.record(call, outcome),
          snapshot: (call) => ({ ...breaker.snapshot(call), unavailable: true as never }),
        },
      };
    });
    expect(await failedChecks(stores, {}, true)).toContain(
      "breaker › opens a session's circuit within 20 failures, as snapshot() shows: " +
        'snapshot().unavailable must be a reason (a string) or absent',
    );
  });

  it('fails a breaker that never opens', async () => {
    const neverOpens: AuthBreaker = {
      admit: async () => ({ allowed: true, probe: false }),
      record: async () => undefined,
      snapshot: () => ({ state: 'closed', failures: 0, openUntil: null, level: null }),
    };
    expect(
      await failedChecks(
        memoryStores(() => ({ breaker: neverOpens })),
        {},
        true,
      ),
    ).toEqual([
      "breaker › opens a session's circuit within 20 failures, as snapshot() shows: " +
        "20 transient failures did not open the session's circuit",
    ]);
  });
});
