import { EventEmitter } from 'node:events';
import { holdProcessOpen, monotonicClock, systemClock, timerAt, withTimeout } from '../clock';
import type { Clock } from '../clock';
import { TokenManagerClosedError, assertConfig, errorCodeOf } from '../errors';
import { createLogger } from '../logger';
import { MemoryTokenStore } from '../stores/memory';
import { startingPoint, tokensOf } from '../token-set';
import type { TokenSet } from '../token-set';
import { waitWithSignal } from '../wait-with-signal';
import { acquireTokens, deadlineError, isNewerSession, readSession, reportStoreFailure, runSecrets } from './acquire';
import type { AcquireContext, AcquireRequest, AcquireResult, RunRecord } from './acquire';
import { BreakerLink } from './breaker';
import { RefreshCycler } from './cycler';
import type { TokenOrigin } from './cycler';
import { Lifecycle } from './lifecycle';
import { backoffPolicies, resolveTokenManagerOptions } from './options';
import type { ResolvedTokenManagerOptions, ScheduledRefresh, TokenManagerOptions } from './options';
import { SessionStats, assessHealth, snapshotStatus } from './status';
import type {
  GetAccessTokenOptions,
  HealthOptions,
  InvalidateOptions,
  InvalidateResult,
  LifecycleEventOf,
  RefreshReason,
  ReplayReport,
  TokenManagerEvents,
  TokenManagerHealth,
  TokenManagerState,
  TokenManagerStatus,
} from './types';

/** Options of {@link TokenManager.close}. */
export interface CloseOptions {
  /** Let a refresh in flight finish (and be stored) for up to this long first, in ms. @default 0 */
  drainMs?: number | undefined;
}

/**
 * Keeps one session's tokens valid: refreshes ahead of expiry in the background, lets any
 * number of concurrent callers, timers and 401 reports share one auth request, falls back
 * to a full sign-in when the refresh token is gone, bounds every wait, and never lets a
 * background failure escape as an unhandled rejection. Decisions live in the cycler, the
 * I/O in the acquire pipeline, the observability in the lifecycle stream; this class owns the one
 * refresh in flight (single flight, one deadline) and the proactive timer.
 *
 * @example
 * ```ts
 * import { AlixAuthProvider, TokenManager } from 'alix-token-manager';
 *
 * const manager = new TokenManager({
 *   provider: new AlixAuthProvider({
 *     baseUrl: 'https://api.alix.example',
 *     partnerCode: 'my-partner',
 *     secretKey: process.env.ALIX_SECRET_KEY ?? '',
 *     privateKey: '/etc/alix/partner-key.pem',
 *   }),
 * });
 * const token = await manager.getAccessToken();
 * ```
 */
export class TokenManager extends EventEmitter<TokenManagerEvents> {
  /** The key this manager's session is stored under (derived from the provider's identity). */
  readonly storeKey: string;
  readonly #options: ResolvedTokenManagerOptions;
  readonly #time: () => number;
  readonly #wallNow: () => number;
  readonly #clock: Clock;
  readonly #cycler: RefreshCycler;
  readonly #stats = new SessionStats();
  readonly #lifecycle: Lifecycle;
  readonly #acquire: AcquireContext;
  readonly #timer: ScheduledRefresh;
  /** The one refresh run in flight: every caller, timer and 401 of its time shares it. */
  #flight: Flight | undefined;
  #runs = 0;
  /** What the hot path serves, and until when on the wall clock (its one read; see #syncHot). */
  #hot: { readonly token: string; readonly until: number } | undefined;
  /** The start-up read (the store, else the seed), made once; callers that arrive meanwhile wait for it. */
  #startup: Promise<void> | undefined;
  #started = false;
  #draining = false;
  #closed = false;
  /** Stops watching the store for hand-overs; set while this manager holds a session on a store that announces them. */
  #unwatch: (() => void) | undefined;
  /** Whether a published session is being read (one read at a time). */
  #adopting = false;
  /** Aborted by `close()`: ends the callers' wait for the start-up read. */
  readonly #closing = new AbortController();

  /** @throws ConfigurationError when an option is invalid. */
  constructor(options: TokenManagerOptions) {
    super();
    const resolved = resolveTokenManagerOptions(options);
    this.#options = resolved;
    this.#wallNow = resolved.now ?? systemClock.now;
    this.#time = resolved.now ?? monotonicClock();
    this.#clock = { ...systemClock, ...resolved.timers, now: this.#time };
    const provided = resolved.provider.identity;
    const identity = provided?.id ?? 'unidentified';
    this.storeKey = resolved.storeKey ?? `alix-token-manager:session:${identity}`;
    const policies = backoffPolicies(resolved);
    this.#cycler = new RefreshCycler({ ...resolved, background: policies.background });
    this.#lifecycle = new Lifecycle({ logger: createLogger(resolved.logger), emitter: this, stats: this.#stats });
    const store = resolved.store ?? new MemoryTokenStore({ now: this.#wallNow });
    // The `breaker` option, else the store's own, else none (`false`, or a store without one).
    const breaker = resolved.breaker === false ? undefined : (resolved.breaker ?? store.breaker);
    // A provider without an identity is a scope and a session of its own, and a key the user chose (which
    // identities could share) carries the identity: managers that share a breaker never mix their circuits.
    const own = provided?.id === undefined ? `#${(unidentifiedManagers += 1)}` : '';
    const key = resolved.storeKey === undefined ? this.storeKey : `${this.storeKey}\n${identity}`;
    const call = { scope: provided?.scope ?? provided?.endpoint ?? identity + own, session: key + own };
    this.#acquire = {
      ...resolved,
      // A store call inside a run leaves the run time for its auth call: with a store that hangs, a run whose
      // reads took the whole deadline would never sign in (every caller a TimeoutError, forever).
      storeTimeoutMs: Math.min(resolved.storeTimeoutMs, resolved.acquireTimeoutMs / 4),
      store,
      breaker:
        breaker && new BreakerLink(breaker, call, this.#lifecycle, this.#wallNow, resolved.retry.maxRetryAfterMs),
      storeKey: this.storeKey,
      identity,
      clock: this.#clock,
      wallNow: this.#wallNow,
      lifecycle: this.#lifecycle,
      retry: policies.foreground,
      heldSecrets: () => this.#cycler.secrets,
    };
    // Not while draining: close() cancels the timer, and what re-arms it (the drained run landing) is followed
    // by #closeNow in the same chain of microtasks, before any timer can fire.
    // A timer that fires late (after a suspend) may find the token past its blocking margin and no refresh due: the
    // hot path, which reads the wall clock alone, still learns that it has nothing to serve.
    const onDue = (): void => {
      if (!this.#closed && this.#cycler.isDueInBackground(this.#time())) this.#background('scheduled');
      else if (!this.#closed) this.#syncHot();
    };
    this.#timer = resolved.scheduler === undefined ? timerAt(this.#clock, onDue) : resolved.scheduler(onDue);
  }

  /**
   * Resolves to an access token that is valid now. A token outside its refresh window is
   * returned at once with no I/O; inside the window it is still returned at once while a
   * background refresh runs; in its last `expirySkewMs`, or with none held, the call waits
   * (at most `acquireTimeoutMs`) for the one shared refresh or sign-in.
   * @throws AuthRejectedError, AuthUnavailableError, MalformedResponseError, TimeoutError when
   *   no valid token can be had; AbortedError when `signal` fires; TokenManagerClosedError after `close()`.
   */
  getAccessToken(options?: GetAccessTokenOptions): Promise<string> {
    const hot = this.#hot;
    if (
      hot !== undefined &&
      this.#wallNow() < hot.until &&
      // `null` (a JavaScript caller's "no options") is read as none, like on the slow path. Anything but
      // well-typed options takes the slow path, which checks them: bad input is refused on both paths alike.
      (options == null ||
        (typeof options === 'object' &&
          (options.forceRefresh === undefined || options.forceRefresh === false) &&
          (options.signal === undefined ||
            (options.signal?.aborted === false && 'addEventListener' in options.signal))))
    )
      return Promise.resolve(hot.token);
    return this.#getAccessTokenSlowly(options);
  }

  /**
   * Reports that a server rejected `rejectedAccessToken` (default: the held token). If it is
   * still the held token, it is no longer served and one refresh starts, however many callers
   * report it; a token already replaced changes nothing. With `options.target`, a target that
   * rejected a replay is in a 401 storm for `invalidateCooldownMs` (its reports change nothing,
   * other targets' still refresh); without one, nothing changes within `invalidateCooldownMs`
   * of a refresh that a rejection started (see {@link InvalidateResult}).
   * @throws ConfigurationError when the token is not a string, `options` is not an object, or a field of it has the
   *   wrong type (`null` is none, for each).
   */
  invalidate(rejectedAccessToken?: string, options?: InvalidateOptions): InvalidateResult {
    const [token, checked] = checkedInvalidation(rejectedAccessToken, options);
    // Closed: nothing is held, and the stream ended with `closed`.
    if (this.#closed) return 'ignored';
    const result = this.#cycler.invalidate(token, this.#time(), checked);
    // Off the hot path before anyone hears of it: a listener that asks for a token never gets the rejected one.
    if (result === 'refreshing') this.#syncHot();
    this.#lifecycle.emit({ type: 'invalidated', at: this.#wallNow(), result });
    if (result === 'refreshing') this.#background('invalidated');
    return result;
  }

  /** Whether a request that names `sessionKey` (an end user's `userEmail`) may carry this session's bearer. */
  actsFor(sessionKey: string): boolean {
    return sessionKey === this.#options.provider.identity?.user;
  }

  /** Told by the HTTP adapters when they replay a request, for the lifecycle stream. */
  recordReplay(report: ReplayReport): void {
    this.#lifecycle.emit({ ...report, type: 'replayed', at: this.#wallNow() });
  }

  /** A snapshot of the session with no secrets: state, expiries, last error, counters. */
  status(): TokenManagerStatus {
    const input = { state: this.state, breaker: this.#acquire.breaker?.snapshot() ?? null };
    return snapshotStatus(this.#cycler, this.#stats, { ...input, wallOffset: this.#wallNow() - this.#time() });
  }

  /** What `status().state` says, without building the rest of the snapshot (a pool counts it for every session). */
  get state(): TokenManagerState {
    if (this.#closed) return 'closed';
    if (this.#flight !== undefined) return 'refreshing';
    if (this.#cycler.isValid(this.#time())) return 'valid';
    if (this.#cycler.failure.kind !== 'none') return 'failed';
    return this.#cycler.held === undefined ? 'idle' : 'expired';
  }

  /** A readiness verdict: `ok`, `degraded` or `down`, with reasons (see docs/observability.md). */
  health(options: HealthOptions = {}): TokenManagerHealth {
    // Checked as getAccessToken()'s (`null`: none). Now on the wall clock status() reports on (the held set's
    // arrival): one stepped back since adds no time left.
    const checked: HealthOptions = callerOptions(options, 'health()');
    const now = this.#time() + (this.#cycler.held?.wallOffset ?? this.#wallNow() - this.#time());
    const servable = this.#cycler.isValid(this.#time());
    const input = { options: checked, status: this.status(), now, servable, stats: this.#stats };
    return assessHealth({ ...input, refreshTokenWarningMs: this.#options.refreshTokenWarningMs });
  }

  /**
   * Cancels the proactive timer and any running refresh; later calls reject with
   * `TokenManagerClosedError`. With `drainMs`, a refresh in flight may first finish and be
   * stored (a deploy then never loses a rotated refresh token). Nothing of the manager's
   * keeps the process alive after it.
   * @throws ConfigurationError (rejects, closing nothing) when `options` is not an object or `drainMs` not ms ≥ 0.
   */
  async close(options: CloseOptions = {}): Promise<void> {
    const flight = this.#flight;
    // `null` options are none: a TypeError here would leave the manager open. Bad ones are refused before anything
    // closes (a `drainMs: 'abc'` would drain for a timer's whim; a negative one close at once).
    const drainMs = drainMsOf(options);
    if (this.#closed || drainMs === 0 || flight === undefined) return this.#closeNow();
    this.#draining = true;
    this.#timer.cancel();
    const drained = withTimeout(flight.promise, this.#clock, drainMs, () => new TokenManagerClosedError());
    return drained.catch(() => undefined).then(() => this.#closeNow());
  }

  async #getAccessTokenSlowly(given: GetAccessTokenOptions | undefined): Promise<string> {
    if (this.#closed) throw new TokenManagerClosedError();
    const options = checkedGetOptions(given);
    const arrivedAt = this.#time();
    const ready = this.#started && options.signal?.aborted !== true;
    // Awaited even when the read is done: that tick lets a run whose deadline just fired settle first. A read
    // that hangs (a store without a deadline of its own) is left at close().
    const startUp = (): Promise<void> =>
      waitWithSignal(this.#startUp(), this.#closing.signal, () => new TokenManagerClosedError());
    await (ready ? undefined : this.#waitFor(startUp(), options.signal));
    if (this.#closed) throw new TokenManagerClosedError();
    const decision = this.#cycler.decide(this.#time(), options.forceRefresh === true, this.#flight !== undefined);
    if (decision.kind === 'fail-fast') throw decision.error;
    if (decision.kind !== 'wait') {
      if (decision.kind === 'serve-and-refresh') this.#background('window');
      return decision.token;
    }
    let errorCode: string | undefined;
    try {
      // A run this caller starts ends by its arrival + acquireTimeoutMs: the start-up read counts.
      return await this.#waitFor(this.#join(decision.reason, arrivedAt), options.signal);
    } catch (error) {
      errorCode = errorCodeOf(error) ?? 'UNKNOWN';
      throw this.#closed ? new TokenManagerClosedError() : error;
    } finally {
      const waited = { at: this.#wallNow(), durationMs: this.#time() - arrivedAt };
      const outcome =
        errorCode === undefined ? { outcome: 'success' as const } : { outcome: 'failure' as const, errorCode };
      this.#lifecycle.emit({ type: 'token-waited', ...waited, ...outcome });
    }
  }

  /**
   * Waits for shared work on one caller's behalf: its signal abandons only this wait, and the
   * process stays alive meanwhile (every timer of ours is `unref()`ed; a caller's wait is not).
   */
  async #waitFor<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    const release = holdProcessOpen();
    try {
      return await waitWithSignal(work, signal);
    } finally {
      release();
    }
  }

  /**
   * Starts the start-up read once; resolves (never rejects) when it has ended. What it found
   * is held: a stored session (newer) or else the seed.
   */
  #startUp(): Promise<void> {
    const { storeTimeoutMs, acquireTimeoutMs, initialTokens } = this.#options;
    // Not longer than the deadline of the caller it holds up (the start-up read has no run's deadline). The seed is not
    // held yet, but a store may echo it (the stored session of a provider that does not rotate its refresh token).
    const context = { ...this.#acquire, storeTimeoutMs: Math.min(storeTimeoutMs, acquireTimeoutMs) };
    this.#startup ??= readSession(context, tokensOf(initialTokens))
      .then((stored) => {
        if (this.#closed || this.#cycler.held !== undefined) return;
        const start = startingPoint(stored, this.#options.initialTokens, this.#wallNow() + this.#options.expirySkewMs);
        if (start?.kind === 'tokens') this.#install(start.tokens, stored === undefined ? 'seeded' : 'adopted');
        if (start?.kind === 'seed') this.#cycler.holdSeed(start.seed);
      })
      .finally(() => {
        this.#started = true;
      });
    return this.#startup;
  }

  #background(reason: RefreshReason): void {
    this.#join(reason).catch(() => undefined);
  }

  /**
   * Joins the run in flight, or starts one: the acquire pipeline (after the start-up read) under
   * one deadline, counted from `since` (timeline; the arrival of the caller that starts it). At
   * the deadline the run is abandoned (its signal aborts the provider call, the store wait or the
   * lock wait) and rejects with a TimeoutError naming what it waited for. An answer already in hand is held
   * (see #failed); a later one is only stored, for the next run to adopt.
   */
  #join(reason: RefreshReason, since?: number): Promise<string> {
    // The hot path learns the held token's time left anew (a wall step back since its last sync stretched it).
    this.#syncHot();
    if (this.#flight !== undefined && !this.#closed) return this.#flight.promise;
    // Draining, the drained run has landed: a new one would only be aborted by the close that follows.
    if (this.#closed || this.#draining) return Promise.reject(new TokenManagerClosedError());
    const id = (this.#runs += 1);
    const startedAt = this.#time();
    const foreground = !this.#cycler.isValid(startedAt);
    const { acquireTimeoutMs, retry } = this.#options;
    const from = Math.min(since ?? startedAt, startedAt);
    const abort = new AbortController();
    const record: RunRecord = { stage: 'store', attempts: 0, lastError: undefined };
    const request = {
      held: this.#cycler.held?.tokens,
      refreshId: id,
      signal: abort.signal,
      deadline: from + Math.min(acquireTimeoutMs, retry.maxRetryTimeMs),
      seed: this.#cycler.seed,
      record,
    };
    // Abandoned at its deadline or on close: it ends then, even if a provider or store ignores the signal.
    const work = waitWithSignal(
      this.#startUp().then(() => acquireTokens(this.#acquire, request)),
      abort.signal,
      () => abort.signal.reason as Error,
    );
    const outcome = withTimeout(work, this.#clock, Math.max(0, from + acquireTimeoutMs - startedAt), () => {
      const error = deadlineError(this.#acquire, record);
      abort.abort(error);
      return error;
    });
    const promise = outcome.then(
      (result) => this.#succeeded(flight, result),
      (error: unknown) => this.#failed(flight, error),
    );
    const flight: Flight = { ...request, reason, startedAt, abort, promise };
    flight.promise.catch(() => undefined);
    this.#flight = flight;
    // Told once the run is in flight: a listener that reports a token or asks for one joins it.
    this.#lifecycle.emit({ type: 'refresh-started', at: this.#wallNow(), refreshId: id, reason, foreground });
    return flight.promise;
  }

  /** Lets go of a run that ended (unless closed meanwhile, which ended it): the fields of its `refresh-ended`. */
  #land(flight: Flight): Omit<LifecycleEventOf<'refresh-ended'>, 'outcome'> {
    // Always this run: #join starts a run only while none is in flight.
    this.#flight = undefined;
    if (this.#closed) throw new TokenManagerClosedError();
    return this.#ended(flight);
  }

  /** The fields a run's `refresh-ended` always carries. */
  #ended({ refreshId, reason, record, startedAt }: Flight): Omit<LifecycleEventOf<'refresh-ended'>, 'outcome'> {
    const durationMs = this.#time() - startedAt;
    return { type: 'refresh-ended', at: this.#wallNow(), refreshId, reason, durationMs, attempts: record.attempts };
  }

  #succeeded(flight: Flight, result: AcquireResult): string | Promise<string> {
    // Installed while still in flight: a listener of an event #install emits that closes the manager ends this run as
    // close() ends any (`closed`, before `closed`), and one that rejects the token joins it (and is answered below).
    if (!this.#closed) this.#install(result.tokens, result.source, result.wallOffset);
    const ended = this.#land(flight);
    // Past its blocking margin already: the clock moved on while it was written (a suspend, a step). Held, not served;
    // the run ends as its callers see it, abandoned at their deadline (as a set held by #failed).
    if (this.#time() >= (this.#cycler.held?.blockAt ?? Number.POSITIVE_INFINITY)) {
      const error = deadlineError(this.#acquire, flight.record);
      this.#lifecycle.emit({ ...ended, outcome: 'abandoned', errorCode: error.code, error });
      throw error;
    }
    const { accessToken, accessTokenExpiresAt, refreshTokenExpiresAt = null } = result.tokens;
    const { source: outcome, refreshTokenRejected = false } = result;
    // Rejected as it landed (see invalidate()): never served; its callers wait for the next run, within its deadline.
    const rejected = this.#cycler.held?.rejected === true;
    this.#lifecycle.emit({ ...ended, outcome, accessTokenExpiresAt, refreshTokenExpiresAt, refreshTokenRejected });
    return rejected ? this.#join('invalidated', flight.startedAt) : accessToken;
  }

  #failed(flight: Flight, error: unknown): never {
    const ended = this.#land(flight);
    const failure = error instanceof Error ? error : new Error(String(error));
    const now = this.#time();
    // Abandoned: only the deadline aborts a run that lands (a close ended it in #land), with the error it ends with.
    const abandoned = flight.abort.signal.aborted;
    // The server answered in time, the store write did not: held now (a run started before the write gives up
    // would refresh with the spent refresh token), and nothing is planned after a failure.
    const obtained = abandoned ? flight.record.obtained : undefined;
    const planned = obtained === undefined ? this.#cycler.recordFailure(failure, now, runSecrets(flight)) : {};
    const errorCode = errorCodeOf(failure) ?? 'UNKNOWN';
    this.#lifecycle.emit({ ...ended, outcome: abandoned ? 'abandoned' : 'failed', errorCode, error: failure });
    // A listener of that event closed the manager: nothing is held or armed after it (as in #succeeded).
    if (this.#closed) throw failure;
    if (obtained !== undefined) this.#install(obtained.tokens, obtained.source, obtained.wallOffset);
    if (planned.failFastUntil !== undefined) {
      const untilAt = Math.floor(planned.failFastUntil - now + ended.at);
      this.#lifecycle.emit({ type: 'fail-fast-entered', at: ended.at, untilAt, errorCode });
    }
    if (planned.delayMs !== undefined) {
      const retry = { refreshId: flight.refreshId, attempt: ended.attempts, delayMs: planned.delayMs, errorCode };
      this.#lifecycle.emit({ type: 'retry-scheduled', at: ended.at, operation: 'refresh', ...retry, background: true });
    }
    this.#timer.arm(this.#cycler.timerAt(now));
    throw failure;
  }

  #install(tokens: TokenSet, source: TokenOrigin, wallOffset?: number): void {
    const now = this.#time();
    const wall = this.#wallNow();
    // Never closed here: every caller (a run landing, the start-up read, a hand-over) returns first when closed.
    this.#unwatch ??= this.#watch();
    // Placed on the timeline with the wall clock of its arrival (the default: now), not of the end of its write.
    const arrival = now + (wallOffset ?? wall - now);
    const held = this.#cycler.install(tokens, source, now, arrival, this.#unwatch !== undefined);
    this.#syncHot();
    if (source === 'adopted')
      this.#lifecycle.emit({ type: 'adopted', at: wall, accessTokenExpiresAt: tokens.accessTokenExpiresAt });
    const warning = this.#cycler.refreshTokenWarning(wall, this.#options.refreshTokenWarningMs);
    if (warning !== undefined) this.#lifecycle.emit({ type: 'refresh-token-expiring', at: wall, ...warning });
    // Not after close(), which a listener of the events above may have called.
    if (!this.#closed) this.#timer.arm(held.refreshAt);
  }

  /**
   * Watches the store for hand-overs, if it announces them. A `watch()` that throws is reported and
   * left: the refresh timer covers a missed hand-over, while a throw here would drop the tokens just obtained.
   */
  #watch(): (() => void) | undefined {
    try {
      return this.#acquire.store.watch?.(this.storeKey, () => this.#onPublished());
    } catch (error) {
      reportStoreFailure(this.#acquire, 'watch', error);
      return undefined;
    }
  }

  /**
   * Another process published a new session: adopt it with one quiet store read, no run. Skipped
   * while a run is in flight (the run adopts it itself) or while draining; the refresh timer
   * stays armed, so a hand-over that is missed or unusable costs only a later refresh.
   */
  #onPublished(): void {
    if (this.#closed || this.#draining || this.#adopting || this.#flight !== undefined) return;
    this.#adopting = true;
    const held = this.#cycler.held;
    readSession(this.#acquire, 'quiet')
      .then((stored) => {
        const newer = isNewerSession(this.#acquire, stored, held?.tokens);
        // Installed only if nothing changed meanwhile (a run started, or ended with its own session).
        const unchanged = !this.#closed && this.#flight === undefined && this.#cycler.held === held;
        if (newer && unchanged) this.#install(stored, 'adopted');
      })
      .catch(() => undefined)
      .finally(() => {
        this.#adopting = false;
      });
  }

  /**
   * Publishes the held token to the hot paths (this one's, a pool's) until its refresh point, as a wall-clock
   * time: they read the wall clock alone, which a suspend moves on. A wall clock stepped back would stretch that
   * time: the timer, on the timeline, syncs again at the refresh point (a run in flight leaves it armed: one that
   * started before that point is a forced or a rejected token's), and so does every run that starts or is joined.
   */
  #syncHot(): void {
    const held = this.#cycler.held;
    const servable = held === undefined || held.rejected ? undefined : held;
    const leftMs = servable === undefined ? 0 : servable.refreshAt - this.#time();
    const until = leftMs > 0 ? this.#wallNow() + leftMs : Number.NEGATIVE_INFINITY;
    this.#hot = servable && { token: servable.tokens.accessToken, until };
    this.#options.onServable?.(servable?.tokens, until);
  }

  #closeNow(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort();
    try {
      this.#unwatch?.();
    } catch {
      // A store that fails to stop watching must not stop close(): a late hand-over is ignored once closed.
    }
    this.#unwatch = undefined;
    this.#cycler.clear();
    this.#syncHot();
    this.#timer.cancel();
    const flight = this.#flight;
    flight?.abort.abort(new TokenManagerClosedError());
    // The run's pair ends here, before `closed`: its own landing emits nothing once closed.
    if (flight !== undefined) this.#lifecycle.emit({ ...this.#ended(flight), outcome: 'closed' });
    this.#lifecycle.emit({ type: 'closed', at: this.#wallNow() });
  }
}

/**
 * A JavaScript caller's `getAccessToken()` options, checked: a signal that is no AbortSignal would
 * fail deep inside as an untyped TypeError, and a `forceRefresh: 'yes'` would be silently ignored.
 * @throws ConfigurationError naming the option.
 */
export function checkedGetOptions(options: GetAccessTokenOptions | null | undefined): GetAccessTokenOptions {
  const { signal, forceRefresh } = callerOptions(options, 'getAccessToken()');
  // Duck-typed: an AbortSignal of another realm (jsdom, a vm context) is not `instanceof` this one's.
  const isSignal = typeof (signal as AbortSignal | null)?.aborted === 'boolean' && 'addEventListener' in Object(signal);
  assertConfig(
    forceRefresh == null || typeof forceRefresh === 'boolean',
    'getAccessToken(): forceRefresh must be a boolean',
  );
  assertConfig(signal == null || isSignal, 'getAccessToken(): signal must be an AbortSignal');
  return { signal: isSignal ? (signal as AbortSignal) : undefined, forceRefresh: forceRefresh === true };
}

/**
 * A JavaScript caller's `invalidate()` token and options, checked like getAccessToken()'s (`null` is none): a
 * token or target that is no string, or a `replay: 'true'`, would be silently read as another report.
 * @throws ConfigurationError naming the argument.
 */
export function checkedInvalidation(token: unknown, options: unknown): [string | undefined, InvalidateOptions] {
  const { target, replay } = callerOptions(options, 'invalidate()');
  assertConfig(token == null || typeof token === 'string', 'invalidate(): rejectedAccessToken must be a string');
  assertConfig(target == null || typeof target === 'string', 'invalidate(): target must be a string');
  assertConfig(replay == null || typeof replay === 'boolean', 'invalidate(): replay must be a boolean');
  return [token ?? undefined, { target: target ?? undefined, replay: replay ?? undefined }];
}

/** A JavaScript caller's `close()` options' `drainMs` (`null`: none). @throws ConfigurationError unless ms ≥ 0. */
export function drainMsOf(options: unknown): number {
  const drainMs = callerOptions(options, 'close()').drainMs ?? 0;
  assertConfig(typeof drainMs === 'number' && drainMs >= 0, 'close(): drainMs must be a number of ms ≥ 0');
  return drainMs;
}

/** A JavaScript caller's options as a record of unknown fields (`null`: none). @throws ConfigurationError else. */
function callerOptions(options: unknown, method: string): Record<string, unknown> {
  assertConfig(typeof (options ?? {}) === 'object', `${method}: options must be an object`);
  return (options ?? {}) as Record<string, unknown>;
}

/** Numbers the managers whose provider declares no identity, for their own breaker circuits. */
let unidentifiedManagers = 0;

/** The refresh run in flight: what the acquire pipeline was asked (its `refreshId`, its `record`), and why. */
interface Flight extends AcquireRequest {
  readonly reason: RefreshReason;
  /** Timeline. */
  readonly startedAt: number;
  /** Aborted at the deadline (with its TimeoutError) or on close. */
  readonly abort: AbortController;
  /** Resolves to the new access token, or rejects with why the run failed. */
  readonly promise: Promise<string>;
}
