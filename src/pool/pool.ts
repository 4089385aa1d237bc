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
import { PoolFullError, TokenManagerClosedError } from '../errors';
import { createLogger, type Logger } from '../logger';
import type { InternalTokenManagerOptions, ScheduledRefresh } from '../manager/options';
import { SessionStats } from '../manager/status';
import {
  TokenManager,
  checkedGetOptions,
  checkedInvalidation,
  drainMsOf,
  type CloseOptions,
} from '../manager/token-manager';
import type { GetAccessTokenOptions, InvalidateOptions, InvalidateResult } from '../manager/types';
import type { LifecycleEvent, TokenManagerHealth } from '../manager/types';
import { sanitizeCause } from '../redaction';
import type { TokenSet } from '../token-set';
import { TimerHeap, type HeapEntry } from './heap';
import { HotTable } from './hot-table';
import { assertSessionKey, resolvePoolOptions } from './options';
import type { InternalTokenManagerPoolOptions, TokenManagerPoolOptions } from './options';
import { AuthSemaphore } from './semaphore';
import type { PoolEvictedEvent, TokenManagerPoolEvents, TokenManagerPoolStatus } from './types';

/** A session's idle TTL and LRU place are renewed at most this often, in ms: the hot path stays a table lookup. */
const RENEW_INTERVAL_MS = 1_000;

/**
 * What the pool keeps of one session: its manager while awake, and what outlives it while it
 * rests (its key, last tokens, last use and pins). Everything else is the manager's to answer.
 */
class PoolSession {
  /** The session's manager; `undefined` while the session rests (or once it is evicted). */
  manager: TokenManager | undefined = undefined;
  /** Forwards the manager's lifecycle events to the pool (its listener on the manager). */
  forward: ((event: LifecycleEvent) => void) | undefined = undefined;
  /** The token set the manager serves (or, resting, held last); `undefined` while none is servable. */
  tokens: TokenSet | undefined = undefined;
  /** Wall clock: until when the manager serves `tokens` as they are (−∞ while resting or without tokens). */
  servableUntil = Number.NEGATIVE_INFINITY;
  /** Its slot in the pool's {@link HotTable} while held, −1 before and after. */
  slot = -1;
  /** The held token's lifetime when it arrived, in ms; NaN while unknown. */
  lifetimeMs = Number.NaN;
  /** Timeline: the last use that renewed its idle TTL and LRU place, at most a renewal interval ago. */
  renewedAt = Number.NEGATIVE_INFINITY;
  /**
   * Callers waiting on the session, plus its refresh in flight: while above 0 the pool never asks
   * node-cache about its TTL (the renewal and the sweep skip it), so idle eviction never closes it
   * under a caller.
   */
  pins = 0;

  constructor(readonly key: string) {}
}

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
  readonly #options: ReturnType<typeof resolvePoolOptions>;
  readonly #time: () => number;
  readonly #wallNow: () => number;
  readonly #heap: TimerHeap;
  readonly #auth: AuthSemaphore;
  readonly #log: Logger;
  /** The sessions in recency order (least recently used first); node-cache decides their expiry. */
  readonly #sessions = new Map<string, PoolSession>();
  /** What the hot path reads: each session's token and until when it may be served as is. */
  readonly #hot = new HotTable();
  /** Holds every session with its idle TTL; its `del` event is the one way a session leaves. */
  readonly #cache: NodeCache;
  /** The idle sweep's place on the shared timer. */
  readonly #sweeper: HeapEntry = { at: 0, heapIndex: -1, fire: () => this.#sweep() };
  /** Every session's lifecycle events, counted the way one manager counts its own. */
  readonly #stats = new SessionStats();
  #evictions = 0;
  /** Set by `close()`: how the evicted sessions close (`drainMs`), and their closing. */
  #closed: { readonly options: CloseOptions; readonly closing: Array<Promise<void>> } | undefined;

  /** @throws ConfigurationError when an option is invalid (manager options included). */
  constructor(options: TokenManagerPoolOptions) {
    super();
    this.#options = resolvePoolOptions(options as InternalTokenManagerPoolOptions);
    const { manager, idleTtlMs } = this.#options;
    this.#time = manager.now ?? monotonicClock();
    this.#wallNow = manager.now ?? systemClock.now;
    this.#heap = new TimerHeap({ ...systemClock, ...manager.timers, now: this.#time });
    this.#auth = new AuthSemaphore(this.#options.maxConcurrentAuth);
    this.#log = createLogger(manager.logger);
    this.#cache = new NodeCache({ stdTTL: idleTtlMs / 1000, checkperiod: 0, useClones: false, deleteOnExpire: true });
    this.#cache.on('del', (_key: string, session: PoolSession) => this.#close(session));
    // node-cache deleted it already: a session a 'closed' listener made under its key since is another one.
    this.#cache.on('expired', (_key: string, session: PoolSession) => this.#evict(session.key, 'idle', false));
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
   *   or `createProvider` answers no provider; whatever `createProvider` throws, as it is (the factory's own
   *   error, e.g. `forUsers()`'s ConfigurationError for a bad email); TokenManagerClosedError after `close()`.
   */
  get(key: string): TokenManager {
    const session = this.#sessions.get(key);
    if (session !== undefined) {
      const now = this.#time();
      if (now - session.renewedAt < RENEW_INTERVAL_MS || this.#renew(session, now))
        return session.manager ?? this.#build(session);
    }
    return this.#create(key);
  }

  /**
   * Resolves to a valid access token of `key`'s session (see `TokenManager.getAccessToken()`).
   * A session that needs a token waits its turn for one of the `maxConcurrentAuth` slots, within
   * its `acquireTimeoutMs`.
   */
  getAccessToken(key: string, options?: GetAccessTokenOptions): Promise<string> {
    // The hot path: one lookup, one wall-clock read, one comparison. A session in use leaves it at
    // least once per renewal interval, which renews its idle TTL and marks the use. A key that is
    // not a string (an array, say) would read as its string form: the slow path refuses it.
    const hot = this.#hot;
    const slot = typeof key === 'string' ? hot.slots[key] : undefined;
    if (slot !== undefined && options === undefined && this.#wallNow() < (hot.until[slot] as number))
      return Promise.resolve(hot.tokens[slot] as string);
    return this.#getAccessTokenSlowly(key, options);
  }

  /** Apart from the hot path, which stays small enough to inline. */
  async #getAccessTokenSlowly(key: string, options: GetAccessTokenOptions | undefined): Promise<string> {
    // Refused before the session is made: a call refused must not create one, nor evict another for it.
    const checked = checkedGetOptions(options);
    const manager = this.get(key);
    const session = this.#sessions.get(key) as PoolSession;
    session.pins += 1;
    try {
      return await manager.getAccessToken(checked);
    } finally {
      // A wait that ended is a use: the caller holds a token, or will ask again.
      this.#publish(session, this.#time());
      this.#unpin(session);
    }
  }

  /**
   * Reports that a server rejected `key`'s token (see `TokenManager.invalidate()`); `ignored`
   * when no session for `key` is held, or it rests (it serves no token until its next use).
   * @throws ConfigurationError on a bad token or options, whether or not a session is held.
   */
  invalidate(key: string, rejectedAccessToken?: string, options?: InvalidateOptions): InvalidateResult {
    const [token, checked] = checkedInvalidation(rejectedAccessToken, options);
    return this.#sessions.get(key)?.manager?.invalidate(token, checked) ?? 'ignored';
  }

  /**
   * Closes and forgets `key`'s session in this pool; returns whether one was held. Its stored tokens
   * stay in the store (`store.delete(manager.storeKey)` removes them), and other replicas keep the
   * session they hold: the next one to refresh it writes it back to the store.
   */
  delete(key: string): boolean {
    if (!this.#sessions.has(key)) return false;
    this.#evict(key, 'deleted');
    return true;
  }

  /** The aggregate snapshot: counts by state, auth concurrency, earliest expiry. No keys, no secrets. */
  status(): TokenManagerPoolStatus {
    const wallNow = this.#wallNow();
    const states = { idle: 0, valid: 0, refreshing: 0, expired: 0, failed: 0, closed: 0 };
    let earliest = Number.POSITIVE_INFINITY;
    let resting = 0;
    for (const { manager, tokens } of this.#sessions.values()) {
      const expiresAt = tokens?.accessTokenExpiresAt ?? Number.NaN;
      // An awake session's state is its manager's; a resting one has no refresh and no failure.
      if (manager === undefined) resting += 1;
      states[manager?.state ?? (expiresAt > wallNow ? 'valid' : 'expired')] += 1;
      if (expiresAt > wallNow) earliest = Math.min(earliest, expiresAt);
    }
    const { signIns, failures, adoptions } = this.#stats.counts;
    const scheduled = this.#heap.size - (this.#sweeper.heapIndex === -1 ? 0 : 1);
    const stored = this.#options.privateStore?.size ?? null;
    return {
      state: this.#closed === undefined ? 'open' : 'closed',
      sessions: { held: this.#sessions.size, max: this.#options.maxSessions, resting, scheduled, stored },
      states,
      refreshCount: this.#stats.refreshCount,
      counts: { signIns, failures, adoptions, evictions: this.#evictions },
      auth: this.#auth.status(),
      accessTokenExpiresAt: Number.isFinite(earliest) ? Math.floor(earliest) : null,
    };
  }

  /**
   * A readiness verdict for the pool as a whole (idle sessions with expired tokens are normal):
   * - `down`: closed, or sessions are held and none has a valid token while some failed.
   * - `degraded`: some sessions failed their last refresh.
   * - `ok`: otherwise (also with no session yet: they are created on use).
   */
  health(): TokenManagerHealth {
    const { state, states, sessions } = this.status();
    const { failed, valid, refreshing } = states;
    if (state === 'closed') return { status: 'down', reasons: ['the token manager pool is closed'] };
    if (failed > 0 && valid + refreshing === 0)
      return { status: 'down', reasons: [`no session holds a valid token and ${failed} failed their last refresh`] };
    if (failed > 0)
      return { status: 'degraded', reasons: [`${failed} of ${sessions.held} sessions failed their last refresh`] };
    return { status: 'ok', reasons: [] };
  }

  /**
   * Closes every session and the shared timer; later calls reject with `TokenManagerClosedError`.
   * With `drainMs`, the refreshes in flight may first finish and be stored (see
   * `TokenManager.close()`); the returned promise settles when they have.
   */
  async close(options: CloseOptions = {}): Promise<void> {
    if (this.#closed !== undefined) return;
    // Checked before anything closes, as a manager checks it: one refused per evicted manager would leave them open.
    this.#closed = { options: { drainMs: drainMsOf(options) }, closing: [] };
    for (const key of [...this.#sessions.keys()]) this.#evict(key, 'closed');
    // Each manager cancelled its refresh point as it closed: the sweep is the last one on the timer.
    this.#heap.remove(this.#sweeper);
    await Promise.all(this.#closed.closing);
    await this.#options.privateStore?.clear();
  }

  #create(key: string): TokenManager {
    if (this.#closed !== undefined) throw new TokenManagerClosedError();
    assertSessionKey(key);
    const session = new PoolSession(key);
    const manager = this.#build(session);
    this.#trim(this.#options.maxSessions - 1);
    // Sessions callers wait on may hold the pool over maxSessions, up to twice it: beyond, the least recently
    // used session no caller waits on goes, however recent; with none, the new user is refused.
    for (const held of this.#sessions.values()) {
      if (this.#sessions.size < 2 * this.#options.maxSessions) break;
      if (!this.#busy(held)) this.#evict(held.key, 'capacity');
    }
    const full = this.#sessions.size >= 2 * this.#options.maxSessions;
    // An 'evicted' listener may have asked for this key meanwhile (or closed the pool): what it got stands (get()
    // answers it, or TokenManagerClosedError), and the manager built here goes (held over it, that one would be
    // closed by no eviction, its hot slot never freed).
    if (full || this.#sessions.has(key) || this.#closed !== undefined) {
      manager.close();
      if (full) throw new PoolFullError();
      return this.get(key);
    }
    this.#sessions.set(key, session);
    session.slot = this.#hot.add(key);
    this.#cache.set(cacheKey(key), session);
    this.#publish(session, this.#time());
    if (this.#sweeper.heapIndex === -1)
      this.#heap.schedule(this.#sweeper, session.renewedAt + this.#options.idleTtlMs + 1);
    return manager;
  }

  /**
   * Builds `session`'s manager (a resting session's is seeded with the tokens it held; the
   * store's, when newer, win) on the pool's timer, auth cap and lifecycle stream.
   */
  #build(session: PoolSession): TokenManager {
    const provider = this.#options.createProvider(session.key);
    const options: InternalTokenManagerOptions = {
      ...this.#options.manager,
      provider,
      authGate: this.#auth.gate,
      scheduler: (onDue) => this.#schedule(session, onDue),
      onServable: (tokens, until) => this.#hold(session, tokens, until),
      // Undefined options are dropped: the manager's defaults apply. No provider at all is the manager's to refuse.
      storeKey: provider?.identity === undefined ? anonymousStoreKey(session.key) : undefined,
      initialTokens: session.tokens,
    };
    session.manager = new TokenManager(options);
    session.forward = (event) => this.#observe(session, event);
    session.manager.on('lifecycle', session.forward);
    return session.manager;
  }

  /**
   * The session's proactive-refresh timer: a point on the pool's one heap, per manager. At that
   * point it refreshes in the background only when it was used within its last token lifetime.
   * An idle one rests instead; its next use wakes it, finds the refresh window open (or the
   * token expired) and refreshes then.
   */
  #schedule(session: PoolSession, onDue: () => void): ScheduledRefresh {
    const idle = (now: number): boolean => now - session.renewedAt > session.lifetimeMs + RENEW_INTERVAL_MS;
    const entry: HeapEntry = { at: 0, heapIndex: -1, fire: (now) => (idle(now) ? this.#rest(session) : onDue()) };
    return { arm: (at) => this.#heap.schedule(entry, at), cancel: () => this.#heap.remove(entry) };
  }

  /**
   * Closes an idle session's manager and keeps only the session's record and its last tokens.
   * Not while a refresh runs or a caller waits (pins), after a failure (its state matters),
   * nor while anyone else listens to the manager.
   */
  #rest(session: PoolSession): void {
    const { manager, tokens } = session;
    if (manager === undefined || session.pins > 0 || manager.eventNames().length !== 1) return;
    if (manager.listenerCount('lifecycle') !== 1 || manager.status().lastError !== null) return;
    // Ours is its only listener: its `closed` event is no eviction.
    manager.removeAllListeners('lifecycle');
    // Closing tells #hold that it serves nothing: the hot path serves none meanwhile.
    manager.close();
    session.manager = undefined;
    // Its last tokens (closing cleared them) seed the next manager.
    session.tokens = tokens;
  }

  /** The manager's servable token set changed: learn a new token's lifetime, and publish it to the hot path. */
  #hold(session: PoolSession, tokens: TokenSet | undefined, until: number): void {
    if (tokens !== undefined && tokens !== session.tokens)
      session.lifetimeMs = Math.max(0, tokens.accessTokenExpiresAt - this.#wallNow());
    session.tokens = tokens;
    session.servableUntil = tokens === undefined ? Number.NEGATIVE_INFINITY : until;
    this.#publish(session);
  }

  /**
   * Marks a use at `renewedAt` that renewed the session's idle TTL (by default, none), and tells
   * the hot path until when it serves the session's token: its refresh point, or its next renewal.
   */
  #publish(session: PoolSession, renewedAt = session.renewedAt): void {
    session.renewedAt = renewedAt;
    // The hot path reads the wall clock: the next renewal, due on the timeline, as a wall-clock time.
    const renewBy = renewedAt + RENEW_INTERVAL_MS - this.#time() + this.#wallNow();
    const until = Math.min(session.servableUntil, renewBy);
    if (session.slot !== -1) this.#hot.set(session.slot, until, session.tokens?.accessToken);
  }

  /** The last wait on the session ended: its idle TTL runs again from its last use (a background refresh is no use). */
  #unpin(session: PoolSession): void {
    session.pins -= 1;
    if (session.pins !== 0 || this.#sessions.get(session.key) !== session) return;
    const leftMs = session.renewedAt + this.#options.idleTtlMs - this.#time();
    if (leftMs > 0) this.#cache.set(cacheKey(session.key), session, leftMs / 1000);
    else this.#evict(session.key, 'idle');
    // Sessions kept over the cap because callers waited on them go once they are served.
    if (this.#sessions.size > this.#options.maxSessions) this.#trim(this.#options.maxSessions);
  }

  /** Renews the idle TTL and moves the session to the most recent end; false when it had expired (now closed). */
  #renew(session: PoolSession, now: number): boolean {
    // A pinned session's TTL may have run out under a wait: it is not read until #unpin sets it afresh.
    if (session.pins === 0 && !this.#cache.ttl(cacheKey(session.key), this.#options.idleTtlMs / 1000)) return false;
    this.#toEnd(session);
    this.#publish(session, now);
    return true;
  }

  /** Moves the session to the most recent end of the recency order. */
  #toEnd(session: PoolSession): void {
    this.#sessions.delete(session.key);
    this.#sessions.set(session.key, session);
  }

  /**
   * Evicts least recently used sessions until at most `size` are held. A session a caller may
   * be waiting on is skipped (the pool then holds more than `maxSessions` for that long at most).
   */
  #trim(size: number): void {
    // Only the least recently used go: a busy one among them is not replaced by a more recent session (the one just
    // served, say); it goes once it is done, when its #unpin trims again.
    let excess = this.#sessions.size - size;
    for (const session of this.#sessions.values()) {
      if (excess <= 0) break;
      excess -= 1;
      if (!this.#busy(session)) this.#evict(session.key, 'capacity');
    }
    if (this.#sessions.size <= size) return;
    // Kept over the cap: the sweep, brought forward unless due sooner, sheds them once no caller can be
    // waiting (a failed sign-in is not pinned, and no later use may come to trim the pool). Scheduled again even
    // when due sooner: a point the timeline passed unfired (it gained on the timer) is re-armed by the heap.
    // It is scheduled whenever sessions are held, except during its own run (an evicted listener made a session
    // then), which schedules it again as it ends.
    const sweepAt = this.#time() + this.#options.acquireTimeoutMs + RENEW_INTERVAL_MS;
    this.#heap.schedule(this.#sweeper, Math.min(this.#sweeper.at, sweepAt));
  }

  /**
   * Whether a caller may be waiting on this session's token (it must not be closed under them):
   * pinned, or without a valid token and used within `acquireTimeoutMs`.
   */
  #busy(session: PoolSession): boolean {
    const recent = this.#time() - session.renewedAt < this.#options.acquireTimeoutMs + RENEW_INTERVAL_MS;
    return session.pins > 0 || (!((session.tokens?.accessTokenExpiresAt ?? 0) > this.#wallNow()) && recent);
  }

  /**
   * Evicts `key`'s session for `reason` (node-cache's `del` closes it), and counts and reports the
   * eviction. node-cache reports its own, the idle ones, as `expired` once it has deleted them (`held` false).
   */
  #evict(key: string, reason: PoolEvictedEvent['reason'], held = true): void {
    if (held) this.#cache.del(cacheKey(key));
    if (reason === 'idle' || reason === 'capacity') this.#evictions += 1;
    try {
      this.emit('evicted', { session: key, reason });
    } catch (error) {
      // As for a manager's listeners: logged, and no outcome changes (close() or a sweep still reaches every session).
      this.#log.error({ event: 'listener-threw', err: sanitizeCause(error) }, 'an evicted listener threw');
    }
  }

  /**
   * node-cache dropped a session (expired, evicted, deleted): forget it and close its manager
   * at once, or, while the pool closes with `drainMs`, once its refresh in flight has finished
   * and been stored (it still reports that refresh to the pool).
   */
  #close(session: PoolSession): void {
    if (this.#sessions.get(session.key) === session) this.#sessions.delete(session.key);
    if (session.slot !== -1) this.#hot.remove(session.key, session.slot);
    session.slot = -1;
    const { manager, forward } = session;
    session.manager = undefined;
    if (manager === undefined) return;
    const closing = manager.close(this.#closed?.options);
    this.#closed?.closing.push(closing);
    // A draining manager still reports its refresh to the pool until it has closed.
    if (forward !== undefined) void closing.then(() => manager.off('lifecycle', forward));
  }

  /**
   * The idle sweep, on the shared timer: node-cache expires sessions from the least recently
   * used end (the recency order is the expiry order) until it finds one still live.
   */
  #sweep(): void {
    const now = this.#time();
    let unvisited = this.#sessions.size;
    for (const session of this.#sessions.values()) {
      // From here on, sessions were moved to the end in this very sweep (or renewed just now): all live.
      if (unvisited === 0 || session.renewedAt === now) break;
      unvisited -= 1;
      // A session under a wait (its TTL not read) moves to the end without counting as used.
      if (session.pins > 0) this.#toEnd(session);
      // A session a caller may be waiting on is kept a little longer (it moves to the end).
      else if (this.#busy(session) && this.#renew(session, now)) continue;
      else if (this.#cache.has(cacheKey(session.key))) break;
    }
    const oldest = this.#sessions.values().next().value;
    if (oldest === undefined) return;
    const idleAt = oldest.renewedAt + this.#options.idleTtlMs + 1;
    this.#heap.schedule(this.#sweeper, Math.max(idleAt, now + RENEW_INTERVAL_MS));
    // Sessions kept over the cap while a caller might have waited on them go now (or at a later sweep).
    if (this.#sessions.size > this.#options.maxSessions) this.#trim(this.#options.maxSessions);
  }

  #observe(session: PoolSession, event: LifecycleEvent): void {
    this.#stats.observe(event);
    if (event.type === 'refresh-started') session.pins += 1;
    try {
      // Told first: what follows may close the session (evicted as its run ends), whose `closed` must come last.
      if (this.listenerCount('lifecycle') > 0) this.emit('lifecycle', { ...event, session: session.key });
    } finally {
      if (event.type === 'refresh-ended') this.#unpin(session);
      // Closed by hand (pool.get(key).close()): forget it, so the next use builds a new one.
      if (event.type === 'closed' && this.#sessions.get(session.key) === session) this.#evict(session.key, 'deleted');
    }
  }
}

/**
 * The session's key in node-cache, which keeps its entries in a plain object: a bare `__proto__`
 * would set that object's prototype (and make `t` and `v` read as held), so every key is prefixed.
 */
function cacheKey(key: string): string {
  return `session:${key}`;
}

/**
 * A store key for a session whose provider declares no identity: derived from the key, hashed (it is personal data).
 */
function anonymousStoreKey(key: string): string {
  return `alix-token-manager:session:pool-${createHash('sha256').update(key).digest('hex').slice(0, 32)}`;
}
