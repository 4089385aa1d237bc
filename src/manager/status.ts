/**
 * The manager's counters, kept by watching its own lifecycle stream, the `status()`
 * snapshot built from them and the cycler, and the `health()` verdict judged from that snapshot.
 */
import { ErrorCodes, assertConfig, errorCodeOf } from '../errors';
import type { RefreshCycler } from './cycler';
import type { HealthOptions, LifecycleEvent, TokenManagerHealth, TokenManagerStatus } from './types';

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
  /** The run whose write failed last, and the newest run that landed (an older run's late write failure is moot). */
  #failedRun: number | undefined;
  #landedRun = 0;

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
    if (event.type === 'store-failed' && event.operation === 'write' && (event.refreshId ?? 0) > this.#landedRun) {
      this.writeFailing = event.message;
      this.#failedRun = event.refreshId;
    }
    if (event.type === 'refresh-ended' && ['refreshed', 'signed-in', 'adopted'].includes(event.outcome)) {
      if (this.#failedRun !== event.refreshId) this.writeFailing = undefined;
      this.#landedRun = event.refreshId;
    }
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
  const last = failure.kind === 'none' ? null : failure;
  const offset = held?.wallOffset ?? input.wallOffset;
  const planned = failure.kind === 'retrying' || failure.kind === 'fail-fast' ? failure.nextAttemptAt + offset : null;
  return {
    state: input.state,
    accessTokenExpiresAt: integer(held?.tokens.accessTokenExpiresAt),
    refreshTokenExpiresAt: integer(held?.tokens.refreshTokenExpiresAt ?? cycler.seed?.refreshTokenExpiresAt),
    nextRefreshAt: held === undefined || held.rejected ? null : integer(held.refreshAt + offset),
    lastRefreshAt: integer(stats.lastRefreshAt),
    lastError: last && {
      code: errorCodeOf(last.error) ?? 'UNKNOWN',
      name: last.error.name,
      message: last.message,
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

/** Defaults of `health()` options. */
export const DEFAULT_HEALTH_OPTIONS = Object.freeze({ minValidityMs: 60_000 });

/** What the verdict is judged against. */
export interface HealthInput {
  status: TokenManagerStatus;
  /** Wall clock, epoch ms. */
  now: number;
  /** The caller's options; defaults from {@link DEFAULT_HEALTH_OPTIONS}. */
  options: HealthOptions;
  /** A refresh token with less than this left is "expiring soon". */
  refreshTokenWarningMs: number;
  /**
   * Whether a caller gets the held token at once: a refresh running does not make one that callers wait for
   * (in its last `expirySkewMs`, or rejected by a server) count as valid.
   */
  servable: boolean;
  /** Why the store's refresh lock could not be used at the last try, why the last token set is not stored. */
  stats: Pick<SessionStats, 'lockUnavailable' | 'writeFailing'>;
}

/**
 * - `ok`: a valid token with at least `minValidityMs` left and no failing refresh.
 * - `degraded`: a valid token, but background refreshes fail, the token is close to expiry,
 *   the refresh token expires soon, the store's breaker or lock cannot be used (an ACL
 *   refusing them, say), or the last token set could not be written to the store; also a
 *   manager that holds no token yet and has not failed.
 * - `down`: no valid token and the last acquisition failed (or the manager is closed).
 */
export function assessHealth(input: HealthInput): TokenManagerHealth {
  const { status, now, servable: valid } = input;
  const minValidityMs = input.options.minValidityMs ?? DEFAULT_HEALTH_OPTIONS.minValidityMs;
  const known = Number.isFinite(minValidityMs) && minValidityMs >= 0;
  assertConfig(known, 'health() option minValidityMs must be a number of ms ≥ 0');
  const reasons: string[] = [];
  if (status.state === 'closed') return { status: 'down', reasons: ['the token manager is closed'] };
  if (!valid && status.lastError !== null)
    return { status: 'down', reasons: [`no valid token; the last attempt failed: ${status.lastError.code}`] };
  if (!valid && status.state === 'idle')
    return { status: 'degraded', reasons: ['no token held yet; the first call signs in'] };
  if (!valid) return { status: 'degraded', reasons: ['no valid token held; the next call refreshes'] };
  if (status.lastError !== null) reasons.push(`background refresh failing: ${status.lastError.code}`);
  // Protection lost quietly is still lost: say so while a valid token hides it.
  if (status.breaker?.unavailable !== undefined)
    reasons.push(`auth breaker unavailable: ${status.breaker.unavailable}`);
  const { lockUnavailable, writeFailing } = input.stats;
  if (lockUnavailable !== undefined) reasons.push(`refresh lock unavailable: ${lockUnavailable}`);
  if (writeFailing !== undefined) reasons.push(`the token set is not stored: ${writeFailing}`);
  const remainingMs = (status.accessTokenExpiresAt ?? now) - now;
  if (remainingMs < minValidityMs)
    reasons.push(`access token expires in ${Math.max(0, Math.round(remainingMs / 1000))} s`);
  if (status.refreshTokenExpiresAt !== null && status.refreshTokenExpiresAt - now < input.refreshTokenWarningMs)
    reasons.push('refresh token expires soon; a full sign-in will follow');
  return { status: reasons.length === 0 ? 'ok' : 'degraded', reasons };
}
