import type { TokenSet } from '../token-set';

/**
 * Obtains token sets from an auth server. Providers classify their failures with the
 * library's error classes so the manager knows what to retry.
 */
export interface TokenProvider {
  /** Full sign-in: a new session from the partner's credentials. */
  authenticate(signal?: AbortSignal): Promise<TokenSet>;
  /** Exchanges a refresh token for a new token set (which may carry a new refresh token). */
  refresh(refreshToken: string, signal?: AbortSignal): Promise<TokenSet>;
}
