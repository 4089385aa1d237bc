/**
 * `alix-token-manager/redis`: the Redis-backed token store, kept behind its own entry so
 * the core never loads ioredis.
 */
export { RedisTokenStore } from './stores/redis';
export type { RedisTokenStoreKeys } from './stores/redis';
export { DEFAULT_REDIS_TOKEN_STORE_OPTIONS } from './stores/redis-options';
export type { RedisTokenStoreOptions, RedisAuthBreakerOptions } from './stores/redis-options';
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
