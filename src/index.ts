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
  TimeoutError,
  MissingPeerError,
  isTokenManagerError,
  errorCodeOf,
  isTransientError,
} from './errors';
export type {
  ErrorCode,
  AuthOperation,
  AuthRejectedDetails,
  AuthUnavailableDetails,
  TokenManagerErrorOptions,
  TimeoutDetails,
  TimeoutStage,
  MissingPeerDetails,
} from './errors';
export { systemClock } from './clock';
export type { Clock, TimerHandle } from './clock';
export type { TokenSet, InitialTokens, RefreshTokenSeed } from './token-set';
export type { TokenProvider, ProviderIdentity } from './providers/types';
export type {
  TokenStore,
  StoredSession,
  AcquireRefreshLockOptions,
  RefreshLock,
  RefreshLockResult,
  AuthBreaker,
  BreakerAdmission,
  BreakerOutcome,
  BreakerState,
  BreakerStatus,
} from './stores/types';
export { LocalAuthBreaker, DEFAULT_AUTH_BREAKER_OPTIONS } from './manager/breaker';
export type { AuthBreakerOptions } from './manager/breaker';
export { MemoryTokenStore, DEFAULT_MEMORY_TOKEN_STORE_OPTIONS } from './stores/memory';
export type { MemoryTokenStoreOptions } from './stores/memory';
export { AesGcmTokenCipher } from './stores/cipher';
export type { TokenCipher, AesGcmTokenCipherOptions } from './stores/cipher';
export { UnreadableSessionError } from './stores/encryption';
export type { TokenEncryptionOptions } from './stores/encryption';
export { REDACT_PATHS, REDACTED, REDACTED_BEARER } from './redaction';
export { TokenManager } from './manager/token-manager';
export type { CloseOptions } from './manager/token-manager';
export { DIAGNOSTICS_CHANNEL_PREFIX } from './manager/types';
export type {
  GetAccessTokenOptions,
  TokenManagerState,
  TokenManagerStatus,
  StatusError,
  HealthOptions,
  TokenManagerHealth,
  InvalidateResult,
  InvalidateOptions,
  RefreshReason,
  RefreshOutcome,
  AuthCallOperation,
  RefreshedEvent,
  RefreshTokenExpiringEvent,
  TokenManagerEvents,
  LifecycleEvent,
  LifecycleEventType,
  RefreshStartedEvent,
  RefreshEndedEvent,
  AuthCallStartedEvent,
  AuthCallEndedEvent,
  RetryScheduledEvent,
  InvalidatedEvent,
  ReplayedEvent,
  ReplayReport,
  LockWaitedEvent,
  StoreFailedEvent,
  FailFastEnteredEvent,
  AdoptedEvent,
  IdentityMismatchEvent,
  TokenWaitedEvent,
  RefreshTokenExpiringLifecycleEvent,
  BreakerChangedEvent,
  ClosedEvent,
} from './manager/types';
export type { DiagnosticsMessage } from './manager/lifecycle';
export { DEFAULT_HEALTH_OPTIONS } from './manager/health';
export { DEFAULT_TOKEN_MANAGER_OPTIONS, DEFAULT_RETRY_OPTIONS } from './manager/options';
export type { TokenManagerOptions, RetryOptions } from './manager/options';
export { TokenManagerPool, POOL_RENEW_INTERVAL_MS } from './pool/pool';
export type { PoolCounters } from './pool/types';
export { DEFAULT_TOKEN_MANAGER_POOL_OPTIONS, MAX_SESSION_KEY_LENGTH } from './pool/options';
export type { TokenManagerPoolOptions, PooledManagerOptions } from './pool/options';
export type {
  TokenManagerPoolStatus,
  TokenManagerPoolEvents,
  PoolLifecycleEvent,
  PoolEvictedEvent,
  PoolEvictionReason,
} from './pool/types';
export type { AccessTokenSource, SessionSource } from './adapters/types';
export {
  AlixAuthProvider,
  DEFAULT_ALIX_AUTH_PROVIDER_OPTIONS,
  defaultSignedString,
  defaultAuthenticateBody,
  defaultRefreshBody,
} from './providers/alix';
export type {
  AlixAuthProviderOptions,
  AlixAuthPaths,
  AlixSigner,
  AlixSigningContext,
  AlixAuthenticateBodyContext,
  AlixRefreshBodyContext,
} from './providers/alix';
export {
  getAccessToken,
  closeDefaultTokenManager,
  getDefaultTokenManager,
  createTokenManagerFromEnv,
  createTokenManagerPoolFromEnv,
  getDefaultTokenManagerPool,
} from './standalone/default-manager';
export type { StandaloneGetAccessTokenOptions } from './standalone/default-manager';
export { readAlixEnvConfig, ALIX_ENV } from './standalone/env-config';
export type { AlixEnvConfig } from './standalone/env-config';
export { attachTokenManager, DEFAULT_ATTACH_TOKEN_MANAGER_OPTIONS } from './adapters/axios';
export type { AttachTokenManagerOptions, DetachTokenManager } from './adapters/axios';
export { createAuthorizedFetch, DEFAULT_AUTHORIZED_FETCH_OPTIONS } from './adapters/fetch';
export type { CreateAuthorizedFetchOptions, AuthorizedFetch, AuthorizedFetchInit } from './adapters/fetch';
