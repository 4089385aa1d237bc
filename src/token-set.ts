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

/** Tokens a user may seed a manager with: a refresh token alone is enough to start. */
export type InitialTokens =
  | TokenSet
  | { refreshToken: string; refreshTokenExpiresAt?: number; accessToken?: undefined };

/**
 * Below this difference between the server's `Date` and the local clock, the local clock
 * is trusted: `Date` has one-second resolution and the response spent time in flight.
 */
export const SKEW_TOLERANCE_MS = 2_000;

/**
 * Moves a provider's expiries from the server's clock onto the local one: the remaining
 * lifetime the server granted (expiry − server time) is counted from `receivedAt`.
 */
export function toLocalClock(set: TokenSet, receivedAt: number): TokenSet {
  const { serverTime, ...rest } = set;
  if (serverTime === undefined) return rest;
  const offsetMs = receivedAt - serverTime;
  if (Math.abs(offsetMs) < SKEW_TOLERANCE_MS) return rest;
  return {
    ...rest,
    accessTokenExpiresAt: rest.accessTokenExpiresAt + offsetMs,
    ...(rest.refreshTokenExpiresAt === undefined ? {} : { refreshTokenExpiresAt: rest.refreshTokenExpiresAt + offsetMs }),
  };
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
  const skewMs = Math.min(input.expirySkewMs, windowMs / 2);
  const jitterMs = Math.floor(Math.min(input.refreshJitterMs, (windowMs - skewMs) / 2) * input.random);
  return {
    refreshAt: input.accessTokenExpiresAt - windowMs + jitterMs,
    blockAt: input.accessTokenExpiresAt - skewMs,
  };
}

/** Whether the refresh token can still be used at `now`, keeping `marginMs` in hand. */
export function hasUsableRefreshToken(set: Pick<TokenSet, 'refreshToken' | 'refreshTokenExpiresAt'> | undefined, now: number, marginMs: number): boolean {
  if (set?.refreshToken === undefined || set.refreshToken === '') return false;
  return set.refreshTokenExpiresAt === undefined || set.refreshTokenExpiresAt - marginMs > now;
}

/** The parts of a token set that are safe to log or report. */
export function describeTokenSet(set: TokenSet | undefined): { accessTokenExpiresAt: number | null; refreshTokenExpiresAt: number | null } {
  return {
    accessTokenExpiresAt: set?.accessTokenExpiresAt ?? null,
    refreshTokenExpiresAt: set?.refreshTokenExpiresAt ?? null,
  };
}
