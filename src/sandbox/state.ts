/**
 * The sandbox's memory of every live token it issued: its kind, session, user, expiry and
 * revocation; refresh tokens rotate, and a spent one is forgotten at once, its session's newest
 * refresh token answering for it (used, or revoked with it). The tokens themselves are
 * opaque, JWT-looking strings like the ones Alix issues (HS256 with `partnerCode`, `session`,
 * `userEmail` for a sign-in that named its end user, `kind`, `jti`, `iat`, `exp`): clients must not
 * decode them, and the sandbox trusts only this registry, never the claims, except for a token it
 * has forgotten: it forgets each token once expired, so that a long-running sandbox holds only live
 * ones, and recognises a forgotten one by its HMAC, to refuse it as expired. Past {@link MAX_LIVE_TOKENS} live
 * ones (a soak with many users: refresh tokens live 180 days) it forgets the oldest issued, refused from then on as
 * unknown (a client signs in again).
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
}

/** Who a token acts for: what a sign-in sets and its refreshes keep. */
export type TokenSession = Pick<IssuedToken, 'userEmail' | 'session'>;

/** The most tokens the registry holds. */
export const MAX_LIVE_TOKENS = 100_000;

const JWT_HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');

/** Issues tokens and answers whether a presented token is still good. */
export class SandboxTokenRegistry {
  readonly #issued = new Map<string, IssuedToken>();
  /** Each live session's newest refresh token: any older one of the session was spent. */
  readonly #sessions = new Map<string, IssuedToken>();
  /** The earliest expiry in #issued, epoch ms: before it, no token there has expired. */
  #nextExpiry = Infinity;

  readonly #options: Pick<ResolvedSandboxOptions, 'partnerCode' | 'accessTokenTtlMs' | 'refreshTokenTtlMs'>;
  /** The HS256 secret tokens are signed with; 32 random bytes unless the options give one. */
  readonly #signingSecret: string;

  /** `maxLiveTokens`: the most tokens held at once (smaller in tests, which prove the bound). */
  constructor(
    options: ResolvedSandboxOptions,
    private readonly maxLiveTokens = MAX_LIVE_TOKENS,
  ) {
    this.#options = options;
    this.#signingSecret = options.tokenSigningSecret ?? randomBytes(32).toString('base64url');
  }

  /** Issues a new access/refresh pair for a session. */
  issue(session: TokenSession, nowMs: number) {
    this.#forgetExpired(nowMs);
    const [accessToken, accessTokenExpiresAt] = this.#mint('access', session, nowMs);
    const [refreshToken, refreshTokenExpiresAt] = this.#mint('refresh', session, nowMs);
    return { accessToken, refreshToken, accessTokenExpiresAt, refreshTokenExpiresAt };
  }

  /** How many tokens the registry holds: none that had expired when it last issued. */
  get size(): number {
    return this.#issued.size;
  }

  /**
   * The token of this kind, used, expired or revoked alike (a forgotten one rebuilt by #recall); `undefined` when
   * never issued.
   */
  get(token: string, kind: IssuedToken['kind']): IssuedToken | undefined {
    const issued = this.#issued.get(token);
    if (issued === undefined) return this.#recall(token, kind);
    return issued.kind === kind ? issued : undefined;
  }

  /** Spends a live refresh token (see {@link problem}); its session's next refresh token answers for it. */
  spend(token: string): TokenSession {
    const spent = this.#issued.get(token) as IssuedToken;
    this.#issued.delete(token);
    return spent;
  }

  /** Why the token may not be used at `nowMs`; `undefined` when it may. */
  problem(token: string, kind: IssuedToken['kind'], nowMs: number): TokenProblem | undefined {
    const issued = this.get(token, kind);
    if (issued === undefined) return 'unknown';
    // Expiry comes first: once forgotten, a token's revocation and use are lost, and its answer must not change.
    if (nowMs >= issued.expiresAt) return 'expired';
    if (this.#issued.has(token)) return issued.revoked ? 'revoked' : undefined;
    // Recalled (see #recall) yet not expired: a spent refresh token of a live session; else issued by another registry
    // with the same secret, or the clock moved back past the expiry it was forgotten at.
    const newest = kind === 'refresh' ? this.#sessions.get(issued.session) : undefined;
    if (newest === undefined) return 'unknown';
    return newest.revoked ? 'revoked' : 'used';
  }

  /** Revokes every token of this kind issued so far, or only those issued to `userEmail`. */
  revoke(kind: IssuedToken['kind'], userEmail: string | undefined): void {
    for (const token of this.#issued.values()) {
      if (token.kind === kind && (userEmail === undefined || token.userEmail === userEmail)) token.revoked = true;
    }
  }

  /**
   * Forgets the tokens expired at `nowMs`. Expiries are whole seconds, so the walk happens at most once a second of
   * sandbox time, however many tokens are issued in between.
   */
  #forgetExpired(nowMs: number): void {
    if (nowMs < this.#nextExpiry) return;
    this.#nextExpiry = Infinity;
    for (const [token, issued] of this.#issued) {
      if (nowMs < issued.expiresAt) {
        this.#nextExpiry = Math.min(this.#nextExpiry, issued.expiresAt);
        continue;
      }
      this.#forget(token, issued);
    }
  }

  #forget(token: string, issued: IssuedToken): void {
    this.#issued.delete(token);
    if (this.#sessions.get(issued.session) === issued) this.#sessions.delete(issued.session);
  }

  /**
   * A forgotten token, rebuilt from the claims its HMAC vouches for; `undefined` when this registry did not issue it
   * as a token of this kind (a live one of the other kind is unknown too: its answer must not change once forgotten).
   */
  #recall(token: string, kind: IssuedToken['kind']): IssuedToken | undefined {
    const [header, payload, mac, ...rest] = token.split('.');
    if (header !== JWT_HEADER || payload === undefined || rest.length > 0) return undefined;
    if (mac !== this.#mac(`${header}.${payload}`)) return undefined;
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    if (claims.partnerCode !== this.#options.partnerCode || claims.kind !== kind) return undefined;
    const { userEmail, session, exp } = claims as { userEmail?: string; session: string; exp: number };
    return { kind, userEmail, session, expiresAt: exp * 1000, revoked: false };
  }

  #mac(payload: string): string {
    return createHmac('sha256', this.#signingSecret).update(payload).digest('base64url');
  }

  #mint(kind: IssuedToken['kind'], { userEmail, session }: TokenSession, nowMs: number): [string, number] {
    const expiresAt = Math.ceil((nowMs + this.#options[`${kind}TokenTtlMs`]) / 1000) * 1000;
    const claims = {
      partnerCode: this.#options.partnerCode,
      ...(userEmail === undefined ? {} : { userEmail }),
      session,
      kind,
      // Makes every token unique, even two issued in the same second.
      jti: randomBytes(12).toString('base64url'),
      iat: Math.floor(nowMs / 1000),
      exp: expiresAt / 1000,
    };
    const payload = `${JWT_HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    const token = `${payload}.${this.#mac(payload)}`;
    const issued: IssuedToken = { kind, userEmail, session, expiresAt, revoked: false };
    this.#issued.set(token, issued);
    if (kind === 'refresh') this.#sessions.set(session, issued);
    this.#nextExpiry = Math.min(this.#nextExpiry, expiresAt);
    const [oldest] = this.#issued;
    if (oldest !== undefined && this.#issued.size > this.maxLiveTokens) this.#forget(...oldest);
    return [token, expiresAt];
  }
}
