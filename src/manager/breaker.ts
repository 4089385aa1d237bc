/**
 * The auth circuit breaker: the process-local one (the default of the memory store), the
 * shared options and their validation, and how a manager links to whichever breaker it uses.
 */
import { systemClock } from '../clock';
import { assertPositiveMs, definedOnly } from '../defaults';
import { ConfigurationError } from '../errors';
import type { AuthBreaker, BreakerAdmission, BreakerOutcome, BreakerState, BreakerStatus, TokenStore } from '../stores/types';

/** Options of {@link LocalAuthBreaker} (and of a Redis store's shared breaker). */
export interface AuthBreakerOptions {
  /**
   * Transient auth failures within `windowMs` that open the breaker (a success resets the count).
   * @default 5
   */
  failureThreshold?: number;
  /**
   * The window failures are counted in, from the first one, in ms.
   * @default 30_000
   */
  windowMs?: number;
  /**
   * How long the breaker stays open before one probe is let through (at least the server's
   * `Retry-After`, as capped by the recording manager's `retry.maxRetryAfterMs`); also the
   * longest a probe holds its lease, in ms.
   * @default 5_000
   */
  openMs?: number;
  /**
   * The clock, epoch ms.
   * @default Date.now
   */
  now?: () => number;
}

/** Defaults of {@link AuthBreakerOptions}. */
export const DEFAULT_AUTH_BREAKER_OPTIONS = Object.freeze({
  failureThreshold: 5,
  windowMs: 30_000,
  openMs: 5_000,
  now: (): number => systemClock.now(),
});

/** Breaker options with the defaults applied. */
export type ResolvedAuthBreakerOptions = Required<AuthBreakerOptions>;

/**
 * Merges the defaults and validates.
 * @throws ConfigurationError naming the offending option (`owner` says whose option it is).
 */
export function resolveAuthBreakerOptions(options: AuthBreakerOptions = {}, owner = 'AuthBreaker'): ResolvedAuthBreakerOptions {
  if (typeof options !== 'object' || options === null) throw new ConfigurationError(`${owner} breaker options must be an object`);
  const resolved = { ...DEFAULT_AUTH_BREAKER_OPTIONS, ...definedOnly(options) } as ResolvedAuthBreakerOptions;
  const { failureThreshold } = resolved;
  if (typeof failureThreshold !== 'number' || !Number.isInteger(failureThreshold) || failureThreshold < 1) {
    throw new ConfigurationError(`${owner} option failureThreshold must be an integer ≥ 1`);
  }
  for (const name of ['windowMs', 'openMs'] as const) assertPositiveMs(`${owner} option ${name}`, resolved[name]);
  if (typeof resolved.now !== 'function') throw new ConfigurationError(`${owner} option now must be a function`);
  return resolved;
}

/**
 * How long a failure opens the breaker for: `openMs`, or the server's `Retry-After` if longer.
 * The breaker applies no cap of its own: a manager records `Retry-After` already capped at its
 * `retry.maxRetryAfterMs`, the one cap on server-requested waits.
 */
export function openDurationMs(openMs: number, retryAfterMs: number | undefined): number {
  const requested = typeof retryAfterMs === 'number' && Number.isFinite(retryAfterMs) ? retryAfterMs : 0;
  return Math.ceil(Math.max(openMs, requested));
}

const ADMITTED: BreakerAdmission = Object.freeze({ allowed: true, probe: false });

/**
 * A circuit breaker in this process's memory: what a `MemoryTokenStore` (so a lone manager,
 * or every session of a pool) uses by default. Closed, it admits every auth call and counts
 * transient failures in a window opened by the first one; at `failureThreshold` it opens for
 * `openMs` (or the server's `Retry-After`); then it admits one probe per `openMs` until a
 * call succeeds, which closes it.
 *
 * @example
 * ```ts
 * import { LocalAuthBreaker, TokenManager } from 'alix-token-manager';
 * import type { TokenProvider } from 'alix-token-manager';
 *
 * declare const provider: TokenProvider;
 * const manager = new TokenManager({ provider, breaker: new LocalAuthBreaker({ failureThreshold: 3, openMs: 10_000 }) });
 * ```
 */
export class LocalAuthBreaker implements AuthBreaker {
  readonly #options: ResolvedAuthBreakerOptions;
  #failures = 0;
  #windowEndsAt = Number.NEGATIVE_INFINITY;
  #tripped = false;
  #openUntil = Number.NEGATIVE_INFINITY;
  #probeUntil = Number.NEGATIVE_INFINITY;

  /** @throws ConfigurationError when an option is invalid. */
  constructor(options: AuthBreakerOptions = {}) {
    this.#options = resolveAuthBreakerOptions(options, 'LocalAuthBreaker');
  }

  /** Admits every call while closed; while open none; half-open, one probe per `openMs`. */
  admit(): Promise<BreakerAdmission> {
    const now = this.#options.now();
    if (!this.#tripped) return Promise.resolve(ADMITTED);
    if (now < this.#openUntil) return Promise.resolve({ allowed: false, retryAfterMs: Math.ceil(this.#openUntil - now) });
    if (now < this.#probeUntil) return Promise.resolve({ allowed: false, retryAfterMs: Math.ceil(this.#probeUntil - now) });
    this.#probeUntil = now + this.#options.openMs;
    return Promise.resolve({ allowed: true, probe: true });
  }

  /** A success closes the breaker; a transient failure counts, or (re)opens it when tripped. */
  record(outcome: BreakerOutcome, retryAfterMs?: number): Promise<void> {
    const now = this.#options.now();
    if (outcome === 'success') {
      this.#failures = 0;
      this.#windowEndsAt = Number.NEGATIVE_INFINITY;
      this.#tripped = false;
      this.#openUntil = Number.NEGATIVE_INFINITY;
      this.#probeUntil = Number.NEGATIVE_INFINITY;
      return Promise.resolve();
    }
    const openUntil = now + openDurationMs(this.#options.openMs, retryAfterMs);
    if (this.#tripped) {
      this.#openUntil = Math.max(this.#openUntil, openUntil);
      return Promise.resolve();
    }
    if (now >= this.#windowEndsAt) {
      this.#failures = 0;
      this.#windowEndsAt = now + this.#options.windowMs;
    }
    this.#failures += 1;
    if (this.#failures >= this.#options.failureThreshold) {
      this.#tripped = true;
      this.#openUntil = openUntil;
    }
    return Promise.resolve();
  }

  snapshot(): BreakerStatus {
    const now = this.#options.now();
    if (!this.#tripped) return { state: 'closed', failures: now < this.#windowEndsAt ? this.#failures : 0, openUntil: null };
    if (now < this.#openUntil) return { state: 'open', failures: this.#failures, openUntil: Math.ceil(this.#openUntil) };
    return { state: 'half-open', failures: this.#failures, openUntil: null };
  }
}

/** A manager's link to its breaker: the breaker, and the state this manager last saw (for `breaker-changed`). */
export interface BreakerLink {
  readonly breaker: AuthBreaker;
  seen: BreakerState;
}

/**
 * The store, and the breaker a manager uses with it: the `breaker` option, else the store's
 * own, else none (`false`, or a store without one).
 */
export function withBreaker(option: AuthBreaker | false | undefined, store: TokenStore): { store: TokenStore; breaker: BreakerLink | undefined } {
  const breaker = option === false ? undefined : (option ?? store.breaker);
  return { store, breaker: breaker === undefined ? undefined : { breaker, seen: breaker.snapshot().state } };
}

/** Whether a value looks like an {@link AuthBreaker}. */
export function isAuthBreaker(value: unknown): value is AuthBreaker {
  const candidate = value as Partial<AuthBreaker> | null;
  return typeof candidate === 'object' && candidate !== null && typeof candidate.admit === 'function' && typeof candidate.record === 'function' && typeof candidate.snapshot === 'function';
}
