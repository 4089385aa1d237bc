export {
  ErrorCodes,
  TokenManagerError,
  ConfigurationError,
  AuthRejectedError,
  AuthUnavailableError,
  MalformedResponseError,
  TokenManagerClosedError,
  AbortedError,
  TokenStoreError,
  isTokenManagerError,
  isTransientError,
} from './errors';
export type { ErrorCode, AuthOperation, AuthRejectedDetails, AuthUnavailableDetails, TokenManagerErrorOptions } from './errors';
export { systemClock } from './clock';
export type { Clock, TimerHandle } from './clock';
export type { TokenSet, InitialTokens } from './token-set';
export type { TokenProvider } from './providers/types';
export type { TokenStore } from './stores/types';
export { MemoryTokenStore, DEFAULT_MEMORY_TOKEN_STORE_OPTIONS } from './stores/memory';
export type { MemoryTokenStoreOptions } from './stores/memory';
export { REDACT_PATHS } from './logger';
export { TokenManager } from './token-manager';
export type {
  GetAccessTokenOptions,
  TokenManagerState,
  TokenManagerStatus,
  RefreshReason,
  RefreshedEvent,
  RefreshTokenExpiringEvent,
  TokenManagerEvents,
} from './token-manager';
export { DEFAULT_TOKEN_MANAGER_OPTIONS, DEFAULT_RETRY_OPTIONS } from './manager/options';
export type { TokenManagerOptions, RetryOptions } from './manager/options';
export type { AccessTokenSource } from './adapters/types';
