/**
 * One refresh run as the facade starts it: the acquire pipeline under a deadline. At the
 * deadline the run is abandoned (its signal aborts the provider call, the store wait or the
 * lock wait) and rejects with a {@link TimeoutError} naming what it was waiting for; a late
 * answer is ignored, so the next caller starts a fresh run.
 */
import { withTimeout } from '../clock';
import type { Clock } from '../clock';
import { TimeoutError, errorCodeOf } from '../errors';
import { acquireTokens } from './acquire';
import type { AcquireContext, AcquireProgress, AcquireResult } from './acquire';
import type { HeldSession } from './cycler';
import type { RefreshTokenSeed } from '../token-set';
import type { RefreshReason } from './types';

/** A run in flight: every caller, timer and 401 of its time shares it. */
export interface RefreshRun {
  readonly id: number;
  readonly reason: RefreshReason;
  /** Timeline. */
  readonly startedAt: number;
  readonly abort: AbortController;
  readonly progress: AcquireProgress;
  /** Settles with the pipeline's result, or rejects (also with the deadline's TimeoutError). */
  readonly outcome: Promise<AcquireResult>;
}

/** What a run starts from. */
export interface RefreshRunInput {
  id: number;
  reason: RefreshReason;
  /** Resolves once the store was read at start-up. */
  loaded: Promise<void>;
  held: HeldSession | undefined;
  seed: RefreshTokenSeed | undefined;
  /** The whole run's deadline, in ms. */
  acquireTimeoutMs: number;
  /** The retry loop's budget (the smaller of it and `acquireTimeoutMs` applies), in ms. */
  retryBudgetMs: number;
  /** The auth server, `host:port`, for the deadline's message. */
  endpoint: string | undefined;
}

/** Starts the pipeline under its deadline. */
export function startRefreshRun(context: AcquireContext & { clock: Clock }, input: RefreshRunInput): RefreshRun {
  const startedAt = context.clock.now();
  const abort = new AbortController();
  const progress: AcquireProgress = { stage: 'store', attempts: 0, lastError: undefined };
  const { held } = input;
  const work = input.loaded.then(() =>
    acquireTokens(context, {
      refreshId: input.id,
      reason: input.reason,
      signal: abort.signal,
      deadline: startedAt + Math.min(input.acquireTimeoutMs, input.retryBudgetMs),
      held: held?.tokens,
      rejectedToken: held?.rejected === true ? held.tokens.accessToken : undefined,
      seed: input.seed,
      progress,
    }),
  );
  const outcome = withTimeout(work, context.clock, input.acquireTimeoutMs, () => {
    const error = deadlineError(progress, input);
    abort.abort(error);
    return error;
  });
  return { id: input.id, reason: input.reason, startedAt, abort, progress, outcome };
}

/** The error a run's deadline produces: what it was waiting for, and the attempts made. */
function deadlineError(progress: AcquireProgress, input: RefreshRunInput): TimeoutError {
  const { stage, attempts, lastError } = progress;
  const signerTimedOut = lastError instanceof TimeoutError && lastError.stage === 'signer';
  return new TimeoutError({
    stage: stage === 'auth' && signerTimedOut ? 'signer' : stage,
    timeoutMs: input.acquireTimeoutMs,
    endpoint: input.endpoint,
    attempts,
    lastErrorCode: errorCodeOf(lastError),
  });
}

/** Whether a run ended because its deadline abandoned it. */
export function wasAbandoned(run: RefreshRun, error: unknown): boolean {
  return run.abort.signal.aborted && run.abort.signal.reason === error;
}
