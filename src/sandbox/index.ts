/**
 * `alix-token-manager/testing`: an embedded Alix sandbox (a real HTTP server on a local port)
 * for testing services that use this library. It loads without msw; the msw handlers built on
 * the same core live in `alix-token-manager/testing/msw`.
 */
export { AlixSandboxCore, SANDBOX_PATHS, SANDBOX_USER_HEADER } from './core';
export { startAlixSandbox, DEFAULT_ALIX_SANDBOX_SERVER_OPTIONS, MAX_SANDBOX_BODY_BYTES } from './server';
export type { AlixSandbox, AlixSandboxServerOptions } from './server';
export { DEFAULT_ALIX_SANDBOX_OPTIONS, DEFAULT_SANDBOX_CARDS } from './options';
export type { AlixSandboxOptions, SandboxStrictOptions, SandboxCard } from './options';
export { SandboxErrorCodes, ALIX_SUCCESS_MESSAGE } from './envelope';
export type {
  SandboxErrorCode,
  AlixTokenData,
  AlixTokenDatetimeData,
  AlixSuccessEnvelope,
  AlixFailureEnvelope,
} from './envelope';
export type {
  SandboxFault,
  SandboxFaultType,
  SandboxFaultTarget,
  SandboxAuthEndpoint,
  StatusFault,
  DelayFault,
  ResetFault,
  MalformedFault,
  RejectFault,
} from './faults';
export {
  generatePartnerKeyPair,
  generatePartnerKeyPairSync,
  createAlixSignature,
  verifyAlixSignature,
  alixSignedString,
  PARTNER_KEY_BITS,
} from './keys';
export type { PartnerKeyPair } from './keys';
export type {
  AlixSandboxControl,
  SandboxAuthCallEvent,
  SandboxAuthCallListener,
  SandboxCounters,
  SandboxUserAuthCalls,
  SandboxUserCounters,
  SandboxRequest,
  SandboxResponse,
  SandboxReset,
  SandboxReply,
} from './types';
export { describeTokenStoreConformance } from '../testing/store-conformance';
export type {
  TokenStoreConformanceOptions,
  ConformanceLockOptions,
  ConformanceRawAccess,
  ConformanceDescribe,
  ConformanceIt,
  CreateTokenStore,
} from '../testing/store-conformance';
