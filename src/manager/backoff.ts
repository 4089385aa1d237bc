/**
 * The one timing rule: how long to wait before the next auth attempt, for retries inside a
 * refresh run (acquire.ts), for background attempts after a failed run (cycler.ts), and for
 * `Retry-After`, capped here once (also for what a breaker is told); and how long a failure
 * opens the breaker. Pure: no clock, no timers; the caller passes the attempt, the error and
 * the time left.
 */
import { ErrorCodes, isTokenManagerError } from '../errors';
import type { AuthUnavailableError } from '../errors';

/** The numbers of one backoff schedule. */
export interface BackoffPolicy {
  /** Delay after the first failure, in ms; later ones grow by `factor`. */
  minDelayMs: number;
  /** Longest delay from backoff alone, in ms (`Retry-After` may ask for more, up to `maxRetryAfterMs`). */
  maxDelayMs: number;
  factor: number;
  /** Multiply each delay by a random factor in [1, 2) so replicas do not retry in step. */
  randomize: boolean;
  /** Attempts in all (the first one included); `Infinity` for background attempts. */
  maxAttempts: number;
  /** The longest `Retry-After` honoured, in ms: the one cap on server-requested waits. */
  maxRetryAfterMs: number;
  /** Random numbers in [0, 1). */
  random: () => number;
}

/** What to do after a failed attempt. */
export type Backoff =
  /** `retryAfterMs`: the server's `Retry-After` (capped), when it sent one; `delayMs` is never shorter. */
  | { readonly retry: true; readonly delayMs: number; readonly retryAfterMs?: number }
  | {
      readonly retry: false;
      /**
       * `permanent`: retrying cannot help; `attempts`: none left; `budget`: the wait would
       * outlast the time left; `breaker`: the auth circuit breaker is open (fail at once).
       */
      readonly why: 'permanent' | 'attempts' | 'budget' | 'breaker';
      /** The server's `Retry-After` (capped), when it sent one. */
      readonly retryAfterMs?: number;
    };

/** The server's requested wait, capped (one too long for a number too: `Infinity`), or undefined. */
export function retryAfterOf(error: unknown, maxRetryAfterMs: number): number | undefined {
  const requested = (error as { retryAfterMs?: unknown } | null)?.retryAfterMs;
  if (typeof requested !== 'number' || Number.isNaN(requested) || requested <= 0) return undefined;
  return Math.min(requested, maxRetryAfterMs);
}

/**
 * The wait before attempt `attempt + 1`, after attempt `attempt` (1-based) failed with
 * `error`, given `budgetMs` left: exponential backoff with optional jitter, never shorter
 * than the server's `Retry-After`, and no retry at all when that wait would outlast the budget.
 */
export function nextDelay(attempt: number, error: unknown, budgetMs: number, policy: BackoffPolicy): Backoff {
  const retryAfterMs = retryAfterOf(error, policy.maxRetryAfterMs);
  const withRetryAfter = retryAfterMs === undefined ? {} : { retryAfterMs };
  // Transient failures (network, timeout, 5xx, 429) and malformed answers (a proxy's HTML page, a
  // half-written body) may pass on another attempt; rejections may not.
  const retryable =
    (isTokenManagerError(error) && error.transient) || isTokenManagerError(error, ErrorCodes.MALFORMED_RESPONSE);
  if (!retryable) return { retry: false, why: 'permanent', ...withRetryAfter };
  // An open breaker: waiting inside this run would only delay the caller; the background
  // (which holds a valid token) tries again at `retryAfterMs`.
  if (isBreakerError(error)) return { retry: false, why: 'breaker', ...withRetryAfter };
  if (attempt >= policy.maxAttempts) return { retry: false, why: 'attempts', ...withRetryAfter };
  const jitter = policy.randomize ? 1 + policy.random() : 1;
  const backoffMs = Math.round(jitter * policy.minDelayMs * policy.factor ** (attempt - 1));
  const delayMs = Math.max(Math.min(backoffMs, policy.maxDelayMs), retryAfterMs ?? 0);
  if (delayMs > budgetMs) return { retry: false, why: 'budget', ...withRetryAfter };
  return { retry: true, delayMs, ...withRetryAfter };
}

/**
 * How long a transient failure opens an auth circuit breaker: its `openMs`, or the server's
 * `Retry-After` if longer. A manager records `Retry-After` already capped by {@link retryAfterOf} (its
 * `retry.maxRetryAfterMs`, the one cap on server-requested waits); the bound here is only arithmetic.
 */
export function breakerOpenMs(openMs: number, retryAfterMs: number | undefined): number {
  const requested = typeof retryAfterMs === 'number' && Number.isFinite(retryAfterMs) ? retryAfterMs : 0;
  // At most what a breaker accepts as its own openMs (`maxRetryAfterMs` may be Infinity).
  return Math.ceil(Math.min(Math.max(openMs, requested), Number.MAX_SAFE_INTEGER));
}

/** Whether an error says the auth circuit breaker refused the call (no call was made). */
export function isBreakerError(error: unknown): boolean {
  return (
    isTokenManagerError(error, ErrorCodes.AUTH_UNAVAILABLE) && (error as AuthUnavailableError).reason === 'breaker'
  );
}
