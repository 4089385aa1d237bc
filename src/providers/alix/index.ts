/** The Alix auth provider: signer, HTTP calls, wire format → TokenSet. */
export { AlixAuthProvider } from './provider';
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
export { loadPrivateKey } from './private-key';
