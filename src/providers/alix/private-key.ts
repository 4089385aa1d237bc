/**
 * Loads the partner's RSA private key from a PEM string, a PEM file or a KeyObject and
 * checks it can make Alix signatures. Error messages name the problem (and a file path),
 * never the key material.
 */
import { createPrivateKey, KeyObject } from 'node:crypto';
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { ConfigurationError, assertConfig, errorCodeOf } from '../../errors';

/** The smallest RSA modulus accepted, in bits. */
const MIN_RSA_MODULUS_BITS = 2048;

const PEM_MARKER = '-----BEGIN ';

/** The largest key file read, in bytes: a PEM private key is a few KB (16384-bit RSA: about 12 KB). */
const MAX_KEY_FILE_BYTES = 64 * 1024;

/**
 * Returns a validated RSA private `KeyObject` of at least 2048 bits.
 * @throws {ConfigurationError} when the input is not a readable PEM/KeyObject holding such a key.
 */
export function loadPrivateKey(input: unknown): KeyObject {
  if (input instanceof KeyObject) return checkKeyObject(input, 'privateKey');
  assertConfig(typeof input === 'string', 'privateKey must be a PEM string, a file path or a KeyObject');
  if (input.includes(PEM_MARKER)) return parsePem(input, 'privateKey');
  // Taken for a path if it is a single short line that names a file or cannot be key material: one long run of
  // base64 characters may be a PEM body pasted without its header (its lines joined by an env variable's literal
  // "\n" sequences, whose backslashes would read as a Windows path), or a long path without a dot.
  const body = input.replace(/\\r\\n|\\n/g, '');
  const base64Run = /^[A-Za-z0-9+/=_-]{64,}$/.test(body);
  const pathLike =
    input.trim() !== '' && input.length <= 1024 && !/[\r\n]/.test(input) && (!base64Run || existsSync(input));
  assertConfig(pathLike, "privateKey is neither a PEM string (no '-----BEGIN' line) nor a file path");
  // Quoted only when it reads as a path: a secret pasted in the wrong option must not be echoed,
  // and a base64 secret may hold '/' (a path that is all base64 characters is not shown either).
  const readsAsPath = /[/\\]|\.(?:pem|key)$/i.test(input) && !/^[A-Za-z0-9+/=_-]+$/.test(body);
  const shownPath = readsAsPath ? `'${input}'` : '(the path given)';
  const what = `privateKey file ${shownPath}`;
  let text: string;
  try {
    // A FIFO would block this synchronous read until a writer comes, and a device (/dev/zero) never ends it.
    const stats = statSync(input);
    assertConfig(stats.isFile() || stats.isDirectory(), `${what} is not a regular file (a FIFO, device or socket)`);
    // A path to a log or a disk image by mistake would be read whole into memory.
    const tooLarge = `${what} is ${stats.size} bytes, too large for a PEM private key (at most ${MAX_KEY_FILE_BYTES})`;
    assertConfig(stats.size <= MAX_KEY_FILE_BYTES, tooLarge);
    // Files under /proc and /sys report size 0 whatever they hold (/proc/self/pagemap: gigabytes).
    const bytes = readAtMost(input, MAX_KEY_FILE_BYTES + 1);
    assertConfig(
      bytes.length <= MAX_KEY_FILE_BYTES,
      `${what} holds more than ${MAX_KEY_FILE_BYTES} bytes, too large for a PEM private key`,
    );
    text = bytes.toString('utf8');
  } catch (error) {
    if (error instanceof ConfigurationError) throw error;
    // No cause: the fs error's message quotes the value, and its code is all it adds.
    const code = errorCodeOf(error) ?? 'unreadable';
    // A directory is what `alix-token keygen --out ./keys` leaves, and so the likeliest wrong path.
    const hint = code === 'EISDIR' ? ': a directory; name the key file in it (keygen: alix-partner-private.pem)' : '';
    throw new ConfigurationError(`${what} cannot be read (${code})${hint}`);
  }
  assertConfig(text.includes(PEM_MARKER), `${what} does not contain a PEM key`);
  return parsePem(text, what);
}

/** The first `limit` bytes of the file at `path` (fewer if it ends sooner). */
function readAtMost(path: string, limit: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.alloc(limit);
    let length = 0;
    for (let read = -1; read !== 0 && length < limit; length += read)
      read = readSync(fd, buffer, length, limit - length, null);
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}

function parsePem(rawPem: string, what: string): KeyObject {
  // Env variables often carry a PEM on one line with literal "\n" (or, JSON-encoded from Windows, "\r\n") sequences;
  // a file holding that line usually ends in a real line break, which does not make it multi-line.
  // `docker --env-file` keeps the quotes around a value.
  const unquoted = rawPem.trim().replace(/^(["'])(-----BEGIN[\s\S]*)\1$/, '$2');
  const pem = /\r?\n/.test(unquoted) ? unquoted : unquoted.replace(/\\r\\n|\\n/g, '\n');
  // A bundle may hold a public key or certificate beside the private key: Node signs with the latter.
  const hasPrivate = /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/.test(pem);
  const publicOnly = !hasPrivate && /-----BEGIN (?:RSA )?PUBLIC KEY-----|-----BEGIN CERTIFICATE-----/.test(pem);
  assertConfig(!publicOnly, `${what} is a public key or certificate; the RSA private key is needed to sign`);
  const openSsh = `${what} is an OpenSSH key; convert it to PEM (ssh-keygen -p -m PEM -f <file>)`;
  assertConfig(!pem.includes('-----BEGIN OPENSSH PRIVATE KEY-----'), openSsh);
  const encrypted = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(pem);
  assertConfig(!encrypted, `${what} is an encrypted PEM; decrypt it first or pass a KeyObject`);
  try {
    return checkKeyObject(createPrivateKey({ key: pem, format: 'pem' }), what);
  } catch (error) {
    if (error instanceof ConfigurationError) throw error;
    throw new ConfigurationError(`${what} is not a valid PEM private key`, { cause: error });
  }
}

function checkKeyObject(key: KeyObject, what: string): KeyObject {
  assertConfig(key.type === 'private', `${what} is a ${key.type} key; the RSA private key is needed to sign`);
  const type = key.asymmetricKeyType;
  assertConfig(type === 'rsa', `${what} is a ${type ?? 'non-RSA'} key; Alix signatures need an RSA key (PKCS#1 v1.5)`);
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  assertConfig(
    bits >= MIN_RSA_MODULUS_BITS,
    `${what} is a ${bits || 'unknown'}-bit RSA key; at least ${MIN_RSA_MODULUS_BITS} bits are required`,
  );
  return key;
}
