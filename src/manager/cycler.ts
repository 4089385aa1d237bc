/**
 * The refresh cycler: every decision about one session, as pure state transitions over the
 * held token set and the times it is given. No I/O, no timers, no promises: the facade asks
 * it what to do, does it, and reports back. All times are on the manager's timeline (a
 * monotonic clock unless the user injected `now`), in ms.
 */
import { createHash } from 'node:crypto';
import { ErrorCodes, isTokenManagerError } from '../errors';
import type { AuthRejectedError } from '../errors';
import { redactReport } from '../redaction';
import { computeSchedule, sharedJitterFraction, tokensOf } from '../token-set';
import type { RefreshTokenSeed, TokenSet } from '../token-set';
import { nextDelay } from './backoff';
import type { BackoffPolicy } from './backoff';
import type { ResolvedTokenManagerOptions } from './options';
import type { InvalidateOptions, InvalidateResult, RefreshReason, TokenManagerEvents } from './types';

/** How the held token set was obtained: the outcome of the run that brought it, or the seed. */
export type TokenOrigin = 'refreshed' | 'signed-in' | 'adopted' | 'seeded';

/** The session the cycler holds. */
export interface HeldSession {
  /** The token set as obtained: expiries in epoch ms on the wall clock of its arrival. */
  readonly tokens: TokenSet;
  /** Timeline: a background refresh starts from here. */
  readonly refreshAt: number;
  /** Timeline: callers wait for a new token from here. */
  readonly blockAt: number;
  /** Wall clock minus timeline when the session arrived: turns timeline points into epoch ms. */
  readonly wallOffset: number;
  /** A server rejected this token: it is never served again. */
  readonly rejected: boolean;
}

/**
 * A failed run's error, and the message `status()` reports of it: redacted when it was recorded, with the tokens then
 * held (a custom provider's error may quote the refresh token it was given; close() forgets the tokens, not the error).
 */
type Failure = { readonly error: Error; readonly message: string };

/** Where the last failure left the cycler. */
export type FailureState =
  | { readonly kind: 'none' }
  /** The last run failed; the next caller that needs a token tries again. */
  | ({ readonly kind: 'failed' } & Failure)
  /** A valid token is held and the next background attempt is planned. */
  | ({ readonly kind: 'retrying'; readonly failures: number; readonly nextAttemptAt: number } & Failure)
  /** The credentials were rejected: callers without a valid token get this error until `until`. */
  | ({ readonly kind: 'fail-fast'; readonly until: number; readonly nextAttemptAt: number } & Failure);

/** What a caller should do now. */
export type Decision =
  | { readonly kind: 'serve' | 'serve-and-refresh'; readonly token: string }
  | { readonly kind: 'wait'; readonly reason: RefreshReason }
  | { readonly kind: 'fail-fast'; readonly error: Error };

/** The numbers the cycler decides with; `background` spaces background attempts after failed runs. */
export type CyclerSettings = Pick<
  ResolvedTokenManagerOptions,
  'refreshBeforeExpiryMs' | 'expirySkewMs' | 'refreshJitterMs' | 'rejectedBackoffMs' | 'invalidateCooldownMs' | 'random'
> & { background: BackoffPolicy };

/** What {@link RefreshCycler.recordFailure} concluded. */
export interface FailureOutcome {
  /** Set when fail-fast was entered: until when, on the timeline. */
  failFastUntil?: number;
  /** The next background attempt, when one is planned. */
  nextAttemptAt?: number;
  /** The delay to it, for the lifecycle stream. */
  delayMs?: number;
}

/** At most this many request targets in a 401 storm are remembered per session; the oldest go first. */
const MAX_STORM_TARGETS = 256;
/** A target longer than this, in characters, is remembered by its digest: a path can carry user input of any length. */
const MAX_STORM_KEY_LENGTH = 64;

/** Holds one session's state and answers every "what now?" with a pure transition. */
export class RefreshCycler {
  #held: HeldSession | undefined;
  #seed: RefreshTokenSeed | undefined;
  #failure: FailureState = { kind: 'none' };
  #lastInvalidationAt = Number.NEGATIVE_INFINITY;
  /** Targets in a 401 storm (by {@link stormKey}), and until when (timeline); oldest first, bounded. */
  readonly #storms = new Map<string, number>();
  #warnedRefreshExpiry: number | undefined;

  constructor(private readonly settings: CyclerSettings) {}

  /** The held session, if any (rejected or expired ones included). */
  get held(): HeldSession | undefined {
    return this.#held;
  }

  /** A refresh token held without an access token (seeded), if any. */
  get seed(): RefreshTokenSeed | undefined {
    return this.#seed;
  }

  get failure(): FailureState {
    return this.#failure;
  }

  /** The tokens it holds, a seed's included: what a report of a failure takes out. */
  get secrets(): string[] {
    return tokensOf(this.#held?.tokens, this.#seed);
  }

  /** Whether the held token may be served at `now`. */
  isValid(now: number): boolean {
    const held = this.#held;
    return held !== undefined && !held.rejected && now < held.blockAt;
  }

  /** What a caller that is not on the hot path should do at `now`. */
  decide(now: number, forceRefresh: boolean, refreshing: boolean): Decision {
    if (forceRefresh) return { kind: 'wait', reason: 'forced' };
    const held = this.#held;
    if (held !== undefined && this.isValid(now)) {
      const kind = this.isDueInBackground(now) && !refreshing ? 'serve-and-refresh' : 'serve';
      return { kind, token: held.tokens.accessToken };
    }
    const failure = this.#failure;
    if (failure.kind === 'fail-fast' && now < failure.until && !refreshing)
      return { kind: 'fail-fast', error: failure.error };
    if (held === undefined) return { kind: 'wait', reason: 'initial' };
    return { kind: 'wait', reason: held.rejected ? 'invalidated' : 'expired' };
  }

  /**
   * Whether a background refresh should start at `now` (the timer fired). An attempt planned after a failed run
   * for the blocking margin at the latest is due however late its timer fires: the token has just stopped being
   * served, and the attempt announced (`retry-scheduled`) is made.
   */
  isDueInBackground(now: number): boolean {
    const held = this.#held;
    const failure = this.#failure;
    const planned = held !== undefined && !held.rejected && 'nextAttemptAt' in failure;
    const at =
      planned && failure.nextAttemptAt <= held.blockAt
        ? Math.max(held.refreshAt, failure.nextAttemptAt)
        : this.timerAt(now);
    return at !== undefined && now >= at;
  }

  /** When the facade's timer should next fire, on the timeline; undefined for none. */
  timerAt(now: number): number | undefined {
    const held = this.#held;
    if (held === undefined || !this.isValid(now)) return undefined;
    const failure = this.#failure;
    return Math.max(held.refreshAt, 'nextAttemptAt' in failure ? failure.nextAttemptAt : Number.NEGATIVE_INFINITY);
  }

  /**
   * Holds a new session. `now` is on the timeline, `wallNow` the wall clock at the same instant.
   * With `handOver` (the store announces new sessions to this manager), an adopted session's
   * refresh point is a fallback placed after the refreshing replica's, spread per replica.
   */
  install(tokens: TokenSet, source: TokenOrigin, now: number, wallNow: number, handOver = false): HeldSession {
    const wallOffset = wallNow - now;
    const schedule = computeSchedule({
      accessTokenExpiresAt: tokens.accessTokenExpiresAt - wallOffset,
      obtainedAt: now,
      refreshBeforeExpiryMs: this.settings.refreshBeforeExpiryMs,
      expirySkewMs: this.settings.expirySkewMs,
      refreshJitterMs: source === 'seeded' ? 0 : this.settings.refreshJitterMs,
      // Every replica that adopts one session computes the same point from its token, and
      // sessions spread: a fleet's refreshes stay jittered however sessions are shared.
      random: source === 'adopted' ? sharedJitterFraction(tokens.accessToken) : this.settings.random(),
      adopted: source === 'adopted',
      ...(handOver && source === 'adopted' ? { fallback: this.settings.random() } : {}),
    });
    this.#held = { tokens, wallOffset, rejected: false, ...schedule };
    this.#seed = undefined;
    this.#failure = { kind: 'none' };
    return this.#held;
  }

  /** Keeps a refresh token alone until the first refresh turns it into a session. */
  holdSeed(seed: RefreshTokenSeed): void {
    this.#seed = seed;
  }

  /**
   * Records a failed run at `now` and plans what follows: fail-fast after a rejected
   * sign-in; while a valid token is held, the next background attempt (backoff, or the
   * server's `Retry-After`); otherwise nothing until the next caller. `runSecrets`, the tokens the run worked with
   * besides the held ones, are redacted from the recorded message as the held ones are.
   */
  recordFailure(error: Error, now: number, runSecrets: readonly string[] = []): FailureOutcome {
    const held = this.#held;
    const valid = held !== undefined && this.isValid(now);
    const failure = { error, message: redactReport(error.message, [...this.secrets, ...runSecrets]) };
    // A definitive "no" to the credentials themselves: the sign-in was rejected (4xx or `success: false`).
    // Matched by code and fields, not `instanceof`, so a second copy of the library (dual packages) is recognised too.
    const signInRejected = (error as Partial<AuthRejectedError>).operation === 'authenticate';
    if (isTokenManagerError(error, ErrorCodes.AUTH_REJECTED) && signInRejected) {
      const until = now + this.settings.rejectedBackoffMs;
      const nextAttemptAt = valid ? Math.min(until, held.blockAt) : until;
      this.#failure = { kind: 'fail-fast', ...failure, until, nextAttemptAt };
      return { failFastUntil: until, ...(valid ? { nextAttemptAt, delayMs: nextAttemptAt - now } : {}) };
    }
    if (!valid) {
      this.#failure = { kind: 'failed', ...failure };
      return {};
    }
    const failures = this.#failure.kind === 'retrying' ? this.#failure.failures + 1 : 1;
    const plan = nextDelay(failures, error, Number.POSITIVE_INFINITY, this.settings.background);
    const delayMs = plan.retry ? plan.delayMs : (plan.retryAfterMs ?? this.settings.rejectedBackoffMs);
    // The server's Retry-After is honoured even past blockAt; our own backoff never waits that long.
    const nextAttemptAt = plan.retryAfterMs === undefined ? Math.min(now + delayMs, held.blockAt) : now + delayMs;
    this.#failure = { kind: 'retrying', ...failure, failures, nextAttemptAt };
    return { nextAttemptAt, delayMs: nextAttemptAt - now };
  }

  /**
   * What a report that a server rejected `token` (default: the held one) changes. A 401 that
   * answered a replay puts its target in a storm; a target in a storm changes nothing; any
   * other report of the held token refreshes it (a revocation is always worth one refresh).
   */
  invalidate(token: string | undefined, now: number, options: InvalidateOptions = {}): InvalidateResult {
    const held = this.#held;
    if (held === undefined) return 'ignored';
    const target = options.target === undefined ? undefined : stormKey(options.target);
    if (target !== undefined && options.replay === true) {
      this.#storms.delete(target);
      this.#storms.set(target, now + this.settings.invalidateCooldownMs);
      if (this.#storms.size > MAX_STORM_TARGETS) this.#storms.delete(this.#storms.keys().next().value as string);
      return 'cooldown';
    }
    if (target !== undefined && this.#inStorm(target, now)) return 'cooldown';
    if ((token !== undefined && token !== held.tokens.accessToken) || held.rejected) return 'stale';
    if (target === undefined) {
      // Without a target the rule is session-wide: a token obtained after a rejection is rejected too.
      if (now - this.#lastInvalidationAt < this.settings.invalidateCooldownMs) return 'cooldown';
      this.#lastInvalidationAt = now;
    }
    this.#held = { ...held, rejected: true };
    if (this.#failure.kind === 'fail-fast') this.#failure = { kind: 'none' };
    return 'refreshing';
  }

  #inStorm(target: string, now: number): boolean {
    const until = this.#storms.get(target) ?? Number.NEGATIVE_INFINITY;
    if (now >= until) this.#storms.delete(target);
    return now < until;
  }

  /**
   * Whether to warn that the held refresh token nears its expiry (wall clock `wallNow`):
   * once per refresh token, when less than `warningMs` is left.
   */
  refreshTokenWarning(wallNow: number, warningMs: number): TokenManagerEvents['refreshTokenExpiring'][0] | undefined {
    const expiresAt = this.#held?.tokens.refreshTokenExpiresAt;
    if (expiresAt === undefined || expiresAt === this.#warnedRefreshExpiry) return undefined;
    const remainingMs = expiresAt - wallNow;
    if (remainingMs > warningMs) return undefined;
    this.#warnedRefreshExpiry = expiresAt;
    return { refreshTokenExpiresAt: expiresAt, remainingMs };
  }

  /** Forgets everything (the manager closed). */
  clear(): void {
    this.#held = undefined;
    this.#seed = undefined;
  }
}

/**
 * A target as the storm map keeps it: a short one as it is; a long one as its digest, padded past
 * {@link MAX_STORM_KEY_LENGTH} so that no short target can equal it.
 */
function stormKey(target: string): string {
  if (target.length <= MAX_STORM_KEY_LENGTH) return target;
  return createHash('sha256')
    .update(target)
    .digest('base64url')
    .padEnd(MAX_STORM_KEY_LENGTH + 1, '=');
}
