/**
 * Sessions at rest: the {@link TokenCipher} interface (so a KMS or HSM can seal), the bundled
 * AES-256-GCM implementation with key ids for rotation, how a store seals a session (bound to its
 * store key and identity) and opens it again, the `encryption` option every bundled store takes,
 * and the error a value that does not open becomes (the manager counts it and treats the session
 * as absent).
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { ConfigurationError, ErrorCodes, TokenStoreError, assertConfig } from '../errors';
import { parseJson } from '../json';
import { pickTokenSet, tokenSetProblem, type TokenSet } from '../token-set';
import type { SealedSession, StoredSession } from './types';

/**
 * Seals and opens stored sessions. `aad` (additional authenticated data) is bound to the
 * sealed value: `open` with any other `aad` fails. The bundled one is {@link AesGcmTokenCipher};
 * implement this interface to keep the keys in a KMS (envelope encryption, say).
 */
export interface TokenCipher {
  /** Encrypts and authenticates `plaintext` together with `aad`; the result is text a store can keep. */
  seal(plaintext: string, aad: string): Promise<string>;
  /**
   * The plaintext `sealed` holds, or `undefined` when it does not open: altered, sealed with
   * another `aad` (moved under another session), or under a key this cipher does not hold.
   * Rejects only when the cipher cannot work right now (a KMS that does not answer): the store
   * then reports a failure instead of an unreadable value.
   */
  open(sealed: string, aad: string): Promise<string | undefined>;
}

/** Options of {@link AesGcmTokenCipher}: the keys by id, and the id new values are sealed with. */
export interface AesGcmTokenCipherOptions {
  /**
   * Every key a stored value may be sealed with, by key id (`[A-Za-z0-9_-]`, 1 to 32
   * characters): 32-byte `Buffer`s, or strings holding 32 bytes in base64. Keep a retired key
   * listed until every value sealed with it has been re-written (one refresh-token lifetime at
   * most; each refresh re-writes its session with `current`).
   */
  keys: Readonly<Record<string, Buffer | Uint8Array | string>>;
  /** The id of the key new values are sealed with; one of `keys`. */
  current: string;
}

const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Sealed values start with this, then `<keyId>.<base64url(nonce ‖ ciphertext ‖ tag)>`. */
const FORMAT = 'a1';
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The bundled {@link TokenCipher}: AES-256-GCM from `node:crypto`, a fresh random 96-bit nonce
 * for every value, the key id stored beside the value (and authenticated with it). Writes use
 * `current`; reads accept every listed key.
 * @example
 * ```ts
 * const cipher = new AesGcmTokenCipher({ keys: { k2: process.env.KEY_K2 ?? '' }, current: 'k2' });
 * ```
 */
export class AesGcmTokenCipher implements TokenCipher {
  readonly #keys: ReadonlyMap<string, KeyObject>;
  readonly #current: string;
  readonly #currentKey: KeyObject;

  /** @throws ConfigurationError when a key id or key is invalid, or `current` is not listed (never echoing a key). */
  constructor(options: AesGcmTokenCipherOptions) {
    assertConfig(typeof options === 'object' && options !== null, 'encryption options must be an object');
    const { keys, current } = options;
    const listed = typeof keys === 'object' && keys !== null && Object.keys(keys).length > 0;
    assertConfig(listed, 'encryption.keys must list at least one key by id');
    this.#keys = new Map(Object.entries(keys).map(([id, key], index) => [id, keyBytes(id, key, index)]));
    const currentKey = this.#keys.get(current);
    assertConfig(currentKey, 'encryption.current must name one of the listed key ids');
    this.#current = current;
    this.#currentKey = currentKey;
  }

  async seal(plaintext: string, aad: string): Promise<string> {
    const nonce = freshNonce();
    const cipher = createCipheriv('aes-256-gcm', this.#currentKey, nonce).setAAD(authenticatedData(this.#current, aad));
    const body = Buffer.concat([nonce, cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${FORMAT}.${this.#current}.${body.toString('base64url')}`;
  }

  async open(sealed: string, aad: string): Promise<string | undefined> {
    // `sealed` comes from the store: not trusted to be a string, nor well formed.
    const [format, id = '', payload = '', extra] = String(sealed).split('.');
    const key = this.#keys.get(id);
    const body = Buffer.from(payload, 'base64url');
    // Exactly what `seal` writes, unpadded base64url: Node's decoder skips any other character (`=`, `!`, a space).
    const wellFormed = format === FORMAT && extra === undefined && payload.length === Math.ceil((body.length * 4) / 3);
    if (!wellFormed || key === undefined || body.length < NONCE_BYTES + TAG_BYTES) return undefined;
    try {
      const nonce = body.subarray(0, NONCE_BYTES);
      const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
      decipher.setAAD(authenticatedData(id, aad));
      decipher.setAuthTag(body.subarray(-TAG_BYTES));
      return Buffer.concat([decipher.update(body.subarray(NONCE_BYTES, -TAG_BYTES)), decipher.final()]).toString();
    } catch {
      return undefined;
    }
  }
}

/** Random bytes for nonces, drawn in batches: one `randomBytes` call costs as much as the whole seal. */
let nonces = Buffer.alloc(0);
let noncesUsed = 0;

/** A fresh random 96-bit nonce, never handed out twice (the batch is replaced, not overwritten). */
function freshNonce(): Buffer {
  if (noncesUsed + NONCE_BYTES > nonces.length) [nonces, noncesUsed] = [randomBytes(NONCE_BYTES * 256), 0];
  return nonces.subarray(noncesUsed, (noncesUsed += NONCE_BYTES));
}

/** The key id is authenticated with the caller's data, so a value cannot be relabelled. */
function authenticatedData(keyId: string, aad: string): Buffer {
  return Buffer.from(`${keyId}\n${aad}`, 'utf8');
}

/**
 * A key's 32 bytes; the error names the key id (by its position, if the id is wrong) and the
 * length found, never the key.
 */
function keyBytes(id: string, key: Buffer | Uint8Array | string, index: number): KeyObject {
  // Not echoed: a key pasted where its id belongs would end up in the message.
  assertConfig(KEY_ID.test(id), `encryption key id number ${index + 1} must be 1 to 32 characters of A-Z a-z 0-9 _ -`);
  const bytes =
    typeof key === 'string'
      ? BASE64.test(key.trim()) && Buffer.from(key, 'base64')
      : key instanceof Uint8Array && Buffer.from(key);
  assertConfig(bytes, `encryption key "${id}" must be a 32-byte Buffer or base64 of 32 bytes`);
  const expected = `${KEY_BYTES} bytes (base64: 44 characters)`;
  assertConfig(bytes.length === KEY_BYTES, `encryption key "${id}" must be ${expected}; it is ${bytes.length} bytes`);
  return createSecretKey(bytes);
}

/**
 * The `encryption` option of a store: AES-256-GCM keys by id and the id to write with, or a
 * {@link TokenCipher} of your own (a KMS). Values are sealed with the session's store key and
 * identity as additional authenticated data. A plaintext value found in the store is refused as
 * unreadable, unless `readPlaintext` is on (while turning encryption on).
 */
export type TokenEncryptionOptions = (AesGcmTokenCipherOptions | { cipher: TokenCipher }) & {
  /**
   * The migration switch: a plaintext value (written before encryption was on) is read once and re-written
   * sealed, instead of being refused. Risk: while on, anyone who can write to the store can plant a plaintext
   * session of their own under any session's key, and it is served. Remove it once every session in use was
   * re-written (one access-token lifetime); see docs/security.md.
   * @default false
   */
  readPlaintext?: boolean | undefined;
};

/** A store's resolved `encryption` option: what seals its sessions, and whether it reads plaintext ones. */
export interface ResolvedTokenEncryption {
  cipher: TokenCipher;
  readPlaintext: boolean;
}

/**
 * A stored value that does not open: altered, moved under another session's key, sealed with a
 * key no longer listed, encrypted while the store has no encryption, or in plaintext while it has
 * (unless `readPlaintext` is on). The manager treats the session as absent (it refreshes or signs
 * in, and its write replaces the value); callers never see this error. `code` is
 * `ERR_ALIX_STORE_UNREADABLE`.
 */
export class UnreadableSessionError extends TokenStoreError {
  constructor(key: string, why: string) {
    super(`the stored session at ${key} does not open (${why}); treated as absent`, {
      hint:
        'check that every replica lists the same encryption keys; ' +
        'a value changed outside the library is replaced at the next write',
    });
    // Its own code, so status() and metrics count it apart from a store that is down.
    Object.defineProperty(this, 'code', { value: ErrorCodes.STORE_UNREADABLE, enumerable: true, configurable: true });
  }
}

/**
 * The cipher for a store's `encryption` option (the bundled AES-GCM one over its keys, or its own `cipher`) and its
 * `readPlaintext` switch, or undefined without one.
 * @throws ConfigurationError when the option is invalid (naming the store, never a key).
 */
export function resolveTokenEncryption(option: unknown, owner: string): ResolvedTokenEncryption | undefined {
  if (option === undefined) return undefined;
  assertConfig(typeof option === 'object' && option !== null, `${owner} option encryption must be an object`);
  const { readPlaintext = false, cipher } = option as { readPlaintext?: unknown; cipher?: Partial<TokenCipher> | null };
  // Strict: a string "false" from a config file must not turn the migration on.
  assertConfig(typeof readPlaintext === 'boolean', `${owner} option encryption.readPlaintext must be a boolean`);
  if ('cipher' in option) {
    const usable = typeof cipher?.seal === 'function' && typeof cipher.open === 'function';
    assertConfig(usable, `${owner} option encryption.cipher must have seal() and open()`);
    return { cipher: cipher as TokenCipher, readPlaintext };
  }
  try {
    return { cipher: new AesGcmTokenCipher(option as AesGcmTokenCipherOptions), readPlaintext };
  } catch (error) {
    throw new ConfigurationError(`${owner} option ${(error as Error).message}`);
  }
}

/**
 * The additional authenticated data of the session under `key`: the store key and the identity.
 * Joined by newlines, a newline inside either would be ambiguous (`a` + `b\nc` reads as `a\nb` +
 * `c`), so those are JSON-encoded under their own prefix; the rest keep the joined form, which
 * values sealed before still open under.
 */
export function sessionAad(key: string, identity: string): string {
  if (key.includes('\n') || identity.includes('\n'))
    return `alix-token-manager/session-json\n${JSON.stringify([key, identity])}`;
  return `alix-token-manager/session\n${key}\n${identity}`;
}

/**
 * Seals `session` for the store key `key`.
 * @throws TokenStoreError when the cipher cannot work right now (a KMS that does not answer), as a read reports it.
 */
export async function sealSession(cipher: TokenCipher, key: string, session: StoredSession): Promise<SealedSession> {
  const plaintext = JSON.stringify(pickTokenSet(session.tokens));
  // A cipher that throws at once, or answers without a promise, is taken as one that rejects or resolves.
  const sealing = Promise.resolve().then(() => cipher.seal(plaintext, sessionAad(key, session.identity)));
  const sealed = await sealing.catch((error: unknown) => {
    throw new TokenStoreError(`could not seal the session at ${key}: the cipher failed`, { cause: error });
  });
  return { identity: session.identity, sealed };
}

/**
 * The session a store serves for the value `found` under `key`: a sealed one opened; a plaintext one as it is, unless
 * the store encrypts: then it is refused (nothing binds it to its key: served, it would let anyone who can write to the
 * store plant a session), or with `readPlaintext` (the migration) served and handed to `rewrite`, to be written sealed.
 * @throws UnreadableSessionError when a sealed value does not open (or the store has no encryption) or holds no valid
 *   token set, or a plaintext one is refused; TokenStoreError when the cipher cannot work right now (a KMS that does
 *   not answer).
 */
export async function openStored(
  encryption: ResolvedTokenEncryption | undefined,
  key: string,
  found: StoredSession | SealedSession | undefined,
  rewrite: (session: StoredSession) => Promise<void>,
): Promise<StoredSession | undefined> {
  if (found === undefined || !('sealed' in found)) {
    if (encryption === undefined || found === undefined) return found;
    if (!encryption.readPlaintext) throw new UnreadableSessionError(key, 'it is not encrypted');
    await rewrite(found);
    return found;
  }
  if (encryption === undefined) throw new UnreadableSessionError(key, 'encrypted, but this store has no keys');
  // Found in a store, so not trusted: an identity that is not text is unreadable, not a TypeError.
  if (typeof found.identity !== 'string') throw new UnreadableSessionError(key, 'its identity is not a string');
  const opening = Promise.resolve().then(() => encryption.cipher.open(found.sealed, sessionAad(key, found.identity)));
  const plaintext = await opening.catch((error: unknown) => {
    throw new TokenStoreError(`could not open the stored session at ${key}: the cipher failed`, { cause: error });
  });
  if (plaintext === undefined) throw new UnreadableSessionError(key, 'it does not decrypt under this key and identity');
  // Text that is not JSON parses to undefined: not a token set.
  const tokens = parseJson(plaintext);
  const problem = tokenSetProblem(tokens);
  if (problem !== undefined) throw new UnreadableSessionError(key, problem);
  return { identity: found.identity, tokens: pickTokenSet(tokens as TokenSet) };
}
