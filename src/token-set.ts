/**
 * The token set and the pure rules about its validity and timing. All points in time are
 * epoch milliseconds on the local clock unless a name says otherwise.
 */

/** One session's tokens, as held by the library (epoch ms, never the wire's seconds). */
export interface TokenSet {
  /** The bearer token for API calls. */
  accessToken: string;
  /** When the access token expires, epoch ms. */
  accessTokenExpiresAt: number;
  /** The rotating refresh token, when the session has one. */
  refreshToken?: string;
  /** When the refresh token expires, epoch ms. */
  refreshTokenExpiresAt?: number;
  /**
   * The auth server's clock when it issued this set (from the response's `Date` header),
   * epoch ms. Set by providers; the manager uses it to correct clock skew and then drops it.
   */
  serverTime?: number;
}

/** A refresh token held without an access token (seeded from the environment, or a store). */
export interface RefreshTokenSeed {
  refreshToken: string;
  refreshTokenExpiresAt?: number;
  accessToken?: undefined;
}

/** Tokens a user may seed a manager with: a refresh token alone is enough to start. */
export type InitialTokens = TokenSet | RefreshTokenSeed;

/**
 * Where a session starts from: a stored set (newer) or else the seed; its access token if it
 * is still good at `usableUntil`, else its refresh token alone, else nothing.
 */
export function startingPoint(
  stored: TokenSet | undefined,
  seed: InitialTokens | undefined,
  usableUntil: number,
): { kind: 'tokens'; tokens: TokenSet } | { kind: 'seed'; seed: RefreshTokenSeed } | undefined {
  const start = stored ?? seed;
  if (start === undefined) return undefined;
  if (hasAccessToken(start) && start.accessTokenExpiresAt > usableUntil) return { kind: 'tokens', tokens: start };
  if (typeof start.refreshToken !== 'string' || start.refreshToken === '') return undefined;
  return {
    kind: 'seed',
    seed: { refreshToken: start.refreshToken, refreshTokenExpiresAt: start.refreshTokenExpiresAt },
  };
}

/** Whether seeded tokens hold an access token (rather than a refresh token alone). */
export function hasAccessToken(tokens: InitialTokens): tokens is TokenSet {
  return typeof tokens.accessToken === 'string' && tokens.accessToken !== '';
}

/**
 * Below this difference between the server's `Date` and the local clock, the local clock
 * is trusted: `Date` has one-second resolution.
 */
export const SKEW_TOLERANCE_MS = 2_000;

/** When an auth request left and its answer arrived, on the local (wall) clock, epoch ms. */
export interface RoundTrip {
  sentAt: number;
  receivedAt: number;
}

/**
 * Moves a provider's expiries from the server's clock onto the local one. The offset (how far
 * the server's clock is ahead) is estimated from its `Date` and the request's round trip: the
 * server stamped `Date` somewhere between sending and receiving, so delivery delay is not
 * mistaken for skew, and of the offsets the round trip allows the largest is taken, which
 * places the expiry earliest: never later than the server's own view. The one exception is by
 * design: within the `Date` header's resolution ({@link SKEW_TOLERANCE_MS}) the local clock is
 * trusted, so an expiry may land up to that much later than the server's; the last-window
 * margin (`expirySkewMs`, 10 s) covers it.
 */
export function toLocalClock(set: TokenSet, { sentAt, receivedAt }: RoundTrip): TokenSet {
  const { serverTime, ...rest } = set;
  if (serverTime === undefined) return rest;
  const agrees = serverTime - receivedAt - SKEW_TOLERANCE_MS <= 0 && serverTime - sentAt + SKEW_TOLERANCE_MS >= 0;
  if (agrees) return rest;
  const offsetMs = serverTime - sentAt;
  const { accessTokenExpiresAt, refreshTokenExpiresAt } = rest;
  const refresh =
    refreshTokenExpiresAt === undefined ? {} : { refreshTokenExpiresAt: refreshTokenExpiresAt - offsetMs };
  return { ...rest, accessTokenExpiresAt: accessTokenExpiresAt - offsetMs, ...refresh };
}

/**
 * RFC 6750 `b64token`: the only access tokens that can travel in an `Authorization: Bearer`
 * header. A token with a space, CR/LF or NUL would break the header (or smuggle another).
 */
const BEARER_TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** Whether `token` fits an `Authorization: Bearer` header. */
export function isHeaderSafeToken(token: unknown): token is string {
  return typeof token === 'string' && BEARER_TOKEN.test(token);
}

/** Timing windows resolved for one token set. */
export interface RefreshSchedule {
  /** From here on, a background refresh runs while the token is still served. */
  refreshAt: number;
  /** From here on, callers wait for a new token instead of getting this one. */
  blockAt: number;
}

/** The inputs of {@link computeSchedule}. */
export interface ScheduleInput {
  accessTokenExpiresAt: number;
  /** When the set was obtained (local clock). */
  obtainedAt: number;
  refreshBeforeExpiryMs: number;
  expirySkewMs: number;
  refreshJitterMs: number;
  /** A number in [0, 1) for the jitter. */
  random: number;
  /**
   * True for a session adopted from a store: its full lifetime is unknown, so the blocking
   * margin is the whole `expirySkewMs` rather than a share of the remaining time.
   */
  adopted?: boolean;
  /**
   * A number in [0, 1), set for an adopted session whose store announces hand-overs: the
   * refresh point becomes a fallback after the latest point a refreshing replica can have
   * picked, spread by this number, so one replica refreshes and the rest hear its hand-over
   * before their own timers fire.
   */
  fallback?: number;
}

/**
 * Where the refresh window opens and where callers start to wait.
 *
 * - The window is `refreshBeforeExpiryMs`, but never more than half the token's lifetime,
 *   so a short-lived token is not refreshed almost as soon as it arrives.
 * - The blocking margin is `expirySkewMs`, but never more than half the window.
 * - Jitter moves the refresh point later by up to `refreshJitterMs`, and never past the
 *   middle of the window, so replicas started together spread out yet keep most of it.
 */
export function computeSchedule(input: ScheduleInput): RefreshSchedule {
  const lifetimeMs = Math.max(0, input.accessTokenExpiresAt - input.obtainedAt);
  const windowMs = Math.min(input.refreshBeforeExpiryMs, lifetimeMs / 2);
  const skewMs = input.adopted === true ? input.expirySkewMs : Math.min(input.expirySkewMs, windowMs / 2);
  const jitterMs = Math.floor(Math.min(input.refreshJitterMs, (windowMs - skewMs) / 2) * input.random);
  const blockAt = input.accessTokenExpiresAt - skewMs;
  if (input.fallback !== undefined) {
    // The latest point a replica that fetched this set can refresh at (its own skew, full jitter),
    // then a quarter to three quarters of the way on to blockAt: the gap leaves that replica
    // time to refresh and publish before any fallback fires.
    const refresherSkewMs = Math.min(input.expirySkewMs, windowMs / 2);
    const latestJitterMs = Math.min(input.refreshJitterMs, (windowMs - refresherSkewMs) / 2);
    const latest = input.accessTokenExpiresAt - windowMs + latestJitterMs;
    const roomMs = Math.max(0, blockAt - latest);
    return { refreshAt: Math.min(Math.floor(latest + roomMs * (0.25 + 0.5 * input.fallback)), blockAt), blockAt };
  }
  return {
    refreshAt: Math.min(input.accessTokenExpiresAt - windowMs + jitterMs, blockAt),
    blockAt,
  };
}

/**
 * A fraction in [0, 1) derived from a token (FNV-1a over its characters): the same on every
 * replica that holds the token, different from one token to the next.
 */
export function sharedJitterFraction(token: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < token.length; index += 1) {
    hash ^= token.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) / 0x1_0000_0000;
}

/** Whether the refresh token can still be used at `now`, keeping `marginMs` in hand. */
export function hasUsableRefreshToken(
  set: Pick<TokenSet, 'refreshToken' | 'refreshTokenExpiresAt'> | undefined,
  now: number,
  marginMs: number,
): boolean {
  if (set?.refreshToken === undefined || set.refreshToken === '') return false;
  return set.refreshTokenExpiresAt === undefined || set.refreshTokenExpiresAt - marginMs > now;
}
