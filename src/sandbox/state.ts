/**
 * The sandbox's memory of every token it issued: its kind, session, user, expiry, revocation
 * and (for refresh tokens, which rotate) whether it was already used. The tokens themselves are
 * opaque, JWT-looking strings like the ones Alix issues (HS256 with `partnerCode`, `session`,
 * `userEmail` for a sign-in that named its end user, `jti`, `iat`, `exp`): clients must not
 * decode them, and the sandbox trusts only this registry, never the claims.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { ResolvedSandboxOptions } from './options';

/** Why a presented token is not accepted. */
export type TokenProblem = 'unknown' | 'used' | 'expired' | 'revoked';

/** What the registry remembers of one issued token. */
export interface IssuedToken {
  kind: 'access' | 'refresh';
  /** The end user the session acts for; `undefined` when the sign-in named none. Refreshes keep it. */
  userEmail: string | undefined;
  /** The sign-in session the token belongs to; refreshes keep it. */
  session: string;
  /** Epoch ms, always a whole second, so the wire's epoch seconds never promise more than we keep. */
  expiresAt: number;
  revoked: boolean;
  used: boolean;
}

/** Who a token acts for: what a sign-in sets and its refreshes keep. */
export type TokenSession = Pick<IssuedToken, 'userEmail' | 'session'>;

const JWT_HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');

/** Issues tokens and answers whether a presented token is still good. */
export class SandboxTokenRegistry {
  readonly #issued = new Map<string, IssuedToken>();

  readonly #options: Pick<ResolvedSandboxOptions, 'partnerCode' | 'accessTokenTtlMs' | 'refreshTokenTtlMs'>;
  /** The HS256 secret tokens are signed with; 32 random bytes unless the options give one. */
  readonly #signingSecret: string;

  constructor(options: ResolvedSandboxOptions) {
    this.#options = options;
    this.#signingSecret = options.tokenSigningSecret ?? randomBytes(32).toString('base64url');
  }

  /** Issues a new access/refresh pair for a session. */
  issue(session: TokenSession, nowMs: number) {
    const { accessTokenTtlMs, refreshTokenTtlMs } = this.#options;
    const [accessToken, accessTokenExpiresAt] = this.#mint('access', session, nowMs, accessTokenTtlMs);
    const [refreshToken, refreshTokenExpiresAt] = this.#mint('refresh', session, nowMs, refreshTokenTtlMs);
    return { accessToken, refreshToken, accessTokenExpiresAt, refreshTokenExpiresAt };
  }

  /** The token of this kind, used, expired or revoked alike; `undefined` when never issued. */
  get(token: string, kind: IssuedToken['kind']): IssuedToken | undefined {
    const issued = this.#issued.get(token);
    return issued?.kind === kind ? issued : undefined;
  }

  /** Why the token may not be used at `nowMs`; `undefined` when it may. */
  problem(token: string, kind: IssuedToken['kind'], nowMs: number): TokenProblem | undefined {
    const issued = this.get(token, kind);
    if (issued === undefined) return 'unknown';
    if (issued.revoked) return 'revoked';
    if (issued.used) return 'used';
    return nowMs >= issued.expiresAt ? 'expired' : undefined;
  }

  /** Revokes every token of this kind issued so far, or only those issued to `userEmail`. */
  revoke(kind: IssuedToken['kind'], userEmail: string | undefined): void {
    for (const token of this.#issued.values()) {
      if (token.kind === kind && (userEmail === undefined || token.userEmail === userEmail)) token.revoked = true;
    }
  }

  #mint(kind: IssuedToken['kind'], owner: TokenSession, nowMs: number, ttlMs: number): [string, number] {
    const { userEmail, session } = owner;
    const expiresAt = Math.ceil((nowMs + ttlMs) / 1000) * 1000;
    const claims = {
      partnerCode: this.#options.partnerCode,
      ...(userEmail === undefined ? {} : { userEmail }),
      session,
      // Makes every token unique, even two issued in the same second.
      jti: randomBytes(12).toString('base64url'),
      iat: Math.floor(nowMs / 1000),
      exp: expiresAt / 1000,
    };
    const payload = `${JWT_HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    const token = `${payload}.${createHmac('sha256', this.#signingSecret).update(payload).digest('base64url')}`;
    this.#issued.set(token, { kind, userEmail, session, expiresAt, revoked: false, used: false });
    return [token, expiresAt];
  }
}
