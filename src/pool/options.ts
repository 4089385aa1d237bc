/** Options of {@link TokenManagerPool}, their defaults and their validation. */
import { definedOnly } from '../defaults';
import { assertConfig } from '../errors';
import { resolveTokenManagerOptions } from '../manager/options';
import type { InternalTokenManagerOptions, TokenManagerOptions } from '../manager/options';
import type { TokenProvider } from '../providers/types';
import { MemoryTokenStore, markPrivate } from '../stores/memory';
import type { MemoryTokenStoreOptions } from '../stores/memory';

/** The longest session key accepted, in characters (an email address is at most 320). */
const MAX_SESSION_KEY_LENGTH = 320;

/** The manager options the pool sets for each session itself. */
const PER_SESSION = ['provider', 'scheduler', 'authGate', 'onServable', 'storeKey', 'initialTokens'] as const;

/**
 * Options of {@link TokenManagerPool}; every `TokenManager` option (but the per-session ones) applies to each session:
 * what every session of a pool shares.
 */
export interface TokenManagerPoolOptions extends Omit<TokenManagerOptions, (typeof PER_SESSION)[number]> {
  /**
   * Builds the provider of one session from its key (an end user's email, say); called when the
   * session is created, and again each time it wakes from rest. `AlixAuthProvider.forUsers(common)` returns one.
   */
  createProvider: (key: string) => TokenProvider;
  /**
   * The most sessions held at once; creating one more evicts the least recently used, in sessions. Sessions callers
   * wait on may hold the pool over it, up to twice it; there a new session is refused with `PoolFullError` when
   * callers wait on every one.
   * @default 10_000
   */
  maxSessions?: number | undefined;
  /**
   * The most sessions the pool's private store keeps (used only without a `store` option):
   * a user whose session was evicted adopts the kept one on return, without a sign-in, while
   * it is held; beyond this many, the least recently stored are dropped. Each takes about
   * 1.1 kB of heap.
   * @default 50_000
   */
  maxStoredSessions?: number | undefined;
  /**
   * A session not used for this long is evicted (node-cache TTL, renewed on use at most once
   * a second), in ms; at least 1_000.
   * @default 1_800_000 (30 minutes)
   */
  idleTtlMs?: number | undefined;
  /**
   * The most auth calls (sign-ins and refreshes) running at once across all sessions; the
   * others wait their turn within their `acquireTimeoutMs`.
   * @default 8
   */
  maxConcurrentAuth?: number | undefined;
  /**
   * Up to this much random delay is added to each session's refresh point, in ms; it never
   * goes past the middle of the refresh window, so the pool's default (no cap) spreads
   * refreshes over half the window: jitter proportional to the token's lifetime.
   * @default Number.POSITIVE_INFINITY
   */
  refreshJitterMs?: number | undefined;
}

/** Defaults of {@link TokenManagerPoolOptions} (the `TokenManager` ones apply to the rest). */
export const DEFAULT_TOKEN_MANAGER_POOL_OPTIONS = Object.freeze({
  maxSessions: 10_000,
  maxStoredSessions: 50_000,
  idleTtlMs: 30 * 60_000,
  maxConcurrentAuth: 8,
  refreshJitterMs: Number.POSITIVE_INFINITY,
});

/**
 * What the library's own parts, tests and benches may pass beyond {@link TokenManagerPoolOptions}
 * (see src/internal.ts).
 */
export interface InternalTokenManagerPoolOptions
  extends TokenManagerPoolOptions, Pick<InternalTokenManagerOptions, 'timers' | 'random'> {
  /** Encrypts the sessions in the pool's private store (`ALIX_TOKEN_ENCRYPTION_KEYS`); unused with a `store` option. */
  encryption?: MemoryTokenStoreOptions['encryption'];
}

/** Stands in for the per-session providers while the shared manager options are validated; never called. */
const unused = (): Promise<never> => Promise.reject(new Error('unused'));
const NO_PROVIDER: TokenProvider = { authenticate: unused, refresh: unused, identity: { id: 'pool' } };

/**
 * Merges the defaults once and validates every option, the sessions' manager options included.
 * @returns the pool options with their defaults applied, split into the pool's and the sessions':
 *   `acquireTimeoutMs` is the sessions' (default applied); `privateStore` the store the pool made for
 *   itself, without a `store` option (then also `manager.store`): emptied by `close()`; `manager` what
 *   each session's manager is built with (besides its provider and the pool's hooks).
 * @throws ConfigurationError naming the offending option.
 */
export function resolvePoolOptions(options: InternalTokenManagerPoolOptions) {
  assertConfig(typeof options === 'object' && options !== null, 'TokenManagerPool needs an options object');
  const check = (ok: boolean, problem: string): void => assertConfig(ok, `TokenManagerPool option ${problem}`);
  check(typeof options.createProvider === 'function', 'createProvider must be a function (key) => TokenProvider');
  for (const name of PER_SESSION)
    check(Reflect.get(options, name) === undefined, `${name} is per session and set by the pool; remove it`);
  const { createProvider, maxSessions, maxStoredSessions, idleTtlMs, maxConcurrentAuth, encryption, ...manager } = {
    ...DEFAULT_TOKEN_MANAGER_POOL_OPTIONS,
    ...definedOnly(options),
    createProvider: options.createProvider,
  };
  for (const [name, value] of Object.entries({ maxSessions, maxStoredSessions, maxConcurrentAuth }))
    check(Number.isInteger(value) && value >= 1, `${name} must be an integer ≥ 1`);
  check(typeof idleTtlMs === 'number' && idleTtlMs >= 1_000, 'idleTtlMs must be a number of ms ≥ 1000');
  const { acquireTimeoutMs } = resolveTokenManagerOptions({ ...manager, provider: NO_PROVIDER });
  const storeOptions = { now: manager.now, maxSessions: maxStoredSessions, encryption };
  const privateStore = manager.store ? undefined : markPrivate(new MemoryTokenStore(storeOptions));
  manager.store ??= privateStore;
  return { createProvider, maxSessions, idleTtlMs, maxConcurrentAuth, acquireTimeoutMs, privateStore, manager };
}

/**
 * A session key: a non-empty string of at most {@link MAX_SESSION_KEY_LENGTH} characters, well-formed Unicode.
 * @throws ConfigurationError otherwise (the message never repeats the key: it is personal data).
 */
export function assertSessionKey(key: unknown): asserts key is string {
  const what = typeof key === 'string' ? `a string of ${key.length} characters` : typeof key;
  const valid = typeof key === 'string' && key.length > 0 && key.length <= MAX_SESSION_KEY_LENGTH;
  const rule = `a non-empty string of at most ${MAX_SESSION_KEY_LENGTH} characters`;
  assertConfig(valid, `TokenManagerPool: a session key must be ${rule}, got ${what}`);
  // Hashed as UTF-8 into a store key, every lone surrogate reads as U+FFFD: two users would share one session.
  assertConfig(
    !/\p{Surrogate}/u.test(key),
    'TokenManagerPool: a session key must be well-formed Unicode (no lone surrogates)',
  );
}
