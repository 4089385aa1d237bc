/**
 * The retry loop of one auth operation: p-retry runs the attempts, {@link nextDelay} decides
 * each wait, and the wait runs on the manager's clock (so fake timers and simulated clocks
 * drive it). p-retry's own delay is zero; its budget is ours.
 */
import pRetry, { AbortError } from 'p-retry';
import { sleep } from '../clock';
import type { Clock } from '../clock';
import { errorCodeOf } from '../errors';
import { nextDelay } from './backoff';
import type { BackoffPolicy } from './backoff';

/** Told about each attempt, for the lifecycle stream. */
export interface RetryObserver {
  attemptStarted(attempt: number): void;
  attemptEnded(attempt: number, error: unknown): void;
  retryScheduled(attempt: number, delayMs: number, error: unknown): void;
}

/** What {@link retrying} needs. */
export interface RetryContext {
  policy: BackoffPolicy;
  clock: Clock;
  /** Aborts the loop, also during a wait. */
  signal: AbortSignal;
  /** When the loop must give up, on `clock`. */
  deadline: number;
  observer: RetryObserver;
}

/** The error that ended the loop, and whether the budget (rather than the attempts) ran out. */
export class RetriesExhausted extends Error {
  constructor(
    readonly lastError: unknown,
    readonly why: 'permanent' | 'attempts' | 'budget' | 'breaker',
    readonly retryAfterMs: number | undefined,
  ) {
    super(`retries exhausted: ${errorCodeOf(lastError) ?? 'error'}`);
  }
}

/**
 * Runs `operation` until it succeeds, fails permanently, runs out of attempts, or the next
 * wait would pass `deadline`.
 * @throws {RetriesExhausted} wrapping the last error; the signal's reason when it aborts.
 */
export function retrying<T>(operation: (attempt: number) => Promise<T>, context: RetryContext): Promise<T> {
  const { policy, clock, signal, deadline, observer } = context;
  return pRetry(
    async (attempt) => {
      observer.attemptStarted(attempt);
      try {
        const result = await operation(attempt);
        observer.attemptEnded(attempt, undefined);
        return result;
      } catch (error) {
        observer.attemptEnded(attempt, error);
        if (signal.aborted) throw new AbortError(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
        const plan = nextDelay(attempt, error, deadline - clock.now(), policy);
        if (!plan.retry) throw new AbortError(new RetriesExhausted(error, plan.why, plan.retryAfterMs));
        observer.retryScheduled(attempt, plan.delayMs, error);
        if (plan.delayMs > 0) await sleep(clock, plan.delayMs, signal);
        throw error;
      }
    },
    // The decision and the wait happened above; p-retry only loops.
    { retries: Number.POSITIVE_INFINITY, minTimeout: 0, maxTimeout: 0, randomize: false, signal },
  );
}
