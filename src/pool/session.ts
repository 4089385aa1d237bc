/**
 * One session of a pool: its manager (while awake), when it was last used, what its lifecycle
 * stream said about its token, and its slot on the pool's one timer. It is the
 * `ScheduledRefresh` its manager arms, so a session costs no timer and no extra object for
 * scheduling. A session left idle for a whole token lifetime rests: its manager is closed and
 * only this record (with the last token set, to seed the next manager) stays.
 */
import type { TokenManager } from '../manager/token-manager';
import type { ScheduledRefresh } from '../manager/options';
import type { LifecycleEvent, TokenManagerState } from '../manager/types';
import type { TokenSet } from '../token-set';
import type { HeapEntry, TimerHeap } from './heap';
import type { HotTable } from './hot-table';

/** What the sessions of one pool share: its timer, and where an idle session goes to rest. */
export interface SessionHost {
  readonly heap: TimerHeap;
  /** What the pool's hot path reads. */
  readonly hot: HotTable;
  /** Called when an idle session's refresh point passes unused. */
  rest(session: PoolSession): void;
  /** A session is renewed (its idle TTL and LRU place) at most this often on the hot path, in ms. */
  readonly renewIntervalMs: number;
}

/** A pool session's slot on the shared timer, and its bookkeeping. */
export class PoolSession implements HeapEntry, ScheduledRefresh {
  /**
   * The session's slot in the pool's {@link HotTable}, −1 while it has none (before it is
   * registered, after it is forgotten): a forgotten session's manager can never write into a
   * slot that another session reuses.
   */
  slot = -1;
  at: number | undefined = undefined;
  heapIndex = -1;
  /** The session's manager; `undefined` while the session rests. */
  manager: TokenManager | undefined = undefined;
  /** The manager's proactive-refresh callback. */
  onDue: (() => void) | undefined = undefined;
  /**
   * Timeline: the last time a use renewed its idle TTL (and LRU place), at most
   * `renewIntervalMs` apart: the session was last used at this time or within that much after.
   */
  renewedAt: number;
  /** Epoch ms: when the held access token expires; NaN while none is held. */
  expiresAt = Number.NaN;
  /** The held token's lifetime when it arrived, in ms; NaN while unknown. */
  lifetimeMs = Number.NaN;
  /** Refresh runs in flight (0 or 1). */
  refreshing = false;
  /**
   * Callers waiting on the session, plus its refresh in flight: while above 0 the session is
   * held in node-cache without a TTL, so idle eviction never closes it under a caller.
   */
  pins = 0;
  /** The last run ended without a token. */
  failing = false;
  /** The token set the manager holds and serves (or, resting, held last); `undefined` while none is servable. */
  tokens: TokenSet | undefined = undefined;
  /** The manager's refresh point for `tokens` (timeline). */
  #refreshAt = Number.NEGATIVE_INFINITY;
  /** Forwards this session's lifecycle events to the pool (set by the pool while awake). */
  forward: ((event: LifecycleEvent) => void) | undefined = undefined;

  constructor(
    readonly key: string,
    private readonly host: SessionHost,
    now: number,
  ) {
    this.renewedAt = now;
  }

  arm(at: number | undefined): void {
    this.host.heap.schedule(this, at);
  }

  cancel(): void {
    this.host.heap.remove(this);
  }

  /**
   * The timer reached this session's refresh point: refresh in the background only when it
   * was used within its last token lifetime. An idle one rests instead; its next use wakes it,
   * finds the refresh window open (or the token expired) and refreshes then.
   */
  fire(now: number): void {
    if (this.onDue === undefined) return;
    if (!Number.isNaN(this.lifetimeMs) && now - this.renewedAt > this.lifetimeMs + this.host.renewIntervalMs)
      this.host.rest(this);
    else this.onDue();
  }

  /** The manager's hot token changed (the pool's hot path serves it until `refreshAt`). */
  hold(tokens: TokenSet | undefined, refreshAt: number): void {
    this.tokens = tokens;
    this.#refreshAt = tokens === undefined ? Number.NEGATIVE_INFINITY : refreshAt;
    this.publish();
  }

  /** Marks a use at `now` that renewed the session's idle TTL. */
  renewed(now: number): void {
    this.renewedAt = now;
    this.publish();
  }

  /** Takes a slot in the pool's hot table and publishes what it may serve there. */
  enter(): void {
    this.slot = this.host.hot.add(this.key);
    this.publish();
  }

  /** Gives its slot back: nothing the session (or its closing manager) does later reaches the table. */
  leave(): void {
    if (this.slot === -1) return;
    this.host.hot.remove(this.key, this.slot);
    this.slot = -1;
  }

  /**
   * Tells the pool's hot path what it may serve without asking anything else: the held
   * access token, until the earlier of the manager's refresh point and the next renewal.
   */
  publish(): void {
    if (this.slot === -1) return;
    this.host.hot.set(
      this.slot,
      Math.min(this.#refreshAt, this.renewedAt + this.host.renewIntervalMs),
      this.tokens?.accessToken,
    );
  }

  /** The manager is gone (closed by the pool); keeps `tokens` to seed the next one. */
  rest(tokens: TokenSet | undefined): void {
    this.manager = undefined;
    this.onDue = undefined;
    this.forward = undefined;
    this.hold(tokens, Number.NEGATIVE_INFINITY);
  }

  /** Updates the bookkeeping from one of the session's lifecycle events. */
  observe(event: LifecycleEvent): void {
    switch (event.type) {
      case 'refresh-started':
        this.refreshing = true;
        return;
      case 'refresh-ended':
        this.refreshing = false;
        if (event.accessTokenExpiresAt !== undefined) this.#held(event.accessTokenExpiresAt, event.at);
        else if (event.outcome === 'failed' || event.outcome === 'abandoned') this.failing = true;
        return;
      case 'adopted':
        this.#held(event.accessTokenExpiresAt, event.at);
        return;
      case 'invalidated':
        if (event.result === 'refreshing') this.expiresAt = Number.NaN;
        return;
      default:
        return;
    }
  }

  /** The session's state as the pool counts it (from its lifecycle stream, without asking the manager). */
  state(wallNow: number): TokenManagerState {
    if (this.refreshing) return 'refreshing';
    if (this.expiresAt > wallNow) return 'valid';
    if (this.failing) return 'failed';
    return Number.isNaN(this.lifetimeMs) ? 'idle' : 'expired';
  }

  #held(expiresAt: number, at: number): void {
    this.expiresAt = expiresAt;
    this.lifetimeMs = Math.max(0, expiresAt - at);
    this.failing = false;
  }
}
