/**
 * Shared RSA test keys for the Alix provider tests, and a scanner that proves thrown
 * errors carry no secret.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { inspect } from 'node:util';

/** A generated key pair in every form the tests need. */
export interface TestKeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** PKCS#8 PEM of the private key. */
  privatePem: string;
  /** SPKI PEM of the public key. */
  publicPem: string;
}

/** Generates an RSA key pair (call once per test file: 2048 bits take ~100 ms). */
export function makeRsaKeyPair(modulusLength = 2048): TestKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength });
  return {
    privateKey,
    publicKey,
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** The base64 lines of a PEM body: any of them showing up in output is a leak. */
export function pemBodyLines(pem: string): string[] {
  return pem.split('\n').filter((line) => line.length >= 32 && !line.startsWith('-----'));
}

/** Awaits a promise that must reject, records the error in `sink`, and returns it. */
export async function captureRejection(promise: Promise<unknown>, sink: unknown[]): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    sink.push(error);
    return error;
  }
  throw new Error('expected the promise to reject');
}

/** Runs a function that must throw, records the error in `sink`, and returns it. */
export function captureThrow(fn: () => unknown, sink: unknown[]): unknown {
  try {
    fn();
  } catch (error) {
    sink.push(error);
    return error;
  }
  throw new Error('expected the function to throw');
}

/**
 * Every rendering of each error (message, JSON.stringify, util.inspect at full depth) that
 * contains one of the secrets, as `"<error index>: <secret label>"`.
 */
export function findLeaks(errors: readonly unknown[], secrets: Readonly<Record<string, string>>): string[] {
  const leaks: string[] = [];
  errors.forEach((error, index) => {
    const renderings = [
      error instanceof Error ? error.message : String(error),
      JSON.stringify(error) ?? '',
      inspect(error, { depth: Infinity, showHidden: true }),
    ];
    for (const [label, secret] of Object.entries(secrets)) {
      if (renderings.some((text) => text.includes(secret))) leaks.push(`${index}: ${label}`);
    }
  });
  return leaks;
}
