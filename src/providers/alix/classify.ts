/**
 * The Alix wire format and its one border with the library: what the HTTP layer produced (a
 * response read as text, or a thrown transport error) becomes a {@link TokenSet} in epoch ms or
 * one of the library's typed errors. The envelope, the sample's epoch-second strings and the
 * other shapes the page's response table names (see docs/alix-auth.md, "ambiguities") are read
 * here and nowhere else; no AxiosError leaves this file.
 */
import { isAxiosError, type AxiosResponse } from 'axios';
import {
  AbortedError,
  AuthRejectedError,
  AuthUnavailableError,
  MalformedResponseError,
  errorCodeOf,
} from '../../errors';
import type { AuthOperation, TokenManagerError } from '../../errors';
import type { Logger } from '../../logger';
import { redactReport } from '../../redaction';
import { isHeaderSafeToken, type TokenSet } from '../../token-set';
import { isRecord, parseJson } from '../../json';

/** The longest API `message` kept in an error, in characters. */
const MAX_API_MESSAGE_LENGTH = 300;

/**
 * The longest access token accepted, in characters: common servers refuse a header line over 8 KiB
 * (nginx's default buffer), so a longer bearer would fail every API call it is sent with.
 */
const MAX_ACCESS_TOKEN_LENGTH = 8 * 1024 - 'Authorization: Bearer '.length;

/** Expiries further ahead than this (10 years) are taken for a unit or format error. */
const MAX_EXPIRY_AHEAD_MS = 10 * 365.25 * 24 * 60 * 60 * 1000;

/**
 * An HTML character reference, numeric or one of the names an escaper writes for the characters of
 * base64 and of markup, also escaped twice (`&amp;#x2F;`): a server that quotes the body in an HTML
 * page writes a signature's `/`, `+` and `=` so, which cuts it into runs too short to look opaque.
 */
const CHARACTER_REFERENCE = /&(?:amp;)*(?:#x([0-9a-f]{1,6})|#([0-9]{1,7})|(amp|lt|gt|quot|sol|plus|equals));/gi;
const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', sol: '/', plus: '+', equals: '=' };

/** `text` with its HTML character references decoded (a code point past U+10FFFF is left as written). */
function decodeCharacterReferences(text: string): string {
  return text.replace(CHARACTER_REFERENCE, (reference, hex?: string, decimal?: string, name?: string) => {
    if (name !== undefined) return NAMED[name.toLowerCase()] ?? reference;
    const point = hex === undefined ? Number(decimal) : parseInt(hex, 16);
    return point <= 0x10ffff ? String.fromCodePoint(point) : reference;
  });
}

/** 4xx statuses that ask for a retry rather than refuse: 408 Request Timeout, 425 Too Early, 429 Too Many Requests. */
const TRANSIENT_4XX_STATUSES: readonly number[] = [408, 425, 429];

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

/**
 * Shapes of auth answers already reported (see `AlixAuthProviderOptions.logger`). Process-wide on
 * purpose: the auth API answers every session alike, so one line tells the operator and a line
 * per session or per refresh would bury it. Bounded by the few names × formats the reader accepts.
 */
const reportedShapes = new Set<string>();

/** An HTTP response as the provider read it: the body as text (`data`), header names in lower case. */
export type TextResponse = Pick<AxiosResponse<unknown>, 'status' | 'headers' | 'data'>;

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
   * Told at warn level, once per process and shape, how a successful response departs from the
   * page's sample (e.g. `data.accessTokenExpiredAt as ISO 8601 datetime`); never a token or a value.
   */
  logger?: Logger;
}

type Fail = (problem: string) => MalformedResponseError;

/**
 * `Retry-After` (delta-seconds or HTTP-date) in ms, as the server sent it (the manager's backoff
 * policy applies the one cap, `retry.maxRetryAfterMs`); `undefined` when absent or unparseable.
 * An HTTP-date is measured from `referenceTime`.
 */
export function parseRetryAfterMs(value: string | undefined, referenceTime: number): number | undefined {
  const trimmed = value?.trim() ?? '';
  if (/^[0-9]+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = parseHttpDate(trimmed);
  return at === undefined ? undefined : Math.max(0, at - referenceTime);
}

const MONTH = '(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
/** RFC 9110's two obsolete forms a recipient must still accept: RFC 850's and asctime's (which names no zone). */
const OBSOLETE_DATE = new RegExp(
  `^(?:(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, \\d{2}-${MONTH}-\\d{2} [0-9:]{8} GMT` +
    `|(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${MONTH} [ \\d]\\d [0-9:]{8} \\d{4})$`,
);

/**
 * An HTTP-date (RFC 9110 §5.6.7) in epoch ms, or `undefined` for anything else. `Date.parse` alone reads
 * "1" as the year 2001 and rolls 31 February over into March: a clock offset taken from such a header
 * would move every expiry by years. The preferred form must be exactly what `toUTCString()` writes.
 */
export function parseHttpDate(value: string): number | undefined {
  const text = value.trim();
  const obsolete = OBSOLETE_DATE.test(text);
  // asctime names no zone: GMT, whatever the host's (another form without GMT is refused below anyway).
  const at = Date.parse(text.endsWith('GMT') ? text : `${text} GMT`);
  if (!Number.isFinite(at)) return undefined;
  return obsolete || new Date(at).toUTCString() === text ? at : undefined;
}

/**
 * Interprets a response whatever its status.
 * @throws {AuthUnavailableError} on 5xx, 408, 425 and 429 (transient, with `retryAfterMs`).
 * @throws {AuthRejectedError} on other 4xx, and on `success: false` whatever the status.
 * @throws {MalformedResponseError} on a 2xx that is not a usable envelope, or a 1xx/3xx.
 */
export function interpretResponse({ status, headers, data }: TextResponse, context: CallContext): TokenSet {
  const { operation, url } = context;
  const header = (name: string): string => String((headers[name] as unknown) ?? '');
  const serverTime = parseHttpDate(header('date'));
  const text = typeof data === 'string' ? data.trim() : '';
  const body = parseJson(text);
  // The Alix envelope: `{ success, message, errorCode, data }`.
  const envelope = isRecord(body) && typeof body.success === 'boolean' ? body : {};
  const numeric = typeof envelope.errorCode === 'string' && /^-?[0-9]+$/.test(envelope.errorCode);
  const code = numeric ? Number(envelope.errorCode) : envelope.errorCode;
  const errorCode = typeof code === 'number' && Number.isFinite(code) ? code : undefined;

  // 408 (the server gave up waiting for the request) and 425 (too early) ask for the same request again
  // later: transient, like 429, not a rejection that would drop a good refresh token for a sign-in.
  if (TRANSIENT_4XX_STATUSES.includes(status) || status >= 500) {
    const retryAfterMs = parseRetryAfterMs(header('retry-after'), serverTime ?? context.now);
    const detail = errorCode === undefined ? undefined : `errorCode ${errorCode}`;
    throw new AuthUnavailableError({ operation, reason: 'http', status, url, retryAfterMs, detail });
  }
  if (status >= 400 || (envelope.success === false && status >= 200 && status < 300)) {
    // The API's message without this call's secrets (by value), nor any opaque run (a re-encoded signature, a token).
    const said = typeof envelope.message === 'string' ? envelope.message : undefined;
    // Control characters (ANSI escapes, CR/LF) would rewrite a terminal or forge a log line: each run
    // becomes one space, first, so a signature echoed line-wrapped reads as one opaque run. A server
    // that quotes the raw form-encoded body echoes it percent-encoded (`%2B`, `%2F` cut it into runs
    // too short to look opaque), and one that quotes it JSON-encoded as PHP does writes each `/` as `\/`
    // (the backslash cuts it likewise): those forms are taken out by value too. HTML character references
    // (`&#x2F;`) are decoded first, so the signature they spell is taken out as it is.
    const quoted = context.secrets.flatMap((secret) => {
      const encoded = encodeURIComponent(secret);
      const lower = encoded.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase());
      return [encoded, lower, secret.replaceAll('/', '\\/')];
    });
    // Invisible format characters (a right-to-left override, a zero-width space) go without a trace: they would
    // reorder a terminal's line, or cut a signature into runs too short to look opaque.
    const printable =
      said &&
      decodeCharacterReferences(said)
        .replace(/\p{Cf}+/gu, '')
        .replace(/\p{Cc}+/gu, ' ');
    const message = printable && redactReport(printable, [...context.secrets, ...quoted]);
    const apiMessage =
      message && message.length > MAX_API_MESSAGE_LENGTH ? `${message.slice(0, MAX_API_MESSAGE_LENGTH)}…` : message;
    const signature = SIGNATURE_REJECTED_ERROR_CODES.includes(errorCode ?? NaN) || /signature/i.test(apiMessage ?? '');
    const hint = signature ? SIGNATURE_REJECTED_HINT : undefined;
    throw new AuthRejectedError({ operation, status, url, errorCode, apiMessage, hint });
  }
  const malformed = (what: string): MalformedResponseError =>
    new MalformedResponseError(`${operation} failed: ${what}`, { operation, status });
  if (status < 200 || status >= 300)
    throw malformed(`POST ${url} answered an unexpected HTTP ${status} (redirects are not followed)`);
  const fail: Fail = (problem) => malformed(`the HTTP ${status} answer to POST ${url} ${problem}`);
  // HTML and garbage are described, never quoted.
  if (text === '') throw fail('has an empty body, not JSON');
  const html = text.startsWith('<') || header('content-type').toLowerCase().includes('html');
  if (body === undefined) throw fail(html ? 'is an HTML page, not JSON' : 'is not valid JSON');
  if (envelope.success === undefined) throw fail('is JSON but not the Alix envelope (no boolean success)');
  const { set, shapes } = toTokenSet(envelope.data, serverTime ?? context.now, fail);
  if (shapes.length > 0) reportShape(context.logger, shapes.join('; '));
  if (serverTime === undefined) return set;
  // A `Date` from another clock than the expiries' (a front proxy's) that runs behind would keep tokens past
  // expiry: the access token's `iat`, on the issuer's clock and at most its now, raises it (never past the expiry).
  const issuedAt = (jwtClaim(set.accessToken, 'iat') ?? 0) * 1000;
  if (issuedAt > serverTime && issuedAt < set.accessTokenExpiresAt)
    return { ...set, serverTime: issuedAt, serverTimeFrom: 'iat' };
  return { ...set, serverTime, serverTimeFrom: 'date' };
}

/** How an expiry was written. `epoch seconds (string)` is the sample's; the others earn the warning. */
type ExpiryFormat =
  `epoch ${'seconds' | 'milliseconds'} (${'string' | 'number'})` | 'ISO 8601 datetime' | 'JWT exp claim';

type Expiry = { ms: number; format: ExpiryFormat };

/**
 * An ISO 8601 datetime with a zone (`Z`, `±hh:mm`, or the basic `±hhmm` and `±hh` that Java's `Z`
 * pattern and PostgreSQL's timestamptz write), `T` or RFC 3339's space between date and time; a
 * zoneless one would be read in the host's zone.
 */
const ISO_DATETIME =
  /^(\d{4}-\d{2}-\d{2})[T ]((?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?)(Z|[+-]\d{2}(?::?\d{2})?)$/i;

/**
 * The instant an ISO 8601 datetime with a zone names, in epoch ms, read in the one form `Date.parse` reads
 * everywhere (`T`, `±hh:mm`); NaN when `text` is not such a datetime or names no calendar day.
 */
function parseIsoDatetime(text: string): number {
  const [, day, time, zone] = ISO_DATETIME.exec(text) ?? [];
  if (day === undefined || time === undefined || zone === undefined) return Number.NaN;
  const digits = zone.slice(1).replace(':', '');
  const offset = zone.toUpperCase() === 'Z' ? 'Z' : `${zone.charAt(0)}${digits.slice(0, 2)}:${digits.slice(2) || '00'}`;
  const at = Date.parse(`${day}T${time}${offset}`);
  // `Date.parse` rolls 31 February over into March: the calendar day must survive the round trip.
  return Number.isFinite(at) && new Date(day).toISOString().startsWith(day) ? at : Number.NaN;
}

/** Reads one expiry value: epoch seconds or ms (string or number) or an ISO 8601 datetime with a zone. */
function readExpiryValue(value: unknown): Expiry | { problem: string } {
  const text = typeof value === 'string' ? value.trim() : '';
  const at = parseIsoDatetime(text);
  let [ms, format]: [number | undefined, ExpiryFormat] = [Number.isNaN(at) ? undefined : at, 'ISO 8601 datetime'];
  const number = typeof value === 'number' ? value : /^[0-9]+(?:\.[0-9]+)?$/.test(text) ? Number(text) : undefined;
  // The table's "datetime" may come as epoch ms (Jackson's default for a date): no date in epoch seconds reaches
  // 1e11 (the year 5138), so a number that does is read as ms.
  const unit = number !== undefined && number >= 1e11 ? 'milliseconds' : 'seconds';
  const written = typeof value === 'number' ? 'number' : 'string';
  if (number !== undefined) [ms, format] = [unit === 'seconds' ? number * 1000 : number, `epoch ${unit} (${written})`];
  if (ms === undefined) {
    const article = /^[aeiou]/.test(typeof value) ? 'an' : 'a';
    const unread = `${article} ${typeof value} that is neither epoch seconds nor an ISO 8601 datetime with a zone`;
    const zoneless = /^\d{4}-\d{2}-\d{2}[T ][\d:.]+$/i.test(text);
    return { problem: zoneless ? 'an ISO 8601 datetime without a zone (Z or ±hh:mm)' : unread };
  }
  if (!Number.isFinite(ms) || ms <= 0) return { problem: 'a non-finite or non-positive value' };
  return { ms: Math.round(ms), format };
}

/**
 * A numeric claim (`exp`, `iat`) of a JWT, read without verifying anything (the client cannot: the
 * key is the server's). `undefined` when the token is not a JWT or has no such number.
 */
function jwtClaim(token: string, name: 'exp' | 'iat'): number | undefined {
  const payload = /^[^.]*\.([^.]+)\.[^.]*$/.exec(token)?.[1] ?? '';
  const claims = parseJson(Buffer.from(payload, 'base64url').toString('utf8'));
  return isRecord(claims) && typeof claims[name] === 'number' ? claims[name] : undefined;
}

/**
 * Turns a successful envelope's `data` into a {@link TokenSet}, and lists how it departs from the
 * sample's shape. Both tokens are required; the access token must fit a Bearer header. Each expiry
 * is read under the sample's name (`…ExpiresAt`) or the response table's (`…ExpiredAt`), whichever
 * comes first, as epoch seconds or ms (string or number) or an ISO 8601 datetime with a zone, and
 * converted to epoch ms. A missing or unreadable access expiry falls back to the access token's
 * JWT `exp` claim (decoded, never verified); a missing or unreadable refresh expiry is malformed.
 * An expiry that says something clear but wrong (at or before `reference`, or more than 10 years
 * ahead) is malformed, never patched.
 * @throws {MalformedResponseError} naming the missing or bad field.
 */
function toTokenSet(data: unknown, reference: number, fail: Fail): { set: TokenSet; shapes: string[] } {
  if (!isRecord(data)) throw fail('has success:true but no data object');
  const present = (name: string): boolean => data[name] !== undefined && data[name] !== null && data[name] !== '';
  const token = (field: string): string => {
    const value = data[field];
    if (typeof value === 'string' && value.trim() !== '') return value;
    throw fail(present(field) ? `has a non-string data.${field}` : `lacks data.${field}`);
  };
  const [accessToken, refreshToken] = [token('accessToken'), token('refreshToken')];
  // Described, never quoted: a space, CR/LF, NUL or non-ASCII character would break (or smuggle) the
  // `Authorization` header, and a bearer longer than servers' header limits fails every API call.
  const { length } = accessToken;
  if (length > MAX_ACCESS_TOKEN_LENGTH)
    throw fail(
      `has a data.accessToken of ${length} characters, over the ${MAX_ACCESS_TOKEN_LENGTH} a header may carry`,
    );
  if (!isHeaderSafeToken(accessToken))
    throw fail('has a data.accessToken with characters a Bearer header cannot carry (RFC 6750 b64token)');
  const shapes: string[] = [];
  const inRange = ({ ms, format }: Expiry, shown: string): number => {
    const seconds = !format.startsWith('epoch milliseconds');
    const sent = format === 'ISO 8601 datetime' ? new Date(ms).toISOString() : String(seconds ? ms / 1000 : ms);
    if (ms <= reference)
      throw fail(`has ${shown} ${sent}, already past (reference ${new Date(reference).toISOString()})`);
    if (ms - reference <= MAX_EXPIRY_AHEAD_MS) return ms;
    throw fail(`has ${shown} ${sent}, more than 10 years ahead`);
  };
  /**
   * One expiry, read under the first of its two names that is present and noted when its shape is
   * not the sample's. A missing or unreadable one is malformed, unless `fallback` gives a JWT `exp`.
   */
  const expiry = (kind: 'access' | 'refresh', fallback?: () => number | undefined): number => {
    const name = [`${kind}TokenExpiresAt`, `${kind}TokenExpiredAt`].find(present);
    const shown = `data.${name}`;
    const value = name === undefined ? undefined : readExpiryValue(data[name]);
    if (value !== undefined && 'ms' in value) {
      if (name?.endsWith('ExpiredAt') || value.format !== 'epoch seconds (string)')
        shapes.push(`${shown} as ${value.format}`);
      return inRange(value, shown);
    }
    const problem = value === undefined ? `lacks data.${kind}TokenExpiresAt` : `has ${shown} as ${value.problem}`;
    if (fallback === undefined) throw fail(problem);
    // The sample's JWTs carry `exp` equal to accessTokenExpiresAt: the one stand-in worth trusting.
    const claimed = readExpiryValue(fallback() ?? NaN);
    if ('problem' in claimed) throw fail(`${problem}, and the access token carries no JWT exp claim to fall back on`);
    shapes.push(`${value === undefined ? 'no access expiry' : `${shown} unreadable`} (the JWT exp claim was read)`);
    return inRange({ ...claimed, format: 'JWT exp claim' }, "the access token's JWT exp claim");
  };
  const accessTokenExpiresAt = expiry('access', () => jwtClaim(accessToken, 'exp'));
  const refreshTokenExpiresAt = expiry('refresh');
  return { set: { accessToken, accessTokenExpiresAt, refreshToken, refreshTokenExpiresAt }, shapes };
}

/**
 * Logs at warn level, the first time this process meets it, an answer shape the page's sample
 * does not show. A logger that would drop the line (none, or a silent one) does not use up the
 * report, so a provider given a logger later still tells. Never throws.
 */
function reportShape(logger: Logger | undefined, shape: string): void {
  try {
    if (reportedShapes.has(shape) || !logger?.isLevelEnabled('warn')) return;
    reportedShapes.add(shape);
    logger.warn(
      { event: 'auth-response-shape', shape },
      `the Alix auth API answered in a shape its published sample does not show (${shape}); read it as documented ` +
        'in docs/alix-auth.md; this is logged once per process',
    );
  } catch {
    // Logging never breaks a sign-in or refresh.
  }
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
 * Maps an error thrown while sending the request or reading the response to a typed error,
 * with the original reduced to a sanitised `cause`.
 */
export function classifyTransportError(error: unknown, context: TransportContext): TokenManagerError {
  const { operation, url } = context;
  if (context.aborted) return new AbortedError(`${operation} aborted by the caller: POST ${url}`, { cause: error });
  const code = errorCodeOf(error);
  const message = error instanceof Error ? error.message : '';
  if (context.timedOut || (code !== undefined && TIMEOUT_CODES.has(code) && /timeout/i.test(message))) {
    const detail = `within ${context.timeoutMs} ms`;
    return new AuthUnavailableError({ operation, reason: 'timeout', url, detail }, { cause: error });
  }
  // The server answered, but too much, or a body that does not decompress (zlib's Z_DATA_ERROR, brotli's ERR__ERROR_…).
  const undecodable = /^(?:Z_|ERR__)[A-Z]/.test(code ?? '');
  if (isAxiosError(error) && (undecodable || /maxContentLength/.test(message))) {
    const why = undecodable ? `could not be decompressed (${code})` : 'is too large';
    const what = `${operation} failed: the answer to POST ${url} ${why}`;
    return new MalformedResponseError(what, { operation }, { cause: error });
  }
  let detail = code !== undefined && /^[A-Z][A-Z0-9_]+$/.test(code) ? code : 'network error';
  if (/socket hang up/i.test(message)) detail = 'socket hang up';
  // A connection dropped mid-body after the status came: the server answered (the refresh may have run).
  const status = isAxiosError(error) ? error.response?.status : undefined;
  return new AuthUnavailableError({ operation, reason: 'network', url, status, detail }, { cause: error });
}
