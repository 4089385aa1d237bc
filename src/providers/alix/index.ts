/** The Alix auth provider: signer, HTTP calls, wire format → TokenSet. */
export { AlixAuthProvider, MAX_AUTH_RESPONSE_BYTES } from './provider';
export {
  DEFAULT_ALIX_AUTH_PROVIDER_OPTIONS,
  defaultSignedString,
  defaultAuthenticateBody,
  defaultRefreshBody,
} from './options';
export type {
  AlixAuthProviderOptions,
  AlixAuthPaths,
  AlixSigner,
  AlixSigningContext,
  AlixAuthenticateBodyContext,
  AlixRefreshBodyContext,
} from './options';
export { loadPrivateKey, MIN_RSA_MODULUS_BITS } from './private-key';
export { createKeySigner } from './signer';
export { isLoopbackHost } from './base-url';
export { parseRetryAfterMs } from './classify';
export { MAX_EXPIRY_AHEAD_MS } from './wire';
