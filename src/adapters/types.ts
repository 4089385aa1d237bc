import type { GetAccessTokenOptions, InvalidateOptions, InvalidateResult, ReplayReport } from '../manager/types';

/**
 * What the HTTP adapters need from a token manager: a token now, and a way to report that
 * the server rejected one. `TokenManager` implements it.
 */
export interface AccessTokenSource {
  /** Resolves to an access token that is valid now. */
  getAccessToken(options?: GetAccessTokenOptions): Promise<string>;
  /**
   * Reports that a server rejected `rejectedAccessToken`. When it is still the held token
   * the manager refreshes (once, however many callers report it); a token that has
   * already been replaced changes nothing. The next `getAccessToken()` waits for the
   * refresh.
   *
   * The adapters pass the request's `target` (`METHOD /path`), and `replay: true` when the
   * 401 answered their replay (a token minted after the request started was rejected too: a
   * storm at that target, not a revocation).
   *
   * @returns what the manager did (see `InvalidateResult`). On `cooldown` or `ignored` the
   * adapters do not replay the request: the rejection reaches the caller. A source that
   * returns nothing is treated as `refreshing`.
   */
  invalidate(rejectedAccessToken?: string, options?: InvalidateOptions): InvalidateResult | void;
  /**
   * Whether a request that names `sessionKey` (the adapters' `alixSession`) may carry this
   * source's bearer: true only for the end user the session acts for. Without it, a request
   * that names a session is refused (`ERR_ALIX_CONFIGURATION`) and nothing is sent.
   */
  actsFor?(sessionKey: string): boolean;
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
