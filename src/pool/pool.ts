/**
 * TokenManagerPool: one `TokenManager` per key (an end user's email), created lazily, held
 * in node-cache (idle TTL) with a recency order (LRU cap), all scheduled on one timer, and
 * with the auth calls of every session capped at `maxConcurrentAuth` at once. Idle sessions
 * rest without a manager until their next use.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import NodeCache from 'node-cache';
import { monotonicClock, systemClock } from '../clock';
import type { Clock } from '../clock';
import { TokenManagerClosedError } from '../errors';
import { TokenManager } from '../manager/token-manager';
import type { CloseOptions } from '../manager/token-manager';
import { hotTokenListener } from '../manager/internal';
import type { ManagerInternals } from '../manager/internal';
import { DEFAULT_TOKEN_MANAGER_OPTIONS } from '../manager/options';
import type { RefreshScheduler, TokenManagerOptions } from '../manager/options';
import type {
  GetAccessTokenOptions,
  InvalidateOptions,
  InvalidateResult,
  LifecycleEvent,
  TokenManagerHealth,
} from '../manager/types';
import { MemoryTokenStore, markPrivate } from '../stores/memory';
import type { TokenStore } from '../stores/types';
import { SessionStats } from '../manager/status';
import { TimerHeap } from './heap';
import type { HeapEntry } from './heap';
import { assessPoolHealth, snapshotPoolStatus } from './status';
import { assertSessionKey, resolvePoolOptions } from './options';
import type { PooledManagerOptions, ResolvedPoolOptions, TokenManagerPoolOptions } from './options';
import { AuthSemaphore } from './semaphore';
import { HotTable } from './hot-table';
import { PoolSession } from './session';
import type { SessionHost } from './session';
import type { TokenSet } from '../token-set';
import type { PoolCounters, PoolEvictionReason, TokenManagerPoolEvents, TokenManagerPoolStatus } from './types';

/** A session's idle TTL and LRU place are renewed at most this often, in ms: the hot path stays a Map lookup. */
export const POOL_RENEW_INTERVAL_MS = 1_000;

/**
 * Many sessions in one process, one per key (SPEC §7): lazily created, evicted when idle
 * (node-cache TTL, renewed on use) or over `maxSessions` (least recently used first), all
 * scheduled on one shared `unref()`ed timer, with auth calls capped at `maxConcurrentAuth`
 * at once and refresh points spread over half of each refresh window. Only sessions used
 * within their last token lifetime refresh in the background; an idle one rests instead (its
 * manager is closed, its record and last tokens kept) and refreshes on its next use.
 *
 * Use sessions through the pool (`pool.getAccessToken(key)`, or `pool.get(key)` per
 * request): that is what counts as use. A manager kept from `get()` is closed when its
 * session is evicted or rests.
 *
 * @example
 * ```ts
 * import { AlixAuthProvider, TokenManagerPool } from 'alix-token-manager';
 *
 * const pool = new TokenManagerPool({
 *   createProvider: AlixAuthProvider.forUsers({
 *     baseUrl: 'https://api.alix.example',
 *     partnerCode: 'my-partner',
 *     secretKey: process.env.ALIX_SECRET_KEY ?? '',
 *     privateKey: '/etc/alix/partner-key.pem',
 *   }),
 * });
 * const token = await pool.getAccessToken('jane@example.com');
 * ```
 */
export class TokenManagerPool extends EventEmitter<TokenManagerPoolEvents> {
  readonly #options: ResolvedPoolOptions;
  readonly #manager: PooledManagerOptions & { store: TokenStore };
  readonly #time: () => number;
  readonly #heap: TimerHeap;
  readonly #semaphore: AuthSemaphore;
  /** The sessions in recency order (least recently used first); node-cache decides their expiry. */
  readonly #sessions = new Map<string, PoolSession>();
  /** What the hot path reads: each session's token and until when it may be served as is. */
  readonly #hot = new HotTable();
  readonly #cache: NodeCache;
  readonly #ttlSeconds: number;
  readonly #acquireTimeoutMs: number;
  readonly #scheduler: RefreshScheduler;
  readonly #sweeper: HeapEntry;
  /** What every session shares: the timer, and where idle ones go to rest. */
  readonly #host: SessionHost;
  /** Every session's lifecycle events, counted the way one manager counts its own. */
  readonly #stats = new SessionStats();
  #evictedCount = 0;
  #constructing: PoolSession | undefined;
  #evicting: PoolEvictionReason | undefined;
  /** While `close()` evicts the sessions: how they close (`drainMs`), and each one's closing. */
  #closing: { readonly options: CloseOptions; readonly closed: Array<Promise<void>> } | undefined;
  #closed = false;
  /** The store the pool made for itself (without a `store` option): emptied by `close()`. */
  readonly #private: MemoryTokenStore | undefined;

  /** @throws ConfigurationError when an option is invalid (manager options included). */
  constructor(options: TokenManagerPoolOptions) {
    super();
    this.#options = resolvePoolOptions(options);
    const managerOptions = this.#options.manager;
    const { maxStoredSessions } = this.#options;
    this.#private =
      managerOptions.store === undefined
        ? markPrivate(new MemoryTokenStore({ now: managerOptions.now, maxSessions: maxStoredSessions }))
        : undefined;
    this.#manager = { ...managerOptions, store: managerOptions.store ?? (this.#private as MemoryTokenStore) };
    this.#time = managerOptions.now ?? monotonicClock();
    const timers = managerOptions.timers ?? systemClock;
    const clock: Clock = { now: this.#time, setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout };
    this.#heap = new TimerHeap(clock);
    this.#semaphore = new AuthSemaphore(this.#options.maxConcurrentAuth);
    this.#ttlSeconds = this.#options.idleTtlMs / 1000;
    this.#acquireTimeoutMs = managerOptions.acquireTimeoutMs ?? DEFAULT_TOKEN_MANAGER_OPTIONS.acquireTimeoutMs;
    this.#cache = new NodeCache({ stdTTL: this.#ttlSeconds, checkperiod: 0, useClones: false, deleteOnExpire: true });
    this.#cache.on('del', (key: string, session: PoolSession) => this.#evicted(key, session));
    this.#scheduler = (onDue) => {
      const session = this.#constructing;
      if (session === undefined)
        throw new Error('TokenManagerPool: a session asked for its timer outside of its construction');
      session.onDue = onDue;
      return session;
    };
    this.#sweeper = { at: undefined, heapIndex: -1, fire: () => this.#sweep() };
    this.#host = {
      heap: this.#heap,
      hot: this.#hot,
      rest: (session) => this.#rest(session),
      renewIntervalMs: POOL_RENEW_INTERVAL_MS,
    };
    // Validates the manager options now: bad configuration throws here, not at the first user.
    new TokenManager({ ...this.#manager, provider: PROBE_PROVIDER, scheduler: () => NO_TIMER }).close();
  }

  /** Sessions held now. */
  get size(): number {
    return this.#sessions.size;
  }

  /** Whether a session for `key` is held now (does not count as use). */
  has(key: string): boolean {
    return this.#sessions.has(key);
  }

  /**
   * The session for `key`: the same `TokenManager` while it is awake, created on first use
   * (or when a resting session wakes). Counts as use (renews its idle TTL and LRU place).
   * @throws ConfigurationError when `key` is not a non-empty string of at most 320 characters,
   *   or `createProvider` throws; TokenManagerClosedError after `close()`.
   */
  get(key: string): TokenManager {
    const session = this.#sessions.get(key);
    if (session !== undefined) {
      const now = this.#time();
      if (now - session.renewedAt < POOL_RENEW_INTERVAL_MS || this.#renew(session, now))
        return session.manager ?? this.#wake(session);
    }
    return this.#create(key);
  }

  /**
   * Resolves to a valid access token of `key`'s session (see `TokenManager.getAccessToken()`).
   * A session that needs a token waits its turn for one of the `maxConcurrentAuth` slots, within
   * its `acquireTimeoutMs`.
   */
  getAccessToken(key: string, options?: GetAccessTokenOptions): Promise<string> {
    // The hot path: one lookup, one clock read, one comparison. A session in use leaves it at
    // least once per renewal interval, which renews its idle TTL and marks the use.
    const hot = this.#hot;
    const slot = hot.slots[key];
    if (slot !== undefined && options === undefined && this.#time() < (hot.until[slot] as number))
      return Promise.resolve(hot.tokens[slot] as string);
    return this.#getAccessTokenSlowly(key, options);
  }

  /** Apart from the hot path, which stays small enough to inline. */
  #getAccessTokenSlowly(key: string, options: GetAccessTokenOptions | undefined): Promise<string> {
    let manager: TokenManager;
    try {
      manager = this.get(key);
    } catch (error) {
      return Promise.reject(error);
    }
    const session = this.#sessions.get(key) as PoolSession;
    this.#pin(session);
    const token = manager.getAccessToken(options);
    // A wait that ended is a use: the caller holds a token, or will ask again.
    const ended = (): void => {
      session.renewed(this.#time());
      this.#unpin(session);
    };
    token.then(ended, ended);
    return token;
  }

  /** A caller waits on the session, or it refreshes: node-cache holds it without a TTL meanwhile. */
  #pin(session: PoolSession): void {
    session.pins += 1;
    if (session.pins === 1 && this.#sessions.get(session.key) === session) this.#cache.set(session.key, session, 0);
  }

  /** The last wait on the session ended: its idle TTL runs again from its last use (a background refresh is no use). */
  #unpin(session: PoolSession): void {
    session.pins -= 1;
    if (session.pins !== 0 || this.#sessions.get(session.key) !== session) return;
    const leftMs = session.renewedAt + this.#options.idleTtlMs - this.#time();
    if (leftMs > 0) this.#cache.set(session.key, session, leftMs / 1000);
    else this.#evict(session.key, 'idle');
    // Sessions kept over the cap because callers waited on them go once they are served.
    if (this.#sessions.size > this.#options.maxSessions) this.#trim(this.#options.maxSessions);
  }

  /**
   * Reports that a server rejected `key`'s token (see `TokenManager.invalidate()`); `ignored`
   * when no session for `key` is held, or it rests (it serves no token until its next use).
   */
  invalidate(key: string, rejectedAccessToken?: string, options?: InvalidateOptions): InvalidateResult {
    return this.#sessions.get(key)?.manager?.invalidate(rejectedAccessToken, options) ?? 'ignored';
  }

  /**
   * Closes and forgets `key`'s session; its stored tokens stay in the store (delete them with
   * `store.delete(manager.storeKey)` to sign the user out). Resolves to whether one was held.
   */
  delete(key: string): boolean {
    if (!this.#sessions.has(key)) return false;
    this.#evict(key, 'deleted');
    return true;
  }

  /** The aggregate snapshot: counts by state, auth concurrency, earliest expiry. No keys, no secrets. */
  status(): TokenManagerPoolStatus {
    return snapshotPoolStatus({
      closed: this.#closed,
      sessions: this.#sessions.values(),
      size: this.#sessions.size,
      maxSessions: this.#options.maxSessions,
      scheduled: Math.max(0, this.#heap.size - (this.#sweeper.heapIndex === -1 ? 0 : 1)),
      stored: this.#private?.size ?? null,
      counters: this.#counters(),
      semaphore: this.#semaphore,
      wallNow: this.#wallNow(),
    });
  }

  /**
   * A readiness verdict for the pool as a whole (idle sessions with expired tokens are normal):
   * - `down`: closed, or sessions are held and none has a valid token while some failed.
   * - `degraded`: some sessions failed their last refresh.
   * - `ok`: otherwise (also with no session yet: they are created on use).
   */
  health(): TokenManagerHealth {
    return assessPoolHealth(this.status());
  }

  /**
   * Closes every session and the shared timer; later calls reject with `TokenManagerClosedError`.
   * With `drainMs`, the refreshes in flight may first finish and be stored (see
   * `TokenManager.close()`); the returned promise settles when they have.
   */
  close(options: CloseOptions = {}): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    const closing = { options, closed: [] as Array<Promise<void>> };
    this.#closing = closing;
    try {
      for (const key of [...this.#sessions.keys()]) this.#evict(key, 'closed');
    } finally {
      this.#closing = undefined;
    }
    this.#heap.clear();
    return Promise.all(closing.closed).then(() => this.#private?.clear());
  }

  #create(key: string): TokenManager {
    if (this.#closed) throw new TokenManagerClosedError();
    assertSessionKey(key);
    const now = this.#time();
    const session = new PoolSession(key, this.#host, now);
    const manager = this.#build(session, undefined);
    this.#trim(this.#options.maxSessions - 1);
    this.#sessions.set(key, session);
    session.enter();
    this.#cache.set(key, session);
    if (this.#sweeper.heapIndex === -1) this.#heap.schedule(this.#sweeper, now + this.#options.idleTtlMs + 1);
    return manager;
  }

  /** A resting session is used again: a new manager, seeded with the tokens it held (the store's, when newer, win). */
  #wake(session: PoolSession): TokenManager {
    if (this.#closed) throw new TokenManagerClosedError();
    return this.#build(session, session.tokens);
  }

  /** Builds `session`'s manager on the pool's timer, auth cap and lifecycle stream. */
  #build(session: PoolSession, seed: TokenSet | undefined): TokenManager {
    const provider = this.#options.createProvider(session.key);
    let manager: TokenManager;
    this.#constructing = session;
    try {
      const options: TokenManagerOptions & ManagerInternals = {
        ...this.#manager,
        provider,
        scheduler: this.#scheduler,
        authGate: this.#semaphore.gate,
        [hotTokenListener]: (tokens, refreshAt) => session.hold(tokens, refreshAt),
        ...(provider.identity === undefined ? { storeKey: anonymousStoreKey(session.key) } : {}),
        ...(seed === undefined ? {} : { initialTokens: seed }),
      };
      manager = new TokenManager(options);
    } finally {
      this.#constructing = undefined;
    }
    session.manager = manager;
    session.forward = (event) => this.#observe(session, event);
    manager.on('lifecycle', session.forward);
    return manager;
  }

  /**
   * An idle session's refresh point passed unused: close its manager and keep only the
   * session's record and its last tokens. Not while a refresh runs or failed (its state
   * matters), nor while anyone else listens to the manager.
   */
  #rest(session: PoolSession): void {
    const { manager, forward, tokens } = session;
    if (manager === undefined || forward === undefined || session.refreshing || session.failing) return;
    if (manager.eventNames().length !== 1 || manager.listenerCount('lifecycle') !== 1) return;
    manager.off('lifecycle', forward);
    manager.close();
    session.rest(tokens);
  }

  /** Renews the idle TTL and moves the session to the most recent end; false when it had expired (now closed). */
  #renew(session: PoolSession, now: number): boolean {
    // A pinned session keeps no TTL until its last wait ends.
    if (session.pins === 0 && !this.#cache.ttl(session.key, this.#ttlSeconds)) return false;
    this.#toEnd(session);
    session.renewed(now);
    return true;
  }

  /** Moves the session to the most recent end of the recency order. */
  #toEnd(session: PoolSession): void {
    this.#sessions.delete(session.key);
    this.#sessions.set(session.key, session);
  }

  /** Evicts least recently used sessions until at most `size` are held (or all left are busy). */
  #trim(size: number): void {
    while (this.#sessions.size > size && this.#evictOldest());
  }

  /**
   * Evicts the least recently used session that no caller can be waiting on: one with a
   * refresh in flight, or without a valid token and used within `acquireTimeoutMs`, is
   * skipped (the pool then holds more than `maxSessions` for that long at most).
   */
  #evictOldest(): boolean {
    const now = this.#time();
    const wallNow = this.#wallNow();
    for (const session of this.#sessions.values()) {
      if (this.#busy(session, now, wallNow)) continue;
      this.#evict(session.key, 'capacity');
      return true;
    }
    return false;
  }

  /** Drops `session` from the pool's maps (if it is still the one held for its key). */
  #forget(session: PoolSession): void {
    if (this.#sessions.get(session.key) !== session) return;
    this.#sessions.delete(session.key);
    session.leave();
  }

  /** Drops `key` from node-cache for `reason`; its `del` event closes and forgets the session. */
  #evict(key: string, reason: PoolEvictionReason): void {
    this.#evicting = reason;
    try {
      this.#cache.del(key);
    } finally {
      this.#evicting = undefined;
    }
  }

  /** Whether a caller may be waiting on this session's token (it must not be closed under them). */
  #busy(session: PoolSession, now: number, wallNow: number): boolean {
    return (
      session.pins > 0 ||
      session.refreshing ||
      (!(session.expiresAt > wallNow) && now - session.renewedAt < this.#acquireTimeoutMs + POOL_RENEW_INTERVAL_MS)
    );
  }

  /**
   * node-cache dropped a session (expired, evicted, deleted): close it at once, or, while the
   * pool closes with `drainMs`, once its refresh in flight has finished and been stored.
   */
  #evicted(key: string, session: PoolSession): void {
    const reason = this.#evicting ?? 'idle';
    this.#forget(session);
    if (reason === 'idle' || reason === 'capacity') this.#evictedCount += 1;
    const { manager, forward } = session;
    if (manager !== undefined) {
      const closed = manager.close(this.#closing?.options);
      this.#closing?.closed.push(closed);
      // A draining manager still reports its refresh to the pool until it has closed.
      if (forward !== undefined) void closed.then(() => manager.off('lifecycle', forward));
    }
    session.cancel();
    if (this.listenerCount('evicted') > 0) this.emit('evicted', { session: key, reason });
  }

  /**
   * The idle sweep, on the shared timer: node-cache expires sessions from the least recently
   * used end (the recency order is the expiry order) until it finds one still live.
   */
  #sweep(): void {
    const now = this.#time();
    const wallNow = this.#wallNow();
    let unvisited = this.#sessions.size;
    for (const session of this.#sessions.values()) {
      // From here on, sessions were moved to the end in this very sweep (or renewed just now): all live.
      if (unvisited === 0 || session.renewedAt === now) break;
      unvisited -= 1;
      // A session under a wait (no TTL in node-cache) moves to the end without counting as used.
      if (session.pins > 0) this.#toEnd(session);
      // A session a caller may be waiting on is kept a little longer (it moves to the end).
      else if (this.#busy(session, now, wallNow) && this.#renew(session, now)) continue;
      else if (this.#cache.has(session.key)) break;
    }
    const oldest = this.#sessions.values().next();
    if (oldest.done !== true)
      this.#heap.schedule(
        this.#sweeper,
        Math.max(oldest.value.renewedAt + this.#options.idleTtlMs + 1, now + POOL_RENEW_INTERVAL_MS),
      );
  }

  #observe(session: PoolSession, event: LifecycleEvent): void {
    session.observe(event);
    this.#stats.observe(event);
    if (event.type === 'refresh-started') this.#pin(session);
    if (event.type === 'refresh-ended') this.#unpin(session);
    if (event.type === 'closed' && this.#sessions.get(session.key) === session && this.#evicting === undefined) {
      // Closed by hand (pool.get(key).close()): forget it, so the next use builds a new one.
      this.#evict(session.key, 'deleted');
    }
    if (this.listenerCount('lifecycle') > 0) this.emit('lifecycle', { ...event, session: session.key });
  }

  #counters(): PoolCounters {
    const { refreshCount, signInCount, failureCount, adoptedCount } = this.#stats;
    return { refreshCount, signInCount, failureCount, adoptedCount, evictedCount: this.#evictedCount };
  }

  #wallNow(): number {
    return this.#manager.now?.() ?? systemClock.now();
  }
}

/** A provider that is never called: builds the throwaway manager that validates the options. */
const PROBE_PROVIDER = Object.freeze({
  authenticate: () => Promise.reject(new Error('probe')),
  refresh: () => Promise.reject(new Error('probe')),
  identity: Object.freeze({ id: 'probe' }),
});

const NO_TIMER = Object.freeze({ arm: () => undefined, cancel: () => undefined });

/**
 * A store key for a session whose provider declares no identity: derived from the key, hashed (it is personal data).
 */
function anonymousStoreKey(key: string): string {
  return `alix-token-manager:session:pool-${createHash('sha256').update(key).digest('hex').slice(0, 32)}`;
}
