/**
 * `alix-token-manager/redis`: the Redis-backed token store, kept behind its own entry so
 * the core never loads ioredis.
 */
export { DEFAULT_REDIS_TOKEN_STORE_OPTIONS, RedisTokenStore } from './stores/redis';
export type { RedisAuthBreakerOptions, RedisTokenStoreKeys, RedisTokenStoreOptions } from './stores/redis';
export { RedisAuthBreaker } from './stores/redis-breaker';
export type { RedisBreakerKeys } from './stores/redis-breaker';
export type {
  AcquireRefreshLockOptions,
  AuthBreaker,
  BreakerStatus,
  RefreshLock,
  RefreshLockResult,
  StoredSession,
  TokenStore,
} from './stores/types';
