import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { holdProcessOpen, setUnrefTimeout, systemClock } from './clock';
import type { Clock, TimerHandle } from './clock';
import {
  AuthRejectedError,
  MalformedResponseError,
  TokenManagerClosedError,
  TokenStoreError,
  isTokenManagerError,
} from './errors';
import { createLogger } from './logger';
import { resolveTokenManagerOptions } from './manager/options';
import type { ResolvedTokenManagerOptions, TokenManagerOptions } from './manager/options';
import { withTransientRetry } from './manager/retry';
import { waitWithSignal } from './wait-with-signal';
import type { TokenProvider } from './providers/types';
import { MemoryTokenStore } from './stores/memory';
import type { RefreshLock, TokenStore } from './stores/types';
import { computeSchedule, describeTokenSet, hasUsableRefreshToken, toLocalClock } from './token-set';
import type { TokenSet } from './token-set';

/** Options of {@link TokenManager.getAccessToken}. */
export interface GetAccessTokenOptions {
  /** Abandons this caller's wait (rejecting with `AbortedError`); a shared refresh goes on. */
  signal?: AbortSignal;
  /** Get a new token even if the held one is valid (joins a refresh already running). */
  forceRefresh?: boolean;
}

/** Where a manager's session stands. */
export type TokenManagerState = 'idle' | 'valid' | 'refreshing' | 'expired' | 'failed' | 'closed';

/** A snapshot of a manager's session, with no secrets in it. */
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
  /** The last failure since the last success: its code and message only. */
  lastError: { code: string; name: string; message: string } | null;
  /** Token sets obtained (refreshes and sign-ins). */
  refreshCount: number;
  /** Of those, full sign-ins. */
  signInCount: number;
}

/** Why a refresh ran. */
export type RefreshReason = 'initial' | 'scheduled' | 'window' | 'expired' | 'forced' | 'invalidated';

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

/** Events a {@link TokenManager} emits. */
export interface TokenManagerEvents {
  refreshed: [RefreshedEvent];
  error: [Error];
  refreshTokenExpiring: [RefreshTokenExpiringEvent];
}

/** Rounds of waiting for the shared lock before refreshing without it. */
const MAX_LOCK_ROUNDS = 3;

interface HeldTokens {
  readonly tokens: TokenSet;
  readonly accessToken: string;
  /** The background refresh starts from here. */
  readonly refreshAt: number;
  /** Callers wait for a new token from here; -Infinity once the server rejected it. */
  readonly blockAt: number;
}

/**
 * Keeps one session's tokens valid: refreshes ahead of expiry in the background, lets any
 * number of concurrent callers, timers and 401 reports share one auth request, falls back
 * to a full sign-in when the refresh token is gone, and never lets a background failure
 * escape as an unhandled rejection.
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
  readonly #options: ResolvedTokenManagerOptions;
  readonly #provider: TokenProvider;
  readonly #store: TokenStore;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #now: () => number;

  #held: HeldTokens | undefined;
  /** Held refresh token details when no access token is held yet (seeded sessions). */
  #seed: TokenSet | undefined;
  #loading: Promise<void> | undefined;
  #inflight: Promise<HeldTokens> | undefined;
  #inflightAbort: AbortController | undefined;
  #timer: TimerHandle | undefined;
  #nextAttemptAt = Number.NEGATIVE_INFINITY;
  #backgroundDelayMs: number;
  #failFastUntil = Number.NEGATIVE_INFINITY;
  #lastError: Error | undefined;
  #lastRefreshAt: number | undefined;
  #refreshCount = 0;
  #signInCount = 0;
  #warnedRefreshExpiry: number | undefined;
  #closed = false;

  /** @throws ConfigurationError when an option is invalid. */
  constructor(options: TokenManagerOptions) {
    super();
    this.#options = resolveTokenManagerOptions(options);
    this.#provider = this.#options.provider;
    this.#store = this.#options.store ?? new MemoryTokenStore({ now: this.#options.now });
    this.#log = createLogger(this.#options.logger);
    this.#now = this.#options.now;
    const timers = this.#options.timers ?? systemClock;
    this.#clock = { now: this.#now, setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout };
    this.#backgroundDelayMs = this.#options.backgroundRetryDelayMs;
  }

  /**
   * Resolves to an access token that is valid now. A token outside its refresh window is
   * returned at once with no I/O; inside the window it is still returned at once while a
   * background refresh runs; in its last `expirySkewMs`, or with none held, the call waits
   * for the one shared refresh or sign-in.
   * @throws AuthRejectedError, AuthUnavailableError, MalformedResponseError when no valid
   *   token can be had; AbortedError when `signal` fires; TokenManagerClosedError after `close()`.
   */
  getAccessToken(options?: GetAccessTokenOptions): Promise<string> {
    const held = this.#held;
    if (held !== undefined && this.#now() < held.refreshAt && (options === undefined || isPlainRead(options))) {
      return Promise.resolve(held.accessToken);
    }
    return this.#getAccessTokenSlowly(options ?? {});
  }

  /**
   * Reports that a server rejected `rejectedAccessToken` (default: the held token). If it
   * is still the held token, it is no longer served and one refresh starts, however many
   * callers report it; a token already replaced changes nothing. The next
   * `getAccessToken()` waits for the new token.
   */
  invalidate(rejectedAccessToken?: string): void {
    const held = this.#held;
    if (this.#closed || held === undefined) return;
    if (rejectedAccessToken !== undefined && rejectedAccessToken !== held.accessToken) return;
    if (held.blockAt === Number.NEGATIVE_INFINITY) return;
    this.#log.info({ event: 'invalidated' }, 'access token rejected by a server; refreshing');
    this.#held = { ...held, refreshAt: Number.NEGATIVE_INFINITY, blockAt: Number.NEGATIVE_INFINITY };
    this.#failFastUntil = Number.NEGATIVE_INFINITY;
    void this.#refreshOnce('invalidated').catch(() => undefined);
  }

  /** A snapshot of the session with no secrets: state, expiries, last error, counters. */
  status(): TokenManagerStatus {
    const held = this.#held;
    const tokens = held?.tokens ?? this.#seed;
    return {
      state: this.#state(),
      accessTokenExpiresAt: held?.tokens.accessTokenExpiresAt ?? null,
      refreshTokenExpiresAt: tokens?.refreshTokenExpiresAt ?? null,
      nextRefreshAt: held === undefined || !Number.isFinite(held.refreshAt) ? null : held.refreshAt,
      lastRefreshAt: this.#lastRefreshAt ?? null,
      lastError:
        this.#lastError === undefined
          ? null
          : { code: (this.#lastError as { code?: string }).code ?? 'UNKNOWN', name: this.#lastError.name, message: this.#lastError.message },
      refreshCount: this.#refreshCount,
      signInCount: this.#signInCount,
    };
  }

  /**
   * Cancels the proactive timer and any running refresh; later calls reject with
   * `TokenManagerClosedError`. Nothing of the manager's keeps the process alive after it.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#held = undefined;
    this.#cancelTimer();
    this.#inflightAbort?.abort(new TokenManagerClosedError());
    this.#log.debug({ event: 'closed' }, 'token manager closed');
  }

  async #getAccessTokenSlowly(options: GetAccessTokenOptions): Promise<string> {
    if (this.#closed) throw new TokenManagerClosedError();
    await waitWithSignal(this.#load(), options.signal);
    const now = this.#now();
    const held = this.#held;
    if (options.forceRefresh !== true && held !== undefined && now < held.blockAt) {
      if (now >= held.refreshAt && now >= this.#nextAttemptAt) void this.#refreshOnce('window').catch(() => undefined);
      return held.accessToken;
    }
    if (now < this.#failFastUntil && this.#lastError !== undefined && this.#inflight === undefined) throw this.#lastError;
    const reason = options.forceRefresh === true ? 'forced' : held === undefined ? 'initial' : 'expired';
    const release = holdProcessOpen();
    try {
      const fresh = await waitWithSignal(this.#refreshOnce(reason), options.signal);
      return fresh.accessToken;
    } catch (error) {
      if (this.#closed) throw new TokenManagerClosedError();
      throw error;
    } finally {
      release();
    }
  }

  /** Reads the store (or the seed) once, before the first token is needed. */
  #load(): Promise<void> {
    if (this.#held !== undefined) return Promise.resolve();
    this.#loading ??= this.#readStore().then((stored) => {
      if (this.#held !== undefined) return;
      const start = stored ?? this.#options.initialTokens;
      if (start === undefined) return;
      if (typeof start.accessToken === 'string' && start.accessTokenExpiresAt !== undefined && start.accessTokenExpiresAt > this.#now()) {
        this.#install(start as TokenSet, this.#now(), 'adopted');
      } else {
        this.#seed = { accessToken: '', accessTokenExpiresAt: 0, ...start } as TokenSet;
      }
    });
    return this.#loading;
  }

  async #readStore(): Promise<TokenSet | undefined> {
    try {
      return await this.#store.get();
    } catch (error) {
      this.#log.warn({ event: 'store-read-failed', err: error }, 'token store read failed; using what is held in memory');
      return undefined;
    }
  }

  /** Starts a refresh unless one is running; every caller, timer and 401 shares it. */
  #refreshOnce(reason: RefreshReason): Promise<HeldTokens> {
    if (this.#closed) return Promise.reject(new TokenManagerClosedError());
    if (this.#inflight !== undefined) return this.#inflight;
    this.#cancelTimer();
    const abort = new AbortController();
    this.#inflightAbort = abort;
    const run = this.#obtain(reason, abort.signal).then(
      (held) => {
        this.#inflight = undefined;
        return held;
      },
      (error: unknown) => {
        this.#inflight = undefined;
        throw this.#onRefreshFailed(error, reason);
      },
    );
    run.catch(() => undefined);
    this.#inflight = run;
    return run;
  }

  async #obtain(reason: RefreshReason, signal: AbortSignal): Promise<HeldTokens> {
    await this.#load();
    const rejected = this.#held?.blockAt === Number.NEGATIVE_INFINITY ? this.#held.accessToken : undefined;
    for (let round = 1; ; round += 1) {
      const lock = await this.#acquireSharedLock(signal, round);
      if (this.#closed) throw new TokenManagerClosedError();
      const stored = await this.#readStore();
      if (this.#isNewerSession(stored, rejected)) {
        await this.#releaseSharedLock(lock);
        this.#log.info({ event: 'adopted', reason }, 'using the newer session found in the store');
        return this.#install(stored as TokenSet, this.#now(), 'adopted');
      }
      // Another process published a session we cannot use (say, the rejected one): wait for the lock again.
      if (lock === 'changed') continue;
      try {
        return await this.#callProvider(reason, signal, stored);
      } finally {
        await this.#releaseSharedLock(lock);
      }
    }
  }

  /**
   * Takes the cross-process refresh lock when the store offers one. Resolves 'changed' when
   * another process published a session meanwhile, and undefined when there is no lock to
   * take (no coordination, coordination failed, or too many rounds) and this process
   * refreshes on its own.
   */
  async #acquireSharedLock(signal: AbortSignal, round: number): Promise<RefreshLock | 'changed' | undefined> {
    if (this.#store.acquireRefreshLock === undefined || round > MAX_LOCK_ROUNDS) return undefined;
    try {
      const result = await this.#store.acquireRefreshLock({ signal });
      return result.acquired ? result.lock : 'changed';
    } catch (error) {
      if (signal.aborted) throw error;
      this.#log.warn({ event: 'lock-unavailable', err: error }, 'shared refresh lock unavailable; refreshing without it');
      return undefined;
    }
  }

  async #releaseSharedLock(lock: RefreshLock | 'changed' | undefined): Promise<void> {
    if (lock === undefined || lock === 'changed') return;
    try {
      await lock.release();
    } catch (error) {
      this.#log.warn({ event: 'lock-release-failed', err: error }, 'releasing the shared refresh lock failed; it expires by itself');
    }
  }

  async #callProvider(reason: RefreshReason, signal: AbortSignal, stored: TokenSet | undefined): Promise<HeldTokens> {
    const previous = newest(stored, this.#held?.tokens ?? this.#seed);
    this.#log.info({ event: 'refresh-start', reason }, 'refreshing the access token');
    let signIn = false;
    let tokens: TokenSet;
    if (hasUsableRefreshToken(previous, this.#now(), this.#options.refreshTokenMarginMs)) {
      try {
        tokens = await this.#retrying(() => this.#provider.refresh(previous?.refreshToken as string, signal), signal);
      } catch (error) {
        if (!(error instanceof AuthRejectedError)) throw error;
        this.#log.warn({ event: 'refresh-rejected', errorCode: error.errorCode, status: error.status }, 'refresh token rejected; signing in again');
        signIn = true;
        tokens = await this.#retrying(() => this.#provider.authenticate(signal), signal);
      }
    } else {
      signIn = true;
      tokens = await this.#retrying(() => this.#provider.authenticate(signal), signal);
    }
    if (this.#closed) throw new TokenManagerClosedError();

    const obtainedAt = this.#now();
    const local = this.#checked(toLocalClock(tokens, obtainedAt), obtainedAt, previous);
    await this.#writeStore(local);
    return this.#install(local, obtainedAt, signIn ? 'sign-in' : 'refresh', reason);
  }

  #retrying(operation: () => Promise<TokenSet>, signal: AbortSignal): Promise<TokenSet> {
    return withTransientRetry(operation, this.#options.retry, this.#clock, signal, (error, attemptNumber) => {
      this.#log.warn({ event: 'auth-retry', attemptNumber, code: (error as { code?: string }).code }, 'auth call failed transiently; retrying');
    });
  }

  /**
   * A session in the store is adopted instead of refreshing when another writer got it
   * first: it is not the token held (nor a rejected one) and lives longer. A forced refresh
   * is satisfied by it too, since it is newer than the token the caller wanted replaced.
   */
  #isNewerSession(stored: TokenSet | undefined, rejected: string | undefined): boolean {
    if (stored === undefined) return false;
    const held = this.#held;
    if (stored.accessToken === rejected || stored.accessToken === held?.accessToken) return false;
    if (held !== undefined && stored.accessTokenExpiresAt <= held.tokens.accessTokenExpiresAt) return false;
    return stored.accessTokenExpiresAt - this.#options.expirySkewMs > this.#now();
  }

  /** Whatever the provider returned, a token set that is not usable never replaces one that is. */
  #checked(tokens: TokenSet, obtainedAt: number, previous: TokenSet | undefined): TokenSet {
    if (typeof tokens.accessToken !== 'string' || tokens.accessToken === '') {
      throw new MalformedResponseError('provider returned a token set without an access token');
    }
    if (!Number.isFinite(tokens.accessTokenExpiresAt) || tokens.accessTokenExpiresAt <= obtainedAt) {
      throw new MalformedResponseError('provider returned an access token that is already expired (after clock correction)');
    }
    if (tokens.refreshToken === undefined && previous?.refreshToken !== undefined && previous.refreshToken !== '') {
      // A provider that does not rotate: keep the refresh token we have.
      return { ...tokens, refreshToken: previous.refreshToken, refreshTokenExpiresAt: previous.refreshTokenExpiresAt };
    }
    return tokens;
  }

  async #writeStore(tokens: TokenSet): Promise<void> {
    try {
      await this.#store.set(tokens);
    } catch (error) {
      // The new refresh token exists only in memory now; keep serving it rather than lose it.
      const storeError = new TokenStoreError('token store write failed; the new session is held in memory only', { cause: error });
      this.#log.error({ event: 'store-write-failed', err: storeError }, storeError.message);
      this.#emitError(storeError);
    }
  }

  #install(tokens: TokenSet, obtainedAt: number, kind: 'adopted' | 'refresh' | 'sign-in', reason: RefreshReason = 'initial'): HeldTokens {
    const schedule = computeSchedule({
      accessTokenExpiresAt: tokens.accessTokenExpiresAt,
      obtainedAt,
      refreshBeforeExpiryMs: this.#options.refreshBeforeExpiryMs,
      expirySkewMs: this.#options.expirySkewMs,
      refreshJitterMs: this.#options.refreshJitterMs,
      random: this.#options.random(),
    });
    const held: HeldTokens = { tokens, accessToken: tokens.accessToken, ...schedule };
    this.#held = held;
    this.#seed = undefined;
    this.#lastError = undefined;
    this.#failFastUntil = Number.NEGATIVE_INFINITY;
    this.#nextAttemptAt = Number.NEGATIVE_INFINITY;
    this.#backgroundDelayMs = this.#options.backgroundRetryDelayMs;
    this.#armTimer(held.refreshAt);
    if (kind !== 'adopted') {
      this.#refreshCount += 1;
      if (kind === 'sign-in') this.#signInCount += 1;
      this.#lastRefreshAt = obtainedAt;
      this.#log.info({ event: 'refreshed', signIn: kind === 'sign-in', reason, ...describeTokenSet(tokens) }, 'access token refreshed');
      this.emit('refreshed', {
        accessTokenExpiresAt: tokens.accessTokenExpiresAt,
        refreshTokenExpiresAt: tokens.refreshTokenExpiresAt ?? null,
        signIn: kind === 'sign-in',
        reason,
      });
    }
    this.#warnIfRefreshTokenExpiring(tokens, obtainedAt);
    return held;
  }

  #warnIfRefreshTokenExpiring(tokens: TokenSet, now: number): void {
    const expiresAt = tokens.refreshTokenExpiresAt;
    if (expiresAt === undefined || expiresAt === this.#warnedRefreshExpiry) return;
    const remainingMs = expiresAt - now;
    if (remainingMs > this.#options.refreshTokenWarningMs) return;
    this.#warnedRefreshExpiry = expiresAt;
    this.#log.warn({ event: 'refresh-token-expiring', refreshTokenExpiresAt: expiresAt, remainingMs }, 'refresh token expires soon; a full sign-in will follow');
    this.emit('refreshTokenExpiring', { refreshTokenExpiresAt: expiresAt, remainingMs });
  }

  /** Records a failure, plans the next background attempt, and returns the error to throw. */
  #onRefreshFailed(error: unknown, reason: RefreshReason): unknown {
    if (this.#closed) return new TokenManagerClosedError();
    const failure = error instanceof Error ? error : new Error(String(error));
    this.#lastError = failure;
    const now = this.#now();
    const permanent = !isTokenManagerError(failure) || !failure.transient;
    if (permanent) this.#failFastUntil = now + this.#options.rejectedBackoffMs;
    this.#log.warn({ event: 'refresh-failed', reason, code: (failure as { code?: string }).code, err: failure }, 'token refresh failed');
    this.#emitError(failure);

    const held = this.#held;
    if (held !== undefined && now < held.blockAt) {
      // Keep serving the valid token and try again before callers have to wait.
      const delayMs = permanent ? this.#options.rejectedBackoffMs : this.#backgroundDelayMs;
      this.#backgroundDelayMs = Math.min(this.#backgroundDelayMs * 2, this.#options.backgroundRetryMaxDelayMs);
      this.#nextAttemptAt = Math.min(now + delayMs, held.blockAt);
      this.#armTimer(this.#nextAttemptAt);
    }
    return failure;
  }

  #emitError(error: Error): void {
    // EventEmitter throws on an 'error' nobody listens to; a background failure must not.
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  #armTimer(at: number): void {
    this.#cancelTimer();
    if (this.#closed || !Number.isFinite(at)) return;
    this.#timer = setUnrefTimeout(this.#clock, () => this.#onTimer(at), at - this.#now());
  }

  #onTimer(at: number): void {
    this.#timer = undefined;
    if (this.#closed) return;
    // Long delays are clamped by Node; re-arm until the real point is reached.
    if (this.#now() < at) {
      this.#armTimer(at);
      return;
    }
    void this.#refreshOnce('scheduled').catch(() => undefined);
  }

  #cancelTimer(): void {
    if (this.#timer === undefined) return;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #state(): TokenManagerState {
    if (this.#closed) return 'closed';
    if (this.#inflight !== undefined) return 'refreshing';
    const held = this.#held;
    const valid = held !== undefined && this.#now() < held.blockAt;
    if (valid) return 'valid';
    if (this.#lastError !== undefined) return 'failed';
    return held === undefined ? 'idle' : 'expired';
  }
}

/** Options that still allow the hot path: no forced refresh, no signal that already fired. */
function isPlainRead(options: GetAccessTokenOptions): boolean {
  return options.forceRefresh !== true && options.signal?.aborted !== true;
}

/** Of two token sets, the one whose access token lives longer (refresh tokens rotate with it). */
function newest(a: TokenSet | undefined, b: TokenSet | undefined): TokenSet | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a.accessTokenExpiresAt >= b.accessTokenExpiresAt ? a : b;
}
