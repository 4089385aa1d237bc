/**
 * What the HTTP adapters need from a token manager: a token now, and a way to report that
 * the server rejected one. `TokenManager` implements it.
 */
export interface AccessTokenSource {
  /** Resolves to an access token that is valid now. */
  getAccessToken(options?: { signal?: AbortSignal; forceRefresh?: boolean }): Promise<string>;
  /**
   * Reports that a server rejected `rejectedAccessToken`. When it is still the held token
   * the manager refreshes (once, however many callers report it); a token that has
   * already been replaced changes nothing. The next `getAccessToken()` waits for the
   * refresh.
   */
  invalidate(rejectedAccessToken?: string): void;
}
