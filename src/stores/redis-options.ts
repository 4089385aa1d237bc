import type Redis from 'ioredis';
import type { Logger } from 'pino';
import { systemClock } from '../clock';
import { definedOnly } from '../defaults';
import { ConfigurationError } from '../errors';

/** Options of {@link RedisTokenStore}. */
export interface RedisTokenStoreOptions {
  /**
   * An ioredis client (standalone or Sentinel). You own it: the store never quits it, and
   * connects it only when it was created with `lazyConnect: true` and has not connected yet
   * (as ioredis itself would on the first command). Give it `enableOfflineQueue: false` and
   * a small `maxRetriesPerRequest`, so a command fails at once while Redis is down instead
   * of waiting in a queue.
   *
   * The store holds any number of sessions: the manager names each one's key (by default
   * `alix-token-manager:session:<identity id>`); its lock is `<key>:lock` and its
   * notification channel `<key>:published`.
   */
  client: Redis;
  /**
   * How long the refresh lock lives if its holder never releases it (a crashed process), in
   * ms. Keep it above the longest refresh, retries included.
   * @default 30_000
   */
  lockTtlMs?: number;
  /**
   * The longest a process waits for another's refresh before it gives up and refreshes on
   * its own, in ms. Must exceed `lockTtlMs`, so that a crashed holder's lock can expire and
   * be taken over within the wait.
   * @default 45_000
   */
  lockWaitMs?: number;
  /**
   * While waiting, the store and the lock are re-checked this often in case a pub/sub
   * notification was missed (or the holder died), in ms.
   * @default 500
   */
  pollIntervalMs?: number;
  /**
   * Each Redis command is given up after this long, in ms, so an unreachable Redis never
   * holds a refresh up for long.
   * @default 1_000
   */
  commandTimeoutMs?: number;
  /**
   * While the client is still connecting (a store used straight after `new Redis(…)`), a
   * command waits this long for the connection to become ready, in ms, before it fails.
   * A connection attempt that fails ends the wait at once.
   * @default 2_000
   */
  connectTimeoutMs?: number;
  /**
   * A pino logger; the store logs through a child of it with secrets redacted.
   * @default a silent logger
   */
  logger?: Logger;
  /**
   * The clock token expiries are measured against (for the key's TTL), epoch ms. Use the
   * manager's `now`.
   * @default the system clock
   */
  now?: () => number;
}

/** Defaults of {@link RedisTokenStoreOptions}. */
export const DEFAULT_REDIS_TOKEN_STORE_OPTIONS = Object.freeze({
  lockTtlMs: 30_000,
  lockWaitMs: 45_000,
  pollIntervalMs: 500,
  commandTimeoutMs: 1_000,
  connectTimeoutMs: 2_000,
  now: (): number => systemClock.now(),
});

/** Options with every default applied (the logger is resolved apart). */
export type ResolvedRedisTokenStoreOptions = Required<Omit<RedisTokenStoreOptions, 'logger'>>;

const DURATIONS = ['lockTtlMs', 'lockWaitMs', 'pollIntervalMs', 'commandTimeoutMs', 'connectTimeoutMs'] as const;

/** Merges the defaults and validates; bad options throw at construction. */
export function resolveRedisTokenStoreOptions(options: RedisTokenStoreOptions): ResolvedRedisTokenStoreOptions {
  if (typeof options !== 'object' || options === null) throw new ConfigurationError('RedisTokenStore needs an options object');
  const client = options.client as Partial<Redis> | undefined;
  for (const method of ['get', 'set', 'del', 'eval', 'publish', 'duplicate', 'connect', 'once', 'off'] as const) {
    if (typeof client?.[method] !== 'function') throw new ConfigurationError('RedisTokenStore option client must be an ioredis client');
  }
  if ('key' in options) {
    // Version 1 took one key per store; JavaScript callers would otherwise pass it unnoticed.
    throw new ConfigurationError(
      'RedisTokenStore option key was removed in version 2: one store holds every session, and the manager names each key (its storeKey option)',
    );
  }
  const { logger: _logger, ...rest } = options;
  const resolved = { ...DEFAULT_REDIS_TOKEN_STORE_OPTIONS, ...definedOnly(rest) } as ResolvedRedisTokenStoreOptions;
  for (const name of DURATIONS) {
    const value = resolved[name];
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new ConfigurationError(`RedisTokenStore option ${name} must be a positive number of ms`);
    }
  }
  if (resolved.lockWaitMs <= resolved.lockTtlMs) {
    throw new ConfigurationError(
      `RedisTokenStore option lockWaitMs (${resolved.lockWaitMs}) must exceed lockTtlMs (${resolved.lockTtlMs}) so a crashed holder's lock can be taken over`,
    );
  }
  if (typeof resolved.now !== 'function') throw new ConfigurationError('RedisTokenStore option now must be a function');
  return resolved;
}
