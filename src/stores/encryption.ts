/**
 * Sessions at rest: how a store seals a session (bound to its store key and identity) and
 * opens it again, the `encryption` option every bundled store takes, and the error a value
 * that does not open becomes (the manager counts it and treats the session as absent).
 */
import type { Logger } from 'pino';
import { ConfigurationError, ErrorCodes, TokenStoreError } from '../errors';
import { AesGcmTokenCipher } from './cipher';
import type { AesGcmTokenCipherOptions, TokenCipher } from './cipher';
import { tokenSetProblem } from './redis-scripts';
import type { StoredSession } from './types';
import type { TokenSet } from '../token-set';

/**
 * The `encryption` option of a store: AES-256-GCM keys by id and the id to write with, or a
 * {@link TokenCipher} of your own (a KMS). Values are sealed with the session's store key and
 * identity as additional authenticated data.
 */
export type TokenEncryptionOptions = AesGcmTokenCipherOptions | { cipher: TokenCipher };

/** A session as an encrypting store keeps it: the identity in clear (a hash), the tokens sealed. */
export interface SealedSession {
  readonly identity: string;
  /** The token set's JSON, sealed by the cipher. */
  readonly sealed: string;
}

/**
 * The `errorCode` of the manager's `store-failed` event (and of the error a store's `get()`
 * rejects with) when a stored value does not open; `status().unreadableSessionCount` counts them.
 */
export const UNREADABLE_SESSION_CODE = ErrorCodes.STORE_UNREADABLE;

/**
 * A stored value that does not open: altered, moved under another session's key, sealed with a
 * key no longer listed, or encrypted while the store has no encryption. The manager treats the
 * session as absent (it refreshes or signs in, and its write replaces the value); callers never
 * see this error. `code` is {@link UNREADABLE_SESSION_CODE}.
 */
export class UnreadableSessionError extends TokenStoreError {
  constructor(key: string, why: string) {
    super(`the stored session at ${key} does not open (${why}); treated as absent`, {
      hint:
        'check that every replica lists the same encryption keys; ' +
        'a value changed outside the library is replaced at the next write',
    });
    // Its own code, so status() and metrics count it apart from a store that is down.
    Object.defineProperty(this, 'code', { value: UNREADABLE_SESSION_CODE, enumerable: true, configurable: true });
  }
}

/**
 * The cipher for a store's `encryption` option, or undefined without one.
 * @throws ConfigurationError when the option is invalid (naming the store, never a key).
 */
export function resolveTokenCipher(option: unknown, owner: string): TokenCipher | undefined {
  if (option === undefined) return undefined;
  if (typeof option !== 'object' || option === null) {
    throw new ConfigurationError(`${owner} option encryption must be an object`);
  }
  if ('cipher' in option) {
    const cipher = (option as { cipher: unknown }).cipher as Partial<TokenCipher> | null;
    if (typeof cipher?.seal !== 'function' || typeof cipher.open !== 'function') {
      throw new ConfigurationError(`${owner} option encryption.cipher must have seal() and open()`);
    }
    return cipher as TokenCipher;
  }
  try {
    return new AesGcmTokenCipher(option as AesGcmTokenCipherOptions);
  } catch (error) {
    if (error instanceof ConfigurationError) throw new ConfigurationError(`${owner} option ${error.message}`);
    throw error;
  }
}

/** The additional authenticated data of the session under `key`: the store key and the identity. */
export function sessionAad(key: string, identity: string): string {
  return `alix-token-manager/session\n${key}\n${identity}`;
}

/** Seals `session` for the store key `key`. */
export async function sealSession(cipher: TokenCipher, key: string, session: StoredSession): Promise<SealedSession> {
  const sealed = await cipher.seal(JSON.stringify(pickTokens(session.tokens)), sessionAad(key, session.identity));
  return { identity: session.identity, sealed };
}

/**
 * Opens a sealed session found under `key`.
 * @throws UnreadableSessionError when it does not open or holds no valid token set; the
 *   cipher's own error when it cannot work right now.
 */
export async function openSession(cipher: TokenCipher, key: string, value: SealedSession): Promise<StoredSession> {
  const plaintext = await cipher.open(value.sealed, sessionAad(key, value.identity));
  if (plaintext === undefined) throw new UnreadableSessionError(key, 'it does not decrypt under this key and identity');
  let tokens: unknown;
  try {
    tokens = JSON.parse(plaintext);
  } catch {
    throw new UnreadableSessionError(key, 'it decrypts to something that is not JSON');
  }
  const problem = tokenSetProblem(tokens);
  if (problem !== undefined) throw new UnreadableSessionError(key, problem);
  return { identity: value.identity, tokens: pickTokens(tokens as TokenSet) };
}

/** Whether a stored value is a sealed session (rather than a plaintext one). */
export function isSealedSession(value: unknown): value is SealedSession {
  if (typeof value !== 'object' || value === null) return false;
  const { identity, sealed } = value as Partial<SealedSession>;
  return typeof identity === 'string' && identity !== '' && typeof sealed === 'string';
}

const warned = new Set<string>();

/**
 * Logs `event` at warn the first time in this process, at debug after that: a fleet of
 * sessions that all fail the same way says so once.
 */
export function warnOnce(
  log: Logger,
  event: 'store-value-unreadable' | 'store-value-plaintext',
  fields: object,
  message: string,
): void {
  const level = warned.has(event) ? 'debug' : 'warn';
  warned.add(event);
  log[level]({ event, ...fields }, message);
}

/** Copies only the token set's own fields. */
function pickTokens(set: TokenSet): TokenSet {
  const picked: TokenSet = { accessToken: set.accessToken, accessTokenExpiresAt: set.accessTokenExpiresAt };
  if (set.refreshToken !== undefined) picked.refreshToken = set.refreshToken;
  if (set.refreshTokenExpiresAt !== undefined) picked.refreshTokenExpiresAt = set.refreshTokenExpiresAt;
  return picked;
}
