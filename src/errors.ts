/**
 * Error classes. Every error carries a stable `code`, says whether retrying may help
 * (`transient`), and never holds a token, signature, secret or key: messages name the
 * operation and the numbers, and a `cause` is reduced to a sanitised summary first.
 */

import { sanitizeCause } from './redaction';

/** Stable error codes, one per way a caller would react. */
export const ErrorCodes = Object.freeze({
  CONFIGURATION: 'ERR_ALIX_CONFIGURATION',
  AUTH_REJECTED: 'ERR_ALIX_AUTH_REJECTED',
  AUTH_UNAVAILABLE: 'ERR_ALIX_AUTH_UNAVAILABLE',
  MALFORMED_RESPONSE: 'ERR_ALIX_MALFORMED_RESPONSE',
  CLOSED: 'ERR_ALIX_MANAGER_CLOSED',
  ABORTED: 'ERR_ALIX_ABORTED',
  STORE: 'ERR_ALIX_STORE',
  TIMEOUT: 'ERR_ALIX_TIMEOUT',
} as const);

/** One of {@link ErrorCodes}. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Options shared by every error constructor. */
export interface TokenManagerErrorOptions {
  /** The underlying failure; it is sanitised before being kept. */
  cause?: unknown;
}

/** Base class of every error this library throws. */
export class TokenManagerError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** Whether the same operation may succeed if retried later. */
  readonly transient: boolean;

  constructor(code: ErrorCode, message: string, transient: boolean, options: TokenManagerErrorOptions = {}) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.transient = transient;
    if (options.cause !== undefined) {
      Object.defineProperty(this, 'cause', {
        value: sanitizeCause(options.cause),
        enumerable: false,
        writable: true,
        configurable: true,
      });
    }
  }

  /** A JSON form with no secrets: name, code, message and the subclass's numbers. */
  toJSON(): Record<string, unknown> {
    const json: Record<string, unknown> = { name: this.name, code: this.code, message: this.message };
    for (const [key, value] of Object.entries(this)) json[key] = value;
    return json;
  }
}

/** Bad options or environment: fix the configuration; retrying cannot help. */
export class ConfigurationError extends TokenManagerError {
  constructor(message: string, options?: TokenManagerErrorOptions) {
    super(ErrorCodes.CONFIGURATION, message, false, options);
  }
}

/** Which auth call failed. */
export type AuthOperation = 'authenticate' | 'refresh';

/** Details of a rejection by the Alix auth API. */
export interface AuthRejectedDetails {
  operation: AuthOperation;
  /** HTTP status of the response. */
  status: number;
  /** The API's `errorCode`, when it sent one. */
  errorCode?: number;
  /** The API's own `message`, when it sent one. */
  apiMessage?: string;
  /** The request path, for the message when no {@link AuthRejectedDetails.url} is given. */
  path?: string;
  /** The full URL called (origin and path, never a query), for the message. */
  url?: string;
  /** What to do about it, appended to the message (no secrets). */
  hint?: string;
}

/**
 * The auth API answered and said no (`success: false`, or a 4xx other than 429).
 * Retrying the same request will not help; a rejected refresh falls back to a sign-in.
 */
export class AuthRejectedError extends TokenManagerError {
  readonly operation: AuthOperation;
  readonly status: number;
  readonly errorCode: number | undefined;
  readonly apiMessage: string | undefined;
  /** The full URL that was called (origin and path), when known. */
  readonly url: string | undefined;

  constructor(details: AuthRejectedDetails, options?: TokenManagerErrorOptions) {
    const target = details.url ?? details.path;
    const where = target === undefined ? '' : ` POST ${target}`;
    const errorCode = details.errorCode === undefined ? '' : ` with errorCode ${details.errorCode}`;
    const apiMessage = details.apiMessage === undefined ? '' : `: ${details.apiMessage}`;
    const hint = details.hint === undefined ? '' : ` — ${details.hint}`;
    super(
      ErrorCodes.AUTH_REJECTED,
      `${details.operation} rejected:${where} answered HTTP ${details.status}${errorCode}${apiMessage}${hint}`,
      false,
      options,
    );
    this.operation = details.operation;
    this.status = details.status;
    this.errorCode = details.errorCode;
    this.apiMessage = details.apiMessage;
    this.url = details.url;
  }
}

/** Details of an auth server that could not be reached or was overloaded. */
export interface AuthUnavailableDetails {
  operation: AuthOperation;
  /**
   * Why: `network`, `timeout`, `http` (5xx / 429), or `breaker`: no call was made because the
   * auth circuit breaker is open after repeated failures (retry after `retryAfterMs`).
   */
  reason: 'network' | 'timeout' | 'http' | 'breaker';
  /** HTTP status when the server answered (5xx or 429). */
  status?: number;
  /** The delay the server asked for with `Retry-After`, in ms. */
  retryAfterMs?: number;
  /** The request path, for the message when no {@link AuthUnavailableDetails.url} is given. */
  path?: string;
  /** The full URL called (origin and path, never a query); its host:port is named too. */
  url?: string;
  /** Extra words for the message, e.g. the network error code. */
  detail?: string;
}

/** `host:port` of a URL, with the scheme's default port spelled out (a connection error is about a socket). */
function hostAndPort(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    const parsed = new URL(url);
    const port = parsed.port !== '' ? parsed.port : parsed.protocol === 'https:' ? '443' : '80';
    // `hostname` keeps the brackets of an IPv6 literal, so this reads as `[::1]:8443`.
    return `${parsed.hostname}:${port}`;
  } catch {
    return undefined;
  }
}

function unavailableMessage(details: AuthUnavailableDetails): string {
  const target = details.url ?? details.path;
  const request = target === undefined ? 'the auth request' : `POST ${target}`;
  const host = hostAndPort(details.url);
  const detail = details.detail === undefined ? '' : ` (${details.detail})`;
  const retryAfter = details.retryAfterMs === undefined ? '' : `; the server asked to retry after ${details.retryAfterMs} ms`;
  const prefix = `${details.operation} failed:`;
  switch (details.reason) {
    case 'http':
      return `${prefix} ${request} answered HTTP ${details.status ?? 'error'}${detail}; the auth server is unavailable${retryAfter}`;
    case 'timeout':
      return `${prefix} ${request} got no answer${host === undefined ? '' : ` from ${host}`}${detail}`;
    case 'network':
      return `${prefix} could not reach the auth server${host === undefined ? '' : ` at ${host}`}${detail} for ${request}`;
    case 'breaker':
      return `${details.operation} not attempted: the auth circuit breaker is open after repeated failures of the auth server${host === undefined ? '' : ` at ${host}`}; retry after ${details.retryAfterMs ?? 0} ms`;
  }
}

/** The auth server is unreachable, timed out, or answered 5xx/429: retry with backoff. */
export class AuthUnavailableError extends TokenManagerError {
  readonly operation: AuthOperation;
  readonly reason: AuthUnavailableDetails['reason'];
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  /** The full URL that was called (origin and path), when known. */
  readonly url: string | undefined;

  constructor(details: AuthUnavailableDetails, options?: TokenManagerErrorOptions) {
    super(ErrorCodes.AUTH_UNAVAILABLE, unavailableMessage(details), true, options);
    this.operation = details.operation;
    this.reason = details.reason;
    this.status = details.status;
    this.retryAfterMs = details.retryAfterMs;
    this.url = details.url;
  }
}

/** The auth server answered 2xx with something that is not a usable token set. */
export class MalformedResponseError extends TokenManagerError {
  readonly operation: AuthOperation | undefined;
  readonly status: number | undefined;

  constructor(message: string, details: { operation?: AuthOperation; status?: number } = {}, options?: TokenManagerErrorOptions) {
    super(ErrorCodes.MALFORMED_RESPONSE, message, false, options);
    this.operation = details.operation;
    this.status = details.status;
  }
}

/** The manager was closed; create a new one. */
export class TokenManagerClosedError extends TokenManagerError {
  constructor() {
    super(ErrorCodes.CLOSED, 'the token manager is closed', false);
  }
}

/** The caller's `AbortSignal` fired; the shared refresh others wait on goes on. */
export class AbortedError extends TokenManagerError {
  constructor(message = 'getAccessToken() aborted by the caller', options?: TokenManagerErrorOptions) {
    super(ErrorCodes.ABORTED, message, false, options);
  }
}

/** A token store failed to read or write. */
export class TokenStoreError extends TokenManagerError {
  constructor(message: string, options?: TokenManagerErrorOptions) {
    super(ErrorCodes.STORE, message, true, options);
  }
}

/** What was being waited for when a deadline passed. */
export type TimeoutStage = 'signer' | 'store' | 'lock' | 'auth' | 'acquire';

/** Details of a {@link TimeoutError}. */
export interface TimeoutDetails {
  stage: TimeoutStage;
  /** The deadline that passed, in ms. */
  timeoutMs: number;
  /** The auth server as `host:port`, when known (never a path or secret). */
  endpoint?: string;
  /** Auth calls made before the deadline. */
  attempts?: number;
  /** The code of the last failure before the deadline, if any. */
  lastErrorCode?: string;
}

const STAGE_WORDS: Readonly<Record<TimeoutStage, string>> = {
  signer: 'the signer did not answer',
  store: 'the token store did not answer',
  lock: 'the shared refresh lock was not granted',
  auth: 'the auth server did not answer',
  acquire: 'no token could be obtained',
};

/**
 * A deadline passed: the signer, the store, the lock or the auth server did not answer in
 * time, or no token could be obtained within `acquireTimeoutMs`. Transient: a later call
 * may succeed.
 */
export class TimeoutError extends TokenManagerError {
  readonly stage: TimeoutStage;
  readonly timeoutMs: number;
  readonly endpoint: string | undefined;
  readonly attempts: number | undefined;
  readonly lastErrorCode: string | undefined;

  constructor(details: TimeoutDetails, options?: TokenManagerErrorOptions) {
    const where = details.stage === 'auth' && details.endpoint !== undefined ? ` (${details.endpoint})` : '';
    const attempts = details.attempts === undefined ? '' : `; ${details.attempts} auth call${details.attempts === 1 ? '' : 's'} made`;
    const last = details.lastErrorCode === undefined ? '' : `, last error ${details.lastErrorCode}`;
    super(ErrorCodes.TIMEOUT, `timed out after ${details.timeoutMs} ms: ${STAGE_WORDS[details.stage]}${where}${attempts}${last}`, true, options);
    this.stage = details.stage;
    this.timeoutMs = details.timeoutMs;
    this.endpoint = details.endpoint;
    this.attempts = details.attempts;
    this.lastErrorCode = details.lastErrorCode;
  }
}

/** True for any error thrown by this library, optionally with the given code. */
export function isTokenManagerError(error: unknown, code?: ErrorCode): error is TokenManagerError {
  if (typeof error !== 'object' || error === null) return false;
  const candidate = error as { code?: unknown; name?: unknown };
  const ours =
    error instanceof TokenManagerError ||
    (typeof candidate.code === 'string' && candidate.code.startsWith('ERR_ALIX_'));
  return ours && (code === undefined || candidate.code === code);
}

/** The string `code` an error carries (ours, Node's, a client's), or undefined. */
export function errorCodeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** True when the error says retrying later may succeed. */
export function isTransientError(error: unknown): boolean {
  return isTokenManagerError(error) && error.transient;
}

export { sanitizeCause };
