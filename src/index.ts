/**
 * The public API of `alix-token-manager`, by name. Defaults are documented in
 * docs/configuration.md rather than exported; optional parts live behind subpath entries
 * (`/redis`, `/otel`, `/testing`, `/testing/msw`).
 */
export { TokenManager } from './manager/token-manager';
export type { CloseOptions } from './manager/token-manager';
export type { RetryOptions, TokenManagerOptions } from './manager/options';
export type { GetAccessTokenOptions, HealthOptions, InvalidateOptions, InvalidateResult } from './manager/types';
export type { TokenManagerHealth, TokenManagerState, TokenManagerStatus, TokenManagerEvents } from './manager/types';
export type { LifecycleEvent, LifecycleEventType, RefreshedEvent, RefreshReason, ReplayReport } from './manager/types';
export type { DiagnosticsMessage } from './manager/lifecycle';
export { TokenManagerPool } from './pool/pool';
export type { TokenManagerPoolOptions } from './pool/options';
export type { TokenManagerPoolEvents, TokenManagerPoolStatus, PoolLifecycleEvent } from './pool/types';
export type { PoolEvictedEvent } from './pool/types';
export { AlixAuthProvider } from './providers/alix';
export type { AlixAuthProviderOptions, AlixSigner, AlixSigningContext } from './providers/alix';
export type { AlixAuthPaths, AlixAuthenticateBodyContext, AlixRefreshBodyContext } from './providers/alix';
export type { TokenProvider, ProviderIdentity } from './providers/types';
export type { TokenSet, InitialTokens, RefreshTokenSeed } from './token-set';
export { MemoryTokenStore } from './stores/memory';
export type { MemoryTokenStoreOptions } from './stores/memory';
export { AesGcmTokenCipher, UnreadableSessionError } from './stores/encryption';
export type { TokenCipher, AesGcmTokenCipherOptions, TokenEncryptionOptions } from './stores/encryption';
export { LocalAuthBreaker } from './stores/memory-breaker';
export type { AuthBreakerOptions } from './stores/memory-breaker';
export type { TokenStore, StoredSession, RefreshLock, RefreshLockResult } from './stores/types';
export type { AcquireRefreshLockOptions, AuthBreaker, BreakerAdmission, BreakerOutcome } from './stores/types';
export type { BreakerCall, BreakerState, BreakerStatus } from './stores/types';
export { attachTokenManager } from './adapters/axios';
export type { AttachTokenManagerOptions, DetachTokenManager } from './adapters/axios';
export { createAuthorizedFetch } from './adapters/fetch';
export type { AuthorizedFetch, AuthorizedFetchInit, CreateAuthorizedFetchOptions } from './adapters/fetch';
export type { AccessTokenSource, SessionSource } from './adapters/types';
export { getAccessToken, getDefaultTokenManager, closeDefaultTokenManager } from './standalone/default-manager';
export { createTokenManagerFromEnv, createTokenManagerPoolFromEnv } from './standalone/default-manager';
export type { StandaloneGetAccessTokenOptions } from './standalone/default-manager';
export { readAlixEnvConfig } from './standalone/env-config';
export type { AlixEnvConfig } from './standalone/env-config';
export { ErrorCodes, isTokenManagerError, TokenManagerError, ConfigurationError } from './errors';
export { AuthRejectedError, AuthUnavailableError, MalformedResponseError, TimeoutError } from './errors';
export { TokenManagerClosedError, AbortedError, TokenStoreError, MissingPeerError, PoolFullError } from './errors';
export type { ErrorCode } from './errors';
