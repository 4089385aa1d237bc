/**
 * The format a {@link RedisTokenStore} keeps a session in, and the Lua scripts that read
 * it on the server. Both sides must agree on what a version is, so they live together.
 *
 * Stored value: `{"version":<n>,"identity":"<provider identity id>","tokens":{accessToken,
 * accessTokenExpiresAt, refreshToken?, refreshTokenExpiresAt?}}`, where `version` counts the
 * writes since the key was created. A missing, unparsable or wrong-shaped version counts as
 * 0 on both sides, so a corrupt value can be overwritten by a writer that read it as absent.
 * Version 1 of the library wrote no `identity`: such a value decodes as absent (with its
 * version still counted, so a version-2 write may replace it).
 * With encryption, `tokens` is replaced by `sealed` (see encryption.ts); `version` and
 * `identity` stay in clear, so fencing works on the server unchanged.
 */
import { TokenStoreError } from '../errors';
import { parseJson } from '../json';
import { pickTokenSet, tokenSetProblem, type TokenSet } from '../token-set';
import type { SealedSession, StoredSession } from './types';

/** A decoded stored value: its version, and the session when the value is well formed. */
export interface DecodedSession {
  version: number;
  /** Undefined when the value is absent or not a valid session; sealed (an encrypting store's) still to be opened. */
  session: StoredSession | SealedSession | undefined;
  /** Why a present value was rejected, for the log (never the value itself). */
  problem?: string;
}

/** Serialises a session (or a sealed one) with the version it will have once written. */
export function encodeSession(value: StoredSession | SealedSession, version: number): string {
  const body = 'sealed' in value ? { sealed: value.sealed } : { tokens: pickTokenSet(value.tokens) };
  return JSON.stringify({ version, identity: value.identity, ...body });
}

/** Decodes a stored value; anything malformed yields `session: undefined` and a `problem`. */
export function decodeSession(raw: string | null): DecodedSession {
  if (raw === null) return { version: 0, session: undefined };
  const rejected = (problem: string, version = 0): DecodedSession => ({ version, session: undefined, problem });
  const parsed = parseJson(raw);
  if (parsed === undefined) return rejected('not JSON');
  if (typeof parsed !== 'object' || parsed === null) return rejected('not an object');
  const { version, identity, tokens, sealed } = parsed as Record<string, unknown>;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) return rejected('no valid version');
  const isSealed = typeof sealed === 'string';
  const problem = identityProblem(identity) ?? (isSealed ? undefined : tokenSetProblem(tokens));
  if (problem !== undefined) return rejected(problem, version);
  const body = isSealed ? { sealed } : { tokens: pickTokenSet(tokens as TokenSet) };
  return { version, session: { identity: identity as string, ...body } };
}

/** Why `session` may not be stored, or undefined when it may. */
export function sessionProblem(session: StoredSession): string | undefined {
  if (typeof session !== 'object' || session === null) return 'not a session object';
  // A write must carry an identity: a missing one is not version 1's, just a bad session.
  return identityProblem(session.identity ?? null) ?? tokenSetProblem(session.tokens);
}

/** @throws TokenStoreError when `session` may not be stored: a store writes only what it can read back. */
export function assertStorable(key: string, session: StoredSession): void {
  const problem = sessionProblem(session);
  if (problem !== undefined) throw new TokenStoreError(`refusing to store a malformed session at ${key}: ${problem}`);
}

/** Why a stored value's identity is unusable, or undefined when it is fine. */
function identityProblem(value: unknown): string | undefined {
  if (value === undefined) return 'no identity (written by version 1)';
  return typeof value === 'string' && value !== '' ? undefined : 'identity is not a non-empty string';
}

/**
 * Lua: publishes `message` on `channel` with `command` (`PUBLISH`, `SPUBLISH` for sharded
 * pub/sub, `BOTH` while the publisher does not know which its fleet uses, or empty for none).
 * `pcall`: a user whose ACL lacks channel permissions loses only the notification, never the
 * write before it. Returns '' or the refusal's text.
 */
const LUA_NOTIFY = `
local function notify(command, channel, message)
  if command == '' then return '' end
  if command == 'BOTH' then redis.pcall('SPUBLISH', channel, message) end
  local reply = redis.pcall(command == 'BOTH' and 'PUBLISH' or command, channel, message)
  return type(reply) == 'table' and reply.err or ''
end
`;

/**
 * Fenced write and hand-over in one command. KEYS[1] session key, KEYS[2] its channel (same
 * slot). ARGV: base version, new value (carrying base + 1), PX in ms, the SHA-1 of the value the
 * base was read from ('' for none), publish command (or ''). Writes only if the stored value is
 * still the one the writer read (its version and its digest), then publishes the new version.
 * Returns `{1, newVersion, publishError}` or `{0, storedVersion}` for a stale writer (nothing
 * published); the same value already written (a retry whose first reply was lost) is
 * `{1, newVersion, ''}`. The stored version is counted as {@link decodeSession} counts it, but cjson and JSON.parse
 * disagree on some values (`NaN`, `0x1`; nesting past 1000, a `"\ud800"` escape, as the store writes an identity
 * holding a lone surrogate): a writer that read the very bytes stored (its digest) may write whatever the versions
 * say, or such a value would stay unwritable for as long as it lives.
 * The digest matters because versions restart at 1 once a key is gone (deleted, expired, flushed): the same number
 * written since by another process is another value, and this writer never read it.
 */
export const FENCED_SET_SCRIPT = `${LUA_NOTIFY}
local function stored_version(raw)
  local ok, decoded = pcall(cjson.decode, raw or 'null')
  local version = ok and type(decoded) == 'table' and decoded.version
  if type(version) ~= 'number' or version < 0 or version % 1 ~= 0 or version > 9007199254740991 then return 0 end
  return version
end
local raw = redis.call('GET', KEYS[1])
local current, base = stored_version(raw), tonumber(ARGV[1])
if current == base + 1 and raw == ARGV[2] then return {1, current, ''} end
local read = raw and redis.sha1hex(raw) == ARGV[4]
if not read and (current ~= base or (base > 0 and ARGV[4] ~= '')) then return {0, current} end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return {1, base + 1, notify(ARGV[5], KEYS[2], tostring(base + 1))}
`;

/**
 * Owner-checked release. KEYS[1] lock key, KEYS[2] the session's channel. ARGV: owner, publish
 * command (or '' when this hold already published a new version). Deletes the lock only while
 * this owner holds it, then tells waiters `released`. Returns `{1, publishError}` or `{0}`.
 */
export const RELEASE_LOCK_SCRIPT = `${LUA_NOTIFY}
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0} end
redis.call('DEL', KEYS[1])
return {1, notify(ARGV[2], KEYS[2], 'released')}
`;

/**
 * Owner-checked extension (the lock watchdog). KEYS[1] lock key. ARGV: owner, PX in ms.
 * Extends the lock only while this owner holds it. Returns 1 or 0 (the lock was lost).
 */
export const EXTEND_LOCK_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
`;
