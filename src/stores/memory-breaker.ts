/**
 * The process-local auth circuit breaker (the default of a `MemoryTokenStore`), and the options,
 * validation and rules it shares with the Redis store's breaker (./redis-breaker.ts).
 */
import { systemClock } from '../clock';
import { assertPositiveMs, definedOnly } from '../defaults';
import { ConfigurationError } from '../errors';
import type { AuthBreaker, BreakerAdmission, BreakerCall, BreakerOutcome, BreakerStatus } from './types';

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
export function resolveAuthBreakerOptions(
  options: AuthBreakerOptions = {},
  owner = 'AuthBreaker',
): ResolvedAuthBreakerOptions {
  if (typeof options !== 'object' || options === null)
    throw new ConfigurationError(`${owner} breaker options must be an object`);
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

/** At most this many scopes (partner auth servers) are tracked; the least recently failing is forgotten first. */
const MAX_SCOPES = 256;

/** At most this many failing sessions are tracked per scope; a session's entry lives only while it fails. */
const MAX_FAILING_SESSIONS = 10_000;

/** One circuit: a session's own, or a scope's. */
class Circuit {
  failures = 0;
  windowEndsAt = Number.NEGATIVE_INFINITY;
  tripped = false;
  openUntil = Number.NEGATIVE_INFINITY;
  probeUntil = Number.NEGATIVE_INFINITY;

  /** Closed: admitted; open: refused with the wait; half-open: a probe when none holds the lease. */
  gate(now: number): BreakerAdmission | 'probe' {
    if (!this.tripped) return ADMITTED;
    const until = Math.max(this.openUntil, this.probeUntil);
    return now < until ? { allowed: false, retryAfterMs: Math.ceil(until - now) } : 'probe';
  }

  /**
   * Counts a failure in the window (opened by the first) and opens the circuit for `openForMs` at
   * `failureThreshold` (when `mayTrip`); while tripped, keeps it open at least `openForMs`.
   */
  fail(now: number, options: ResolvedAuthBreakerOptions, openForMs: number, mayTrip = true): void {
    if (this.tripped) {
      this.openUntil = Math.max(this.openUntil, now + openForMs);
      return;
    }
    if (now >= this.windowEndsAt) {
      this.failures = 0;
      this.windowEndsAt = now + options.windowMs;
    }
    this.failures += 1;
    if (!mayTrip || this.failures < options.failureThreshold) return;
    this.tripped = true;
    this.openUntil = now + openForMs;
  }

  /** Back to closed, with no failures counted. */
  reset(): void {
    Object.assign(this, new Circuit());
  }

  status(now: number): Omit<BreakerStatus, 'level'> {
    if (!this.tripped)
      return { state: 'closed', failures: now < this.windowEndsAt ? this.failures : 0, openUntil: null };
    if (now < this.openUntil) return { state: 'open', failures: this.failures, openUntil: Math.ceil(this.openUntil) };
    return { state: 'half-open', failures: this.failures, openUntil: null };
  }
}

/** A scope's circuit, with the evidence that its failures come from more than one session. */
class ScopeCircuit extends Circuit {
  readonly sessions = new Map<string, Circuit>();
  /** Up to two distinct sessions that failed in the window (two prove it is not one account's fault). */
  readonly failing = new Set<string>();
  /** The same for failures that carried a `Retry-After`. */
  readonly limited = new Set<string>();

  override reset(): void {
    super.reset();
    this.failing.clear();
    this.limited.clear();
  }

  /** Notes which session failed (for the distinct-sessions rule), opening a new window when the last one ended. */
  note(now: number, session: string, limited: boolean): void {
    if (!this.tripped && now >= this.windowEndsAt) this.reset();
    if (this.failing.size < 2) this.failing.add(session);
    if (limited && this.limited.size < 2) this.limited.add(session);
  }
}

/**
 * A circuit breaker in this process's memory: what a `MemoryTokenStore` (so a lone manager,
 * or every session of a pool) uses by default. It keeps a circuit per session and one per
 * scope (a partner's auth server). A session's circuit opens after `failureThreshold` of its
 * own transient failures within `windowMs`; the scope's opens after `failureThreshold`
 * failures of at least two distinct sessions, so one end user's failing account never refuses
 * the others. Open, a circuit admits no call for `openMs` (or the server's `Retry-After`: the
 * session's own, the scope's once two sessions received one), then one probe per `openMs`
 * until a call succeeds, which closes the session's circuit and the scope's.
 *
 * @example
 * ```ts
 * import { LocalAuthBreaker, TokenManager } from 'alix-token-manager';
 * import type { TokenProvider } from 'alix-token-manager';
 *
 * declare const provider: TokenProvider;
 * const breaker = new LocalAuthBreaker({ failureThreshold: 3, openMs: 10_000 });
 * const manager = new TokenManager({ provider, breaker });
 * ```
 */
export class LocalAuthBreaker implements AuthBreaker {
  readonly #options: ResolvedAuthBreakerOptions;
  readonly #scopes = new Map<string, ScopeCircuit>();

  /** @throws ConfigurationError when an option is invalid. */
  constructor(options: AuthBreakerOptions = {}) {
    this.#options = resolveAuthBreakerOptions(options, 'LocalAuthBreaker');
  }

  /** Admits while both circuits are closed; refuses while either is open; half-open, one probe per `openMs`. */
  admit(call: BreakerCall): Promise<BreakerAdmission> {
    const scope = this.#scopes.get(call.scope);
    if (scope === undefined) return Promise.resolve(ADMITTED);
    const now = this.#options.now();
    const session = scope.sessions.get(call.session);
    const own = session?.gate(now) ?? ADMITTED;
    if (own !== 'probe' && !own.allowed) return Promise.resolve(own);
    const shared = scope.gate(now);
    if (shared !== 'probe' && !shared.allowed) return Promise.resolve(shared);
    if (own !== 'probe' && shared !== 'probe') return Promise.resolve(ADMITTED);
    const leaseUntil = now + this.#options.openMs;
    if (own === 'probe' && session !== undefined) session.probeUntil = leaseUntil;
    if (shared === 'probe') scope.probeUntil = leaseUntil;
    return Promise.resolve({ allowed: true, probe: true });
  }

  /**
   * A success closes the session's circuit and the scope's (the server answers), but not other
   * sessions' own circuits; a transient failure counts in both.
   */
  record(call: BreakerCall, outcome: BreakerOutcome, retryAfterMs?: number): Promise<void> {
    const now = this.#options.now();
    if (outcome === 'success') {
      const scope = this.#scopes.get(call.scope);
      scope?.sessions.delete(call.session);
      scope?.reset();
      if (scope?.sessions.size === 0) this.#scopes.delete(call.scope);
      return Promise.resolve();
    }
    const options = this.#options;
    const scope = this.#scope(call.scope);
    this.#session(scope, call.session).fail(now, options, openDurationMs(options.openMs, retryAfterMs));
    scope.note(now, call.session, retryAfterMs !== undefined && retryAfterMs > 0);
    const sharedOpenMs = openDurationMs(options.openMs, scope.limited.size > 1 ? retryAfterMs : undefined);
    // The scope opens only on the evidence of two sessions: one account's failures never refuse the others.
    scope.fail(now, options, sharedOpenMs, scope.failing.size > 1);
    return Promise.resolve();
  }

  snapshot(call: BreakerCall): BreakerStatus {
    const scope = this.#scopes.get(call.scope);
    if (scope === undefined) return { state: 'closed', failures: 0, openUntil: null, level: null };
    const now = this.#options.now();
    return combine(scope.sessions.get(call.session)?.status(now), scope.status(now));
  }

  #scope(key: string): ScopeCircuit {
    let scope = this.#scopes.get(key);
    if (scope === undefined) {
      scope = new ScopeCircuit();
      this.#scopes.set(key, scope);
      if (this.#scopes.size > MAX_SCOPES) this.#scopes.delete(this.#scopes.keys().next().value as string);
    }
    return scope;
  }

  #session(scope: ScopeCircuit, key: string): Circuit {
    const session = scope.sessions.get(key) ?? new Circuit();
    // Re-inserted at the end: the map's order is the order of the latest failures.
    scope.sessions.delete(key);
    scope.sessions.set(key, session);
    if (scope.sessions.size > MAX_FAILING_SESSIONS) scope.sessions.delete(scope.sessions.keys().next().value as string);
    return session;
  }
}

/** The view of one call: whichever circuit holds it longest decides. */
export function combine(
  own: Omit<BreakerStatus, 'level'> | undefined,
  shared: Omit<BreakerStatus, 'level'>,
): BreakerStatus {
  const rank = { closed: 0, 'half-open': 1, open: 2 } as const;
  const ownRank = own === undefined ? 0 : rank[own.state];
  const sharedRank = rank[shared.state];
  if (ownRank === 0 && sharedRank === 0)
    return { ...shared, failures: Math.max(shared.failures, own?.failures ?? 0), level: null };
  const useOwn =
    own !== undefined &&
    (ownRank > sharedRank || (ownRank === sharedRank && (own.openUntil ?? 0) >= (shared.openUntil ?? 0)));
  return useOwn ? { ...own, level: 'session' } : { ...shared, level: 'scope' };
}
