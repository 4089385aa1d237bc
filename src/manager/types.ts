/**
 * The public shapes of a {@link TokenManager}: call options, status, health, and the typed
 * lifecycle stream every observer (logs, events, diagnostics channels, OpenTelemetry) reads.
 */
import type { BreakerState, BreakerStatus } from '../stores/types';

/** Options of `TokenManager.getAccessToken()`. */
export interface GetAccessTokenOptions {
  /** Abandons this caller's wait (rejecting with `AbortedError`); a shared refresh goes on. */
  signal?: AbortSignal;
  /** Get a new token even if the held one is valid (joins a refresh already running). */
  forceRefresh?: boolean;
}

/** Where a manager's session stands. */
export type TokenManagerState = 'idle' | 'valid' | 'refreshing' | 'expired' | 'failed' | 'closed';

/** Why a refresh ran. */
export type RefreshReason = 'initial' | 'scheduled' | 'window' | 'expired' | 'forced' | 'invalidated';

/** Which auth call a provider made: a refresh-token exchange or a full sign-in. */
export type AuthCallOperation = 'refresh' | 'sign_in';

/**
 * What `invalidate()` did with a reported token:
 * - `refreshing`: it was the held token; it is no longer served and one refresh runs.
 * - `stale`: it was already replaced (or a refresh for it already runs); the held token is newer.
 * - `cooldown`: another refresh cannot help: the target is in a 401 storm (it rejected a
 *   token minted after its request started, less than `invalidateCooldownMs` ago), or,
 *   without a target, a refresh for a rejected token ran less than `invalidateCooldownMs` ago
 *   and the new token is rejected too. The held token stays.
 * - `ignored`: nothing is held, or the manager is closed.
 */
export type InvalidateResult = 'refreshing' | 'stale' | 'cooldown' | 'ignored';

/**
 * Options of `TokenManager.invalidate()`: where the rejection came from, so that a real
 * revocation (the server revoked the session's token) is told from a 401 storm (an endpoint
 * that rejects every token).
 */
export interface InvalidateOptions {
  /**
   * The request target that answered 401, as `METHOD /path` (no query). Storms are tracked per
   * target: a target in a storm gets `cooldown` for `invalidateCooldownMs`, other targets'
   * 401s still refresh. Without a target, any second rejection within `invalidateCooldownMs`
   * of a refresh that a rejection started gets `cooldown` (the session-wide rule).
   */
  target?: string;
  /**
   * True when the 401 answered a replay: the target rejected a token minted after its request
   * started, which a refresh cannot fix. Puts the target in a storm (no refresh).
   */
  replay?: boolean;
}

/** The last failure, as `status()` reports it: no secrets, no stack. */
export interface StatusError {
  code: string;
  name: string;
  message: string;
}

/** A snapshot of a manager's session, with no secrets in it. Times are integer epoch ms. */
export interface TokenManagerStatus {
  state: TokenManagerState;
  /** Epoch ms, or null when no token is held. */
  accessTokenExpiresAt: number | null;
  /** Epoch ms, or null when unknown. */
  refreshTokenExpiresAt: number | null;
  /** When the refresh window opens for the held token, epoch ms. */
  nextRefreshAt: number | null;
  /** After a failure: when the next attempt is planned, epoch ms; null when none is planned. */
  nextAttemptAt: number | null;
  /** When the last new token set arrived, epoch ms. */
  lastRefreshAt: number | null;
  /** The last failure since the last success: its code and message only. */
  lastError: StatusError | null;
  /** Token sets obtained (refreshes and sign-ins). */
  refreshCount: number;
  /** Of those, full sign-ins. */
  signInCount: number;
  /** Refresh runs (foreground or background) that ended without a token. */
  failureCount: number;
  /** Auth calls retried after a transient failure. */
  retryCount: number;
  /** `invalidate()` reports that started a refresh. */
  invalidationCount: number;
  /** Sessions adopted from the store (written by another manager or process). */
  adoptedCount: number;
  /**
   * Refresh calls whose outcome was unknown (the connection broke after the request was sent);
   * the store was re-read before the next attempt.
   */
  ambiguousRefreshCount: number;
  /**
   * Store reads that found a value that does not open (encrypted under an unlisted key,
   * altered, or moved from another session's key): each counted as no stored session.
   */
  unreadableSessionCount: number;
  /** True when the last refresh-token exchange was rejected and a full sign-in followed. */
  refreshTokenRejected: boolean;
  /**
   * How many refresh tokens were rejected (each followed by a full sign-in); a seeded `ALIX_REFRESH_TOKEN` counts too.
   */
  refreshTokenRejectedCount: number;
  /** When a refresh token was last rejected, epoch ms; null if never. */
  lastRefreshTokenRejectedAt: number | null;
  /** The auth circuit breaker as this manager last saw it, or null without one. */
  breaker: BreakerStatus | null;
}

/** Options of `TokenManager.health()`. */
export interface HealthOptions {
  /**
   * `ok` needs a token valid for at least this long, in ms.
   * @default 60_000
   */
  minValidityMs?: number;
}

/** A readiness verdict: `ok`, `degraded` (still serving, but something is failing), or `down`. */
export interface TokenManagerHealth {
  status: 'ok' | 'degraded' | 'down';
  /** Short human-readable reasons; empty when `ok`. Never a secret. */
  reasons: string[];
}

/** Fields every lifecycle event carries. */
interface LifecycleBase {
  /** The manager's clock when the event happened, integer epoch ms. */
  at: number;
}

/** A refresh run began (one per single flight, whatever the number of callers). */
export interface RefreshStartedEvent extends LifecycleBase {
  type: 'refresh-started';
  /** Counts refresh runs of this manager; correlates the events of one run. */
  refreshId: number;
  reason: RefreshReason;
  /** True when no valid token was held, so callers are waiting on this run. */
  foreground: boolean;
}

/** How a refresh run ended. */
export type RefreshOutcome = 'refreshed' | 'signed-in' | 'adopted' | 'failed' | 'abandoned' | 'closed';

/** A refresh run ended. */
export interface RefreshEndedEvent extends LifecycleBase {
  type: 'refresh-ended';
  refreshId: number;
  reason: RefreshReason;
  outcome: RefreshOutcome;
  durationMs: number;
  /** Auth calls made by this run (0 when a session was adopted). */
  attempts: number;
  /** The error code when the run failed. */
  errorCode?: string;
  /** The new access token's expiry, epoch ms, when the run obtained one. */
  accessTokenExpiresAt?: number;
  /** True when the refresh token was rejected and a full sign-in followed. */
  refreshTokenRejected?: boolean;
}

/** One auth call (refresh or sign-in) is about to be made. */
export interface AuthCallStartedEvent extends LifecycleBase {
  type: 'auth-call-started';
  refreshId: number;
  operation: AuthCallOperation;
  /** 1 for the first call of this operation in the run. */
  attempt: number;
}

/** One auth call ended. */
export interface AuthCallEndedEvent extends LifecycleBase {
  type: 'auth-call-ended';
  refreshId: number;
  operation: AuthCallOperation;
  attempt: number;
  outcome: 'success' | 'failure';
  durationMs: number;
  errorCode?: string;
  /** HTTP status, when the provider's error carried one. */
  status?: number;
  /**
   * A refresh whose request may have reached the server before the connection broke (the
   * token may have rotated): the store is re-read before the next attempt.
   */
  ambiguous?: boolean;
}

/** A failed auth call will be retried after `delayMs`. */
export interface RetryScheduledEvent extends LifecycleBase {
  type: 'retry-scheduled';
  refreshId: number;
  operation: AuthCallOperation;
  /** The attempt that failed. */
  attempt: number;
  delayMs: number;
  errorCode: string;
  /** True for the next background attempt after a failed run (a valid token is still held). */
  background: boolean;
}

/** `invalidate()` was called. */
export interface InvalidatedEvent extends LifecycleBase {
  type: 'invalidated';
  result: InvalidateResult;
}

/** An HTTP adapter replayed a request after its token was rejected. */
export interface ReplayedEvent extends LifecycleBase {
  type: 'replayed';
  adapter: 'axios' | 'fetch';
  /** The status that rejected the token (401 by default). */
  status: number;
  method: string;
  /** The request's origin (never its path or query). */
  origin: string;
}

/** Waited for the store's cross-process refresh lock. */
export interface LockWaitedEvent extends LifecycleBase {
  type: 'lock-waited';
  durationMs: number;
  /** `acquired`: this process refreshes; `published`: another one did; `unavailable`: no coordination. */
  outcome: 'acquired' | 'published' | 'unavailable';
}

/** A store operation failed; the manager carried on with what it holds. */
export interface StoreFailedEvent extends LifecycleBase {
  type: 'store-failed';
  operation: 'read' | 'write' | 'lock' | 'release';
  errorCode: string;
  message: string;
}

/** Calls that need a new token fail at once with the last error until `untilAt`. */
export interface FailFastEnteredEvent extends LifecycleBase {
  type: 'fail-fast-entered';
  untilAt: number;
  errorCode: string;
}

/** A session written by another manager or process was adopted from the store. */
export interface AdoptedEvent extends LifecycleBase {
  type: 'adopted';
  accessTokenExpiresAt: number;
}

/** A stored session was not adopted because it belongs to another identity. */
export interface IdentityMismatchEvent extends LifecycleBase {
  type: 'identity-mismatch';
  /** The store key the foreign session was found under. */
  key: string;
}

/** A caller waited for a token (the slow path); hot-path reads emit nothing. */
export interface TokenWaitedEvent extends LifecycleBase {
  type: 'token-waited';
  durationMs: number;
  outcome: 'success' | 'failure';
  errorCode?: string;
}

/** The refresh token is close to its expiry; a full sign-in will follow. */
export interface RefreshTokenExpiringLifecycleEvent extends LifecycleBase {
  type: 'refresh-token-expiring';
  refreshTokenExpiresAt: number;
  remainingMs: number;
}

/**
 * The auth circuit breaker changed state, as this manager saw it around an auth call: `open`
 * (no auth calls; callers without a valid token fail at once), `half-open` (one probe may
 * go), `closed` (a call succeeded).
 */
export interface BreakerChangedEvent extends LifecycleBase {
  type: 'breaker-changed';
  state: BreakerState;
  /** While open: how long until a probe may go, in ms. */
  retryAfterMs?: number;
}

/** The manager was closed. */
export interface ClosedEvent extends LifecycleBase {
  type: 'closed';
}

/** Every point in a session's life, as one discriminated union. No event ever holds a secret. */
export type LifecycleEvent =
  | RefreshStartedEvent
  | RefreshEndedEvent
  | AuthCallStartedEvent
  | AuthCallEndedEvent
  | RetryScheduledEvent
  | InvalidatedEvent
  | ReplayedEvent
  | LockWaitedEvent
  | StoreFailedEvent
  | FailFastEnteredEvent
  | AdoptedEvent
  | IdentityMismatchEvent
  | TokenWaitedEvent
  | RefreshTokenExpiringLifecycleEvent
  | BreakerChangedEvent
  | ClosedEvent;

/** The `type` of a {@link LifecycleEvent}. */
export type LifecycleEventType = LifecycleEvent['type'];

/** What an HTTP adapter reports about a replay (the manager stamps the time). */
export type ReplayReport = Omit<ReplayedEvent, 'type' | 'at'>;

/** Payload of the `'refreshed'` event: metadata only, never a token. */
export interface RefreshedEvent {
  accessTokenExpiresAt: number;
  refreshTokenExpiresAt: number | null;
  /** True when the set came from a full sign-in rather than a refresh. */
  signIn: boolean;
  reason: RefreshReason;
}

/** Payload of the `'refreshTokenExpiring'` event. */
export interface RefreshTokenExpiringEvent {
  refreshTokenExpiresAt: number;
  remainingMs: number;
}

/** Events a `TokenManager` emits (Node `EventEmitter`). Listeners never change an outcome. */
export interface TokenManagerEvents {
  /** A new token set arrived from the auth server. */
  refreshed: [RefreshedEvent];
  /** A refresh failed (also in the background); emitted only when someone listens. */
  error: [Error];
  /** The refresh token has less than `refreshTokenWarningMs` left. */
  refreshTokenExpiring: [RefreshTokenExpiringEvent];
  /** Every lifecycle point, typed; see {@link LifecycleEvent}. */
  lifecycle: [LifecycleEvent];
}

/** The `node:diagnostics_channel` name of each lifecycle event type: `alix-token-manager:<type>`. */
export const DIAGNOSTICS_CHANNEL_PREFIX = 'alix-token-manager:';
