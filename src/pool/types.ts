/** The public shapes of a {@link TokenManagerPool}: events, status, health. */
import type { LifecycleEvent, TokenManagerState } from '../manager/types';

/** A session's lifecycle event as the pool re-emits it: the same event plus the session's key. */
export type PoolLifecycleEvent = LifecycleEvent & {
  /** The session's key (an end user's email, say): personal data, never put it in metrics. */
  session: string;
};

/** Payload of the pool's `'evicted'` event. */
export interface PoolEvictedEvent {
  session: string;
  /** Why the session left the pool. */
  reason: 'idle' | 'capacity' | 'deleted' | 'closed';
}

/** Events a `TokenManagerPool` emits (Node `EventEmitter`). */
export interface TokenManagerPoolEvents {
  /** Every lifecycle event of every session, with its `session` key. */
  lifecycle: [PoolLifecycleEvent];
  /** A session was closed and removed (idle TTL, capacity, `delete()`, or closed by hand). */
  evicted: [PoolEvictedEvent];
}

/** The pool's aggregate snapshot: counts only, never a session key, token or secret. */
export interface TokenManagerPoolStatus {
  /** `closed` after `close()`, else `open`. */
  state: 'open' | 'closed';
  sessions: {
    /** Sessions held now. */
    held: number;
    /** The `maxSessions` option. */
    max: number;
    /**
     * Of the sessions held, those resting: left idle for a whole token lifetime, they keep only
     * their record and last tokens (no manager) until their next use wakes them.
     */
    resting: number;
    /** Of the sessions held, those whose proactive refresh is scheduled on the pool's one timer. */
    scheduled: number;
    /** Sessions the pool's private store keeps (at most `maxStoredSessions`); null with a `store` option. */
    stored: number | null;
  };
  /** Sessions held now, by state (an awake one's is its manager's). */
  states: Record<TokenManagerState, number>;
  /** Token sets obtained (refreshes and sign-ins), all sessions, over the pool's whole life. */
  refreshCount: number;
  /** Cumulative counters over the pool's whole life (evicted sessions included). */
  counts: {
    /** Of the token sets obtained, full sign-ins. */
    signIns: number;
    /** Refresh runs that ended without a token. */
    failures: number;
    /** Sessions adopted from the store (another replica's, or one evicted here earlier). */
    adoptions: number;
    /** Sessions evicted for idleness or capacity. */
    evictions: number;
  };
  /** Auth calls (sign-ins and refreshes) across the pool. */
  auth: {
    /** Running now. */
    inFlight: number;
    /** The most that ever ran at once. */
    peak: number;
    /** Waiting for one of the `maxConcurrentAuth` slots. */
    queued: number;
    /** The `maxConcurrentAuth` option. */
    max: number;
  };
  /** The earliest expiry among the valid tokens held, epoch ms (the OpenTelemetry gauge reads it); null when none. */
  accessTokenExpiresAt: number | null;
}
