/**
 * The public shapes of a {@link TokenManager}: call options, status, health, and the typed
 * lifecycle stream every observer (logs, events, diagnostics channels, OpenTelemetry) reads.
 */
import type { AuthOperation } from '../errors';
import type { BreakerState, BreakerStatus } from '../stores/types';

/** Options of `TokenManager.getAccessToken()`. */
export interface GetAccessTokenOptions {
  /** Abandons this caller's wait (rejecting with `AbortedError`); a shared refresh goes on. */
  signal?: AbortSignal | undefined;
  /** Get a new token even if the held one is valid (joins a refresh already running). */
  forceRefresh?: boolean | undefined;
}

/** Where a manager's session stands. */
export type TokenManagerState = 'idle' | 'valid' | 'refreshing' | 'expired' | 'failed' | 'closed';

/** Why a refresh ran. */
export type RefreshReason = 'initial' | 'scheduled' | 'window' | 'expired' | 'forced' | 'invalidated';

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
  target?: string | undefined;
  /**
   * True when the 401 answered a replay: the target rejected a token minted after its request
   * started, which a refresh cannot fix. Puts the target in a storm (no refresh).
   */
  replay?: boolean | undefined;
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
  /** When the last new token set arrived, epoch ms. */
  lastRefreshAt: number | null;
  /** The last failure since the last success, and when the next attempt is planned: no secrets, no stack. */
  lastError: {
    code: string;
    name: string;
    message: string;
    /** When the next attempt is planned (a background retry, or the end of fail-fast), epoch ms; null when none is. */
    nextAttemptAt: number | null;
  } | null;
  /** Token sets obtained (refreshes and sign-ins). */
  refreshCount: number;
  /** What happened to the session, counted since the manager was built. */
  counts: {
    /** Token sets obtained by a full sign-in (also counted in `refreshCount`). */
    signIns: number;
    /** Refresh runs (foreground or background) that ended without a token. */
    failures: number;
    /** Auth calls retried after a transient failure. */
    retries: number;
    /** `invalidate()` reports that started a refresh. */
    invalidations: number;
    /** Sessions adopted from the store (written by another manager or process). */
    adoptions: number;
    /**
     * Refresh calls whose outcome was unknown (the connection broke after the request was sent);
     * the store was re-read before the next attempt.
     */
    ambiguousRefreshes: number;
    /**
     * Store reads that found a value that does not open (encrypted under an unlisted key,
     * altered, or moved from another session's key): each counted as no stored session.
     */
    unreadableSessions: number;
  };
  /** Refresh tokens the API rejected (expired or revoked), each followed by a full sign-in. */
  refreshTokenRejections: {
    /** How many; a seeded `ALIX_REFRESH_TOKEN` counts too. */
    count: number;
    /** When the last one was rejected, epoch ms; null if never. */
    lastAt: number | null;
    /** True when the newest token set came from the sign-in that followed a rejection. */
    current: boolean;
  };
  /** The auth circuit breaker as this manager last saw it, or null without one. */
  breaker: BreakerStatus | null;
}

/** Options of `TokenManager.health()`. */
export interface HealthOptions {
  /**
   * `ok` needs a token valid for at least this long, in ms.
   * @default 60_000
   */
  minValidityMs?: number | undefined;
}

/** A readiness verdict: `ok`, `degraded` (still serving, but something is failing), or `down`. */
export interface TokenManagerHealth {
  status: 'ok' | 'degraded' | 'down';
  /** Short human-readable reasons; empty when `ok`. Never a secret. */
  reasons: string[];
}

/**
 * Every point in a session's life, as one union on `type`. `at` is the manager's clock when it
 * happened, integer epoch ms. `refreshId` counts a manager's refresh runs and ties the events of
 * one run together. No event ever holds a secret.
 */
export type LifecycleEvent = { at: number } & LifecyclePoint;

/** What a {@link LifecycleEvent} says, by `type`. */
type LifecyclePoint =
  /** A refresh run began (one per single flight); `foreground`: no valid token was held, so callers wait on it. */
  | { type: 'refresh-started'; refreshId: number; reason: RefreshReason; foreground: boolean }
  | {
      /** A refresh run ended. */
      type: 'refresh-ended';
      refreshId: number;
      reason: RefreshReason;
      /** How the run ended. */
      outcome: 'refreshed' | 'signed-in' | 'adopted' | 'failed' | 'abandoned' | 'closed';
      durationMs: number;
      /** Auth calls made by this run (0 when a session was adopted). */
      attempts: number;
      /** The error code when the run failed. */
      errorCode?: string;
      /** The error, when the run failed or was abandoned (the `'error'` event's payload). */
      error?: Error;
      /** The new access token's expiry, epoch ms, when the run obtained one. */
      accessTokenExpiresAt?: number;
      /** The new refresh token's expiry, epoch ms (null when unknown), when the run obtained one. */
      refreshTokenExpiresAt?: number | null;
      /** True when the refresh token was rejected and a full sign-in followed. */
      refreshTokenRejected?: boolean;
    }
  /** One auth call (refresh or sign-in) is about to be made. */
  | (AuthCall & { type: 'auth-call-started' })
  | (AuthCall & {
      /** One auth call ended. */
      type: 'auth-call-ended';
      outcome: 'success' | 'failure';
      durationMs: number;
      errorCode?: string;
      /** HTTP status, when the provider's error carried one. */
      status?: number;
      /** A refresh whose request may have reached the server before the connection broke: the store is re-read. */
      ambiguous?: boolean;
    })
  | (AuthCall & {
      /** Failed auth call `attempt` will be retried after `delayMs`. */
      type: 'retry-scheduled';
      delayMs: number;
      errorCode: string;
      /** True for the next background attempt after a failed run (a valid token is still held). */
      background: boolean;
    })
  | { type: 'invalidated'; result: InvalidateResult }
  /** An HTTP adapter replayed a request after its token was rejected with `status`; `origin` has no path or query. */
  | { type: 'replayed'; adapter: 'axios' | 'fetch'; status: number; method: string; origin: string }
  /**
   * Waited for the store's cross-process refresh lock: `acquired` (this process refreshes), `published`
   * (another one did), `unavailable` (no coordination).
   */
  | { type: 'lock-waited'; durationMs: number; outcome: 'acquired' | 'published' | 'unavailable' }
  /** A store operation failed; the manager carried on with what it holds. */
  | {
      type: 'store-failed';
      operation: 'read' | 'write' | 'lock' | 'release' | 'watch';
      errorCode: string;
      message: string;
      /** A write's run: whose token set it was (a late write may fail after a newer set was written). */
      refreshId?: number;
    }
  /** Calls that need a new token fail at once with the last error until `untilAt`. */
  | { type: 'fail-fast-entered'; untilAt: number; errorCode: string }
  /** A session written by another manager or process was adopted from the store. */
  | { type: 'adopted'; accessTokenExpiresAt: number }
  /** A stored session (under store key `key`) was not adopted because it belongs to another identity. */
  | { type: 'identity-mismatch'; key: string }
  /** A caller waited for a token (the slow path); hot-path reads emit nothing. */
  | { type: 'token-waited'; durationMs: number; outcome: 'success' | 'failure'; errorCode?: string }
  /** The refresh token is close to its expiry; a full sign-in will follow. */
  | { type: 'refresh-token-expiring'; refreshTokenExpiresAt: number; remainingMs: number }
  /**
   * The auth circuit breaker changed state, as this manager saw it around an auth call: `open`
   * (callers without a valid token fail at once; `retryAfterMs` until a probe may go),
   * `half-open` (one probe may go), `closed` (a call succeeded).
   */
  | { type: 'breaker-changed'; state: BreakerState; retryAfterMs?: number }
  | { type: 'closed' };

/** The auth call an event is about: its run, its operation, its `attempt` (1: the run's first of its operation). */
type AuthCall = { refreshId: number; operation: AuthOperation; attempt: number };

/** The `type` of a {@link LifecycleEvent}. */
export type LifecycleEventType = LifecycleEvent['type'];

/** The lifecycle event of one `type`. */
export type LifecycleEventOf<T extends LifecycleEventType> = Extract<LifecycleEvent, { type: T }>;

/** What an HTTP adapter reports about a replay (the manager stamps the time). */
export type ReplayReport = Omit<LifecycleEventOf<'replayed'>, 'type' | 'at'>;

/** Payload of the `'refreshed'` event: metadata only, never a token. */
export interface RefreshedEvent {
  accessTokenExpiresAt: number;
  refreshTokenExpiresAt: number | null;
  /** True when the set came from a full sign-in rather than a refresh. */
  signIn: boolean;
  reason: RefreshReason;
}

/**
 * Events a `TokenManager` emits (Node `EventEmitter`), all derived from the lifecycle stream.
 * Listeners never change an outcome.
 */
export interface TokenManagerEvents {
  /** A new token set arrived from the auth server (a `refresh-ended` that refreshed or signed in). */
  refreshed: [RefreshedEvent];
  /** A refresh failed (also in the background); emitted only when someone listens. */
  error: [Error];
  /** The refresh token has less than `refreshTokenWarningMs` left. */
  refreshTokenExpiring: [Omit<LifecycleEventOf<'refresh-token-expiring'>, 'type' | 'at'>];
  /** Every lifecycle point, typed; see {@link LifecycleEvent}. */
  lifecycle: [LifecycleEvent];
}
