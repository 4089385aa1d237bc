/**
 * The Alix wire format and its one border with the library: what the HTTP layer produced (a
 * response read as text, or a thrown transport error) becomes a {@link TokenSet} in epoch ms or
 * one of the library's typed errors. The envelope, the sample's epoch-second strings and the
 * other shapes the page's response table names (see docs/alix-auth.md, "ambiguities") are read
 * here and nowhere else; no AxiosError leaves this file.
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

/** The longest API `message` kept in an error, in characters. */
const MAX_API_MESSAGE_LENGTH = 300;

/** Expiries further ahead than this (10 years) are taken for a unit or format error. */
const MAX_EXPIRY_AHEAD_MS = 10 * 365.25 * 24 * 60 * 60 * 1000;

/**
 * `errorCode`s that mean "the signature did not verify". The sandbox answers 12; the real
 * API's code is not published, so its `message` mentioning a signature counts as well.
 */
const SIGNATURE_REJECTED_ERROR_CODES: readonly number[] = [12];

/**
 * The advice for a rejected signature. Alix verifies `partnerCode|secretKey` against the
 * public key it holds, so it cannot tell a wrong secret key from a wrong private key: name both.
 */
const SIGNATURE_REJECTED_HINT =
  'the signature did not verify: check the secret key (ALIX_SECRET_KEY / secretKey) and that the private key ' +
  '(ALIX_PRIVATE_KEY / ALIX_PRIVATE_KEY_FILE / privateKey or signer) is the one whose public half Alix holds';

/** An HTTP response as the provider read it: the body as text, header names in lower case. */
export interface TextResponse {
  status: number;
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
  /** The local clock, epoch ms: the reference for expiries when the response has no `Date` header. */
  now: number;
  /**
   * Told how a successful response departs from the page's sample (e.g. `data.accessTokenExpiredAt
   * as ISO 8601 datetime`), once per response that does; never a token or a value.
   */
  onNonSampleShape?: (shape: string) => void;
}

/**
 * `Retry-After` (delta-seconds or HTTP-date) in ms, as the server sent it (the manager's backoff
 * policy applies the one cap, `retry.maxRetryAfterMs`); `undefined` when absent or unparseable.
 * An HTTP-date is measured from `referenceTime`.
 */
export function parseRetryAfterMs(value: string | undefined, referenceTime: number): number | undefined {
  const trimmed = value?.trim() ?? '';
  if (/^[0-9]+$/.test(trimmed)) return Number(trimmed) * 1000;
  // An HTTP-date always names a weekday and month; bare numbers like "-5" are not dates.
  const at = /[A-Za-z]/.test(trimmed) ? Date.parse(trimmed) : NaN;
  return Number.isFinite(at) ? Math.max(0, at - referenceTime) : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses a body read as text; HTML and garbage are described (never quoted), never thrown. */
function parseBody(text: string, contentType: string | undefined): { value: unknown } | { problem: string } {
  const trimmed = text.trim();
  if (trimmed === '') return { problem: 'has an empty body, not JSON' };
  try {
    return { value: JSON.parse(trimmed) as unknown };
  } catch {
    const html = trimmed.startsWith('<') || (contentType ?? '').toLowerCase().includes('html');
    return { problem: html ? 'is an HTML page, not JSON' : 'is not valid JSON' };
  }
}

/**
 * Interprets a response whatever its status.
 * @throws {AuthUnavailableError} on 5xx and 429 (transient, with `retryAfterMs`).
 * @throws {AuthRejectedError} on other 4xx, and on `success: false` whatever the status.
 * @throws {MalformedResponseError} on a 2xx that is not a usable envelope, or a 1xx/3xx.
 */
export function interpretResponse(response: TextResponse, context: CallContext): TokenSet {
  const { status } = response;
  const { operation, url } = context;
  const header = (name: string): string | undefined => {
    const value = response.headers[name];
    return typeof value === 'string' ? value : undefined;
  };
  const date = Date.parse(header('date') ?? '');
  const serverTime = Number.isFinite(date) ? date : undefined;
  const body = parseBody(response.text, header('content-type'));
  // The Alix envelope: `{ success, message, errorCode, data }`.
  const envelope = 'value' in body && isRecord(body.value) && typeof body.value.success === 'boolean' ? body.value : {};
  const numeric = typeof envelope.errorCode === 'string' && /^-?[0-9]+$/.test(envelope.errorCode);
  const code = numeric ? Number(envelope.errorCode) : envelope.errorCode;
  const errorCode = typeof code === 'number' && Number.isFinite(code) ? code : undefined;

  if (status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfterMs(header('retry-after'), serverTime ?? context.now);
    const detail = errorCode === undefined ? {} : { detail: `errorCode ${errorCode}` };
    throw new AuthUnavailableError({ operation, reason: 'http', status, url, retryAfterMs, ...detail });
  }
  if (status >= 400 || (envelope.success === false && status >= 200 && status < 300)) {
    // The API's message without this call's secrets (by value), nor any opaque run (a re-encoded signature, a token).
    const message = typeof envelope.message === 'string' ? envelope.message : undefined;
    const clean = message === undefined ? undefined : redactOpaqueRuns(redactSecrets(message, context.secrets));
    const cut = clean !== undefined && clean.length > MAX_API_MESSAGE_LENGTH;
    const apiMessage = cut ? `${clean.slice(0, MAX_API_MESSAGE_LENGTH)}…` : clean;
    const signature =
      (errorCode !== undefined && SIGNATURE_REJECTED_ERROR_CODES.includes(errorCode)) ||
      /signature/i.test(apiMessage ?? '');
    const hint = signature ? { hint: SIGNATURE_REJECTED_HINT } : {};
    throw new AuthRejectedError({ operation, status, url, errorCode, apiMessage, ...hint });
  }
  const fail = (problem: string): MalformedResponseError =>
    new MalformedResponseError(`${operation} failed: the HTTP ${status} answer to POST ${url} ${problem}`, {
      operation,
      status,
    });
  if (status < 200 || status >= 300) {
    throw new MalformedResponseError(
      `${operation} failed: POST ${url} answered an unexpected HTTP ${status} (redirects are not followed)`,
      { operation, status },
    );
  }
  if ('problem' in body) throw fail(body.problem);
  if (envelope.success === undefined) throw fail('is JSON but not the Alix envelope (no boolean success)');
  return toTokenSet(envelope.data, serverTime, context, fail);
}

/** How an expiry was written. `epoch seconds (string)` is the sample's; the others earn the warning. */
type ExpiryFormat = 'epoch seconds (string)' | 'epoch seconds (number)' | 'ISO 8601 datetime' | 'JWT exp claim';

type ExpiryValue = { ms: number; format: ExpiryFormat } | { problem: string };

/** An ISO 8601 datetime with a zone (`Z` or `±hh:mm`); a zoneless one would be read in the host's zone. */
const ISO_DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i;

/** Epoch ms of an ISO 8601 datetime with a zone, or `undefined`. */
function isoDatetimeToMs(text: string): number | undefined {
  const zone = (ISO_DATETIME.exec(text)?.[1] ?? '').toUpperCase();
  const ms = zone === '' ? NaN : Date.parse(text);
  if (!Number.isFinite(ms)) return undefined;
  const sign = zone.startsWith('-') ? -1 : 1;
  const offsetMin = zone === 'Z' ? 0 : sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4)));
  // `Date.parse` rolls 31 February over into March: the written fields must survive the round trip.
  const written = new Date(ms + offsetMin * 60_000).toISOString().slice(0, 16);
  return written === text.slice(0, 16).toUpperCase() ? ms : undefined;
}

/** Reads one expiry value: epoch seconds (string or number) or an ISO 8601 datetime with a zone. */
function readExpiryValue(value: unknown): ExpiryValue {
  const text = typeof value === 'string' ? value.trim() : undefined;
  const iso = text === undefined ? undefined : isoDatetimeToMs(text);
  let read: [number, ExpiryFormat];
  if (typeof value === 'number') read = [value * 1000, 'epoch seconds (number)'];
  else if (text !== undefined && /^[0-9]+(?:\.[0-9]+)?$/.test(text))
    read = [Number(text) * 1000, 'epoch seconds (string)'];
  else if (iso !== undefined) read = [iso, 'ISO 8601 datetime'];
  else if (text !== undefined && /^\d{4}-\d{2}-\d{2}T[\d:.]+$/i.test(text)) {
    return { problem: 'an ISO 8601 datetime without a zone (Z or ±hh:mm)' };
  } else {
    const type = typeof value;
    const article = /^[aeiou]/.test(type) ? 'an' : 'a';
    return { problem: `${article} ${type} that is neither epoch seconds nor an ISO 8601 datetime with a zone` };
  }
  if (!Number.isFinite(read[0]) || read[0] <= 0) return { problem: 'a non-finite or non-positive value' };
  return { ms: Math.round(read[0]), format: read[1] };
}

/**
 * The `exp` claim of a JWT, in epoch ms, read without verifying anything (the client cannot:
 * the key is the server's). `undefined` when the token is not a JWT or has no numeric `exp`.
 */
function jwtExpiryMs(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    const exp = isRecord(claims) ? claims.exp : undefined;
    return typeof exp === 'number' && Number.isFinite(exp) && exp > 0 ? Math.round(exp * 1000) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Turns a successful envelope's `data` into a {@link TokenSet}. Both tokens are required. Each
 * expiry is read under the sample's name (`…ExpiresAt`) or the response table's (`…ExpiredAt`),
 * as epoch seconds (string or number) or an ISO 8601 datetime with a zone, and converted to
 * epoch ms. A missing or unreadable access expiry falls back to the access token's JWT `exp`
 * claim (decoded, never verified); a missing or unreadable refresh expiry is malformed. An expiry
 * that says something clear but wrong (past, or more than 10 years ahead) is malformed, never patched.
 * @throws {MalformedResponseError} naming the missing or bad field.
 */
function toTokenSet(
  data: unknown,
  serverTime: number | undefined,
  context: CallContext,
  fail: (problem: string) => MalformedResponseError,
): TokenSet {
  if (!isRecord(data)) throw fail('has success:true but no data object');
  const reference = serverTime ?? context.now;
  const token = (field: string): string => {
    const value = data[field];
    if (typeof value === 'string' && value.trim() !== '') return value;
    const absent = value === undefined || value === null || value === '';
    throw fail(absent ? `lacks data.${field}` : `has a non-string data.${field}`);
  };
  const [accessToken, refreshToken] = [token('accessToken'), token('refreshToken')];
  const inRange = (ms: number, shown: string, format: ExpiryFormat): number => {
    const sent = format === 'ISO 8601 datetime' ? new Date(ms).toISOString() : String(ms / 1000);
    if (ms <= reference)
      throw fail(`has ${shown} ${sent}, already past (reference ${new Date(reference).toISOString()})`);
    if (ms - reference <= MAX_EXPIRY_AHEAD_MS) return ms;
    const hint = format !== 'ISO 8601 datetime' && ms > 1e14 ? '; milliseconds sent instead of seconds?' : '';
    throw fail(`has ${shown} ${sent}, more than 10 years ahead${hint}`);
  };
  const shapes: string[] = [];
  /**
   * One expiry in epoch ms, under whichever of its two names came first, its shape noted when it is
   * not the sample's; else what is wrong with it (`shown` is empty when it is missing).
   */
  const expiry = (kind: 'access' | 'refresh'): number | { shown: string; problem: string } => {
    const names = [`${kind}TokenExpiresAt`, `${kind}TokenExpiredAt`];
    const name = names.find((n) => data[n] !== undefined && data[n] !== null && data[n] !== '');
    if (name === undefined) return { shown: '', problem: `lacks data.${kind}TokenExpiresAt` };
    const shown = `data.${name}`;
    const value = readExpiryValue(data[name]);
    if ('problem' in value) return { shown, problem: `has ${shown} as ${value.problem}` };
    const ms = inRange(value.ms, shown, value.format);
    if (name.endsWith('ExpiredAt') || value.format !== 'epoch seconds (string)') {
      shapes.push(`${shown} as ${value.format}`);
    }
    return ms;
  };

  let accessTokenExpiresAt = expiry('access');
  if (typeof accessTokenExpiresAt !== 'number') {
    // The sample's JWTs carry `exp` equal to accessTokenExpiresAt: the one stand-in worth trusting.
    const { shown, problem } = accessTokenExpiresAt;
    const claimed = jwtExpiryMs(accessToken);
    if (claimed === undefined) {
      throw fail(`${problem}, and the access token carries no JWT exp claim to fall back on`);
    }
    accessTokenExpiresAt = inRange(claimed, "the access token's JWT exp claim", 'JWT exp claim');
    shapes.push(`${shown === '' ? 'no access expiry' : `${shown} unreadable`} (the JWT exp claim was read)`);
  }
  const refreshTokenExpiresAt = expiry('refresh');
  if (typeof refreshTokenExpiresAt !== 'number') throw fail(refreshTokenExpiresAt.problem);
  if (shapes.length > 0) context.onNonSampleShape?.(shapes.join('; '));
  const set: TokenSet = { accessToken, accessTokenExpiresAt, refreshToken, refreshTokenExpiresAt };
  if (serverTime !== undefined) set.serverTime = serverTime;
  return set;
}

/** How the request ended when it threw. */
export interface TransportContext extends Pick<CallContext, 'operation' | 'url'> {
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
  const { operation, url } = context;
  if (context.aborted) return new AbortedError(`${operation} aborted by the caller: POST ${url}`, { cause: error });
  const code = errorCodeOf(error);
  const message = error instanceof Error ? error.message : '';
  if (context.timedOut || (code !== undefined && TIMEOUT_CODES.has(code) && /timeout/i.test(message))) {
    const detail = `within ${context.timeoutMs} ms`;
    return new AuthUnavailableError({ operation, reason: 'timeout', url, detail }, { cause: error });
  }
  if (isAxiosError(error) && /maxContentLength/.test(message)) {
    const what = `${operation} failed: the answer to POST ${url} is too large`;
    return new MalformedResponseError(what, { operation }, { cause: error });
  }
  let detail = code !== undefined && /^[A-Z][A-Z0-9_]+$/.test(code) ? code : 'network error';
  if (/socket hang up/i.test(message)) detail = 'socket hang up';
  return new AuthUnavailableError({ operation, reason: 'network', url, detail }, { cause: error });
}
