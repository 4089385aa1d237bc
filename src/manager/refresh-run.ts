/**
 * One refresh run as the facade starts it: the acquire pipeline under a deadline. At the
 * deadline the run is abandoned (its signal aborts the provider call, the store wait or the
 * lock wait) and rejects with a {@link TimeoutError} naming what it was waiting for; a late
 * answer is ignored, so the next caller starts a fresh run.
 */
import { withTimeout } from '../clock';
import type { Clock } from '../clock';
import { ErrorCodes, TimeoutError, TokenManagerClosedError, errorCodeOf, isTokenManagerError } from '../errors';
import type { RefreshTokenSeed, TokenSet } from '../token-set';
import { acquireTokens } from './acquire';
import type { AcquireContext, AcquireProgress, AcquireResult } from './acquire';
import type { HeldSession, RefreshCycler, SessionSource } from './cycler';
import type { Lifecycle } from './lifecycle';
import type { ResolvedTokenManagerOptions } from './options';
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
  /** The whole run's deadline, in ms from `since`. */
  acquireTimeoutMs: number;
  /** Timeline: when the caller that started the run arrived (its start-up read counts); default now. */
  since: number | undefined;
  /** The retry loop's budget (the smaller of it and `acquireTimeoutMs` applies), in ms. */
  retryBudgetMs: number;
  /** The auth server, `host:port`, for the deadline's message. */
  endpoint: string | undefined;
}

/** Starts the pipeline under its deadline. */
export function startRefreshRun(context: AcquireContext & { clock: Clock }, input: RefreshRunInput): RefreshRun {
  const startedAt = context.clock.now();
  const since = Math.min(input.since ?? startedAt, startedAt);
  const abort = new AbortController();
  const progress: AcquireProgress = { stage: 'store', attempts: 0, lastError: undefined };
  const { held } = input;
  const work = input.loaded.then(() =>
    acquireTokens(context, {
      refreshId: input.id,
      reason: input.reason,
      signal: abort.signal,
      deadline: since + Math.min(input.acquireTimeoutMs, input.retryBudgetMs),
      held: held?.tokens,
      rejectedToken: held?.rejected === true ? held.tokens.accessToken : undefined,
      seed: input.seed,
      progress,
    }),
  );
  const outcome = withTimeout(work, context.clock, Math.max(0, since + input.acquireTimeoutMs - startedAt), () => {
    const error = deadlineError(progress, input);
    abort.abort(error);
    return error;
  });
  return { id: input.id, reason: input.reason, startedAt, abort, progress, outcome };
}

/** The error a run's deadline produces: what it was waiting for, and the attempts made. */
function deadlineError(progress: AcquireProgress, input: RefreshRunInput): TimeoutError {
  const { stage, attempts, lastError } = progress;
  const signerTimedOut =
    isTokenManagerError(lastError, ErrorCodes.TIMEOUT) && (lastError as TimeoutError).stage === 'signer';
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

/** What a {@link RefreshFlight} needs from its manager. */
export interface FlightHooks {
  /** The pipeline's context: its clocks and lifecycle stream are the flight's too. */
  context: AcquireContext;
  cycler: RefreshCycler;
  options: Pick<ResolvedTokenManagerOptions, 'acquireTimeoutMs' | 'retry' | 'provider'>;
  /** Resolves once the store was read at start-up. */
  loaded: () => Promise<void>;
  isClosed: () => boolean;
  /** Holds a new session (and arms the timer). */
  install: (tokens: TokenSet, source: SessionSource) => TokenSet;
  /** Arms the proactive timer at a timeline point, or cancels it. */
  arm: (at: number | undefined) => void;
}

/**
 * Single flight: at most one refresh run at a time; every caller, timer and 401 joins it.
 * Reports each run's end to the lifecycle stream and the cycler.
 */
export class RefreshFlight {
  #current: { readonly run: RefreshRun; readonly promise: Promise<string> } | undefined;
  #runs = 0;

  readonly #time: () => number;
  readonly #wallNow: () => number;
  readonly #lifecycle: Lifecycle;

  constructor(private readonly hooks: FlightHooks) {
    this.#time = () => hooks.context.clock.now();
    this.#wallNow = hooks.context.wallNow;
    this.#lifecycle = hooks.context.lifecycle;
  }

  /** Whether a run is in flight. */
  get running(): boolean {
    return this.#current !== undefined;
  }

  /** Settles when the run in flight does (never rejects); resolves at once without one. */
  settled(): Promise<void> {
    return (this.#current?.promise ?? Promise.resolve('')).then(
      () => undefined,
      () => undefined,
    );
  }

  /**
   * Joins the run in flight, or starts one whose deadline counts from `since` (timeline; the
   * arrival of the caller that starts it). Resolves to the new access token.
   */
  join(reason: RefreshReason, since?: number): Promise<string> {
    const hooks = this.hooks;
    if (hooks.isClosed()) return Promise.reject(new TokenManagerClosedError());
    if (this.#current !== undefined) return this.#current.promise;
    hooks.arm(undefined);
    const id = (this.#runs += 1);
    this.#lifecycle.emit({
      type: 'refresh-started',
      at: this.#wallNow(),
      refreshId: id,
      reason,
      foreground: !hooks.cycler.isValid(this.#time()),
    });
    const run = startRefreshRun(hooks.context, {
      id,
      reason,
      loaded: hooks.loaded(),
      held: hooks.cycler.held,
      seed: hooks.cycler.seed,
      acquireTimeoutMs: hooks.options.acquireTimeoutMs,
      since,
      retryBudgetMs: hooks.options.retry.maxRetryTimeMs,
      endpoint: hooks.options.provider.identity?.endpoint,
    });
    const promise = run.outcome.then(
      (result) => this.#succeeded(run, result),
      (error: unknown) => this.#failed(run, error),
    );
    promise.catch(() => undefined);
    this.#current = { run, promise };
    return promise;
  }

  /** Abandons the run in flight (the manager closed). */
  abort(reason: Error): void {
    this.#current?.run.abort.abort(reason);
  }

  #succeeded(run: RefreshRun, result: AcquireResult): string {
    const hooks = this.hooks;
    if (this.#current?.run === run) this.#current = undefined;
    if (hooks.isClosed()) throw new TokenManagerClosedError();
    const signIn = result.kind === 'obtained' && result.signIn;
    const tokens = hooks.install(result.tokens, result.kind === 'adopted' ? 'adopted' : signIn ? 'sign-in' : 'refresh');
    const { accessTokenExpiresAt } = tokens;
    this.#lifecycle.emit({
      type: 'refresh-ended',
      at: this.#wallNow(),
      refreshId: run.id,
      reason: run.reason,
      outcome: result.kind === 'adopted' ? 'adopted' : signIn ? 'signed-in' : 'refreshed',
      durationMs: this.#time() - run.startedAt,
      attempts: run.progress.attempts,
      accessTokenExpiresAt,
      refreshTokenRejected: result.kind === 'obtained' && result.refreshRejected,
    });
    if (result.kind === 'obtained') {
      this.#lifecycle.notify('refreshed', {
        accessTokenExpiresAt,
        refreshTokenExpiresAt: tokens.refreshTokenExpiresAt ?? null,
        signIn,
        reason: run.reason,
      });
    }
    return tokens.accessToken;
  }

  #failed(run: RefreshRun, error: unknown): never {
    const hooks = this.hooks;
    if (this.#current?.run === run) this.#current = undefined;
    if (hooks.isClosed()) throw new TokenManagerClosedError();
    const failure = error instanceof Error ? error : new Error(String(error));
    const now = this.#time();
    const wall = this.#wallNow();
    const planned = hooks.cycler.recordFailure(failure, now);
    const errorCode = errorCodeOf(failure) ?? 'UNKNOWN';
    const lifecycle = this.#lifecycle;
    const outcome = wasAbandoned(run, failure) ? 'abandoned' : 'failed';
    lifecycle.emit({
      type: 'refresh-ended',
      at: wall,
      refreshId: run.id,
      reason: run.reason,
      outcome,
      durationMs: now - run.startedAt,
      attempts: run.progress.attempts,
      errorCode,
    });
    if (planned.failFastUntil !== undefined)
      lifecycle.emit({
        type: 'fail-fast-entered',
        at: wall,
        untilAt: Math.floor(planned.failFastUntil - now + wall),
        errorCode,
      });
    if (planned.delayMs !== undefined) {
      lifecycle.emit({
        type: 'retry-scheduled',
        at: wall,
        refreshId: run.id,
        operation: 'refresh',
        attempt: run.progress.attempts,
        delayMs: planned.delayMs,
        errorCode,
        background: true,
      });
    }
    lifecycle.notify('error', failure);
    hooks.arm(hooks.cycler.timerAt(now));
    throw failure;
  }
}
