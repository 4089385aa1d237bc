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
export type { SandboxErrorCode, AlixTokenData, AlixTokenDatetimeData, AlixSuccessEnvelope } from './envelope';
export type { AlixFailureEnvelope } from './envelope';
export type { SandboxFault, SandboxFaultType, SandboxFaultTarget, SandboxAuthEndpoint, StatusFault } from './faults';
export type { DelayFault, ResetFault, MalformedFault, RejectFault } from './faults';
export { generatePartnerKeyPair, generatePartnerKeyPairSync, createAlixSignature, verifyAlixSignature } from './keys';
export { alixSignedString, PARTNER_KEY_BITS } from './keys';
export type { PartnerKeyPair } from './keys';
export type { AlixSandboxControl } from './core';
export type { SandboxAuthCallEvent, SandboxAuthCallListener, SandboxCounters } from './types';
export type { SandboxUserAuthCalls, SandboxUserCounters, SandboxRequest, SandboxResponse, SandboxReset } from './types';
export type { SandboxReply } from './types';
export { describeTokenStoreConformance } from '../testing/store-conformance';
export type { TokenStoreConformanceOptions, ConformanceLockOptions } from '../testing/store-conformance';
export type { ConformanceRawAccess, ConformanceDescribe, ConformanceIt } from '../testing/store-conformance';
export type { CreateTokenStore, ConformanceBreakerOptions } from '../testing/store-conformance';
