/**
 * The manager's counters, kept by watching its own lifecycle stream, and the `status()`
 * snapshot built from them and the cycler.
 */
import { ErrorCodes, errorCodeOf } from '../errors';
import type { RefreshCycler } from './cycler';
import type { LifecycleEvent, TokenManagerStatus } from './types';

type Counts = TokenManagerStatus['counts'];
type Rejections = TokenManagerStatus['refreshTokenRejections'];

/** Which lifecycle events each counter counts. */
const COUNTED: { readonly [K in keyof Counts]: (event: LifecycleEvent) => boolean } = {
  signIns: (event) => event.type === 'refresh-ended' && event.outcome === 'signed-in',
  failures: (event) => event.type === 'refresh-ended' && (event.outcome === 'failed' || event.outcome === 'abandoned'),
  retries: (event) => event.type === 'retry-scheduled' && !event.background,
  invalidations: (event) => event.type === 'invalidated' && event.result === 'refreshing',
  adoptions: (event) => event.type === 'adopted',
  ambiguousRefreshes: (event) => event.type === 'auth-call-ended' && event.ambiguous === true,
  unreadableSessions: (event) => event.type === 'store-failed' && event.errorCode === ErrorCodes.STORE_UNREADABLE,
};
const COUNTERS = Object.keys(COUNTED) as (keyof Counts)[];

/** Counts what happened to one session. */
export class SessionStats {
  refreshCount = 0;
  lastRefreshAt: number | null = null;
  readonly counts = Object.fromEntries(COUNTERS.map((key) => [key, 0])) as Counts;
  readonly refreshTokenRejections: Rejections = { count: 0, lastAt: null, current: false };
  /** Why the store's lock could not be used at the last try (an ACL refusing it, say); undefined once it works. */
  lockUnavailable: string | undefined = undefined;
  /**
   * Why the last token set could not be written to the store, until a run ends well without a failed write: the
   * rotated refresh token then lives in this process alone (another replica would spend the old one).
   */
  writeFailing: string | undefined = undefined;
  #runWriteFailed = false;

  /** Updates the counters from one lifecycle event. */
  observe(event: LifecycleEvent): void {
    for (const key of COUNTERS) if (COUNTED[key](event)) this.counts[key] += 1;
    if (event.type === 'refresh-ended' && (event.outcome === 'refreshed' || event.outcome === 'signed-in')) {
      this.refreshCount += 1;
      this.lastRefreshAt = event.at;
      const rejections = this.refreshTokenRejections;
      rejections.current = event.refreshTokenRejected === true;
      if (rejections.current) {
        rejections.count += 1;
        rejections.lastAt = event.at;
      }
    }
    if (event.type === 'store-failed' && event.operation === 'lock') this.lockUnavailable = event.message;
    if (event.type === 'refresh-started') this.#runWriteFailed = false;
    if (event.type === 'store-failed' && event.operation === 'write') {
      this.writeFailing = event.message;
      this.#runWriteFailed = true;
    }
    const landed = event.type === 'refresh-ended' && ['refreshed', 'signed-in', 'adopted'].includes(event.outcome);
    if (landed && !this.#runWriteFailed) this.writeFailing = undefined;
    if (event.type === 'lock-waited' && event.outcome !== 'unavailable') this.lockUnavailable = undefined;
  }
}

/**
 * What the snapshot takes from the manager besides the cycler and the counters: its state, its breaker, and the
 * wall clock minus the timeline now (which turns planned timeline points into epoch ms).
 */
export type SnapshotInput = Pick<TokenManagerStatus, 'state' | 'breaker'> & { wallOffset: number };

/** The `status()` snapshot: integer epoch ms, no secrets. */
export function snapshotStatus(cycler: RefreshCycler, stats: SessionStats, input: SnapshotInput): TokenManagerStatus {
  const held = cycler.held;
  const failure = cycler.failure;
  const error = failure.kind === 'none' ? null : failure.error;
  const offset = held?.wallOffset ?? input.wallOffset;
  const planned = failure.kind === 'retrying' || failure.kind === 'fail-fast' ? failure.nextAttemptAt + offset : null;
  return {
    state: input.state,
    accessTokenExpiresAt: integer(held?.tokens.accessTokenExpiresAt),
    refreshTokenExpiresAt: integer(held?.tokens.refreshTokenExpiresAt ?? cycler.seed?.refreshTokenExpiresAt),
    nextRefreshAt: held === undefined || held.rejected ? null : integer(held.refreshAt + offset),
    lastRefreshAt: integer(stats.lastRefreshAt),
    lastError: error && {
      code: errorCodeOf(error) ?? 'UNKNOWN',
      name: error.name,
      message: error.message, // messages never hold secrets
      nextAttemptAt: integer(planned),
    },
    refreshCount: stats.refreshCount,
    counts: { ...stats.counts },
    refreshTokenRejections: { ...stats.refreshTokenRejections },
    breaker: input.breaker,
  };
}

function integer(value: number | null | undefined): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? Math.floor(value) : null;
}
