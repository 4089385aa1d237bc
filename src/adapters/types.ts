import type { InvalidateResult, ReplayReport } from '../manager/types';

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
   *
   * @returns what the manager did (see `InvalidateResult`). On `cooldown` or `ignored` the
   * adapters do not replay the request: the rejection reaches the caller. A source that
   * returns nothing is treated as `refreshing`.
   */
  invalidate(rejectedAccessToken?: string): InvalidateResult | void;
  /**
   * Called after an adapter replayed a request with a fresh token, so that the replay shows
   * in the manager's lifecycle stream. Optional; it must not throw (a throw is ignored).
   */
  recordReplay?(report: ReplayReport): void;
}

/**
 * Many sessions, one per key (an end user's `userEmail`): what the HTTP adapters need from a
 * `TokenManagerPool`. `get(key)` returns that key's session, the same one while it lives.
 *
 * The adapters tell a pool from a single source by shape: a value with a `get()` method is a
 * pool (even when it also has pool-level `getAccessToken(key)`/`invalidate(key)`, as
 * `TokenManagerPool` does); otherwise it must be an {@link AccessTokenSource}.
 */
export interface SessionSource {
  /** The session for `key`, created on first use. */
  get(key: string): AccessTokenSource;
}
