/**
 * One session of a pool: its manager, when it was last used, what its lifecycle stream
 * said about its token, and its slot on the pool's one timer. It is the `ScheduledRefresh`
 * its manager arms, so a session costs no timer and no extra object for scheduling.
 */
import type { TokenManager } from '../manager/token-manager';
import type { ScheduledRefresh } from '../manager/options';
import type { LifecycleEvent, TokenManagerState } from '../manager/types';
import type { HeapEntry, TimerHeap } from './heap';

/** A pool session's slot on the shared timer, and its bookkeeping. */
export class PoolSession implements HeapEntry, ScheduledRefresh {
  at: number | undefined = undefined;
  heapIndex = -1;
  /** Set once the manager is built (the manager asks for its timer while being built). */
  manager!: TokenManager;
  /** The manager's proactive-refresh callback. */
  onDue: (() => void) | undefined = undefined;
  /** Timeline: the last time the pool handed this session out. */
  lastUsedAt: number;
  /** Timeline: the last time its idle TTL (and LRU place) was renewed. */
  renewedAt: number;
  /** Epoch ms: when the held access token expires; NaN while none is held. */
  expiresAt = Number.NaN;
  /** The held token's lifetime when it arrived, in ms; NaN while unknown. */
  lifetimeMs = Number.NaN;
  /** Refresh runs in flight (0 or 1). */
  refreshing = false;
  /** The last run ended without a token. */
  failing = false;
  /** The token the manager's hot path serves, and until when (timeline): the pool's hot path reads these. */
  hotToken: string | undefined = undefined;
  hotUntil = Number.NEGATIVE_INFINITY;
  /** Forwards this session's lifecycle events to the pool (set by the pool). */
  forward: ((event: LifecycleEvent) => void) | undefined = undefined;

  constructor(
    readonly key: string,
    private readonly heap: TimerHeap,
    now: number,
  ) {
    this.lastUsedAt = now;
    this.renewedAt = now;
  }

  arm(at: number | undefined): void {
    this.heap.schedule(this, at);
  }

  cancel(): void {
    this.heap.remove(this);
  }

  /**
   * The timer reached this session's refresh point: refresh in the background only when it
   * was used within its last token lifetime. An idle session is left alone; its next use
   * finds the refresh window open (or the token expired) and refreshes then.
   */
  fire(now: number): void {
    if (this.onDue === undefined) return;
    if (!Number.isNaN(this.lifetimeMs) && now - this.lastUsedAt > this.lifetimeMs) return;
    this.onDue();
  }

  /** Updates the bookkeeping from one of the session's lifecycle events. */
  observe(event: LifecycleEvent): void {
    switch (event.type) {
      case 'refresh-started':
        this.refreshing = true;
        return;
      case 'refresh-ended':
        this.refreshing = false;
        if (event.accessTokenExpiresAt !== undefined) this.#hold(event.accessTokenExpiresAt, event.at);
        else if (event.outcome === 'failed' || event.outcome === 'abandoned') this.failing = true;
        return;
      case 'adopted':
        this.#hold(event.accessTokenExpiresAt, event.at);
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

  #hold(expiresAt: number, at: number): void {
    this.expiresAt = expiresAt;
    this.lifetimeMs = Math.max(0, expiresAt - at);
    this.failing = false;
  }
}
