/**
 * Signatures for the Alix auth calls: RSA with SHA-256, PKCS#1 v1.5 padding, base64 with
 * padding, made either with a local key or by a user-supplied signer.
 */
import { constants, sign, type KeyObject } from 'node:crypto';
import { ConfigurationError, isTokenManagerError, type AuthOperation } from '../../errors';
import { sanitizeCauseOf } from '../../redaction';
import type { AlixSigner } from './options';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A signer that uses a local RSA private key (validated by `loadPrivateKey`). */
export function createKeySigner(key: KeyObject): AlixSigner {
  return async (data) =>
    sign('sha256', Buffer.from(data, 'utf8'), { key, padding: constants.RSA_PKCS1_PADDING }).toString('base64');
}

/**
 * Runs a signer and checks its answer is a non-empty base64 string.
 * @throws the signer's own error when it is one of this library's errors (so a signer can
 *   throw `AuthUnavailableError` to ask for a retry); otherwise {@link ConfigurationError},
 *   whose cause has `data` and `secrets` taken out.
 */
export async function runSigner(
  signer: AlixSigner,
  data: string,
  operation: AuthOperation,
  secrets: readonly string[] = [],
): Promise<string> {
  let signature: unknown;
  try {
    signature = await signer(data);
  } catch (error) {
    if (isTokenManagerError(error)) throw error;
    const name = error instanceof Error ? error.name : typeof error;
    // A signer's error may echo what it was given to sign, and so the secret key.
    throw new ConfigurationError(`${operation} failed: the signer threw (${name})`, {
      cause: sanitizeCauseOf(error, [data, ...secrets]),
    });
  }
  if (typeof signature !== 'string' || signature === '' || !BASE64.test(signature)) {
    throw new ConfigurationError(`${operation} failed: the signer did not return a base64 string`);
  }
  return signature;
}
