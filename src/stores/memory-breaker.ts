/**
 * The process-local auth circuit breaker (the default of a `MemoryTokenStore`), the options,
 * validation and rules it shares with the Redis store's breaker (./redis-breaker.ts), and
 * `setRecent()`, the bounded least-recently-used map both breakers and the Redis store keep.
 */
import { systemClock } from '../clock';
import { assertPositiveMs, definedOnly } from '../defaults';
import { assertConfig } from '../errors';
import { breakerOpenMs } from '../manager/backoff';
import type { AuthBreaker, BreakerAdmission, BreakerCall, BreakerOutcome, BreakerStatus } from './types';

/** Options of {@link LocalAuthBreaker} (and of a Redis store's shared breaker). */
export interface AuthBreakerOptions {
  /**
   * Transient auth failures within `windowMs` that open the breaker (a success resets the count): a
   * session's own circuit, or its scope's, where each session counts less than half of them.
   * @default 5
   */
  failureThreshold?: number | undefined;
  /**
   * The window failures are counted in, from the first one, in ms.
   * @default 30_000
   */
  windowMs?: number | undefined;
  /**
   * How long the breaker stays open before one probe is let through (at least the server's
   * `Retry-After`, as capped by the recording manager's `retry.maxRetryAfterMs`); also the
   * longest a probe holds its lease, in ms.
   * @default 5_000
   */
  openMs?: number | undefined;
  /**
   * The clock, epoch ms.
   * @default Date.now
   */
  now?: (() => number) | undefined;
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

/** One circuit's state, before {@link combine} says which circuit decides (`level`). */
export type CircuitStatus = Omit<BreakerStatus, 'level'>;

/**
 * Merges the defaults and validates.
 * @throws ConfigurationError naming the offending option (`owner` says whose option it is).
 */
export function resolveAuthBreakerOptions(options: AuthBreakerOptions, owner: string): ResolvedAuthBreakerOptions {
  assertConfig(typeof options === 'object' && options !== null, `${owner} breaker options must be an object`);
  const resolved = { ...DEFAULT_AUTH_BREAKER_OPTIONS, ...definedOnly(options) };
  const { failureThreshold, now } = resolved;
  const countable = Number.isInteger(failureThreshold) && failureThreshold >= 1;
  assertConfig(countable, `${owner} option failureThreshold must be an integer ≥ 1`);
  for (const name of ['windowMs', 'openMs'] as const) {
    assertPositiveMs(`${owner} option ${name}`, resolved[name]);
    // Beyond it, `now + ms` is inexact, and the Redis breaker's scripts fail on their PX (after counting).
    const exact = resolved[name] <= Number.MAX_SAFE_INTEGER;
    assertConfig(exact, `${owner} option ${name} must be at most ${Number.MAX_SAFE_INTEGER} ms`);
  }
  assertConfig(typeof now === 'function', `${owner} option now must be a function`);
  return resolved;
}

/** At most this many scopes (partner auth servers) are tracked; the least recently failing is forgotten first. */
const MAX_SCOPES = 256;

/** At most this many failing sessions are tracked per scope; a session's entry lives only while it fails. */
const MAX_FAILING_SESSIONS = 10_000;

/** One circuit: a session's own, or a scope's. Tripped, it is open until `openUntil`, then half-open. */
class Circuit {
  failures = 0;
  windowEndsAt = Number.NEGATIVE_INFINITY;
  tripped = false;
  openUntil = Number.NEGATIVE_INFINITY;
  /** Until when the half-open probe holds its lease. */
  probeUntil = Number.NEGATIVE_INFINITY;

  /**
   * Counts a failure in the window (opened by the first) and opens the circuit for `openForMs` at
   * `failureThreshold` (when `mayTrip`); while tripped, keeps it open at least `openForMs`.
   */
  fail(now: number, options: ResolvedAuthBreakerOptions, openForMs: number, mayTrip: boolean): void {
    if (this.tripped) {
      this.openUntil = Math.max(this.openUntil, now + openForMs);
      return;
    }
    if (now >= this.windowEndsAt) Object.assign(this, { failures: 0, windowEndsAt: now + options.windowMs });
    this.failures += 1;
    if (mayTrip && this.failures >= options.failureThreshold)
      Object.assign(this, { tripped: true, openUntil: now + openForMs });
  }

  status(now: number): CircuitStatus {
    if (!this.tripped)
      return { state: 'closed', failures: now < this.windowEndsAt ? this.failures : 0, openUntil: null };
    if (now < this.openUntil) return { state: 'open', failures: this.failures, openUntil: Math.ceil(this.openUntil) };
    return { state: 'half-open', failures: this.failures, openUntil: null };
  }

  /** Whether it is tripped or counts failures in its window. */
  failingAt(now: number): boolean {
    return this.tripped || now < this.windowEndsAt;
  }
}

/**
 * A scope's circuit, its failing sessions' own circuits, and the evidence that its failures come
 * from more than one session: up to two distinct sessions that failed in the window (two prove it
 * is not one account's fault), and the same for failures that carried a `Retry-After`.
 */
class ScopeCircuit extends Circuit {
  readonly sessions = new Map<string, Circuit>();
  readonly failing = new Set<string>();
  readonly limited = new Set<string>();
  /** Until when a call of a session the tripped scope excuses (see `admit`) holds their one shared lease of it. */
  excusedUntil = Number.NEGATIVE_INFINITY;
}

/**
 * A circuit breaker in this process's memory: what a `MemoryTokenStore` (so a lone manager,
 * or every session of a pool) uses by default. It keeps a circuit per session and one per
 * scope (a partner's auth server). A session's circuit opens after `failureThreshold` of its
 * own transient failures within `windowMs`; the scope's after `failureThreshold` failures within
 * `windowMs` of at least two sessions, each counting for less than half of them: one end user's
 * failing account, however often it fails, never refuses the others. Open, a circuit admits no
 * call for `openMs` (or the server's `Retry-After`: the session's own, the scope's once two
 * sessions received one), then one probe per `openMs` until a call succeeds, which closes the
 * session's circuit and the scope's.
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
  async admit(call: BreakerCall): Promise<BreakerAdmission> {
    const now = this.#options.now();
    const scope = this.#scopes.get(call.scope);
    const own = scope?.sessions.get(call.session);
    const tripped = [own, scope].filter((circuit) => circuit?.tripped) as Circuit[];
    // Sessions failing on their own circuit leave the scope's probe to another: failing again, as any number of
    // broken accounts would in turns, tells nothing new of its server. Between them, they make one call per
    // openMs, and only while no probe holds the scope: after an outage (every session failing) that call alone
    // finds the server back.
    const excused = scope?.tripped === true && own?.failingAt(now) === true;
    for (const circuit of tripped) {
      const lease = circuit === scope && excused ? Math.max(scope.probeUntil, scope.excusedUntil) : circuit.probeUntil;
      const until = Math.max(circuit.openUntil, lease);
      if (now < until) return { allowed: false, retryAfterMs: Math.ceil(until - now) };
    }
    // Half-open: this call is the probe, and holds the lease of every tripped circuit for openMs (the shared lease
    // of the scope for the sessions it excuses).
    for (const circuit of tripped)
      if (circuit === scope && excused) scope.excusedUntil = now + this.#options.openMs;
      else circuit.probeUntil = now + this.#options.openMs;
    return { allowed: true, probe: tripped.length > 0 };
  }

  /**
   * A success closes the session's circuit and the scope's (the server answers), but not other
   * sessions' own circuits; a transient failure counts in both.
   */
  async record(call: BreakerCall, outcome: BreakerOutcome, retryAfterMs?: number): Promise<void> {
    const options = this.#options;
    const scope = this.#scopes.get(call.scope) ?? new ScopeCircuit();
    const now = options.now();
    if (outcome === 'success') {
      scope.sessions.delete(call.session);
      if (scope.sessions.size === 0) this.#scopes.delete(call.scope);
      resetScope(scope);
      return;
    }
    // Both go last in their maps (the order of the latest failures); past the bound, the first is forgotten.
    setRecent(this.#scopes, call.scope, scope, MAX_SCOPES);
    const session = scope.sessions.get(call.session) ?? new Circuit();
    setRecent(scope.sessions, call.session, session, MAX_FAILING_SESSIONS);
    const excused = scope.tripped && session.failingAt(now);
    // Only a session's first failures in its window count for its scope (none while its own circuit is tripped):
    // one account that keeps failing (its retries, its probes) and another user's blip never refuse the others.
    const counts = !session.tripped;
    session.fail(now, options, breakerOpenMs(options.openMs, retryAfterMs), true);
    // A new window of the scope's evidence once the last one ended.
    if (!scope.tripped && now >= scope.windowEndsAt) resetScope(scope);
    if (scope.failing.size < 2) scope.failing.add(call.session);
    if ((retryAfterMs ?? 0) > 0 && scope.limited.size < 2) scope.limited.add(call.session);
    const sharedOpenMs = breakerOpenMs(options.openMs, scope.limited.size > 1 ? retryAfterMs : undefined);
    // The scope opens only on the evidence of two sessions; tripped, a failure (a probe's) keeps it open, unless
    // its session was failing already (the scope excused it from its probe).
    if (scope.tripped ? !excused : counts && session.failures <= sessionShare(options))
      scope.fail(now, options, sharedOpenMs, scope.failing.size > 1);
  }

  snapshot(call: BreakerCall): BreakerStatus {
    const scope = this.#scopes.get(call.scope) ?? new ScopeCircuit();
    const now = this.#options.now();
    return combine(scope.sessions.get(call.session)?.status(now), scope.status(now));
  }
}

/**
 * How many of one session's failures in its window its scope counts: less than half of `failureThreshold` (one
 * at least), so the scope opens only on the failures of three sessions or more (two with a threshold below 3).
 */
export function sessionShare(options: ResolvedAuthBreakerOptions): number {
  return Math.max(1, Math.floor((options.failureThreshold - 1) / 2));
}

/** Back to closed, with no failures nor failing sessions counted. */
function resetScope(scope: ScopeCircuit): void {
  Object.assign(scope, new Circuit());
  scope.failing.clear();
  scope.limited.clear();
}

/** Sets `key` as the most recently used entry of `map`, dropping the least recently used past `max`. */
export function setRecent<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value as K);
}

/**
 * The view of one call: whichever circuit holds it longest decides (open over half-open, then
 * the later `openUntil`).
 */
export function combine(own: CircuitStatus | undefined, shared: CircuitStatus): BreakerStatus {
  if (shared.state === 'closed' && (own === undefined || own.state === 'closed'))
    return { ...shared, failures: Math.max(shared.failures, own?.failures ?? 0), level: null };
  const rank = { closed: 0, 'half-open': 1, open: 2 } as const;
  const ownFirst =
    own !== undefined && (rank[own.state] - rank[shared.state] || (own.openUntil ?? 0) - (shared.openUntil ?? 0)) >= 0;
  return ownFirst ? { ...own, level: 'session' } : { ...shared, level: 'scope' };
}
