/**
 * Partner RSA key pairs and the `partnerCode|secretKey` signature the Alix auth endpoints
 * check: RSA with SHA-256, PKCS#1 v1.5 padding, base64 with padding (SPEC §2).
 */
import { constants, createPrivateKey, generateKeyPair, generateKeyPairSync, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { promisify } from 'node:util';

/** An RSA key pair in PEM: the private key as PKCS#8, the public key as SPKI. */
export interface PartnerKeyPair {
  /** `-----BEGIN PRIVATE KEY-----` (PKCS#8): what a partner signs with. */
  privateKeyPem: string;
  /** `-----BEGIN PUBLIC KEY-----` (SPKI): what the sandbox verifies with. */
  publicKeyPem: string;
}

/** The RSA modulus length of generated partner keys, in bits (as in the Alix example). */
export const PARTNER_KEY_BITS = 2048;

const KEY_PAIR_OPTIONS = {
  modulusLength: PARTNER_KEY_BITS,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
} as const;

/**
 * Generates a 2048-bit RSA partner key pair without blocking the event loop.
 * @example
 * const { privateKeyPem, publicKeyPem } = await generatePartnerKeyPair();
 */
export async function generatePartnerKeyPair(): Promise<PartnerKeyPair> {
  const { privateKey, publicKey } = await promisify(generateKeyPair)('rsa', KEY_PAIR_OPTIONS);
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/** Generates a 2048-bit RSA partner key pair synchronously (tens to hundreds of ms). */
export function generatePartnerKeyPairSync(): PartnerKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', KEY_PAIR_OPTIONS);
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/** The string a partner signs: `partnerCode|secretKey`. */
export function alixSignedString(partnerCode: string, secretKey: string): string {
  return `${partnerCode}|${secretKey}`;
}

const PKCS1 = constants.RSA_PKCS1_PADDING;
const signedBytes = (partnerCode: string, secretKey: string): Buffer =>
  Buffer.from(alixSignedString(partnerCode, secretKey), 'utf8');

/**
 * Signs `partnerCode|secretKey` the way the Alix auth endpoints expect, for tests and demos
 * that call the sandbox by hand.
 * @param privateKey the partner's RSA private key, PEM or `KeyObject`.
 * @returns the base64 signature (344 characters for a 2048-bit key).
 */
export function createAlixSignature(privateKey: string | KeyObject, partnerCode: string, secretKey: string): string {
  const key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  return sign('sha256', signedBytes(partnerCode, secretKey), { key, padding: PKCS1 }).toString('base64');
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Checks a base64 signature of `partnerCode|secretKey` against the partner's public key. */
export function verifyAlixSignature(publicKey: KeyObject, partnerCode: string, secretKey: string, signature: string) {
  if (!BASE64.test(signature)) return false;
  try {
    const key = { key: publicKey, padding: PKCS1 };
    return verify('sha256', signedBytes(partnerCode, secretKey), key, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}
