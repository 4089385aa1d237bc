/**
 * What seals a stored session: the {@link TokenCipher} interface (so a KMS or HSM can do it)
 * and the bundled AES-256-GCM implementation with key ids for rotation.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ConfigurationError } from '../errors';

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
  readonly #keys: ReadonlyMap<string, Buffer>;
  readonly #current: string;
  readonly #currentKey: Buffer;

  /** @throws ConfigurationError when a key id or key is invalid, or `current` is not listed (never echoing a key). */
  constructor(options: AesGcmTokenCipherOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new ConfigurationError('encryption options must be an object');
    }
    const { keys, current } = options;
    if (typeof keys !== 'object' || keys === null || Object.keys(keys).length === 0) {
      throw new ConfigurationError('encryption.keys must list at least one key by id');
    }
    const parsed = new Map<string, Buffer>();
    for (const [index, [id, key]] of Object.entries(keys).entries()) {
      // Not echoed: a key pasted where its id belongs would end up in the message.
      if (!KEY_ID.test(id)) {
        const rule = 'must be 1 to 32 characters of A-Z a-z 0-9 _ -';
        throw new ConfigurationError(`encryption key id number ${index + 1} ${rule}`);
      }
      parsed.set(id, keyBytes(id, key));
    }
    if (typeof current !== 'string' || !parsed.has(current)) {
      throw new ConfigurationError('encryption.current must name one of the listed key ids');
    }
    this.#keys = parsed;
    this.#current = current;
    this.#currentKey = parsed.get(current) as Buffer;
  }

  /** The id of the key new values are sealed with. */
  get currentKeyId(): string {
    return this.#current;
  }

  async seal(plaintext: string, aad: string): Promise<string> {
    return this.sealSync(plaintext, aad);
  }

  async open(sealed: string, aad: string): Promise<string | undefined> {
    return this.openSync(sealed, aad);
  }

  /** {@link seal}, synchronously. */
  sealSync(plaintext: string, aad: string): string {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#currentKey, nonce);
    cipher.setAAD(authenticatedData(this.#current, aad));
    const body = Buffer.concat([nonce, cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${FORMAT}.${this.#current}.${body.toString('base64url')}`;
  }

  /** {@link open}, synchronously. */
  openSync(sealed: string, aad: string): string | undefined {
    if (typeof sealed !== 'string') return undefined;
    const [format, id, payload, extra] = sealed.split('.');
    if (format !== FORMAT || id === undefined || payload === undefined || extra !== undefined) return undefined;
    const key = this.#keys.get(id);
    if (key === undefined) return undefined;
    const body = Buffer.from(payload, 'base64url');
    if (body.length < NONCE_BYTES + TAG_BYTES) return undefined;
    try {
      const nonce = body.subarray(0, NONCE_BYTES);
      const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
      decipher.setAAD(authenticatedData(id, aad));
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
      const ciphertext = body.subarray(NONCE_BYTES, body.length - TAG_BYTES);
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }
}

/** The key id is authenticated with the caller's data, so a value cannot be relabelled. */
function authenticatedData(keyId: string, aad: string): Buffer {
  return Buffer.from(`${keyId}\n${aad}`, 'utf8');
}

/** A key's 32 bytes; the error names the key id and the length found, never the key. */
function keyBytes(id: string, key: unknown): Buffer {
  let bytes: Buffer | undefined;
  if (Buffer.isBuffer(key) || key instanceof Uint8Array) bytes = Buffer.from(key);
  else if (typeof key === 'string' && BASE64.test(key.trim())) bytes = Buffer.from(key.trim(), 'base64');
  if (bytes === undefined) {
    throw new ConfigurationError(`encryption key "${id}" must be a 32-byte Buffer or base64 of 32 bytes`);
  }
  if (bytes.length !== KEY_BYTES) {
    const expected = `${KEY_BYTES} bytes (base64: 44 characters)`;
    throw new ConfigurationError(`encryption key "${id}" must be ${expected}; it is ${bytes.length} bytes`);
  }
  return bytes;
}
