/** The Alix auth provider: signer, HTTP calls, wire format → TokenSet. */
export { AlixAuthProvider } from './provider';
export type { AlixAuthProviderOptions, AlixSigner, AlixSigningContext } from './options';
export type { AlixAuthPaths, AlixAuthenticateBodyContext, AlixRefreshBodyContext } from './options';
