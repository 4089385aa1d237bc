import { isDeepStrictEqual } from 'node:util';
import NodeCache from 'node-cache';
import { systemClock } from '../clock';
import { definedOnly } from '../defaults';
import { assertConfig } from '../errors';
import { LocalAuthBreaker, type AuthBreakerOptions } from './memory-breaker';
import { assertStorable } from './redis-scripts';
import { openStored, resolveTokenEncryption, sealSession } from './encryption';
import type { ResolvedTokenEncryption, TokenEncryptionOptions } from './encryption';
import type { AuthBreaker, SealedSession, StoredSession, TokenStore } from './types';

/** Options of {@link MemoryTokenStore}. */
export interface MemoryTokenStoreOptions {
  /**
   * A node-cache instance to keep the sessions in; several stores (and managers) may share
   * one, each session under its own identity-derived key. The default has clones off and no
   * check-period timer, so it never keeps the process alive.
   * @default a private NodeCache
   */
  cache?: NodeCache | undefined;
  /**
   * The clock for entry lifetimes, epoch ms.
   * @default Date.now
   */
  now?: (() => number) | undefined;
  /**
   * The process-local auth breaker every manager on this store shares (so all sessions of a
   * pool count the auth server's failures together); `false` for none.
   * @default a LocalAuthBreaker with its defaults
   */
  breaker?: AuthBreakerOptions | false | undefined;
  /**
   * The most sessions kept: storing one more drops the least recently stored (its user then
   * signs in again on return). Bounds memory however many users a service ever sees.
   * @default 100_000 (about 110 MB of heap at most)
   */
  maxSessions?: number | undefined;
  /**
   * Encrypts sessions at rest, as `RedisTokenStoreOptions.encryption` does (for a cache
   * shared beyond this store, or heap dumps): `{ keys, current }` or `{ cipher }`. A plaintext value
   * is refused as unreadable; `readPlaintext: true` (the migration switch) reads it once and re-writes it
   * sealed, and lets anyone who can write to the cache plant a session meanwhile.
   * @default no encryption
   */
  encryption?: TokenEncryptionOptions | undefined;
}

/**
 * Stores a manager or pool made for itself and shares with nobody: the only ones a provider without identity may use.
 */
const privateStores = new WeakSet<TokenStore>();

/** Marks `store` as private to the manager or pool that made it. */
export function markPrivate<T extends TokenStore>(store: T): T {
  privateStores.add(store);
  return store;
}

/** Whether `store` is private to the manager or pool that made it. */
export function isPrivateStore(store: TokenStore): boolean {
  return privateStores.has(store);
}

/**
 * The default {@link TokenStore}: sessions in process memory (node-cache), one per key, each
 * dropped when its refresh token (or, without one, its access token) expires.
 */
export class MemoryTokenStore implements TokenStore {
  /** The process-local breaker the managers on this store share by default (see {@link LocalAuthBreaker}). */
  readonly breaker: AuthBreaker | undefined;
  readonly #cache: NodeCache;
  readonly #now: () => number;
  readonly #maxSessions: number;
  readonly #encryption: ResolvedTokenEncryption | undefined;
  /**
   * The keys this store wrote, least recently stored first (node-cache keeps no order it can
   * evict by). No 'del' listener keeps it (stores sharing a cache would pile them up): a key
   * that expired or another store deleted leaves it when counted or evicted.
   */
  readonly #order = new Set<string>();

  /** @throws ConfigurationError when an option is invalid. */
  constructor(options: MemoryTokenStoreOptions = {}) {
    assertConfig(typeof options === 'object' && options !== null, 'MemoryTokenStore options must be an object');
    const resolved = { now: systemClock.now, maxSessions: 100_000, ...definedOnly(options) };
    const { now, maxSessions, cache, breaker, encryption } = resolved;
    assertConfig(typeof now === 'function', 'MemoryTokenStore option now must be a function');
    const bounded = (Number.isInteger(maxSessions) || maxSessions === Infinity) && maxSessions >= 1;
    assertConfig(bounded, 'MemoryTokenStore option maxSessions must be an integer ≥ 1');
    const isCache = cache === undefined || (typeof cache.get === 'function' && typeof cache.set === 'function');
    assertConfig(isCache, 'MemoryTokenStore option cache must be a NodeCache');
    this.#maxSessions = maxSessions;
    this.#cache = cache ?? new NodeCache({ useClones: false, checkperiod: 0, stdTTL: 0 });
    this.#now = now;
    this.#encryption = resolveTokenEncryption(encryption, 'MemoryTokenStore');
    this.breaker = breaker === false ? undefined : new LocalAuthBreaker({ ...breaker, now: breaker?.now ?? now });
  }

  /**
   * @throws UnreadableSessionError when an encrypted value does not open, or a value is in plaintext while this
   *   store encrypts (without `readPlaintext`); the manager treats it as absent.
   */
  async get(key: string): Promise<StoredSession | undefined> {
    const found: unknown = this.#cache.get(checkKey(key));
    // A shared cache may hold anything under the key: what is not an object is no session (as Redis reads it).
    const entry = typeof found === 'object' && found !== null ? (found as StoredSession | SealedSession) : undefined;
    // Nothing to open or refuse: served in this turn, as a plain store always did (callers may count the turns).
    if (entry === undefined || (this.#encryption === undefined && !('sealed' in entry))) return entry;
    // A plaintext session whose re-write fails (a KMS that is down) is still read; the next write seals it.
    return openStored(this.#encryption, key, entry, (plain) => this.#write(key, plain, found).catch(() => undefined));
  }

  /** @throws TokenStoreError for a malformed session (what is held stays). */
  async set(key: string, session: StoredSession): Promise<void> {
    assertStorable(checkKey(key), session);
    await this.#write(key, session);
  }

  /** Stores `session`; when `replacing` is given, only if the key still holds it once sealed. */
  async #write(key: string, session: StoredSession, replacing?: unknown): Promise<void> {
    const { tokens } = session;
    const expiresAt = tokens.refreshTokenExpiresAt ?? tokens.accessTokenExpiresAt;
    const ttlSeconds = Math.max(1, Math.ceil((expiresAt - this.#now()) / 1000));
    // A frozen set (the manager's own) is shared, not copied: nobody can change it under us.
    const value =
      this.#encryption === undefined
        ? { identity: session.identity, tokens: Object.isFrozen(tokens) ? tokens : Object.freeze({ ...tokens }) }
        : await sealSession(this.#encryption.cipher, key, session);
    // get()'s re-write of a plaintext value must not undo a set() that landed while it sealed (a slow KMS).
    if (replacing !== undefined && !isDeepStrictEqual(this.#cache.get(key), replacing)) return;
    this.#cache.set(key, Object.freeze(value), ttlSeconds);
    this.#order.delete(key);
    this.#order.add(key);
    if (this.#order.size > this.#maxSessions) this.#forget(this.#order.values().next().value as string);
  }

  async delete(key: string): Promise<void> {
    this.#forget(checkKey(key));
  }

  /** How many sessions this store holds now. */
  get size(): number {
    for (const key of this.#order) if (!this.#cache.has(key)) this.#order.delete(key);
    return this.#order.size;
  }

  /** Forgets every session of this store (a pool's `close()` empties its private store so). */
  clear(): void {
    for (const key of this.#order) this.#forget(key);
  }

  /** Drops `key` from the cache and from this store's order. */
  #forget(key: string): void {
    this.#order.delete(key);
    this.#cache.del(key);
  }
}

function checkKey(key: unknown): string {
  assertConfig(typeof key === 'string' && key !== '', 'MemoryTokenStore: the session key must be a non-empty string');
  return key;
}
