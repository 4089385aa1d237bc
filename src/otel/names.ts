/**
 * The names `alix-token-manager/otel` reports under: instrumentation scope, metrics, spans,
 * span events and attributes. Exported so dashboards, views and alert rules can refer to
 * them by constant rather than by copied string.
 */

/** The instrumentation scope (meter and tracer name) of everything this entry reports. */
export const INSTRUMENTATION_SCOPE = 'alix-token-manager';

/**
 * Metric names, OpenTelemetry semantic-convention style: dot-separated namespaces, durations
 * in seconds (UCUM `s`), counts with a `{annotation}` unit.
 */
export const METRIC_NAMES = Object.freeze({
  /** Counter `{request}`: auth calls to the server, by operation and outcome. */
  authRequests: 'alix.token_manager.auth.requests',
  /** Histogram `s`: duration of each auth call, by operation and outcome. */
  authDuration: 'alix.token_manager.auth.duration',
  /** Counter `{refresh}`: refresh runs (one per single flight), by reason and outcome. */
  refreshes: 'alix.token_manager.refreshes',
  /** Counter `{retry}`: failed auth calls scheduled for another attempt. */
  retries: 'alix.token_manager.retries',
  /** Histogram `s`: how long callers without a usable token waited for one (the slow path). */
  tokenWaitDuration: 'alix.token_manager.token.wait.duration',
  /** Observable gauge `s`: lifetime left on the held access token. */
  tokenRemainingLifetime: 'alix.token_manager.token.remaining_lifetime',
  /** Counter `{invalidation}`: `invalidate()` reports, by what they caused. */
  invalidations: 'alix.token_manager.invalidations',
  /** Counter `{request}`: requests an HTTP adapter replayed after their token was rejected. */
  replays: 'alix.token_manager.replays',
  /** Counter `{error}`: token store operations that failed. */
  storeErrors: 'alix.token_manager.store.errors',
  /** Histogram `s`: waits for the store's cross-process refresh lock, by outcome. */
  lockWaitDuration: 'alix.token_manager.lock.wait.duration',
});

/** Span names. */
export const SPAN_NAMES = Object.freeze({
  /** One refresh run, from `refresh-started` to `refresh-ended`. */
  refresh: 'alix.token_manager.refresh',
  /** One refresh-token exchange (a child of the run). */
  authRefresh: 'alix.auth.refresh',
  /** One full sign-in (a child of the run). */
  authSignIn: 'alix.auth.authenticate',
});

/** Names of the span events added to a refresh run's span. */
export const SPAN_EVENT_NAMES = Object.freeze({
  /** A failed auth call will be retried (attributes: operation, attempt, delay, error type). */
  retryScheduled: 'alix.auth.retry_scheduled',
  /** The run waited for the store's refresh lock. */
  lockWaited: 'alix.lock.waited',
  /** A store operation failed during the run. */
  storeFailed: 'alix.store.failed',
  /** The run adopted a session another process wrote to the store. */
  sessionAdopted: 'alix.session.adopted',
});

/**
 * Attribute keys. Values are always codes, enums or numbers: never a token, signature, key,
 * error message or session key (a pool's session key is an end user's email).
 */
export const ATTRIBUTES = Object.freeze({
  /** `refresh` | `authenticate` (a sign-in). */
  authOperation: 'alix.auth.operation',
  /** `success` | `failure`. */
  authOutcome: 'alix.auth.outcome',
  /** 1 for the first call of an operation in a run. */
  authAttempt: 'alix.auth.attempt',
  /**
   * The library's error code (`ERR_ALIX_AUTH_UNAVAILABLE`, …) on failures, `_OTHER` for any other code: the
   * semantic-convention key.
   */
  errorType: 'error.type',
  /** HTTP status of a failed auth call or of the response that caused a replay. */
  httpStatusCode: 'http.response.status_code',
  /** HTTP method of a replayed request (`_OTHER` outside the standard ones). */
  httpMethod: 'http.request.method',
  /** Why a refresh ran: `initial`, `scheduled`, `window`, `expired`, `forced`, `invalidated`. */
  refreshReason: 'alix.refresh.reason',
  /** How a refresh run ended: `refreshed`, `signed-in`, `adopted`, `failed`, `abandoned`, `closed`. */
  refreshOutcome: 'alix.refresh.outcome',
  /** True when callers were waiting on the run (no valid token was held). */
  refreshForeground: 'alix.refresh.foreground',
  /** Auth calls the run made. */
  refreshAttempts: 'alix.refresh.attempts',
  /** Delay before the next attempt, in ms. */
  retryDelayMs: 'alix.retry.delay_ms',
  /** True for the next background attempt after a failed run. */
  retryBackground: 'alix.retry.background',
  /** `success` | `failure` of a caller's wait for a token. */
  tokenWaitOutcome: 'alix.token.wait.outcome',
  /** What `invalidate()` did: `refreshing`, `stale`, `cooldown`, `ignored`. */
  invalidateResult: 'alix.invalidate.result',
  /** `axios` | `fetch`. */
  replayAdapter: 'alix.replay.adapter',
  /** `read` | `write` | `lock` | `release` | `watch`. */
  storeOperation: 'alix.store.operation',
  /** `acquired` | `published` | `unavailable`. */
  lockOutcome: 'alix.lock.outcome',
  /** How long the run waited for the lock, in ms (span event only). */
  lockWaitMs: 'alix.lock.wait_ms',
});
