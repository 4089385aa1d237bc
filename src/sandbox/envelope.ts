/**
 * The Alix response envelope exactly as the API page shows it, and the sandbox's error
 * codes. Property order follows the page: success, message, data, errorCode.
 */
import type { TokenProblem } from './state';

/** The `message` of every successful Alix response. */
export const ALIX_SUCCESS_MESSAGE = 'Your request has been successful';

/**
 * The `errorCode`s the sandbox answers with. Only 32 appears on the Alix page; the others
 * are the sandbox's own, distinct so tests can tell the cases apart. Codes of 400 and up
 * mirror the HTTP status of a generic failure.
 */
export const SandboxErrorCodes = Object.freeze({
  /** 400: the body is not a JSON object, a field is missing or mistyped, or Content-Type is not JSON. */
  INVALID_REQUEST: 10,
  /** 400: `partnerCode` is not the sandbox's partner. */
  UNKNOWN_PARTNER: 11,
  /** 400: the signature does not verify against the partner's public key. */
  INVALID_SIGNATURE: 12,
  /** 400: the refresh token was never issued (or belongs to another partner). */
  INVALID_REFRESH_TOKEN: 32,
  /** 400: the refresh token was already used; refresh tokens rotate. */
  REFRESH_TOKEN_USED: 33,
  /** 400: the refresh token has expired. */
  REFRESH_TOKEN_EXPIRED: 34,
  /** 400: the refresh token was revoked with `revokeRefreshTokens()`. */
  REFRESH_TOKEN_REVOKED: 35,
  /** 401: no `Authorization: Bearer …` header. */
  MISSING_ACCESS_TOKEN: 40,
  /** 401: the bearer token was never issued. */
  INVALID_ACCESS_TOKEN: 41,
  /** 401: the bearer token has expired. */
  ACCESS_TOKEN_EXPIRED: 42,
  /** 401: the bearer token was revoked with `revokeAccessTokens()`. */
  ACCESS_TOKEN_REVOKED: 43,
  /**
   * 403: the request names its end user (`X-Alix-User`) and the bearer token, valid as it
   * is, was issued to another user or to none.
   */
  TOKEN_USER_MISMATCH: 44,
  /** 404: no such route. */
  NOT_FOUND: 404,
  /** 405: the route exists with another method. */
  METHOD_NOT_ALLOWED: 405,
  /** 413: the request body is over 1 MiB. */
  PAYLOAD_TOO_LARGE: 413,
} as const);

type Refusals<Problem extends string> = Readonly<Record<Problem, [errorCode: number, message: string]>>;

/** The `errorCode` and message of each reason a presented token is refused (`missing`: no bearer token at all). */
export const TOKEN_PROBLEMS: { refresh: Refusals<TokenProblem>; access: Refusals<TokenProblem | 'missing'> } = {
  refresh: {
    unknown: [SandboxErrorCodes.INVALID_REFRESH_TOKEN, 'The refresh token is invalid'],
    used: [SandboxErrorCodes.REFRESH_TOKEN_USED, 'The refresh token has already been used'],
    expired: [SandboxErrorCodes.REFRESH_TOKEN_EXPIRED, 'The refresh token has expired'],
    revoked: [SandboxErrorCodes.REFRESH_TOKEN_REVOKED, 'The refresh token has been revoked'],
  },
  access: {
    unknown: [SandboxErrorCodes.INVALID_ACCESS_TOKEN, 'The access token is invalid'],
    used: [SandboxErrorCodes.INVALID_ACCESS_TOKEN, 'The access token is invalid'], // access tokens are never spent
    expired: [SandboxErrorCodes.ACCESS_TOKEN_EXPIRED, 'The access token has expired'],
    revoked: [SandboxErrorCodes.ACCESS_TOKEN_REVOKED, 'The access token has been revoked'],
    missing: [SandboxErrorCodes.MISSING_ACCESS_TOKEN, 'An access token is required'],
  },
};

/** One of {@link SandboxErrorCodes}. */
export type SandboxErrorCode = (typeof SandboxErrorCodes)[keyof typeof SandboxErrorCodes];

/** The `data` of a successful auth response; the expiries are named `accessToken<Suffix>`, `refreshToken<Suffix>`. */
type TokenData<Suffix extends string> = Record<`${'accessToken' | 'refreshToken'}${'' | Suffix}`, string>;

/** The `data` of a successful auth response: expiries are epoch seconds as strings. */
export type AlixTokenData = TokenData<'ExpiresAt'>;

/**
 * The `data` of a successful auth response as the page's response table reads it (sandbox
 * option `strict.datetimeExpiries`): expiries are ISO 8601 datetimes in UTC.
 */
export type AlixTokenDatetimeData = TokenData<'ExpiredAt'>;

/** A successful Alix envelope. */
export type AlixSuccessEnvelope<T> = { success: true; message: string; data: T; errorCode: 0 };

/** A failed Alix envelope. */
export type AlixFailureEnvelope = { success: false; message: string; data: null; errorCode: number };

/** Builds `{ success: true, message, data, errorCode: 0 }`. */
export function successEnvelope<T>(data: T): AlixSuccessEnvelope<T> {
  return { success: true, message: ALIX_SUCCESS_MESSAGE, data, errorCode: 0 };
}

/** A body that starts like a success envelope and breaks off: not JSON. */
export const MALFORMED_BODY = `{"success":true,"message":"${ALIX_SUCCESS_MESSAGE}","data":{"accessToken":`;
