/** Options of {@link TokenManagerPool}, their defaults and their validation. */
import { definedOnly } from '../defaults';
import { ConfigurationError } from '../errors';
import type { TokenManagerOptions } from '../manager/options';
import type { TokenProvider } from '../providers/types';

/** The longest session key accepted, in characters (an email address is at most 320). */
export const MAX_SESSION_KEY_LENGTH = 320;

/** What every session of a pool shares: the {@link TokenManagerOptions} a pool passes on. */
export type PooledManagerOptions = Omit<
  TokenManagerOptions,
  'provider' | 'scheduler' | 'authGate' | 'storeKey' | 'initialTokens'
>;

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

/** Pool options with their defaults applied, split into the pool's and the sessions'. */
export interface ResolvedPoolOptions {
  createProvider: (key: string) => TokenProvider;
  maxSessions: number;
  maxStoredSessions: number;
  idleTtlMs: number;
  maxConcurrentAuth: number;
  /** What each session's manager is built with (besides its provider and the pool's hooks). */
  manager: PooledManagerOptions;
}

const FORBIDDEN = ['provider', 'scheduler', 'authGate', 'storeKey', 'initialTokens'] as const;

function assertCount(name: string, value: unknown, min: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new ConfigurationError(`TokenManagerPool option ${name} must be an integer ≥ ${min}`);
  }
}

/**
 * Merges the defaults once and validates the pool's own options (the manager options are
 * validated by building the first session's template at construction).
 * @throws ConfigurationError naming the offending option.
 */
export function resolvePoolOptions(options: TokenManagerPoolOptions): ResolvedPoolOptions {
  if (typeof options !== 'object' || options === null)
    throw new ConfigurationError('TokenManagerPool needs an options object');
  if (typeof options.createProvider !== 'function')
    throw new ConfigurationError('TokenManagerPool option createProvider must be a function (key) => TokenProvider');
  for (const name of FORBIDDEN) {
    if ((options as unknown as Record<string, unknown>)[name] !== undefined) {
      throw new ConfigurationError(`TokenManagerPool option ${name} is per session and set by the pool; remove it`);
    }
  }
  const {
    createProvider,
    maxSessions: _m,
    maxStoredSessions: _s,
    idleTtlMs: _i,
    maxConcurrentAuth: _c,
    ...rest
  } = options;
  const given = {
    maxSessions: _m,
    maxStoredSessions: _s,
    idleTtlMs: _i,
    maxConcurrentAuth: _c,
    refreshJitterMs: options.refreshJitterMs,
  };
  const merged = { ...DEFAULT_TOKEN_MANAGER_POOL_OPTIONS, ...definedOnly(given) };
  assertCount('maxSessions', merged.maxSessions, 1);
  assertCount('maxStoredSessions', merged.maxStoredSessions, 1);
  assertCount('maxConcurrentAuth', merged.maxConcurrentAuth, 1);
  if (typeof merged.idleTtlMs !== 'number' || Number.isNaN(merged.idleTtlMs) || merged.idleTtlMs < 1_000) {
    throw new ConfigurationError('TokenManagerPool option idleTtlMs must be a number of ms ≥ 1000');
  }
  return {
    createProvider,
    maxSessions: merged.maxSessions,
    maxStoredSessions: merged.maxStoredSessions,
    idleTtlMs: merged.idleTtlMs,
    maxConcurrentAuth: merged.maxConcurrentAuth,
    manager: { ...rest, refreshJitterMs: merged.refreshJitterMs },
  };
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
