/**
 * Turns what the HTTP layer produced (a response, or a thrown transport error) into a
 * token set or one of the library's typed errors. No AxiosError leaves this file.
 */
import { isAxiosError } from 'axios';
import {
  AbortedError,
  AuthRejectedError,
  AuthUnavailableError,
  MalformedResponseError,
  errorCodeOf,
  isTokenManagerError,
  type AuthOperation,
  type TokenManagerError,
} from '../../errors';
import { redactOpaqueRuns, redactSecrets } from '../../redaction';
import type { TokenSet } from '../../token-set';
import { describeNonJson, parseBody, parseServerTime, readEnvelope, toTokenSet, type WireContext } from './wire';

/** The longest API `message` kept in an error, in characters. */
export const MAX_API_MESSAGE_LENGTH = 300;

/** An HTTP response as the provider read it: the body as text. */
export interface TextResponse {
  status: number;
  /** Response headers with lower-case names. */
  headers: Readonly<Record<string, unknown>>;
  text: string;
}

/** What the classifiers need to know about the call. */
export interface CallContext {
  operation: AuthOperation;
  /**
   * The full URL called (origin and path, no query): messages show it whole, so a
   * `baseUrl` whose path prefix doubles up (`/api/api/v2/…`) is visible at once.
   */
  url: string;
  /** Secrets of this call (refresh token, signature…) to scrub from echoed API messages. */
  secrets: readonly string[];
  /** The local clock, epoch ms. */
  now: number;
  /** Told when a successful response departs from the page's sample (`TokenSetInput.onNonSampleShape`). */
  onNonSampleShape?: (shape: string) => void;
}

/**
 * `errorCode`s that mean "the signature did not verify". The sandbox answers 12; the real
 * API's code is not published, so its `message` mentioning a signature counts as well.
 */
export const SIGNATURE_REJECTED_ERROR_CODES: readonly number[] = Object.freeze([12]);

/**
 * The advice for a rejected signature. Alix verifies `partnerCode|secretKey` against the
 * public key it holds, so it cannot tell a wrong secret key from a wrong private key: name both.
 */
export const SIGNATURE_REJECTED_HINT =
  'the signature did not verify: check the secret key (ALIX_SECRET_KEY / secretKey) and that the private key ' +
  '(ALIX_PRIVATE_KEY / ALIX_PRIVATE_KEY_FILE / privateKey or signer) is the one whose public half Alix holds';

/** True when a rejection is about the request signature (by errorCode or by the API's message). */
export function isSignatureRejection(errorCode: number | undefined, apiMessage: string | undefined): boolean {
  return (
    (errorCode !== undefined && SIGNATURE_REJECTED_ERROR_CODES.includes(errorCode)) ||
    /signature/i.test(apiMessage ?? '')
  );
}

/**
 * The API's `message` as an error may carry it: this call's secrets taken out by value, then
 * any opaque run (a re-encoded signature, a token) by shape, then cut to length.
 */
function apiMessageOf(message: string | undefined, secrets: readonly string[]): string | undefined {
  if (message === undefined) return undefined;
  const clean = redactOpaqueRuns(redactSecrets(message, secrets));
  return clean.length > MAX_API_MESSAGE_LENGTH ? `${clean.slice(0, MAX_API_MESSAGE_LENGTH)}…` : clean;
}

function header(headers: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * `Retry-After` (delta-seconds or HTTP-date) in ms, as the server sent it (the manager's backoff policy applies the one
 * cap, `retry.maxRetryAfterMs`);
 * `undefined` when absent or unparseable. An HTTP-date is measured from `referenceTime`.
 */
export function parseRetryAfterMs(value: string | undefined, referenceTime: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  let delayMs: number;
  if (/^[0-9]+$/.test(trimmed)) {
    delayMs = Number(trimmed) * 1000;
  } else {
    // An HTTP-date always names a weekday and month; bare numbers like "-5" are not dates.
    if (!/[A-Za-z]/.test(trimmed)) return undefined;
    const at = Date.parse(trimmed);
    if (!Number.isFinite(at)) return undefined;
    delayMs = at - referenceTime;
  }
  return Math.max(0, delayMs);
}

/**
 * Interprets a response whatever its status.
 * @throws {AuthUnavailableError} on 5xx and 429 (transient, with `retryAfterMs`).
 * @throws {AuthRejectedError} on other 4xx, and on `success: false` whatever the status.
 * @throws {MalformedResponseError} on a 2xx that is not a usable envelope, or a 1xx/3xx.
 */
export function interpretResponse(response: TextResponse, context: CallContext): TokenSet {
  const { status } = response;
  // The wire messages name the full URL too (WireContext.path is only ever shown in messages).
  const wire: WireContext = { operation: context.operation, path: context.url, status };
  const serverTime = parseServerTime(header(response.headers, 'date'));
  const body = parseBody(response.text, header(response.headers, 'content-type'));
  const envelope = body.kind === 'json' ? readEnvelope(body.value) : undefined;

  if (status === 429 || status >= 500) {
    return throwError(
      new AuthUnavailableError({
        operation: context.operation,
        reason: 'http',
        status,
        url: context.url,
        retryAfterMs: parseRetryAfterMs(header(response.headers, 'retry-after'), serverTime ?? context.now),
        ...(envelope?.errorCode === undefined ? {} : { detail: `errorCode ${envelope.errorCode}` }),
      }),
    );
  }
  if (status >= 400 || (envelope !== undefined && !envelope.success && status >= 200 && status < 300)) {
    const apiMessage = apiMessageOf(envelope?.message, context.secrets);
    return throwError(
      new AuthRejectedError({
        operation: context.operation,
        status,
        url: context.url,
        errorCode: envelope?.errorCode,
        apiMessage,
        ...(isSignatureRejection(envelope?.errorCode, apiMessage) ? { hint: SIGNATURE_REJECTED_HINT } : {}),
      }),
    );
  }
  if (status < 200 || status >= 300) {
    return throwError(
      new MalformedResponseError(
        `${context.operation} failed: POST ${context.url} answered an unexpected HTTP ${status} (redirects are not ` +
          `followed)`,
        { operation: context.operation, status },
      ),
    );
  }
  if (body.kind !== 'json') {
    return throwError(
      new MalformedResponseError(
        `${context.operation} failed: the HTTP ${status} answer to POST ${context.url} ${describeNonJson(body.kind)}`,
        {
          operation: context.operation,
          status,
        },
      ),
    );
  }
  if (envelope === undefined) {
    return throwError(
      new MalformedResponseError(
        `${context.operation} failed: the HTTP ${status} answer to POST ${context.url} is JSON but not the Alix ` +
          `envelope (no boolean success)`,
        { operation: context.operation, status },
      ),
    );
  }
  return toTokenSet(envelope.data, { serverTime, now: context.now, onNonSampleShape: context.onNonSampleShape }, wire);
}

function throwError(error: TokenManagerError): never {
  throw error;
}

/** How the request ended when it threw. */
export interface TransportContext {
  operation: AuthOperation;
  /** The full URL called (origin and path, no query). */
  url: string;
  /** The caller's signal fired. */
  aborted: boolean;
  /** The provider's own time limit fired. */
  timedOut: boolean;
  timeoutMs: number;
}

const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ECONNABORTED', 'ESOCKETTIMEDOUT']);

/**
 * Maps an error thrown while sending the request or reading the response to a typed error.
 * Our own errors pass through; anything else is reduced to a sanitised `cause`.
 */
export function classifyTransportError(error: unknown, context: TransportContext): TokenManagerError {
  if (isTokenManagerError(error)) return error;
  if (context.aborted) {
    return new AbortedError(`${context.operation} aborted by the caller: POST ${context.url}`, { cause: error });
  }
  const code = errorCodeOf(error);
  const message = error instanceof Error ? error.message : '';
  if (context.timedOut || (typeof code === 'string' && TIMEOUT_CODES.has(code) && /timeout/i.test(message))) {
    return new AuthUnavailableError(
      { operation: context.operation, reason: 'timeout', url: context.url, detail: `within ${context.timeoutMs} ms` },
      { cause: error },
    );
  }
  if (isAxiosError(error) && /maxContentLength/.test(message)) {
    return new MalformedResponseError(
      `${context.operation} failed: the answer to POST ${context.url} is too large`,
      {
        operation: context.operation,
      },
      { cause: error },
    );
  }
  let detail = 'network error';
  if (typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code)) detail = code;
  if (/socket hang up/i.test(message)) detail = 'socket hang up';
  return new AuthUnavailableError(
    { operation: context.operation, reason: 'network', url: context.url, detail },
    { cause: error },
  );
}
