import type { Logger } from 'pino';
import { MAX_TIMER_DELAY_MS, systemClock } from '../clock';
import type { Clock } from '../clock';
import { assertConfig as check } from '../errors';
import type { TokenProvider } from '../providers/types';
import type { AuthBreaker, TokenStore } from '../stores/types';
import { tokenSetProblem } from '../token-set';
import type { InitialTokens, TokenSet } from '../token-set';
import { definedOnly } from '../defaults';
import type { BackoffPolicy } from './backoff';
import { isPrivateStore } from '../stores/memory';

/**
 * How failed auth calls are retried: transient failures (network, timeout, 5xx, 429) within one
 * refresh run, and, after a failed run while a valid token is still held, background runs.
 */
export interface RetryOptions {
  /**
   * Retries after the first attempt, within one run.
   * @default 4
   */
  retries?: number | undefined;
  /**
   * Delay before the first retry within a run, in ms; later ones grow by `factor`.
   * @default 500
   */
  minDelayMs?: number | undefined;
  /**
   * Longest delay between two attempts within a run, in ms.
   * @default 10_000
   */
  maxDelayMs?: number | undefined;
  /**
   * Growth of the delay from one retry to the next.
   * @default 2
   */
  factor?: number | undefined;
  /**
   * Multiply each delay within a run by a random factor in [1, 2) so replicas do not retry in step.
   * @default true
   */
  randomize?: boolean | undefined;
  /**
   * Stop retrying once this much time has passed since the first attempt, in ms; the
   * effective budget is the smaller of this and `acquireTimeoutMs`.
   * @default 30_000
   */
  maxRetryTimeMs?: number | undefined;
  /**
   * The longest `Retry-After` honoured, in ms; a longer one is cut to this. The one cap on
   * server-requested waits: a caller whose budget is shorter fails at once with the error's
   * `retryAfterMs`; the background waits it out.
   * @default 600_000 (10 minutes)
   */
  maxRetryAfterMs?: number | undefined;
  /**
   * After a failed background refresh, the first delay before the next background run while the
   * held token is still valid, in ms; it doubles up to `backgroundMaxDelayMs`.
   * @default 5_000
   */
  backgroundMinDelayMs?: number | undefined;
  /**
   * The longest delay between background runs, in ms.
   * @default 60_000
   */
  backgroundMaxDelayMs?: number | undefined;
}

/** Options of {@link TokenManager}. */
export interface TokenManagerOptions {
  // The session
  /** Obtains token sets: `AlixAuthProvider`, or your own {@link TokenProvider}. */
  provider: TokenProvider;
  /**
   * Where the session is kept; written on every change, read at start-up and around refreshes.
   * @default a new MemoryTokenStore
   */
  store?: TokenStore | undefined;
  /**
   * The key the session is stored under. Whatever the key, a stored session is adopted only
   * when its identity is the provider's.
   * @default `alix-token-manager:session:<provider identity id>`
   */
  storeKey?: string | undefined;
  /**
   * Tokens to start from, e.g. a refresh token from the environment. A session already
   * in the store takes precedence, since its refresh token is newer.
   * @default none: the first call signs in
   */
  initialTokens?: InitialTokens | undefined;
  /**
   * A pino logger; the manager logs through a child of it with secrets redacted.
   * @default a silent logger
   */
  logger?: Logger | undefined;

  // When to refresh
  /**
   * How long before the access token expires the background refresh starts, in ms; never
   * more than half the token's lifetime.
   * @default 300_000 (5 minutes)
   */
  refreshBeforeExpiryMs?: number | undefined;
  /**
   * In the last this-many ms of a token's life callers wait for a new token instead of
   * getting the old one (never more than half the refresh window), in ms.
   * @default 10_000
   */
  expirySkewMs?: number | undefined;
  /**
   * Up to this much random delay is added to the refresh point, in ms, so replicas started
   * together refresh apart (never past the middle of the refresh window).
   * @default 15_000
   */
  refreshJitterMs?: number | undefined;
  /**
   * A refresh token this close to its expiry is treated as expired (the manager signs in), in ms.
   * @default 60_000
   */
  refreshTokenMarginMs?: number | undefined;
  /**
   * When the refresh token has less than this left, `'refreshTokenExpiring'` is emitted
   * and a warning logged, once per refresh token, in ms.
   * @default 604_800_000 (7 days)
   */
  refreshTokenWarningMs?: number | undefined;
  /**
   * The clock, epoch ms. Pass a skewed or simulated one to test or to correct a known
   * offset; an injected clock is trusted never to step backwards. Without one, expiries are
   * read against `Date.now()` on arrival and then tracked on the monotonic clock
   * (`performance.now()`), so a wall-clock step never serves an expired token.
   * @default Date.now on arrival, then the monotonic clock
   */
  now?: (() => number) | undefined;

  // Retries: every wait before another auth attempt
  /**
   * How failed auth calls are retried: within one refresh run, and in the background after a
   * failed run while a valid token is held.
   * @default see {@link RetryOptions}: 4 retries from 500 ms up to 10 s; background runs from 5 s up to 60 s
   */
  retry?: RetryOptions | undefined;

  // Deadlines, cooldowns and the breaker
  /**
   * The longest a caller with no valid token waits for one, in ms: the whole refresh run
   * (lock, store, signer, auth calls and their retries) is abandoned at this deadline and the
   * caller gets a `TimeoutError` naming what did not answer.
   * @default 20_000
   */
  acquireTimeoutMs?: number | undefined;
  /**
   * Each store call (read, write, lock release) is given up after this long, in ms: at most
   * `acquireTimeoutMs` for the start-up read, and a quarter of it inside a refresh run (so a store
   * that hangs leaves time to sign in); a read that times out counts as "nothing stored", a write
   * as "held in memory only".
   * @default 2_000
   */
  storeTimeoutMs?: number | undefined;
  /**
   * After a refresh that a rejected token (a 401) started, a rejection of the new token within
   * this long starts no further refresh: an endpoint that rejects every token costs at most
   * one auth call per this many ms, and other callers keep the held token, in ms.
   * @default 30_000
   */
  invalidateCooldownMs?: number | undefined;
  /**
   * After a sign-in the API rejected (or answered malformed), calls that need a new token
   * fail fast with that error for this long instead of asking again, in ms.
   * @default 30_000
   */
  rejectedBackoffMs?: number | undefined;
  /**
   * The auth circuit breaker asked before every auth call: after repeated transient failures
   * (5xx, 429, timeouts, connection errors) it lets no call through but one probe per
   * `openMs`, and callers without a valid token fail at once with an `AuthUnavailableError`
   * (`reason: 'breaker'`, `retryAfterMs`). A `RedisTokenStore`'s breaker is shared by the
   * whole fleet; `false` turns the breaker off.
   * @default the store's `breaker` (a `MemoryTokenStore` has a process-local one), else none
   */
  breaker?: AuthBreaker | false | undefined;
}

/**
 * What the library's own parts (a pool) and its tests may pass beyond {@link TokenManagerOptions}:
 * read from the options object, but not part of the public type (see src/internal.ts).
 */
export interface InternalTokenManagerOptions extends TokenManagerOptions {
  /**
   * Timers for the proactive refresh and backoffs; every timer is `unref()`ed.
   * @default the global setTimeout / clearTimeout
   */
  timers?: Pick<Clock, 'setTimeout' | 'clearTimeout'>;
  /**
   * Arms the proactive refresh. By default each manager has one `unref()`ed timer; a
   * `TokenManagerPool` passes one shared scheduler so that any number of sessions use one timer.
   * @default a timer of the manager's own
   */
  scheduler?: RefreshScheduler;
  /**
   * Waited for before each auth call, and released after it: a pool caps how many auth calls
   * run at once across its sessions, and serves the calls of sessions already held (`held`) before new sessions'
   * sign-ins. The wait is bounded by the run's deadline (`signal`).
   * @default no gate
   */
  authGate?: AuthGate;
  /**
   * Random numbers in [0, 1) for the refresh jitter.
   * @default Math.random
   */
  random?: () => number;
  /**
   * Told the token set the hot path serves and until when (wall clock, epoch ms; −∞ once its refresh
   * point passed), or `undefined` and −∞, whenever that changes: a pool answers its own hot path from
   * it, and seeds the session's next manager with it.
   */
  onServable?: (tokens: TokenSet | undefined, until: number) => void;
}

/** One session's proactive-refresh timer, as a {@link RefreshScheduler} hands it out. */
export interface ScheduledRefresh {
  /** Fires at `at` (the manager's timeline); replaces any armed point; `undefined` cancels. */
  arm(at: number | undefined): void;
  cancel(): void;
}

/** Hands out {@link ScheduledRefresh}es: one per manager, all on one timer if it likes. */
export type RefreshScheduler = (onDue: () => void) => ScheduledRefresh;

/**
 * Resolves to a release function once an auth call may start; rejects when `signal` aborts. `held`: the run's
 * session holds (or was seeded with) a token set, whether this call refreshes it or signs in to replace it.
 */
export type AuthGate = (signal: AbortSignal, held: boolean) => Promise<() => void>;

/** Defaults of {@link RetryOptions}. */
export const DEFAULT_RETRY_OPTIONS = Object.freeze({
  retries: 4,
  minDelayMs: 500,
  maxDelayMs: 10_000,
  factor: 2,
  randomize: true,
  maxRetryTimeMs: 30_000,
  maxRetryAfterMs: 600_000,
  backgroundMinDelayMs: 5_000,
  backgroundMaxDelayMs: 60_000,
});

/** Defaults of {@link TokenManagerOptions}; see docs/token-lifecycle.md for the reasoning. */
export const DEFAULT_TOKEN_MANAGER_OPTIONS = Object.freeze({
  refreshBeforeExpiryMs: 5 * 60_000,
  expirySkewMs: 10_000,
  refreshJitterMs: 15_000,
  refreshTokenMarginMs: 60_000,
  refreshTokenWarningMs: 7 * 24 * 60 * 60_000,
  rejectedBackoffMs: 30_000,
  acquireTimeoutMs: 20_000,
  storeTimeoutMs: 2_000,
  invalidateCooldownMs: 30_000,
});

type Duration = keyof typeof DEFAULT_TOKEN_MANAGER_OPTIONS;

/** Options with every default applied. */
export type ResolvedTokenManagerOptions = Omit<InternalTokenManagerOptions, Duration | 'retry' | 'random'> & {
  -readonly [K in Duration]: number;
} & { retry: Required<RetryOptions>; random: () => number };

/** Options renamed in 0.x: refused with their new name, so that an upgrade never drops one silently. */
const RENAMED: Readonly<Record<string, string>> = {
  'retry.minTimeoutMs': 'retry.minDelayMs',
  'retry.maxTimeoutMs': 'retry.maxDelayMs',
  backgroundRetryDelayMs: 'retry.backgroundMinDelayMs',
  backgroundRetryMaxDelayMs: 'retry.backgroundMaxDelayMs',
};

/** Why a provider without identity is refused on a store the caller passed in. */
const UNIDENTIFIED_ON_SHARED_STORE =
  'TokenManager: the provider declares no identity, and the store was passed in, so its sessions could mix with ' +
  "another provider's (another partner's tokens served to your users). Declare `identity` on the provider; a " +
  'wrapper forwards it: `{ authenticate, refresh, identity: inner.identity }`.';

/**
 * Merges the defaults once and validates everything, so bad configuration throws at
 * construction rather than at the first request.
 * @throws ConfigurationError naming the offending option.
 */
export function resolveTokenManagerOptions(options: InternalTokenManagerOptions): ResolvedTokenManagerOptions {
  check(typeof options === 'object' && options !== null, 'TokenManager needs an options object');
  const provider = options.provider as Partial<TokenProvider> | undefined;
  check(
    typeof provider?.authenticate === 'function' && typeof provider.refresh === 'function',
    'TokenManager option provider must implement authenticate() and refresh()',
  );
  // An id-less identity would key every such session alike (a pool's users, two partners on one store) and match it.
  const identity = provider.identity as { id?: unknown } | null | undefined;
  const identified = identity === undefined || (typeof identity?.id === 'string' && identity.id !== '');
  const must = (ok: boolean, name: string, what: string): void =>
    check(ok, `TokenManager option ${name} must be ${what}`);
  must(identified, 'provider.identity.id', 'a non-empty string');
  must(typeof (options.retry ?? {}) === 'object', 'retry', 'an object');
  const resolved: ResolvedTokenManagerOptions = {
    ...DEFAULT_TOKEN_MANAGER_OPTIONS,
    random: Math.random,
    ...definedOnly(options),
    provider: options.provider,
    retry: { ...DEFAULT_RETRY_OPTIONS, ...definedOnly(options.retry ?? {}) },
  };
  const ms = (name: string, value: unknown): void =>
    must(typeof value === 'number' && value >= 0, name, 'a non-negative number of ms');
  for (const name of Object.keys(DEFAULT_TOKEN_MANAGER_OPTIONS) as Duration[]) ms(name, resolved[name]);
  for (const name of Object.keys(DEFAULT_RETRY_OPTIONS) as (keyof RetryOptions)[])
    if (name.endsWith('Ms')) ms(`retry.${name}`, resolved.retry[name]);
  const { retries, factor, backgroundMinDelayMs, backgroundMaxDelayMs } = resolved.retry;
  // 0 would retry a failing background refresh as fast as the server answers, for as long as the token is valid.
  const paced = backgroundMinDelayMs > 0 && backgroundMaxDelayMs > 0;
  check(paced, 'TokenManager options retry.backgroundMinDelayMs and retry.backgroundMaxDelayMs must be above 0');
  const whole = (Number.isInteger(retries) && retries >= 0) || retries === Infinity;
  must(whole, 'retry.retries', 'a whole number ≥ 0');
  must(typeof factor === 'number' && factor >= 1, 'retry.factor', 'a number ≥ 1');
  must(typeof resolved.retry.randomize === 'boolean', 'retry.randomize', 'a boolean');
  const given = [...Object.keys(options), ...Object.keys(options.retry ?? {}).map((key) => `retry.${key}`)];
  for (const name of given) check(!Object.hasOwn(RENAMED, name), `TokenManager option ${name} is now ${RENAMED[name]}`);
  for (const name of ['now', 'scheduler', 'authGate', 'random', 'onServable'] as const)
    must(['undefined', 'function'].includes(typeof resolved[name]), name, 'a function');
  const { breaker, storeKey, store, acquireTimeoutMs } = resolved;
  const isBreaker = breaker === false || missingMethod(breaker, ['admit', 'record', 'snapshot']) === undefined;
  must(breaker === undefined || isBreaker, 'breaker', 'an AuthBreaker (admit(), record(), snapshot()) or false');
  must(storeKey === undefined || (typeof storeKey === 'string' && storeKey !== ''), 'storeKey', 'a non-empty string');
  const timed = acquireTimeoutMs > 0 && acquireTimeoutMs <= MAX_TIMER_DELAY_MS;
  must(timed, 'acquireTimeoutMs', `positive and at most ${MAX_TIMER_DELAY_MS} ms (24.8 days)`);
  if (store !== undefined) {
    const missing = missingMethod(store, ['get', 'set', 'delete']);
    must(missing === undefined, `store.${missing}`, 'a function');
    check(resolved.provider.identity !== undefined || isPrivateStore(store), UNIDENTIFIED_ON_SHARED_STORE);
  }
  if (resolved.initialTokens !== undefined) {
    const now = (resolved.now ?? systemClock.now)();
    const problem = tokenSetProblem(resolved.initialTokens, { now, accessTokenOptional: true });
    check(problem === undefined, `TokenManager option initialTokens: ${problem}`);
  }
  return resolved;
}

/** The first of `methods` that `value` lacks (the first of them when it is not an object). */
function missingMethod(value: unknown, methods: string[]): string | undefined {
  const isObject = typeof value === 'object' && value !== null;
  return methods.find((m) => !isObject || typeof Reflect.get(value, m) !== 'function');
}

/**
 * The one backoff policy's two schedules: retries inside a run (`retry`), and background
 * attempts after a failed run while a valid token is held (`retry.background*`). Both share
 * the `Retry-After` cap.
 */
export function backoffPolicies(
  options: ResolvedTokenManagerOptions,
): Record<'foreground' | 'background', BackoffPolicy> {
  const { retry, random } = options;
  const foreground = { ...retry, maxAttempts: retry.retries + 1, random };
  const { backgroundMinDelayMs: minDelayMs, backgroundMaxDelayMs: maxDelayMs } = retry;
  const background = { ...foreground, minDelayMs, maxDelayMs, factor: 2, randomize: false, maxAttempts: Infinity };
  return { foreground, background };
}
