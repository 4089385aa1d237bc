/**
 * Error classes. Every error carries a stable `code`, says whether retrying may help
 * (`transient`), and never holds a token, signature, secret or key: messages name the
 * operation and the numbers, and a `cause` is reduced to a sanitised summary first.
 *
 * A message reads as one sentence of what happened and, where the library knows it, one of
 * what to do (`hint`): `authenticate failed: could not reach … . Check baseUrl, or run
 * alix-token doctor.` docs/troubleshooting.md lists every code with its fix.
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
  STORE_UNREADABLE: 'ERR_ALIX_STORE_UNREADABLE',
  STORE_STALE_WRITE: 'ERR_ALIX_STORE_STALE_WRITE',
  TIMEOUT: 'ERR_ALIX_TIMEOUT',
  MISSING_PEER: 'ERR_ALIX_MISSING_PEER',
  POOL_FULL: 'ERR_ALIX_POOL_FULL',
} as const);

/** One of {@link ErrorCodes}. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Options shared by every error constructor. */
export interface TokenManagerErrorOptions {
  /** The underlying failure; it is sanitised before being kept. */
  cause?: unknown;
  /**
   * What to do about it: one sentence (no secrets), appended to the message after a period.
   * @default the class's own next step, when it has one
   */
  hint?: string;
}

/** Trailing characters that would leave a sentence dangling (`,` `;` `:` dashes, periods, spaces). */
const DANGLING = /[\s,;:.\u2013\u2014-]+$/u;

/**
 * Joins what happened and what to do into the message form every error uses:
 * `what happened. What to do.` Dangling punctuation is trimmed from both parts; without a
 * `next` step the message is the first part alone, with no final period.
 * @param what - one sentence (lower-case start) saying what happened.
 * @param next - one sentence saying what to do; left out when empty.
 */
export function composeErrorMessage(what: string, next = ''): string {
  const trim = (part: string): string => part.replace(DANGLING, '').trim();
  const tail = trim(next);
  return tail === '' ? trim(what) : `${trim(what)}. ${tail.charAt(0).toUpperCase()}${tail.slice(1)}.`;
}

/** Base class of every error this library throws. */
export class TokenManagerError extends Error {
  /** Stable machine-readable code. */
  declare readonly code: ErrorCode;
  /** Whether the same operation may succeed if retried later. */
  declare readonly transient: boolean;

  /**
   * @param code - the stable code.
   * @param message - what happened, one sentence; `options.hint` says what to do.
   * @param transient - whether retrying the same operation later may succeed.
   */
  constructor(code: ErrorCode, message: string, transient: boolean, { cause, hint }: TokenManagerErrorOptions = {}) {
    super(composeErrorMessage(message, hint), cause === undefined ? undefined : { cause: sanitizeCause(cause) });
    Object.assign(this, { name: new.target.name, code, transient });
  }

  /** A JSON form with no secrets: name, code, message and the subclass's numbers. */
  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, ...(this as object) };
  }
}

/**
 * The base of one subclass, holding its `code` and whether it is `transient`; its constructor takes what
 * happened and the options. Typed with the read-only fields `F` the subclass copies from its details.
 */
function errorClass<F = object>(code: ErrorCode, transient: boolean) {
  return class extends TokenManagerError {
    constructor(message: string, options?: TokenManagerErrorOptions) {
      super(code, message, transient, options);
    }
  } as unknown as new (message: string, options?: TokenManagerErrorOptions) => TokenManagerError & Readonly<F>;
}

/** Bad options or environment: fix the configuration; retrying cannot help. */
export class ConfigurationError extends errorClass(ErrorCodes.CONFIGURATION, false) {}

/** Throws a {@link ConfigurationError} saying `message` unless `ok`: the one form of an option check. */
export function assertConfig(ok: unknown, message: string): asserts ok {
  if (!ok) throw new ConfigurationError(message);
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
  /** The full URL called (origin and path, never a query), for the message. */
  url?: string;
  /**
   * What to do about it, one sentence (no secrets), appended to the message.
   * @default by status and operation: check `baseUrl`/`paths` (404, 405), sign in again
   *   (refresh), or check the credentials
   */
  hint?: string;
}

/** The next step for a rejection the provider gave no hint for: by status (404, 405), else by operation. */
const REJECTED_HINTS = {
  path: 'check baseUrl and paths: the URL above is not an Alix auth endpoint (give baseUrl as the origin only)',
  refresh: 'sign in again (a TokenManager does so by itself once the refresh token is rejected)',
  authenticate:
    'check partnerCode, secretKey, userEmail and the private key (the ALIX_* variables), or run alix-token doctor',
};

/**
 * The auth API answered and said no (`success: false`, or a 4xx other than 429).
 * Retrying the same request will not help; a rejected refresh falls back to a sign-in.
 */
export class AuthRejectedError extends errorClass<Omit<AuthRejectedDetails, 'hint'>>(ErrorCodes.AUTH_REJECTED, false) {
  constructor(details: AuthRejectedDetails, options: TokenManagerErrorOptions = {}) {
    const { operation, status, errorCode, apiMessage, url } = details;
    const where = url === undefined ? '' : ` POST ${url}`;
    const code = errorCode === undefined ? '' : ` with errorCode ${errorCode}`;
    const said = apiMessage === undefined ? '' : `: ${apiMessage}`;
    const hint = options.hint ?? details.hint ?? REJECTED_HINTS[status === 404 || status === 405 ? 'path' : operation];
    const what = `${operation} rejected:${where} answered HTTP ${status}${code}${said}`;
    super(what, { ...options, hint });
    Object.assign(this, { operation, status, errorCode, apiMessage, url });
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
  /** The full URL called (origin and path, never a query); its host:port is named too. */
  url?: string;
  /** Extra words for the message, e.g. the network error code. */
  detail?: string;
}

/** What to do, by reason, for {@link AuthUnavailableError} (an open breaker says when to retry). */
const UNAVAILABLE_HINTS = {
  http: 'a TokenManager retries with backoff; if this persists, run alix-token doctor and ask Alix about it',
  timeout:
    'check that baseUrl is reachable from this host (DNS, firewall, HTTPS_PROXY), raise timeoutMs for a slow ' +
    'server, or run alix-token doctor',
  network: 'check baseUrl, or run alix-token doctor',
  breaker: "the manager's status().lastError shows what opened it",
};

/** What happened, one sentence, for {@link AuthUnavailableError}. */
function unavailableMessage({ operation, reason, status, retryAfterMs, url, detail }: AuthUnavailableDetails): string {
  const parsed = url !== undefined && URL.canParse(url) ? new URL(url) : undefined;
  // A connection error is about a socket: the scheme's default port is spelled out (`[::1]:8443` for IPv6).
  const host = parsed && `${parsed.hostname}:${parsed.port || (parsed.protocol === 'https:' ? '443' : '80')}`;
  const server = `the auth server${host === undefined ? '' : ` at ${host}`}`;
  const request = url === undefined ? 'the auth request' : `POST ${url}`;
  const extra = detail === undefined ? '' : ` (${detail})`;
  const retry = retryAfterMs === undefined ? '' : ` and asked to retry after ${retryAfterMs} ms`;
  const unavailable = `the auth server is unavailable${retry}`;
  const target = parsed ? `POST ${parsed.pathname}` : request;
  return {
    http: `${operation} failed: ${request} answered HTTP ${status ?? 'error'}${extra}: ${unavailable}`,
    timeout: `${operation} failed: ${request} got no answer${host === undefined ? '' : ` from ${host}`}${extra}`,
    network:
      status === undefined
        ? `${operation} failed: could not reach ${server}${extra} for ${target}`
        : `${operation} failed: the connection to ${server} dropped while ${request} answered HTTP ${status}${extra}`,
    breaker: `${operation} not attempted: the auth circuit breaker is open after repeated failures of ${server}`,
  }[reason];
}

/** The fields of an {@link AuthUnavailableError}: its details but the extra words. */
type UnavailableFields = Omit<AuthUnavailableDetails, 'detail'>;

/** The auth server is unreachable, timed out, or answered 5xx/429: retry with backoff. */
export class AuthUnavailableError extends errorClass<UnavailableFields>(ErrorCodes.AUTH_UNAVAILABLE, true) {
  constructor(details: AuthUnavailableDetails, options: TokenManagerErrorOptions = {}) {
    const { operation, reason, status, retryAfterMs, url } = details;
    const wait = reason === 'breaker' ? `retry after ${retryAfterMs ?? 0} ms; ` : '';
    const hint = options.hint ?? `${wait}${UNAVAILABLE_HINTS[reason]}`;
    super(unavailableMessage(details), { ...options, hint });
    Object.assign(this, { operation, reason, status, retryAfterMs, url });
  }
}

/** Details of a {@link MalformedResponseError}: the auth call and the status of its answer, when known. */
type MalformedDetails = { operation?: AuthOperation; status?: number };

/** The next step for a malformed answer to an auth call: it usually did not come from Alix. */
const CHECK_ENDPOINT =
  'check that baseUrl and paths point at the Alix auth API (not a proxy or a web page), or run alix-token doctor';

/**
 * The auth server answered 2xx with something that is not a usable token set. When
 * `details.operation` names the auth call, the message ends with the next step (check
 * `baseUrl` and `paths`: the answer usually did not come from Alix) unless `options.hint` gives another.
 */
export class MalformedResponseError extends errorClass<MalformedDetails>(ErrorCodes.MALFORMED_RESPONSE, false) {
  constructor(message: string, { operation, status }: MalformedDetails = {}, options: TokenManagerErrorOptions = {}) {
    const hint = options.hint ?? (operation && CHECK_ENDPOINT);
    super(message, { ...options, hint });
    Object.assign(this, { operation, status });
  }
}

/** The manager was closed; create a new one. */
export class TokenManagerClosedError extends errorClass(ErrorCodes.CLOSED, false) {
  constructor() {
    super('the token manager is closed', {
      hint: 'create a new TokenManager (close() is final), and close a manager only when the process stops using it',
    });
  }
}

/** A pool refused a new session: it holds twice `maxSessions`, and callers wait on every one. */
export class PoolFullError extends errorClass(ErrorCodes.POOL_FULL, true) {
  constructor() {
    super('the token manager pool is full: a caller waits on every session it holds', {
      hint: 'retry shortly (a session goes once its callers are served); if it persists, raise maxSessions',
    });
  }
}

/** The next step after a caller's own abort: the refresh it gave up on is shared, and goes on. */
const CALL_AGAIN = 'call getAccessToken() again when you need a token; the shared refresh goes on';

/** The caller's `AbortSignal` fired; the shared refresh others wait on goes on. */
export class AbortedError extends errorClass(ErrorCodes.ABORTED, false) {
  /**
   * @param message - what was aborted.
   * @default message `getAccessToken() aborted by the caller's AbortSignal`, with the hint that the refresh goes on.
   */
  constructor(message?: string, options: TokenManagerErrorOptions = {}) {
    const what = message ?? "getAccessToken() aborted by the caller's AbortSignal";
    const hint = options.hint ?? (message === undefined ? CALL_AGAIN : undefined);
    super(what, { ...options, hint });
  }
}

/** A token store failed to read or write. */
export class TokenStoreError extends errorClass(ErrorCodes.STORE, true) {}

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

/** What did not answer when a stage's deadline passed. */
const STAGE_WORDS: Readonly<Record<TimeoutStage, string>> = {
  signer: 'the signer did not answer',
  store: 'the token store did not answer',
  lock: 'the shared refresh lock was not granted',
  auth: 'the auth server did not answer',
  acquire: 'no token could be obtained',
};

/** What to do when a stage's deadline passed. */
const STAGE_HINTS: Readonly<Record<TimeoutStage, string>> = {
  signer: 'check the signer (a KMS or HSM call, say), or raise the provider option signerTimeoutMs',
  store: 'check the token store and its connection (Redis: REDIS_URL, network), or raise storeTimeoutMs',
  lock: 'another process holds the refresh lock: check that every replica reaches Redis, or raise lockWaitMs',
  auth: 'check baseUrl, or run alix-token doctor',
  acquire: "the manager's status().lastError says why; raise acquireTimeoutMs only if the auth server is merely slow",
};

/**
 * A deadline passed: the signer, the store, the lock or the auth server did not answer in
 * time, or no token could be obtained within `acquireTimeoutMs`. Transient: a later call
 * may succeed.
 */
export class TimeoutError extends errorClass<TimeoutDetails>(ErrorCodes.TIMEOUT, true) {
  constructor(details: TimeoutDetails, options: TokenManagerErrorOptions = {}) {
    const { stage, timeoutMs, endpoint, attempts, lastErrorCode } = details;
    const where = stage === 'auth' && endpoint !== undefined ? ` (${endpoint})` : '';
    const made = attempts === undefined ? '' : `; ${attempts} auth ${attempts === 1 ? 'call' : 'calls'} made`;
    const last = lastErrorCode === undefined ? '' : `, last error ${lastErrorCode}`;
    const what = `timed out after ${timeoutMs} ms: ${STAGE_WORDS[stage]}${where}${made}${last}`;
    super(what, { ...options, hint: options.hint ?? STAGE_HINTS[stage] });
    Object.assign(this, { stage, timeoutMs, endpoint, attempts, lastErrorCode });
  }
}

/** Details of a {@link MissingPeerError}. */
export interface MissingPeerDetails {
  /** The optional peer dependency, e.g. `@opentelemetry/api`. */
  packageName: string;
  /** The range this package supports, from its `peerDependencies`, e.g. `^1.4.0`. */
  range: string;
  /** The subpath that needs it, e.g. `alix-token-manager/otel`. */
  entry: string;
  /** What to use without it, e.g. `startAlixSandbox() from alix-token-manager/testing`. */
  worksWithout: string;
  /** Whether the peer is a development dependency (msw): the install command adds `--save-dev`. */
  dev?: boolean;
}

/** The fields of a {@link MissingPeerError}: its details but `dev`, and the command that installs the peer. */
type MissingPeerFields = Omit<MissingPeerDetails, 'dev'> & { installCommand: string };

/**
 * An entry that needs an optional peer dependency was used, and the peer is not installed.
 * Thrown on first use (e.g. `instrumentTokenManager()`, `alixHandlers()`), in CommonJS and
 * ESM alike; `installCommand` installs a supported version (e.g. `npm install "@opentelemetry/api@^1.4.0"`).
 */
export class MissingPeerError extends errorClass<MissingPeerFields>(ErrorCodes.MISSING_PEER, false) {
  constructor(details: MissingPeerDetails, options: TokenManagerErrorOptions = {}) {
    const { packageName, range, entry, worksWithout } = details;
    // Quoted: `^` is an escape character in cmd.exe and `>`/`<` redirect in every shell.
    const installCommand = `npm install${details.dev === true ? ' --save-dev' : ''} "${packageName}@${range}"`;
    const what = `${entry} needs the optional peer dependency ${packageName} (${range}), which is not installed`;
    const hint = options.hint ?? `install it with ${installCommand}; without it, use ${worksWithout}`;
    super(what, { ...options, hint });
    Object.assign(this, { packageName, range, entry, worksWithout, installCommand });
  }
}

/**
 * Says in the message of the error that ended a run of retries how many attempts were made
 * and how long they took: `authenticate failed: could not reach …` becomes `authenticate
 * failed after 4 attempts in 11.9 s: could not reach …`, and `refresh not attempted: the
 * auth circuit breaker is open …` becomes `refresh stopped after 3 attempts in 2.0 s: …`.
 * The error also gets `attempts` and `elapsedMs` properties (in its `toJSON()` too), and its
 * `stack` is updated to the new message. Errors that are not ours, runs of a single attempt,
 * and errors summarised already are returned unchanged.
 *
 * @param error - the last attempt's error, about to be thrown to the callers.
 * @param attempts - the auth calls made in the run (1 or more).
 * @param elapsedMs - from the first call's start to now, in ms.
 * @returns the same error object.
 * @example
 * ```ts
 * throw withAttemptSummary(exhausted.lastError, calls, clock.now() - firstCallAt);
 * ```
 */
export function withAttemptSummary<E>(error: E, attempts: number, elapsedMs: number): E {
  if (!(error instanceof TokenManagerError) || !Number.isInteger(attempts) || attempts < 2) return error;
  if ('elapsedMs' in error) return error;
  const before = `${error.name}: ${error.message}`;
  const summary = `after ${attempts} attempts in ${(Math.max(0, elapsedMs) / 1000).toFixed(1)} s`;
  // The summary goes after the headline: up to the first `: ` of the first sentence, else that sentence.
  const headline = error.message.slice(0, error.message.search(/: |\. [A-Z]|$/));
  const rest = error.message.slice(headline.length);
  error.message = `${headline.replace(/ not attempted$/, ' stopped')} ${summary}${rest}`;
  Object.assign(error, { attempts, elapsedMs: Math.max(0, Math.round(elapsedMs)) });
  if (error.stack?.startsWith(before))
    error.stack = `${error.name}: ${error.message}${error.stack.slice(before.length)}`;
  return error;
}

/** True for any error thrown by this library, optionally with the given code. */
export function isTokenManagerError(error: unknown, code?: ErrorCode): error is TokenManagerError {
  const actual = errorCodeOf(error);
  const ours = error instanceof TokenManagerError || actual?.startsWith('ERR_ALIX_') === true;
  return ours && (code === undefined || actual === code);
}

/** The string `code` an error carries (ours, Node's, a client's), or undefined. */
export function errorCodeOf(error: unknown): string | undefined {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}
