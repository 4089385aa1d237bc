import pRetry from 'p-retry';
import { sleep } from '../clock';
import type { Clock } from '../clock';
import { isTransientError } from '../errors';
import type { AuthUnavailableError } from '../errors';
import type { RetryOptions } from './options';

/** Called before each retry, for logging. */
export type RetryListener = (error: unknown, attemptNumber: number) => void;

/**
 * Runs `operation`, retrying transient failures with exponential backoff and jitter
 * (p-retry). A `Retry-After` from the server is waited out before the backoff delay.
 * Permanent failures are thrown at once.
 */
export function withTransientRetry<T>(
  operation: () => Promise<T>,
  options: Required<RetryOptions>,
  clock: Clock,
  signal: AbortSignal,
  onRetry: RetryListener,
): Promise<T> {
  return pRetry(operation, {
    retries: options.retries,
    factor: options.factor,
    minTimeout: options.minTimeoutMs,
    maxTimeout: options.maxTimeoutMs,
    randomize: options.randomize,
    maxRetryTime: options.maxRetryTimeMs,
    signal,
    unref: true,
    shouldRetry: ({ error }) => isTransientError(error),
    onFailedAttempt: async ({ error, attemptNumber, retriesLeft }) => {
      if (!isTransientError(error) || retriesLeft === 0) return;
      onRetry(error, attemptNumber);
      const retryAfterMs = (error as AuthUnavailableError).retryAfterMs;
      if (retryAfterMs !== undefined && retryAfterMs > 0) {
        await sleep(clock, Math.min(retryAfterMs, options.maxRetryAfterMs), signal);
      }
    },
  });
}
