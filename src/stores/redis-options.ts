import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { systemClock } from '../clock';
import { assertPositiveMs, definedOnly } from '../defaults';
import { ConfigurationError } from '../errors';
import { resolveAuthBreakerOptions } from './memory-breaker';
import type { AuthBreakerOptions, ResolvedAuthBreakerOptions } from './memory-breaker';
import { resolveTokenCipher } from './encryption';
import type { TokenCipher, TokenEncryptionOptions } from './encryption';

/** Options of the fleet-wide breaker a {@link RedisTokenStoreOptions} store keeps in Redis. */
export interface RedisAuthBreakerOptions extends AuthBreakerOptions {
  /**
   * The prefix of the breaker's keys: `{<key>}:tripped`, `{<key>}:open`, `{<key>}:probe`,
   * `{<key>}:failures` (one hash tag: one cluster slot). Replicas that share it share the breaker.
   * @default 'alix-token-manager:breaker'
   */
  key?: string;
}

/** Options of {@link RedisTokenStore}. */
export interface RedisTokenStoreOptions {
  /**
   * An ioredis client: standalone, Sentinel (`new Redis({ sentinels, name })`) or Cluster
   * (`new Redis.Cluster(nodes)`). You own it: the store never quits it, and
   * connects it only when it was created with `lazyConnect: true` and has not connected yet
   * (as ioredis itself would on the first command). Give it `enableOfflineQueue: false` and
   * a small `maxRetriesPerRequest`, so a command fails at once while Redis is down instead
   * of waiting in a queue.
   *
   * The store holds any number of sessions: the manager names each one's key `<key>` (by
   * default `alix-token-manager:session:<identity id>`); in Redis the session is `{<key>}`, its
   * lock `{<key>}:lock` and its notification channel `{<key>}:published` (hash-tagged, so one
   * cluster slot; a key that already has a hash tag is used as it is).
   */
  client: Redis | Cluster;
  /**
   * The breaker shared by every replica on this Redis (see `TokenManagerOptions.breaker`);
   * `false` for none (managers then use no breaker unless given one).
   * @default DEFAULT_AUTH_BREAKER_OPTIONS, key 'alix-token-manager:breaker'
   */
  breaker?: RedisAuthBreakerOptions | false;
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
   * Encrypts every session at rest (AES-256-GCM; the store key and identity are authenticated
   * with it): `{ keys: { [keyId]: key }, current: keyId }` with 32-byte keys (Buffers or
   * base64), or `{ cipher }` for a KMS. A value that does not open counts as no stored session.
   * Plaintext values are read once and re-written sealed. See docs/security.md.
   * @default no encryption
   */
  encryption?: TokenEncryptionOptions;
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
  breakerKey: 'alix-token-manager:breaker',
});

/** Options with every default applied (the logger is resolved apart). */
type PlainOptions = Omit<RedisTokenStoreOptions, 'logger' | 'breaker' | 'encryption'>;
export type ResolvedRedisTokenStoreOptions = Required<PlainOptions> & {
  /** The breaker's options and key prefix, or false. */
  breaker: (ResolvedAuthBreakerOptions & { key: string }) | false;
  /** What seals sessions, or undefined without encryption. */
  cipher: TokenCipher | undefined;
};

/** The methods a client must have: a Redis, a Sentinel-configured Redis and a Cluster all have these. */
const CLIENT_METHODS = ['get', 'set', 'del', 'eval', 'publish', 'duplicate', 'connect', 'once', 'off'] as const;
const DURATIONS = ['lockTtlMs', 'lockWaitMs', 'pollIntervalMs', 'commandTimeoutMs', 'connectTimeoutMs'] as const;

/** Merges the defaults and validates; bad options throw at construction. */
export function resolveRedisTokenStoreOptions(options: RedisTokenStoreOptions): ResolvedRedisTokenStoreOptions {
  const invalid = (what: string): ConfigurationError => new ConfigurationError(`RedisTokenStore ${what}`);
  if (typeof options !== 'object' || options === null) throw invalid('needs an options object');
  const client = options.client as Partial<Redis> | undefined;
  if (CLIENT_METHODS.some((method) => typeof client?.[method] !== 'function')) {
    throw invalid('option client must be an ioredis client');
  }
  // Version 1 took one key per store; JavaScript callers would otherwise pass it unnoticed.
  if ('key' in options) {
    const why = 'one store holds every session, and the manager names each key (its storeKey option)';
    throw invalid(`option key was removed in version 2: ${why}`);
  }
  const { logger: _logger, breaker, encryption, ...rest } = options;
  const { breakerKey, ...defaults } = DEFAULT_REDIS_TOKEN_STORE_OPTIONS;
  const cipher = resolveTokenCipher(encryption, 'RedisTokenStore');
  const resolved = { ...defaults, ...definedOnly(rest), breaker: false, cipher } as ResolvedRedisTokenStoreOptions;
  if (breaker !== false) {
    const { key = breakerKey, ...breakerOptions } = breaker ?? {};
    if (typeof key !== 'string' || key === '') throw invalid('option breaker.key must be a non-empty string');
    const now = resolved.now;
    resolved.breaker = { ...resolveAuthBreakerOptions({ now, ...breakerOptions }, 'RedisTokenStore breaker'), key };
  }
  for (const name of DURATIONS) assertPositiveMs(`RedisTokenStore option ${name}`, resolved[name]);
  const { lockWaitMs, lockTtlMs } = resolved;
  if (lockWaitMs <= lockTtlMs) {
    const why = `so a crashed holder's lock can be taken over`;
    throw invalid(`option lockWaitMs (${lockWaitMs}) must exceed lockTtlMs (${lockTtlMs}) ${why}`);
  }
  if (typeof resolved.now !== 'function') throw invalid('option now must be a function');
  return resolved;
}
