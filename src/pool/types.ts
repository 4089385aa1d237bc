/** The public shapes of a {@link TokenManagerPool}: events, status, health. */
import type { LifecycleEvent, TokenManagerState } from '../manager/types';

/** A session's lifecycle event as the pool re-emits it: the same event plus the session's key. */
export type PoolLifecycleEvent = LifecycleEvent & {
  /** The session's key (an end user's email, say): personal data, never put it in metrics. */
  session: string;
};

/** Why a session left the pool. */
export type PoolEvictionReason = 'idle' | 'capacity' | 'deleted' | 'closed';

/** Payload of the pool's `'evicted'` event. */
export interface PoolEvictedEvent {
  session: string;
  reason: PoolEvictionReason;
}

/** Events a `TokenManagerPool` emits (Node `EventEmitter`). */
export interface TokenManagerPoolEvents {
  /** Every lifecycle event of every session, with its `session` key. */
  lifecycle: [PoolLifecycleEvent];
  /** A session was closed and removed (idle TTL, capacity, `delete()`, or closed by hand). */
  evicted: [PoolEvictedEvent];
}

/** Cumulative counters of a pool, over its whole life (evicted sessions included). */
export interface PoolCounters {
  /** Token sets obtained (refreshes and sign-ins), all sessions. */
  refreshCount: number;
  /** Of those, full sign-ins. */
  signInCount: number;
  /** Refresh runs that ended without a token. */
  failureCount: number;
  /** Sessions adopted from the store (another replica's, or one evicted here earlier). */
  adoptedCount: number;
  /** Sessions evicted for idleness or capacity. */
  evictedCount: number;
}

/** The pool's aggregate snapshot: counts only, never a session key, token or secret. */
export interface TokenManagerPoolStatus extends PoolCounters {
  /** `closed` after `close()`, else `open`. */
  state: 'open' | 'closed';
  /** Sessions held now. */
  sessions: number;
  maxSessions: number;
  /** Sessions held now, by state (an awake one's is its manager's). */
  states: Record<TokenManagerState, number>;
  /**
   * Of the sessions held, those resting: left idle for a whole token lifetime, they keep only
   * their record and last tokens (no manager) until their next use wakes them.
   */
  restingSessions: number;
  /** Sessions whose proactive refresh is scheduled on the pool's one timer. */
  scheduledRefreshes: number;
  /** Sessions the pool's private store keeps (at most `maxStoredSessions`); null with a `store` option. */
  storedSessions: number | null;
  /** Auth calls running now, across the pool. */
  authInFlight: number;
  /** The most auth calls that ran at once. */
  authInFlightPeak: number;
  /** Auth calls waiting for one of the `maxConcurrentAuth` slots. */
  authQueued: number;
  maxConcurrentAuth: number;
  /** The earliest expiry among the valid tokens held, epoch ms (the OpenTelemetry gauge reads it); null when none. */
  accessTokenExpiresAt: number | null;
}
