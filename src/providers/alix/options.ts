/**
 * Options of the Alix auth provider, their defaults, and the contexts handed to the
 * overridable parts (signed string, request bodies).
 */
import type { KeyObject } from 'node:crypto';
import { systemClock } from '../../clock';
import type { AuthOperation } from '../../errors';
import type { Logger } from '../../logger';

/** What {@link AlixAuthProviderOptions.signedString} receives: the options' values (each optional one if given). */
export type AlixSigningContext = Pick<AlixAuthProviderOptions, 'partnerCode' | 'secretKey' | 'userEmail'> & {
  /** The call the signature is for. */
  operation: AuthOperation;
};

/** What {@link AlixAuthProviderOptions.buildAuthenticateBody} receives: the options' values and the signature. */
export type AlixAuthenticateBodyContext = Pick<AlixAuthProviderOptions, 'partnerCode' | 'userEmail'> & {
  /** The base64 RSA-SHA256 signature of the signed string. */
  signature: string;
};

/** What {@link AlixAuthProviderOptions.buildRefreshBody} receives: also the refresh token being exchanged. */
export type AlixRefreshBodyContext = AlixAuthenticateBodyContext & { refreshToken: string };

/** Request paths of the two auth calls, appended to the path of `baseUrl`. */
export interface AlixAuthPaths {
  /**
   * Full sign-in (not documented on the Alix page; see docs/alix-auth.md).
   * @default '/api/v2/auth/access-token'
   */
  authenticate: string;
  /**
   * Refresh-token exchange.
   * @default '/api/v2/auth/refresh-token'
   */
  refresh: string;
}

/**
 * Signs `data` and resolves to the base64 (padded) RSA-SHA256 PKCS#1 v1.5 signature; for
 * keys held in a KMS/HSM or another process.
 */
export type AlixSigner = (data: string) => Promise<string>;

/** Options of {@link AlixAuthProvider}. Exactly one of `privateKey` and `signer` is required. */
export interface AlixAuthProviderOptions {
  /**
   * Origin (and optional path prefix) of the Alix API, e.g. `https://api.alix.example`.
   * Must be `https:`, or `http:` on a loopback host (127.0.0.0/8, ::1, localhost); no
   * user:password part.
   */
  baseUrl: string;
  /** The partner code sent in the onboarding email; must be non-empty. */
  partnerCode: string;
  /**
   * The partner's secret key, signed as `partnerCode|secretKey`. Required unless a custom
   * {@link AlixAuthProviderOptions.signedString} is given.
   */
  secretKey?: string | undefined;
  /**
   * The partner's RSA private key (2048 bits or more): a PEM string (PKCS#1 or PKCS#8,
   * unencrypted; literal `\n` sequences from env variables are accepted), a path to a PEM
   * file, or a `KeyObject`. Validated at construction.
   */
  privateKey?: string | KeyObject | undefined;
  /** Signs with a key held elsewhere, instead of `privateKey`. */
  signer?: AlixSigner | undefined;
  /**
   * The end-user email; sent as `userEmail` in the sign-in and the refresh body (the page's
   * refresh field table requires it; its sample omits it).
   */
  userEmail?: string | undefined;
  /** Request paths; each must start with `/` and hold no query or fragment (messages show the URL). */
  paths?: { [Path in keyof AlixAuthPaths]?: AlixAuthPaths[Path] | undefined } | undefined;
  /**
   * Time limit of one auth request, in milliseconds.
   * @default 10_000
   */
  timeoutMs?: number | undefined;
  /**
   * Time limit of one signature, in milliseconds: a `signer` (KMS, HSM, another process) that
   * does not answer fails the attempt with a `TimeoutError` naming the signer.
   * @default 5_000
   */
  signerTimeoutMs?: number | undefined;
  /**
   * The string to sign.
   * @default ({ partnerCode, secretKey }) => `${partnerCode}|${secretKey}`
   */
  signedString?: ((context: AlixSigningContext) => string) | undefined;
  /**
   * The JSON body of the sign-in call.
   * @default ({ partnerCode, signature, userEmail }) => ({ partnerCode, signature, userEmail? })
   */
  buildAuthenticateBody?: ((context: AlixAuthenticateBodyContext) => Record<string, unknown>) | undefined;
  /**
   * The JSON body of the refresh call.
   * @default ({ partnerCode, refreshToken, signature, userEmail }) =>
   *   ({ partnerCode, refreshToken, signature, userEmail? })
   */
  buildRefreshBody?: ((context: AlixRefreshBodyContext) => Record<string, unknown>) | undefined;
  /**
   * The clock expiries are checked against when the response has no `Date` header, epoch ms.
   * @default Date.now
   */
  now?: (() => number) | undefined;
  /**
   * A pino logger for the provider's one warning: a response whose expiries depart from the
   * page's sample (the `…ExpiredAt` names, numbers, ISO datetimes, a JWT `exp` fallback), once
   * per process and shape, naming the shape and never a value.
   * @default a silent logger
   */
  logger?: Logger | undefined;
}

/** Defaults of {@link AlixAuthProviderOptions}, merged once by the constructor. */
export const DEFAULT_ALIX_AUTH_PROVIDER_OPTIONS = Object.freeze({
  paths: Object.freeze({ authenticate: '/api/v2/auth/access-token', refresh: '/api/v2/auth/refresh-token' }),
  timeoutMs: 10_000,
  signerTimeoutMs: 5_000,
  /** The string to sign: `partnerCode|secretKey`. */
  signedString: (context: AlixSigningContext): string => `${context.partnerCode}|${context.secretKey ?? ''}`,
  /**
   * The body of both calls is the context as it is: `{ partnerCode, signature }` for the sign-in and
   * `{ partnerCode, refreshToken, signature }` for the refresh, each plus `userEmail` when configured.
   * For the refresh, the union of the page's sample (which sends `refreshToken`) and its field table
   * (which requires `userEmail`), so a server that enforces either reading accepts it.
   */
  buildAuthenticateBody: (context: AlixAuthenticateBodyContext): Record<string, unknown> => ({ ...context }),
  buildRefreshBody: (context: AlixRefreshBodyContext): Record<string, unknown> => ({ ...context }),
  now: systemClock.now,
});
