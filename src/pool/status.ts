/** The pool's aggregate `status()` and `health()`, computed from its sessions' bookkeeping. Pure. */
import type { TokenManagerHealth, TokenManagerState } from '../manager/types';
import type { AuthSemaphore } from './semaphore';
import type { PoolSession } from './session';
import type { PoolCounters, TokenManagerPoolStatus } from './types';

/** What the snapshot reads. */
export interface PoolSnapshotInput {
  closed: boolean;
  sessions: Iterable<PoolSession>;
  size: number;
  maxSessions: number;
  scheduled: number;
  /** Sessions in the pool's private store, or null without one. */
  stored: number | null;
  counters: PoolCounters;
  semaphore: Pick<AuthSemaphore, 'inFlight' | 'peak' | 'queued' | 'limit'>;
  /** Wall clock, epoch ms. */
  wallNow: number;
}

/**
 * Counts sessions by state and finds the earliest expiry among valid tokens: O(sessions), no allocation per session.
 */
export function snapshotPoolStatus(input: PoolSnapshotInput): TokenManagerPoolStatus {
  const states: Record<TokenManagerState, number> = {
    idle: 0,
    valid: 0,
    refreshing: 0,
    expired: 0,
    failed: 0,
    closed: 0,
  };
  let earliest = Number.POSITIVE_INFINITY;
  let resting = 0;
  for (const session of input.sessions) {
    states[session.state(input.wallNow)] += 1;
    if (session.manager === undefined) resting += 1;
    if (session.expiresAt > input.wallNow && session.expiresAt < earliest) earliest = session.expiresAt;
  }
  const { semaphore } = input;
  return {
    state: input.closed ? 'closed' : 'open',
    sessions: input.size,
    maxSessions: input.maxSessions,
    states,
    restingSessions: resting,
    scheduledRefreshes: input.scheduled,
    storedSessions: input.stored,
    ...input.counters,
    authInFlight: semaphore.inFlight,
    authInFlightPeak: semaphore.peak,
    authQueued: semaphore.queued,
    maxConcurrentAuth: semaphore.limit,
    accessTokenExpiresAt: Number.isFinite(earliest) ? Math.floor(earliest) : null,
  };
}

/** The pool's verdict (see `TokenManagerPool.health()`). */
export function assessPoolHealth(status: TokenManagerPoolStatus): TokenManagerHealth {
  if (status.state === 'closed') return { status: 'down', reasons: ['the token manager pool is closed'] };
  const { failed, valid, refreshing } = status.states;
  if (failed > 0 && valid + refreshing === 0) {
    return { status: 'down', reasons: [`no session holds a valid token and ${failed} failed their last refresh`] };
  }
  if (failed > 0)
    return { status: 'degraded', reasons: [`${failed} of ${status.sessions} sessions failed their last refresh`] };
  return { status: 'ok', reasons: [] };
}
