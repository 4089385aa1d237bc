/**
 * The format a {@link RedisTokenStore} keeps a session in, and the Lua scripts that read
 * it on the server. Both sides must agree on what a version is, so they live together.
 *
 * Stored value: `{"version":<n>,"tokens":{accessToken, accessTokenExpiresAt, refreshToken?,
 * refreshTokenExpiresAt?}}`, where `version` counts the writes since the key was created.
 * A missing, unparsable or wrong-shaped version counts as 0 on both sides, so a corrupt
 * value can be overwritten by a writer that read it as absent.
 */
import type { TokenSet } from '../token-set';

/** A decoded stored value: its version, and its token set when that is well formed. */
export interface StoredSession {
  version: number;
  /** Undefined when the value is absent or not a valid token set. */
  tokens: TokenSet | undefined;
  /** Why a present value was rejected, for the log (never the value itself). */
  problem?: string;
}

/** Serialises a token set with the version it will have once written. */
export function encodeSession(tokens: TokenSet, version: number): string {
  const stored: TokenSet = { accessToken: tokens.accessToken, accessTokenExpiresAt: tokens.accessTokenExpiresAt };
  if (tokens.refreshToken !== undefined) stored.refreshToken = tokens.refreshToken;
  if (tokens.refreshTokenExpiresAt !== undefined) stored.refreshTokenExpiresAt = tokens.refreshTokenExpiresAt;
  return JSON.stringify({ version, tokens: stored });
}

/** Decodes a stored value; anything malformed yields `tokens: undefined` and a `problem`. */
export function decodeSession(raw: string | null): StoredSession {
  if (raw === null) return { version: 0, tokens: undefined };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return { version: 0, tokens: undefined, problem: 'not JSON' };
  }
  if (typeof parsed !== 'object' || parsed === null) return { version: 0, tokens: undefined, problem: 'not an object' };
  const { version, tokens } = parsed as { version?: unknown; tokens?: unknown };
  const counted = isVersion(version) ? version : 0;
  const problem = isVersion(version) ? tokenSetProblem(tokens) : 'no valid version';
  if (problem !== undefined) return { version: counted, tokens: undefined, problem };
  return { version: counted, tokens: pickTokenSet(tokens as TokenSet) };
}

function isVersion(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Why a value is not a storable token set, or undefined when it is one. */
export function tokenSetProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'no tokens object';
  const set = value as Record<string, unknown>;
  if (typeof set.accessToken !== 'string' || set.accessToken === '') return 'accessToken is not a non-empty string';
  if (!isFiniteNumber(set.accessTokenExpiresAt)) return 'accessTokenExpiresAt is not a number';
  if (set.refreshToken !== undefined && typeof set.refreshToken !== 'string') return 'refreshToken is not a string';
  if (set.refreshTokenExpiresAt !== undefined && !isFiniteNumber(set.refreshTokenExpiresAt)) {
    return 'refreshTokenExpiresAt is not a number';
  }
  return undefined;
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function pickTokenSet(set: TokenSet): TokenSet {
  const picked: TokenSet = { accessToken: set.accessToken, accessTokenExpiresAt: set.accessTokenExpiresAt };
  if (set.refreshToken !== undefined) picked.refreshToken = set.refreshToken;
  if (set.refreshTokenExpiresAt !== undefined) picked.refreshTokenExpiresAt = set.refreshTokenExpiresAt;
  return picked;
}

/** Lua: the stored value's version, counted exactly as {@link decodeSession} counts it. */
const LUA_STORED_VERSION = `
local function stored_version(raw)
  if not raw then return 0 end
  local ok, decoded = pcall(cjson.decode, raw)
  if not ok or type(decoded) ~= 'table' then return 0 end
  local version = decoded.version
  if type(version) ~= 'number' or version < 0 or version % 1 ~= 0 or version > 9007199254740991 then return 0 end
  return version
end
`;

/**
 * Fenced write. KEYS[1] session key. ARGV: base version, new value (carrying base + 1),
 * PX in ms, notification channel. Writes only if the stored version still equals the base
 * the writer read, then publishes the new version. Returns `{1, newVersion}` or
 * `{0, storedVersion}` for a stale writer.
 */
export const FENCED_SET_SCRIPT = `${LUA_STORED_VERSION}
local current = stored_version(redis.call('GET', KEYS[1]))
local base = tonumber(ARGV[1])
if current ~= base then return {0, current} end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('PUBLISH', ARGV[4], tostring(base + 1))
return {1, base + 1}
`;

/**
 * Owner-checked release. KEYS[1] lock key. ARGV: owner, notification channel. Deletes the
 * lock only while this owner holds it and tells waiters it is free. Returns 1 or 0.
 */
export const RELEASE_LOCK_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], 'released')
return 1
`;
