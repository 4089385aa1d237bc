/**
 * The sandbox's memory of every token it issued: expiry, revocation and (for refresh
 * tokens) whether it was already used, since Alix refresh tokens rotate.
 */
import { createTokenId, signSandboxJwt } from './tokens';

/** Why an access token is not accepted. */
export type AccessTokenCheck = 'valid' | 'unknown' | 'expired' | 'revoked';

/** Why a refresh token is not accepted. */
export type RefreshTokenProblem = 'unknown' | 'used' | 'expired' | 'revoked';

/** A freshly issued pair; expiries in epoch ms, always whole seconds. */
export interface IssuedTokenPair {
  accessToken: string;
  refreshToken: string;
  accessTokenExpiresAt: number;
  refreshTokenExpiresAt: number;
}

/** What {@link SandboxTokenRegistry.issue} needs. */
export interface IssueRequest {
  partnerCode: string;
  /** The end user the session acts for; `undefined` when the sign-in named none. */
  userEmail: string | undefined;
  session: string;
  nowMs: number;
  accessTokenTtlMs: number;
  refreshTokenTtlMs: number;
}

interface IssuedToken {
  partnerCode: string;
  userEmail: string | undefined;
  session: string;
  expiresAt: number;
  revoked: boolean;
  used: boolean;
}

/** Rounds up to a whole second so the wire's epoch seconds never promise more than we keep. */
function expiryAt(nowMs: number, ttlMs: number): number {
  return Math.ceil((nowMs + ttlMs) / 1000) * 1000;
}

function revoke(issued: Map<string, IssuedToken>, userEmail: string | undefined): void {
  for (const token of issued.values()) {
    if (userEmail === undefined || token.userEmail === userEmail) token.revoked = true;
  }
}

/** Issues tokens and answers whether a presented token is still good. */
export class SandboxTokenRegistry {
  readonly #signingSecret: string;
  readonly #access = new Map<string, IssuedToken>();
  readonly #refresh = new Map<string, IssuedToken>();

  constructor(signingSecret: string) {
    this.#signingSecret = signingSecret;
  }

  /** Issues a new access/refresh pair for a session. */
  issue(request: IssueRequest): IssuedTokenPair {
    const accessTokenExpiresAt = expiryAt(request.nowMs, request.accessTokenTtlMs);
    const refreshTokenExpiresAt = expiryAt(request.nowMs, request.refreshTokenTtlMs);
    const accessToken = this.#mint(request, accessTokenExpiresAt);
    const refreshToken = this.#mint(request, refreshTokenExpiresAt);
    const base = {
      partnerCode: request.partnerCode,
      userEmail: request.userEmail,
      session: request.session,
      revoked: false,
      used: false,
    };
    this.#access.set(accessToken, { ...base, expiresAt: accessTokenExpiresAt });
    this.#refresh.set(refreshToken, { ...base, expiresAt: refreshTokenExpiresAt });
    return { accessToken, refreshToken, accessTokenExpiresAt, refreshTokenExpiresAt };
  }

  /** Whether a bearer token may call a protected resource at `nowMs`. */
  checkAccess(token: string, nowMs: number): AccessTokenCheck {
    const issued = this.#access.get(token);
    if (issued === undefined) return 'unknown';
    if (issued.revoked) return 'revoked';
    if (nowMs >= issued.expiresAt) return 'expired';
    return 'valid';
  }

  /**
   * The end user an issued access token acts for: `{ known: false }` for a token never
   * issued, `userEmail: undefined` for one whose sign-in named no user.
   */
  accessTokenUser(token: string): { known: true; userEmail: string | undefined } | { known: false } {
    const issued = this.#access.get(token);
    return issued === undefined ? { known: false } : { known: true, userEmail: issued.userEmail };
  }

  /**
   * The end user an issued refresh token acts for (used, expired or revoked alike); `undefined` when unknown or none.
   */
  refreshTokenUser(token: string): string | undefined {
    return this.#refresh.get(token)?.userEmail;
  }

  /**
   * Spends a refresh token: on success it is dead from then on and its session and user are
   * returned for the new pair.
   */
  consumeRefresh(
    token: string,
    partnerCode: string,
    nowMs: number,
  ): { ok: true; session: string; userEmail: string | undefined } | { ok: false; problem: RefreshTokenProblem } {
    const issued = this.#refresh.get(token);
    if (issued === undefined || issued.partnerCode !== partnerCode) return { ok: false, problem: 'unknown' };
    if (issued.revoked) return { ok: false, problem: 'revoked' };
    if (issued.used) return { ok: false, problem: 'used' };
    if (nowMs >= issued.expiresAt) return { ok: false, problem: 'expired' };
    issued.used = true;
    return { ok: true, session: issued.session, userEmail: issued.userEmail };
  }

  /** Revokes every access token issued so far, or only those issued to `userEmail`. */
  revokeAccessTokens(userEmail?: string): void {
    revoke(this.#access, userEmail);
  }

  /** Revokes every refresh token issued so far, or only those issued to `userEmail`. */
  revokeRefreshTokens(userEmail?: string): void {
    revoke(this.#refresh, userEmail);
  }

  #mint(request: IssueRequest, expiresAt: number): string {
    return signSandboxJwt(
      {
        partnerCode: request.partnerCode,
        ...(request.userEmail === undefined ? {} : { userEmail: request.userEmail }),
        session: request.session,
        jti: createTokenId(),
        iat: Math.floor(request.nowMs / 1000),
        exp: expiresAt / 1000,
      },
      this.#signingSecret,
    );
  }
}
