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
  TIMEOUT: 'ERR_ALIX_TIMEOUT',
  MISSING_PEER: 'ERR_ALIX_MISSING_PEER',
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
export function composeErrorMessage(what: string, next?: string): string {
  const head = what.replace(DANGLING, '').trim();
  const tail = next?.replace(DANGLING, '').trim() ?? '';
  if (tail === '') return head;
  return `${head}. ${tail.charAt(0).toUpperCase()}${tail.slice(1)}.`;
}

/** Base class of every error this library throws. */
export class TokenManagerError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** Whether the same operation may succeed if retried later. */
  readonly transient: boolean;

  /**
   * @param code - the stable code.
   * @param message - what happened, one sentence; `options.hint` says what to do.
   * @param transient - whether retrying the same operation later may succeed.
   */
  constructor(code: ErrorCode, message: string, transient: boolean, options: TokenManagerErrorOptions = {}) {
    super(composeErrorMessage(message, options.hint));
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
  /**
   * What to do about it, one sentence (no secrets), appended to the message.
   * @default by status and operation: check `baseUrl`/`paths` (404, 405), sign in again
   *   (refresh), or check the credentials
   */
  hint?: string;
}

/** The next step for a rejection the provider gave no hint for. */
function rejectedHint(details: AuthRejectedDetails): string {
  if (details.status === 404 || details.status === 405) {
    return 'check baseUrl and paths: the URL above is not an Alix auth endpoint (give baseUrl as the origin only)';
  }
  if (details.operation === 'refresh') {
    return 'sign in again (a TokenManager does so by itself once the refresh token is rejected)';
  }
  return 'check partnerCode, secretKey, userEmail and the private key (the ALIX_* variables), or run alix-token doctor';
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

  constructor(details: AuthRejectedDetails, options: TokenManagerErrorOptions = {}) {
    const target = details.url ?? details.path;
    const where = target === undefined ? '' : ` POST ${target}`;
    const errorCode = details.errorCode === undefined ? '' : ` with errorCode ${details.errorCode}`;
    const apiMessage = details.apiMessage === undefined ? '' : `: ${details.apiMessage}`;
    const what = `${details.operation} rejected:${where} answered HTTP ${details.status}${errorCode}${apiMessage}`;
    const hint = options.hint ?? details.hint ?? rejectedHint(details);
    super(ErrorCodes.AUTH_REJECTED, what, false, { ...options, hint });
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

/** The path of a URL (what to show after its host:port is named), or the input when it is not a URL. */
function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}

/** What happened, one sentence, for {@link AuthUnavailableError}. */
function unavailableMessage(details: AuthUnavailableDetails): string {
  const target = details.url ?? details.path;
  const request = target === undefined ? 'the auth request' : `POST ${target}`;
  const host = hostAndPort(details.url);
  const detail = details.detail === undefined ? '' : ` (${details.detail})`;
  const retryAfter = details.retryAfterMs === undefined ? '' : ` and asked to retry after ${details.retryAfterMs} ms`;
  const prefix = `${details.operation} failed:`;
  switch (details.reason) {
    case 'http':
      return (
        `${prefix} ${request} answered HTTP ${details.status ?? 'error'}${detail}: ` +
        `the auth server is unavailable${retryAfter}`
      );
    case 'timeout':
      return `${prefix} ${request} got no answer${host === undefined ? '' : ` from ${host}`}${detail}`;
    case 'network':
      if (host === undefined) return `${prefix} could not reach the auth server${detail} for ${request}`;
      return `${prefix} could not reach the auth server at ${host}${detail} for POST ${pathOf(details.url ?? '')}`;
    case 'breaker':
      return (
        `${details.operation} not attempted: the auth circuit breaker is open after repeated failures ` +
        `of the auth server${host === undefined ? '' : ` at ${host}`}`
      );
  }
}

/** What to do, one sentence, for {@link AuthUnavailableError}. */
function unavailableHint(details: AuthUnavailableDetails): string {
  switch (details.reason) {
    case 'http':
      return 'a TokenManager retries with backoff; if this persists, run alix-token doctor and ask Alix about it';
    case 'timeout':
      return (
        'check that baseUrl is reachable from this host (DNS, firewall, HTTPS_PROXY), ' +
        'raise timeoutMs for a slow server, or run alix-token doctor'
      );
    case 'network':
      return 'check baseUrl, or run alix-token doctor';
    case 'breaker':
      return `retry after ${details.retryAfterMs ?? 0} ms; the manager's status().lastError shows what opened it`;
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

  constructor(details: AuthUnavailableDetails, options: TokenManagerErrorOptions = {}) {
    const hint = options.hint ?? unavailableHint(details);
    super(ErrorCodes.AUTH_UNAVAILABLE, unavailableMessage(details), true, { ...options, hint });
    this.operation = details.operation;
    this.reason = details.reason;
    this.status = details.status;
    this.retryAfterMs = details.retryAfterMs;
    this.url = details.url;
  }
}

/** The next step for an auth answer that is not a token set: it usually did not come from Alix. */
const MALFORMED_ANSWER_HINT =
  'check that baseUrl and paths point at the Alix auth API (not a proxy or a web page), or run alix-token doctor';

/**
 * The auth server answered 2xx with something that is not a usable token set. When
 * `details.operation` names the auth call, the message ends with the next step (check
 * `baseUrl` and `paths`) unless `options.hint` gives another.
 */
export class MalformedResponseError extends TokenManagerError {
  readonly operation: AuthOperation | undefined;
  readonly status: number | undefined;

  constructor(
    message: string,
    details: { operation?: AuthOperation; status?: number } = {},
    options: TokenManagerErrorOptions = {},
  ) {
    const hint = options.hint ?? (details.operation === undefined ? undefined : MALFORMED_ANSWER_HINT);
    super(ErrorCodes.MALFORMED_RESPONSE, message, false, hint === undefined ? options : { ...options, hint });
    this.operation = details.operation;
    this.status = details.status;
  }
}

/** The manager was closed; create a new one. */
export class TokenManagerClosedError extends TokenManagerError {
  constructor() {
    super(ErrorCodes.CLOSED, 'the token manager is closed', false, {
      hint: 'create a new TokenManager (close() is final), and close a manager only when the process stops using it',
    });
  }
}

/** The caller's `AbortSignal` fired; the shared refresh others wait on goes on. */
export class AbortedError extends TokenManagerError {
  /**
   * @param message - what was aborted.
   * @default message `getAccessToken() aborted by the caller's AbortSignal`, with the hint that the refresh goes on.
   */
  constructor(message?: string, options: TokenManagerErrorOptions = {}) {
    super(
      ErrorCodes.ABORTED,
      message ?? "getAccessToken() aborted by the caller's AbortSignal",
      false,
      message === undefined && options.hint === undefined
        ? { ...options, hint: 'call getAccessToken() again when you need a token; the shared refresh goes on' }
        : options,
    );
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

/** What to do when a stage's deadline passed. */
const STAGE_HINTS: Readonly<Record<TimeoutStage, string>> = {
  signer: 'check the signer (a KMS or HSM call, say), or raise the provider option signerTimeoutMs',
  store: 'check the token store and its connection (Redis: REDIS_URL, network), or raise storeTimeoutMs',
  lock: 'another process holds the refresh lock: check that every replica reaches Redis, or raise lockWaitMs',
  auth: 'check baseUrl, or run alix-token doctor',
  acquire: "the manager's status().lastError says why; raise acquireTimeoutMs only if the auth server is merely slow",
};

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

  constructor(details: TimeoutDetails, options: TokenManagerErrorOptions = {}) {
    const where = details.stage === 'auth' && details.endpoint !== undefined ? ` (${details.endpoint})` : '';
    const calls = details.attempts === 1 ? 'call' : 'calls';
    const attempts = details.attempts === undefined ? '' : `; ${details.attempts} auth ${calls} made`;
    const last = details.lastErrorCode === undefined ? '' : `, last error ${details.lastErrorCode}`;
    const what = `timed out after ${details.timeoutMs} ms: ${STAGE_WORDS[details.stage]}${where}${attempts}${last}`;
    super(ErrorCodes.TIMEOUT, what, true, { ...options, hint: options.hint ?? STAGE_HINTS[details.stage] });
    this.stage = details.stage;
    this.timeoutMs = details.timeoutMs;
    this.endpoint = details.endpoint;
    this.attempts = details.attempts;
    this.lastErrorCode = details.lastErrorCode;
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

/**
 * An entry that needs an optional peer dependency was used, and the peer is not installed.
 * Thrown on first use (e.g. `instrumentTokenManager()`, `alixHandlers()`), in CommonJS and
 * ESM alike; `installCommand` installs a supported version.
 */
export class MissingPeerError extends TokenManagerError {
  /** The missing package, e.g. `@opentelemetry/api`. */
  readonly packageName: string;
  /** The supported range, e.g. `^1.4.0`. */
  readonly range: string;
  /** The subpath that needs it, e.g. `alix-token-manager/otel`. */
  readonly entry: string;
  /** What to use without it. */
  readonly worksWithout: string;
  /** The command that installs it, e.g. `npm install "@opentelemetry/api@^1.4.0"`. */
  readonly installCommand: string;

  constructor(details: MissingPeerDetails, options: TokenManagerErrorOptions = {}) {
    // Quoted: `^` is an escape character in cmd.exe and `>`/`<` redirect in every shell.
    const flags = details.dev === true ? ' --save-dev' : '';
    const installCommand = `npm install${flags} "${details.packageName}@${details.range}"`;
    const { entry, packageName, range } = details;
    const what = `${entry} needs the optional peer dependency ${packageName} (${range}), which is not installed`;
    const hint = options.hint ?? `install it with ${installCommand}; without it, use ${details.worksWithout}`;
    super(ErrorCodes.MISSING_PEER, what, false, { ...options, hint });
    this.packageName = details.packageName;
    this.range = details.range;
    this.entry = details.entry;
    this.worksWithout = details.worksWithout;
    this.installCommand = installCommand;
  }
}

/** `11.9 s`: a duration in seconds with one decimal. */
function seconds(elapsedMs: number): string {
  return `${(Math.max(0, elapsedMs) / 1000).toFixed(1)} s`;
}

/**
 * Says in the message of the error that ended a run of retries how many attempts were made
 * and how long they took: `authenticate failed: could not reach …` becomes `authenticate
 * failed after 4 attempts in 11.9 s: could not reach …`, and `refresh not attempted: the
 * auth circuit breaker is open …` becomes `refresh stopped after 3 attempts in 2.0 s: …`.
 * The error also gets `attempts` and `elapsedMs` properties (in its `toJSON()` too), and its
 * `stack` is updated to the new message. Errors that are not ours, and runs of a single
 * attempt, are returned unchanged.
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
  if ('elapsedMs' in error) return error; // summarised already
  const summary = `after ${attempts} attempts in ${seconds(elapsedMs)}`;
  // The summary goes after the headline: up to the first `: ` of the first sentence, else that sentence.
  const sentenceEnd = error.message.search(/\. [A-Z]/);
  const firstSentence = sentenceEnd === -1 ? error.message.length : sentenceEnd;
  const colon = error.message.indexOf(': ');
  const cut = colon !== -1 && colon < firstSentence ? colon : firstSentence;
  const headline = error.message.slice(0, cut);
  const rest = error.message.slice(cut);
  const summarised = / not attempted$/.test(headline)
    ? `${headline.replace(/ not attempted$/, ' stopped')} ${summary}${rest}`
    : `${headline} ${summary}${rest}`;
  const before = `${error.name}: ${error.message}`;
  const define = (key: string, value: unknown, enumerable: boolean): void => {
    Object.defineProperty(error, key, { value, enumerable, writable: true, configurable: true });
  };
  define('message', summarised, false);
  define('attempts', attempts, true);
  define('elapsedMs', Math.max(0, Math.round(elapsedMs)), true);
  if (typeof error.stack === 'string' && error.stack.startsWith(before)) {
    define('stack', `${error.name}: ${summarised}${error.stack.slice(before.length)}`, false);
  }
  return error;
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
