/**
 * Opaque, JWT-looking tokens like the ones Alix issues (HS256 with `iat`, `exp`,
 * `partnerCode`, `session`, and `userEmail` for a sign-in that named its end user). Clients must not decode them; the
 * sandbox itself trusts only
 * its own registry, never the claims.
 */
import { createHmac, randomBytes } from 'node:crypto';

/** The claims of a sandbox token; times in epoch seconds, as in a JWT. */
export interface SandboxTokenClaims {
  partnerCode: string;
  /** The end user the sign-in named (its `userEmail`); absent when it named none. Refreshes keep it. */
  userEmail?: string;
  /** The sign-in session the token belongs to; refreshes keep it. */
  session: string;
  /** Makes every token unique, even two issued in the same second. */
  jti: string;
  iat: number;
  exp: number;
}

const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');

/** A random HS256 secret for one sandbox. */
export function createTokenSigningSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** A random token id. */
export function createTokenId(): string {
  return randomBytes(12).toString('base64url');
}

/** Signs the claims as an HS256 JWT with the sandbox's secret. */
export function signSandboxJwt(claims: SandboxTokenClaims, secret: string): string {
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const signature = createHmac('sha256', secret).update(`${HEADER}.${payload}`).digest('base64url');
  return `${HEADER}.${payload}.${signature}`;
}
