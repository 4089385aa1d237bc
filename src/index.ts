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
export type { TokenStore, AcquireRefreshLockOptions, RefreshLock, RefreshLockResult } from './stores/types';
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
export { AlixAuthProvider, DEFAULT_ALIX_AUTH_PROVIDER_OPTIONS, defaultSignedString, defaultAuthenticateBody, defaultRefreshBody } from './providers/alix';
export type {
  AlixAuthProviderOptions,
  AlixAuthPaths,
  AlixSigner,
  AlixSigningContext,
  AlixAuthenticateBodyContext,
  AlixRefreshBodyContext,
} from './providers/alix';
export { getAccessToken, closeDefaultTokenManager, getDefaultTokenManager, createTokenManagerFromEnv } from './standalone/default-manager';
export { readAlixEnvConfig, ALIX_ENV } from './standalone/env-config';
export type { AlixEnvConfig } from './standalone/env-config';
export { attachTokenManager, DEFAULT_ATTACH_TOKEN_MANAGER_OPTIONS } from './adapters/axios';
export type { AttachTokenManagerOptions, DetachTokenManager } from './adapters/axios';
export { createAuthorizedFetch, DEFAULT_AUTHORIZED_FETCH_OPTIONS } from './adapters/fetch';
export type { CreateAuthorizedFetchOptions } from './adapters/fetch';
export { REDACTED_BEARER } from './adapters/redact';
