/** Options of {@link TokenManagerPool}, their defaults and their validation. */
import { definedOnly } from '../defaults';
import { ConfigurationError } from '../errors';
import { resolveTokenManagerOptions } from '../manager/options';
import type { InternalTokenManagerOptions, TokenManagerOptions } from '../manager/options';
import type { TokenProvider } from '../providers/types';

/** The longest session key accepted, in characters (an email address is at most 320). */
export const MAX_SESSION_KEY_LENGTH = 320;

/** What every session of a pool shares: the {@link TokenManagerOptions} a pool passes on. */
export type PooledManagerOptions = Omit<TokenManagerOptions, (typeof PER_SESSION)[number]>;

/** The manager options the pool sets for each session itself. */
const PER_SESSION = ['provider', 'scheduler', 'authGate', 'onServable', 'storeKey', 'initialTokens'] as const;

/**
 * Options of {@link TokenManagerPool}; every `TokenManager` option (but the per-session ones) applies to each session.
 */
export interface TokenManagerPoolOptions extends PooledManagerOptions {
  /**
   * Builds the provider of one session from its key (an end user's email, say); called once
   * per session, when it is created. `AlixAuthProvider.forUsers(common)` returns one.
   */
  createProvider: (key: string) => TokenProvider;
  /**
   * The most sessions held at once; creating one more evicts the least recently used, in sessions.
   * @default 10_000
   */
  maxSessions?: number;
  /**
   * The most sessions the pool's private store keeps (used only without a `store` option):
   * a user whose session was evicted adopts the kept one on return, without a sign-in, while
   * it is held; beyond this many, the least recently stored are dropped. Each takes about
   * 1.1 kB of heap.
   * @default 50_000
   */
  maxStoredSessions?: number;
  /**
   * A session not used for this long is evicted (node-cache TTL, renewed on use at most once
   * a second), in ms; at least 1_000.
   * @default 1_800_000 (30 minutes)
   */
  idleTtlMs?: number;
  /**
   * The most auth calls (sign-ins and refreshes) running at once across all sessions; the
   * others wait their turn within their `acquireTimeoutMs`.
   * @default 8
   */
  maxConcurrentAuth?: number;
  /**
   * Up to this much random delay is added to each session's refresh point, in ms; it never
   * goes past the middle of the refresh window, so the pool's default (no cap) spreads
   * refreshes over half the window: jitter proportional to the token's lifetime.
   * @default Number.POSITIVE_INFINITY
   */
  refreshJitterMs?: number;
}

/** Defaults of {@link TokenManagerPoolOptions} (the `TokenManager` ones apply to the rest). */
export const DEFAULT_TOKEN_MANAGER_POOL_OPTIONS = Object.freeze({
  maxSessions: 10_000,
  maxStoredSessions: 50_000,
  idleTtlMs: 30 * 60_000,
  maxConcurrentAuth: 8,
  refreshJitterMs: Number.POSITIVE_INFINITY,
});

/** What the library's tests and benches may pass beyond {@link TokenManagerPoolOptions} (see src/internal.ts). */
export interface InternalTokenManagerPoolOptions
  extends TokenManagerPoolOptions, Pick<InternalTokenManagerOptions, 'timers' | 'random'> {}

/** Pool options with their defaults applied, split into the pool's and the sessions'. */
export interface ResolvedPoolOptions extends Required<Omit<TokenManagerPoolOptions, keyof PooledManagerOptions>> {
  /** The sessions' `acquireTimeoutMs` (default applied). */
  acquireTimeoutMs: number;
  /** What each session's manager is built with (besides its provider and the pool's hooks). */
  manager: Omit<InternalTokenManagerOptions, (typeof PER_SESSION)[number]>;
}

/** Stands in for the per-session providers while the shared manager options are validated; never called. */
const NO_PROVIDER: TokenProvider = {
  authenticate: () => Promise.reject(new Error('unused')),
  refresh: () => Promise.reject(new Error('unused')),
  identity: { id: 'pool' },
};

/**
 * Merges the defaults once and validates every option, the sessions' manager options included.
 * @throws ConfigurationError naming the offending option.
 */
export function resolvePoolOptions(options: InternalTokenManagerPoolOptions): ResolvedPoolOptions {
  if (typeof options !== 'object' || options === null)
    throw new ConfigurationError('TokenManagerPool needs an options object');
  if (typeof options.createProvider !== 'function')
    throw new ConfigurationError('TokenManagerPool option createProvider must be a function (key) => TokenProvider');
  for (const name of PER_SESSION) {
    if ((options as Partial<InternalTokenManagerOptions>)[name] !== undefined)
      throw new ConfigurationError(`TokenManagerPool option ${name} is per session and set by the pool; remove it`);
  }
  const merged = {
    ...DEFAULT_TOKEN_MANAGER_POOL_OPTIONS,
    ...definedOnly(options),
    createProvider: options.createProvider,
  };
  const { createProvider, maxSessions, maxStoredSessions, idleTtlMs, maxConcurrentAuth, ...manager } = merged;
  for (const [name, value] of Object.entries({ maxSessions, maxStoredSessions, maxConcurrentAuth })) {
    if (!Number.isInteger(value) || value < 1)
      throw new ConfigurationError(`TokenManagerPool option ${name} must be an integer ≥ 1`);
  }
  if (typeof idleTtlMs !== 'number' || Number.isNaN(idleTtlMs) || idleTtlMs < 1_000)
    throw new ConfigurationError('TokenManagerPool option idleTtlMs must be a number of ms ≥ 1000');
  const { acquireTimeoutMs } = resolveTokenManagerOptions({ ...manager, provider: NO_PROVIDER });
  return { createProvider, maxSessions, maxStoredSessions, idleTtlMs, maxConcurrentAuth, acquireTimeoutMs, manager };
}

/**
 * A session key: a non-empty string of at most {@link MAX_SESSION_KEY_LENGTH} characters.
 * @throws ConfigurationError otherwise (the message never repeats the key: it is personal data).
 */
export function assertSessionKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_SESSION_KEY_LENGTH) {
    const what = typeof key === 'string' ? `a string of ${key.length} characters` : typeof key;
    throw new ConfigurationError(
      `TokenManagerPool: a session key must be a non-empty string of at most ${MAX_SESSION_KEY_LENGTH} characters, ` +
        `got ${what}`,
    );
  }
}
