import { EventEmitter } from 'node:events';
import { holdProcessOpen, monotonicClock, sleep, systemClock } from '../clock';
import type { Clock } from '../clock';
import { TokenManagerClosedError, errorCodeOf } from '../errors';
import { createLogger } from '../logger';
import { MemoryTokenStore } from '../stores/memory';
import { withBreaker } from './breaker';
import { startingPoint } from '../token-set';
import type { TokenSet } from '../token-set';
import { waitWithSignal } from '../wait-with-signal';
import { readPublished, readSession } from './acquire';
import type { AcquireContext } from './acquire';
import { RefreshCycler } from './cycler';
import { assessHealth } from './health';
import { Lifecycle } from './lifecycle';
import { backoffPolicies, resolveTokenManagerOptions } from './options';
import type { ResolvedTokenManagerOptions, ScheduledRefresh, TokenManagerOptions } from './options';
import { RefreshTimer } from './refresh-timer';
import { RefreshFlight } from './refresh-run';
import { StartupRead } from './startup-read';
import { SessionStats, snapshotStatus } from './status';
import { hotTokenListener } from './internal';
import type { HotTokenListener } from './internal';
import type {
  GetAccessTokenOptions,
  HealthOptions,
  InvalidateOptions,
  InvalidateResult,
  RefreshReason,
  ReplayReport,
  TokenManagerEvents,
  TokenManagerHealth,
  TokenManagerStatus,
} from './types';

/** Options of {@link TokenManager.close}. */
export interface CloseOptions {
  /** Let a refresh in flight finish (and be stored) for up to this long first, in ms. @default 0 */
  drainMs?: number;
}

/**
 * Keeps one session's tokens valid: refreshes ahead of expiry in the background, lets any
 * number of concurrent callers, timers and 401 reports share one auth request, falls back
 * to a full sign-in when the refresh token is gone, bounds every wait, and never lets a
 * background failure escape as an unhandled rejection. Decisions live in the cycler, the
 * I/O in the acquire pipeline, the observability in the lifecycle stream; this class wires them.
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
  readonly #flight: RefreshFlight;
  #hot: { readonly token: string; readonly refreshAt: number } | undefined;
  readonly #onHot: HotTokenListener | undefined;
  readonly #startup = new StartupRead(() => readSession(this.#acquire).then((stored) => this.#start(stored)));
  #draining = false;
  #closed = false;
  /** Stops watching the store for hand-overs; set while this manager holds a session on a store that announces them. */
  #unwatch: (() => void) | undefined;
  /** Whether a published session is being read (one read at a time). */
  #adopting = false;

  /** @throws ConfigurationError when an option is invalid. */
  constructor(options: TokenManagerOptions) {
    super();
    const resolved = resolveTokenManagerOptions(options);
    this.#options = resolved;
    this.#onHot = (options as { [hotTokenListener]?: HotTokenListener })[hotTokenListener];
    this.#wallNow = resolved.now ?? ((): number => systemClock.now());
    this.#time = resolved.now ?? monotonicClock();
    this.#clock = { ...systemClock, ...resolved.timers, now: this.#time };
    const { identity: provided } = resolved.provider;
    const identity = provided?.id ?? 'unidentified';
    this.storeKey = resolved.storeKey ?? `alix-token-manager:session:${identity}`;
    const breakerCall = { scope: provided?.scope ?? provided?.endpoint ?? identity, session: this.storeKey };
    const policies = backoffPolicies(resolved);
    this.#cycler = new RefreshCycler({ ...resolved, background: policies.background });
    this.#lifecycle = new Lifecycle({
      logger: createLogger(resolved.logger),
      emitter: this,
      source: this,
      observe: (event) => this.#stats.observe(event),
    });
    this.#acquire = {
      ...resolved,
      ...withBreaker(resolved.breaker, resolved.store ?? new MemoryTokenStore({ now: this.#wallNow }), breakerCall),
      storeKey: this.storeKey,
      identity,
      clock: this.#clock,
      wallNow: this.#wallNow,
      lifecycle: this.#lifecycle,
      retry: policies.foreground,
    };
    const onDue = (): void =>
      void (
        !this.#closed &&
        !this.#draining &&
        this.#cycler.isDueInBackground(this.#time()) &&
        this.#background('scheduled')
      );
    this.#timer = resolved.scheduler === undefined ? new RefreshTimer(this.#clock, onDue) : resolved.scheduler(onDue);
    this.#flight = new RefreshFlight({
      context: this.#acquire,
      cycler: this.#cycler,
      options: resolved,
      loaded: () => this.#startup.start(),
      isClosed: () => this.#closed,
      install: (tokens, source) => this.#install(tokens, source),
      arm: (at) => this.#timer.arm(at),
    });
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
      this.#time() < hot.refreshAt &&
      (options === undefined || (options.forceRefresh !== true && options.signal?.aborted !== true))
    )
      return Promise.resolve(hot.token);
    return this.#getAccessTokenSlowly(options ?? {});
  }

  /**
   * Reports that a server rejected `rejectedAccessToken` (default: the held token). If it is
   * still the held token, it is no longer served and one refresh starts, however many callers
   * report it; a token already replaced changes nothing. With `options.target`, a target that
   * rejected a replay is in a 401 storm for `invalidateCooldownMs` (its reports change nothing,
   * other targets' still refresh); without one, nothing changes within `invalidateCooldownMs`
   * of a refresh that a rejection started (see {@link InvalidateResult}).
   */
  invalidate(rejectedAccessToken?: string, options?: InvalidateOptions): InvalidateResult {
    const result = this.#closed ? 'ignored' : this.#cycler.invalidate(rejectedAccessToken, this.#time(), options);
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
    const now = this.#time();
    return snapshotStatus(this.#cycler, this.#stats, {
      closed: this.#closed,
      refreshing: this.#flight.running,
      now,
      wallOffset: this.#wallNow() - now,
      breaker: this.#acquire.breaker,
    });
  }

  /** A readiness verdict: `ok`, `degraded` or `down`, with reasons (see docs/observability.md). */
  health(options: HealthOptions = {}): TokenManagerHealth {
    const { refreshTokenWarningMs } = this.#options;
    return assessHealth({
      options,
      status: this.status(),
      now: this.#wallNow(),
      refreshTokenWarningMs,
      lockUnavailable: this.#stats.lockUnavailable,
    });
  }

  /**
   * Cancels the proactive timer and any running refresh; later calls reject with
   * `TokenManagerClosedError`. With `drainMs`, a refresh in flight may first finish and be
   * stored (a deploy then never loses a rotated refresh token). Nothing of the manager's
   * keeps the process alive after it.
   */
  close(options: CloseOptions = {}): Promise<void> {
    if (this.#closed || options.drainMs === undefined || options.drainMs <= 0 || !this.#flight.running) {
      this.#closeNow();
      return Promise.resolve();
    }
    this.#draining = true;
    this.#timer.cancel();
    const drained = new AbortController();
    const deadline = sleep(this.#clock, options.drainMs, drained.signal).catch(() => undefined);
    return Promise.race([this.#flight.settled(), deadline]).then(() => {
      drained.abort();
      this.#closeNow();
    });
  }

  async #getAccessTokenSlowly(options: GetAccessTokenOptions): Promise<string> {
    if (this.#closed) throw new TokenManagerClosedError();
    const arrivedAt = this.#time();
    await this.#startup.wait(options.signal);
    if (this.#closed) throw new TokenManagerClosedError();
    const decision = this.#cycler.decide(this.#time(), options.forceRefresh === true, this.#flight.running);
    if (decision.kind === 'serve') return decision.token;
    if (decision.kind === 'serve-and-refresh') {
      this.#background('window');
      return decision.token;
    }
    if (decision.kind === 'fail-fast') throw decision.error;
    const release = holdProcessOpen();
    const waited = (errorCode?: string): void =>
      this.#lifecycle.emit({
        type: 'token-waited',
        at: this.#wallNow(),
        durationMs: this.#time() - arrivedAt,
        outcome: errorCode === undefined ? 'success' : 'failure',
        ...(errorCode === undefined ? {} : { errorCode }),
      });
    try {
      // A run this caller starts ends by its arrival + acquireTimeoutMs: the start-up read counts.
      const token = await waitWithSignal(this.#flight.join(decision.reason, arrivedAt), options.signal);
      waited();
      return token;
    } catch (error) {
      waited(errorCodeOf(error) ?? 'UNKNOWN');
      throw this.#closed ? new TokenManagerClosedError() : error;
    } finally {
      release();
    }
  }

  /** What the start-up read found: a stored session (newer) or else the seed. */
  #start(stored: TokenSet | undefined): void {
    if (this.#closed || this.#cycler.held !== undefined) return;
    const start = startingPoint(stored, this.#options.initialTokens, this.#wallNow() + this.#options.expirySkewMs);
    if (start?.kind === 'tokens') this.#install(start.tokens, stored === undefined ? 'seeded' : 'adopted');
    if (start?.kind === 'seed') this.#cycler.holdSeed(start.seed);
  }

  #background(reason: RefreshReason): void {
    this.#syncHot();
    this.#flight.join(reason).catch(() => undefined);
  }

  #install(tokens: TokenSet, source: 'refresh' | 'sign-in' | 'adopted' | 'seeded'): TokenSet {
    const now = this.#time();
    const wall = this.#wallNow();
    const { store } = this.#acquire;
    if (this.#unwatch === undefined && !this.#closed && store.watch !== undefined) {
      this.#unwatch = store.watch(this.storeKey, () => this.#onPublished());
    }
    const held = this.#cycler.install(tokens, source, now, wall, this.#unwatch !== undefined);
    this.#syncHot();
    if (source === 'adopted')
      this.#lifecycle.emit({ type: 'adopted', at: wall, accessTokenExpiresAt: tokens.accessTokenExpiresAt });
    const warning = this.#cycler.refreshTokenWarning(wall, this.#options.refreshTokenWarningMs);
    if (warning !== undefined) {
      this.#lifecycle.emit({ type: 'refresh-token-expiring', at: wall, ...warning });
      this.#lifecycle.notify('refreshTokenExpiring', warning);
    }
    if (!this.#draining) this.#timer.arm(held.refreshAt);
    return held.tokens;
  }

  /**
   * Another process published a new session: adopt it with one store read, no run. Skipped
   * while a run is in flight (the run adopts it itself) or while draining; the refresh timer
   * stays armed, so a hand-over that is missed or unusable costs only a later refresh.
   */
  #onPublished(): void {
    if (this.#closed || this.#draining || this.#adopting || this.#flight.running) return;
    this.#adopting = true;
    const held = this.#cycler.held;
    const rejected = held?.rejected === true ? held.tokens.accessToken : undefined;
    readPublished(this.#acquire, held?.tokens, rejected)
      .then((tokens) => {
        // Installed only if nothing changed meanwhile (a run started, or ended with its own session).
        const unchanged = !this.#closed && !this.#flight.running && this.#cycler.held === held;
        if (tokens !== undefined && unchanged) this.#install(tokens, 'adopted');
      })
      .catch(() => undefined)
      .finally(() => {
        this.#adopting = false;
      });
  }

  #syncHot(): void {
    const held = this.#cycler.held;
    const servable = held === undefined || held.rejected ? undefined : held;
    this.#hot = servable && { token: servable.tokens.accessToken, refreshAt: servable.refreshAt };
    this.#onHot?.(servable?.tokens, servable?.refreshAt ?? Number.NEGATIVE_INFINITY);
  }

  #closeNow(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unwatch?.();
    this.#unwatch = undefined;
    this.#cycler.clear();
    this.#syncHot();
    this.#timer.cancel();
    this.#flight.abort(new TokenManagerClosedError());
    this.#lifecycle.emit({ type: 'closed', at: this.#wallNow() });
  }
}
