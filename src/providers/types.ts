import type { TokenSet } from '../token-set';

/**
 * Who a session belongs to, without secrets: a store keeps each session under a key derived
 * from it, and a manager never adopts a stored session whose identity is not its own.
 */
export interface ProviderIdentity {
  /**
   * A stable hash (hex) of everything that makes a session distinct: for Alix, the auth
   * origin, the partner code and the user email. Equal ids mean interchangeable sessions.
   */
  readonly id: string;
  /**
   * Where the auth server is, as `host:port`, for error messages (never a path or secret).
   */
  readonly endpoint?: string;
  /**
   * A stable hash (hex) of what the sessions of one partner at one auth server share: for
   * Alix, the auth origin and the partner code, without the end user. The auth breaker keeps
   * its server-wide state under it, so one partner's outage never refuses another partner.
   * @default `endpoint`, else the id
   */
  readonly scope?: string;
  /**
   * The end user the session acts for (Alix: `userEmail`), when it has one. Kept in memory
   * only, never stored or logged: a request that names another user (the adapters'
   * `alixSession`) is refused instead of being sent with this session's bearer.
   */
  readonly user?: string;
}

/**
 * Obtains token sets from an auth server. Providers classify their failures with the
 * library's error classes so the manager knows what to retry. An error of another kind is not
 * retried and reaches the callers and the `'error'` event as thrown: an AxiosError from a refresh
 * call holds the refresh token in `config.data`, so wrap it (`cause` keeps a sanitised summary).
 */
export interface TokenProvider {
  /** Full sign-in: a new session from the partner's credentials. */
  authenticate(signal?: AbortSignal): Promise<TokenSet>;
  /** Exchanges a refresh token for a new token set (which may carry a new refresh token). */
  refresh(refreshToken: string, signal?: AbortSignal): Promise<TokenSet>;
  /**
   * The session's identity. Required with any store you pass in (a `RedisTokenStore`, or a
   * store two managers or pools could share): without it a manager is refused there with a
   * `ConfigurationError`, since its sessions could mix with another provider's. Only the
   * private store a lone manager or pool makes for itself accepts a provider without one. A
   * wrapper forwards it:
   *
   * ```ts
   * import type { TokenProvider } from 'alix-token-manager';
   *
   * declare const inner: TokenProvider;
   * const measured: TokenProvider = {
   *   authenticate: (signal) => inner.authenticate(signal),
   *   refresh: (refreshToken, signal) => inner.refresh(refreshToken, signal),
   *   identity: inner.identity,
   * };
   * ```
   */
  readonly identity?: ProviderIdentity | undefined;
}
