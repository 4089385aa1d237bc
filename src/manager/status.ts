/**
 * The manager's counters, kept by watching its own lifecycle stream, and the `status()`
 * snapshot built from them and the cycler.
 */
import { errorCodeOf } from '../errors';
import { UNREADABLE_SESSION_CODE } from '../stores/encryption';
import type { BreakerLink } from './breaker';
import type { RefreshCycler } from './cycler';
import type { LifecycleEvent, StatusError, TokenManagerState, TokenManagerStatus } from './types';

/** Counts what happened to one session. */
export class SessionStats {
  refreshCount = 0;
  signInCount = 0;
  failureCount = 0;
  retryCount = 0;
  invalidationCount = 0;
  adoptedCount = 0;
  ambiguousRefreshCount = 0;
  unreadableSessionCount = 0;
  refreshTokenRejected = false;
  refreshTokenRejectedCount = 0;
  lastRefreshTokenRejectedAt: number | null = null;
  lastRefreshAt: number | null = null;
  /** Why the store's lock could not be used at the last try (an ACL refusing it, say); undefined once it works. */
  lockUnavailable: string | undefined = undefined;

  /** Updates the counters from one lifecycle event. */
  observe(event: LifecycleEvent): void {
    switch (event.type) {
      case 'refresh-ended':
        if (event.outcome === 'refreshed' || event.outcome === 'signed-in') {
          this.refreshCount += 1;
          if (event.outcome === 'signed-in') this.signInCount += 1;
          this.lastRefreshAt = event.at;
          this.refreshTokenRejected = event.refreshTokenRejected === true;
          if (this.refreshTokenRejected) {
            this.refreshTokenRejectedCount += 1;
            this.lastRefreshTokenRejectedAt = event.at;
          }
        } else if (event.outcome === 'failed' || event.outcome === 'abandoned') {
          this.failureCount += 1;
        }
        break;
      case 'retry-scheduled':
        if (!event.background) this.retryCount += 1;
        break;
      case 'invalidated':
        if (event.result === 'refreshing') this.invalidationCount += 1;
        break;
      case 'adopted':
        this.adoptedCount += 1;
        break;
      case 'auth-call-ended':
        if (event.ambiguous === true) this.ambiguousRefreshCount += 1;
        break;
      case 'store-failed':
        if (event.operation === 'lock') this.lockUnavailable = event.message;
        if (event.errorCode === UNREADABLE_SESSION_CODE) this.unreadableSessionCount += 1;
        break;
      case 'lock-waited':
        if (event.outcome !== 'unavailable') this.lockUnavailable = undefined;
        break;
      default:
        break;
    }
  }
}

/** What the snapshot needs besides the cycler and the counters. */
export interface SnapshotInput {
  closed: boolean;
  refreshing: boolean;
  /** Timeline now. */
  now: number;
  /** Wall clock minus timeline now: turns planned timeline points into epoch ms. */
  wallOffset: number;
  /** The manager's breaker, if it has one. */
  breaker?: BreakerLink | undefined;
}

/** The `status()` snapshot: integer epoch ms, no secrets. */
export function snapshotStatus(cycler: RefreshCycler, stats: SessionStats, input: SnapshotInput): TokenManagerStatus {
  const held = cycler.held;
  const failure = cycler.failure;
  const error = failure.kind === 'none' ? undefined : failure.error;
  const offset = held?.wallOffset ?? input.wallOffset;
  const planned = failure.kind === 'retrying' || failure.kind === 'fail-fast' ? failure.nextAttemptAt : undefined;
  return {
    state: stateOf(cycler, input, error !== undefined),
    accessTokenExpiresAt: integer(held?.tokens.accessTokenExpiresAt),
    refreshTokenExpiresAt: integer(held?.tokens.refreshTokenExpiresAt ?? cycler.seed?.refreshTokenExpiresAt),
    nextRefreshAt: held === undefined || held.rejected ? null : integer(held.refreshAt + offset),
    nextAttemptAt: planned === undefined ? null : integer(planned + offset),
    lastRefreshAt: integer(stats.lastRefreshAt ?? undefined),
    lastError: error === undefined ? null : describeError(error),
    refreshCount: stats.refreshCount,
    signInCount: stats.signInCount,
    failureCount: stats.failureCount,
    retryCount: stats.retryCount,
    invalidationCount: stats.invalidationCount,
    adoptedCount: stats.adoptedCount,
    ambiguousRefreshCount: stats.ambiguousRefreshCount,
    unreadableSessionCount: stats.unreadableSessionCount,
    refreshTokenRejected: stats.refreshTokenRejected,
    refreshTokenRejectedCount: stats.refreshTokenRejectedCount,
    lastRefreshTokenRejectedAt: integer(stats.lastRefreshTokenRejectedAt ?? undefined),
    breaker: input.breaker === undefined ? null : input.breaker.breaker.snapshot(input.breaker.call),
  };
}

function stateOf(cycler: RefreshCycler, input: SnapshotInput, failing: boolean): TokenManagerState {
  if (input.closed) return 'closed';
  if (input.refreshing) return 'refreshing';
  if (cycler.isValid(input.now)) return 'valid';
  if (failing) return 'failed';
  return cycler.held === undefined ? 'idle' : 'expired';
}

function integer(value: number | undefined): number | null {
  return value === undefined || !Number.isFinite(value) ? null : Math.floor(value);
}

/** An error as status() shows it: code, class name and message (messages never hold secrets). */
export function describeError(error: Error): StatusError {
  return { code: errorCodeOf(error) ?? 'UNKNOWN', name: error.name, message: error.message };
}
