/**
 * The token set and the pure rules about its validity and timing. All points in time are
 * epoch milliseconds on the local clock unless a name says otherwise.
 */
import { definedOnly } from './defaults';

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
   * The auth server's clock when it issued this set (from the response's `Date` header, or the access token's `iat`
   * claim when the `Date` was behind it), epoch ms. Set by providers; the manager uses it to correct clock skew and
   * then drops it.
   */
  serverTime?: number;
  /** Where `serverTime` came from: the `Date` header, or the access token's `iat` claim (for reports; then dropped). */
  serverTimeFrom?: 'date' | 'iat';
}

/** Ten years of 365 days: an expiry further off is taken for a unit error. */
export const TEN_YEARS_MS = 10 * 365 * 24 * 60 * 60_000;

/** Copies only the token set's own fields, so nothing else a caller attached is kept (nor a `null` "none"). */
export function pickTokenSet(set: TokenSet): TokenSet {
  const { accessToken, accessTokenExpiresAt } = set;
  const refreshToken = set.refreshToken ?? undefined;
  const refreshTokenExpiresAt = set.refreshTokenExpiresAt ?? undefined;
  return definedOnly({ accessToken, accessTokenExpiresAt, refreshToken, refreshTokenExpiresAt }) as TokenSet;
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
  if (typeof start.accessToken === 'string' && start.accessToken !== '' && start.accessTokenExpiresAt > usableUntil)
    return { kind: 'tokens', tokens: start };
  const { refreshToken, refreshTokenExpiresAt } = start;
  if (!isToken(refreshToken)) return undefined;
  return { kind: 'seed', seed: { refreshToken, refreshTokenExpiresAt } };
}

/**
 * Below this difference between the server's `Date` and the local clock, the local clock
 * is trusted: `Date` has one-second resolution.
 */
const SKEW_TOLERANCE_MS = 2_000;

/**
 * Moves a provider's expiries from the server's clock onto the local one, given when the auth
 * request left (`sentAt`) and when its answer arrived (`receivedAt`), epoch ms on the local
 * clock. The offset (how far the server's clock is ahead) is estimated from its `Date` and the
 * request's round trip: the server stamped `Date` somewhere between sending and receiving, so
 * delivery delay is not mistaken for skew, and of the offsets the round trip allows the largest is taken, which
 * places the expiry earliest: never later than the server's own view. The one exception is by
 * design: within the `Date` header's resolution ({@link SKEW_TOLERANCE_MS}) the local clock is
 * trusted, so an expiry may land up to that much later than the server's; the last-window
 * margin (`expirySkewMs`, 10 s) covers it.
 */
export function toLocalClock(set: TokenSet, { sentAt, receivedAt }: { sentAt: number; receivedAt: number }): TokenSet {
  const { serverTime, ...rest } = set;
  const agrees =
    serverTime === undefined ||
    (serverTime <= receivedAt + SKEW_TOLERANCE_MS && serverTime >= sentAt - SKEW_TOLERANCE_MS);
  if (agrees) return rest;
  const offsetMs = serverTime - sentAt;
  const local = { ...rest, accessTokenExpiresAt: rest.accessTokenExpiresAt - offsetMs };
  if (typeof rest.refreshTokenExpiresAt === 'number')
    local.refreshTokenExpiresAt = rest.refreshTokenExpiresAt - offsetMs;
  return local;
}

/**
 * RFC 6750 `b64token`: the only access tokens that can travel in an `Authorization: Bearer`
 * header. A token with a space, CR/LF or NUL would break the header (or smuggle another).
 */
const BEARER_TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** Whether `value` is a token to send: a non-empty string (a provider's `null` or `''` is none). */
export const isToken = (value: unknown): value is string => typeof value === 'string' && value !== '';

/** The tokens the given sets hold (what a report of a failure takes out). */
export function tokensOf(...sets: ReadonlyArray<Partial<TokenSet> | undefined>): string[] {
  return sets.flatMap((set) => [set?.accessToken, set?.refreshToken]).filter(isToken);
}

/** Whether `token` fits an `Authorization: Bearer` header. */
export function isHeaderSafeToken(token: unknown): token is string {
  return typeof token === 'string' && BEARER_TOKEN.test(token);
}

/**
 * Why `value` is not a usable token set, or undefined when it is one: the one rule for every set the library
 * takes in (a provider's answer, a stored session, the `initialTokens` option). The access token must fit a
 * Bearer header and expire at finite epoch ms; a refresh token and its expiry are optional (`null` is a
 * provider's "none", and the JSON of a set that had none). With `accessTokenOptional`, a refresh token alone
 * will do. With `now`, an expiry that reads as the wire's epoch seconds is refused too.
 */
export function tokenSetProblem(
  value: unknown,
  { now, accessTokenOptional = false }: { now?: number; accessTokenOptional?: boolean } = {},
): string | undefined {
  if (typeof value !== 'object' || value === null) return 'not a token set object';
  const { accessToken, accessTokenExpiresAt, refreshToken, refreshTokenExpiresAt } = value as Partial<TokenSet>;
  if (accessTokenOptional && !isToken(accessToken)) {
    if (!isToken(refreshToken)) return 'needs an accessToken or a refreshToken';
  } else {
    if (!isToken(accessToken)) return 'accessToken must be a non-empty string';
    if (!isHeaderSafeToken(accessToken))
      return 'accessToken has characters a Bearer header cannot carry (RFC 6750 b64token)';
    if (!Number.isFinite(accessTokenExpiresAt)) return 'accessTokenExpiresAt must be epoch ms';
  }
  if (refreshToken != null && typeof refreshToken !== 'string') return 'refreshToken must be a string';
  if (refreshTokenExpiresAt != null && !Number.isFinite(refreshTokenExpiresAt))
    return 'refreshTokenExpiresAt must be epoch ms';
  if (now === undefined) return undefined;
  // The wire's epoch seconds, copied as they are, would silently read as long expired.
  for (const [name, expiry] of Object.entries({ accessTokenExpiresAt, refreshTokenExpiresAt }))
    if (expiry != null && now - expiry > TEN_YEARS_MS && Math.abs(expiry * 1000 - now) < TEN_YEARS_MS)
      return `${name} must be epoch ms; ${expiry} reads as epoch seconds (multiply it by 1000)`;
  return undefined;
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
 * Where the refresh window opens (`refreshAt`: from here on, a background refresh runs while the
 * token is still served) and where callers start to wait (`blockAt`: from here on, callers wait
 * for a new token instead of getting this one).
 *
 * - The window is `refreshBeforeExpiryMs`, but never more than half the token's lifetime,
 *   so a short-lived token is not refreshed almost as soon as it arrives.
 * - The blocking margin is `expirySkewMs`, but never more than half the window.
 * - Jitter moves the refresh point later by up to `refreshJitterMs`, and never past the
 *   middle of the window, so replicas started together spread out yet keep most of it.
 */
export function computeSchedule(input: ScheduleInput): { refreshAt: number; blockAt: number } {
  const { accessTokenExpiresAt: expiresAt, expirySkewMs, refreshJitterMs, random, fallback } = input;
  const windowMs = Math.min(input.refreshBeforeExpiryMs, Math.max(0, expiresAt - input.obtainedAt) / 2);
  const ownSkewMs = Math.min(expirySkewMs, windowMs / 2);
  const skewMs = input.adopted === true ? expirySkewMs : ownSkewMs;
  const blockAt = expiresAt - skewMs;
  const maxJitterMs = (skew: number): number => Math.min(refreshJitterMs, (windowMs - skew) / 2);
  if (fallback === undefined)
    return { refreshAt: Math.min(expiresAt - windowMs + Math.floor(maxJitterMs(skewMs) * random), blockAt), blockAt };
  // The latest point a replica that fetched this set can refresh at (its own skew, full jitter),
  // then a quarter to three quarters of the way on to blockAt: the gap leaves that replica
  // time to refresh and publish before any fallback fires.
  const latest = expiresAt - windowMs + maxJitterMs(ownSkewMs);
  const roomMs = Math.max(0, blockAt - latest);
  return { refreshAt: Math.min(Math.floor(latest + roomMs * (0.25 + 0.5 * fallback)), blockAt), blockAt };
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
export function hasUsableRefreshToken(set: Partial<TokenSet> | undefined, now: number, marginMs: number): boolean {
  // A provider's `null` counts as none (it is not a token to send, nor an expiry to judge by).
  if (!isToken(set?.refreshToken)) return false;
  return set.refreshTokenExpiresAt == null || set.refreshTokenExpiresAt - marginMs > now;
}
