/**
 * What the store conformance kit works with: its options, sessions with random tokens, and
 * bounded waits, apart from the checks themselves (store-conformance.ts).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { StoredSession, TokenStore } from '../stores/types';

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
   * session (pub/sub, or polling), in ms.
   * @default 2_000
   */
  handOverMs?: number;
}

/** Reads and writes the backend's raw value for a session key, bypassing the store. */
export interface ConformanceRawAccess {
  /** The value as kept in the backend (serialised to text), or undefined when there is none. */
  read(key: string): Promise<string | undefined>;
  /** Replaces the raw value under `key` (the kit writes back a value it read, moved or altered). */
  write(key: string, value: string): Promise<void>;
}

/** A fresh key for one check, so checks never see each other's sessions. */
export function conformanceKey(name: string): string {
  return `alix-conformance:${randomUUID()}:${name}`;
}

/** A session with random tokens (so a fragment of one can be searched for) valid for 15 min. */
export function conformanceSession(identity = `identity-${randomUUID()}`): StoredSession {
  const now = Date.now();
  return {
    identity,
    tokens: {
      accessToken: randomBytes(24).toString('base64url'),
      accessTokenExpiresAt: now + 15 * 60_000,
      refreshToken: randomBytes(24).toString('base64url'),
      refreshTokenExpiresAt: now + 180 * 86_400_000,
    },
  };
}

/** The session's fields the manager relies on, for comparison (a store may add or drop nothing else). */
export function comparable(session: StoredSession | undefined): unknown {
  if (session === undefined) return undefined;
  const { accessToken, accessTokenExpiresAt, refreshToken, refreshTokenExpiresAt } = session.tokens;
  const tokens = { accessToken, accessTokenExpiresAt, refreshToken, refreshTokenExpiresAt };
  return { identity: session.identity, tokens };
}

/** How a promise stood after waiting at most `ms`. */
export type Settled<T> = { state: 'pending' } | { state: 'resolved'; value: T } | { state: 'rejected'; error: unknown };

/** Waits for `promise` at most `ms`; never rejects. */
export async function settleWithin<T>(promise: Promise<T>, ms: number): Promise<Settled<T>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const pending = new Promise<Settled<T>>((resolve) => {
    timer = setTimeout(() => resolve({ state: 'pending' }), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        (value): Settled<T> => ({ state: 'resolved', value }),
        (error: unknown): Settled<T> => ({ state: 'rejected', error }),
      ),
      pending,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Every run of 8 characters of `token`. */
export function fragmentsOf(token: string, length = 8): string[] {
  const fragments: string[] = [];
  for (let start = 0; start + length <= token.length; start += 1) fragments.push(token.slice(start, start + length));
  return fragments;
}

/** `raw` with one character changed in the middle of its longest run of base64/base64url/hex characters. */
export function flipOneCharacter(raw: string): string {
  const runs = [...raw.matchAll(/[A-Za-z0-9+/_-]{16,}/g)];
  let longest: RegExpMatchArray | undefined;
  for (const run of runs) if (longest === undefined || run[0].length > longest[0].length) longest = run;
  const at = longest === undefined ? raw.length >> 1 : (longest.index ?? 0) + (longest[0].length >> 1);
  const replacement = raw[at] === 'A' ? 'B' : 'A';
  return `${raw.slice(0, at)}${replacement}${raw.slice(at + 1)}`;
}
