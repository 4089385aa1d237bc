/**
 * The Alix wire format and its one border with the library: the JSON envelope, its expiries
 * (the sample's epoch-second strings, and the shapes the page's response table names), and
 * their conversion to a {@link TokenSet} in epoch ms. Nothing outside this file sees a
 * wire-format expiry.
 */
import { MalformedResponseError, type AuthOperation } from '../../errors';
import type { TokenSet } from '../../token-set';

/** The envelope every Alix response uses. */
export interface AlixEnvelope {
  success: boolean;
  message: string | undefined;
  errorCode: number | undefined;
  data: unknown;
}

/** Where a response came from, for messages. */
export interface WireContext {
  operation: AuthOperation;
  /** The request path, e.g. `/api/v2/auth/refresh-token`. */
  path: string;
  /** HTTP status of the response. */
  status: number;
}

/** Expiries further ahead than this (10 years) are taken for a unit or format error. */
export const MAX_EXPIRY_AHEAD_MS = 10 * 365.25 * 24 * 60 * 60 * 1000;

const NUMERIC_STRING = /^[0-9]+(?:\.[0-9]+)?$/;

function where(context: WireContext): string {
  return `${context.operation} failed: the HTTP ${context.status} answer to POST ${context.path}`;
}

function malformed(context: WireContext, problem: string): MalformedResponseError {
  return new MalformedResponseError(`${where(context)} ${problem}`, {
    operation: context.operation,
    status: context.status,
  });
}

/** The result of reading a body: JSON, or what it looked like instead. */
export type ParsedBody = { kind: 'json'; value: unknown } | { kind: 'html' | 'empty' | 'not-json' };

/** Parses a response body read as text; HTML and garbage are recognised, never thrown. */
export function parseBody(text: string, contentType: string | undefined): ParsedBody {
  const trimmed = text.trim();
  if (trimmed === '') return { kind: 'empty' };
  try {
    return { kind: 'json', value: JSON.parse(trimmed) as unknown };
  } catch {
    const html = trimmed.startsWith('<') || (contentType ?? '').toLowerCase().includes('html');
    return { kind: html ? 'html' : 'not-json' };
  }
}

/** Describes a non-JSON body for an error message, without quoting it. */
export function describeNonJson(kind: 'html' | 'empty' | 'not-json'): string {
  if (kind === 'html') return 'is an HTML page, not JSON';
  if (kind === 'empty') return 'has an empty body, not JSON';
  return 'is not valid JSON';
}

/** Reads the Alix envelope from a parsed body; `undefined` when the body is not one. */
export function readEnvelope(value: unknown): AlixEnvelope | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  if (typeof record.success !== 'boolean') return undefined;
  const errorCode =
    typeof record.errorCode === 'number' && Number.isFinite(record.errorCode)
      ? record.errorCode
      : typeof record.errorCode === 'string' && /^-?[0-9]+$/.test(record.errorCode)
        ? Number(record.errorCode)
        : undefined;
  return {
    success: record.success,
    message: typeof record.message === 'string' ? record.message : undefined,
    errorCode,
    data: record.data,
  };
}

/**
 * The `Date` header as epoch ms, when present and parseable.
 */
export function parseServerTime(dateHeader: unknown): number | undefined {
  if (typeof dateHeader !== 'string' || dateHeader.trim() === '') return undefined;
  const time = Date.parse(dateHeader);
  return Number.isFinite(time) ? time : undefined;
}

/** The names an expiry goes by: the sample's (`…ExpiresAt`) first, then the response table's (`…ExpiredAt`). */
const EXPIRY_NAMES = Object.freeze({
  access: ['accessTokenExpiresAt', 'accessTokenExpiredAt'],
  refresh: ['refreshTokenExpiresAt', 'refreshTokenExpiredAt'],
} as const);

/** An ISO 8601 datetime with a zone (`Z` or `±hh:mm`); a zoneless one would be read in the host's zone. */
const ISO_DATETIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i;

/** How an expiry value was written. `epoch seconds (string)` is the sample's; the others earn the warning. */
type ExpiryFormat = 'epoch seconds (string)' | 'epoch seconds (number)' | 'ISO 8601 datetime';

type ExpiryValue = { ok: true; ms: number; format: ExpiryFormat } | { ok: false; problem: string };

/**
 * Epoch ms of an ISO 8601 datetime with a zone, or `undefined`. `Date.parse` rolls 31 February
 * over into March, so the fields are checked against what it made of them.
 */
function isoDatetimeToMs(text: string): number | undefined {
  const match = ISO_DATETIME.exec(text);
  if (match === null) return undefined;
  const ms = Date.parse(text);
  if (!Number.isFinite(ms)) return undefined;
  const zone = (match[7] ?? 'Z').toUpperCase();
  const sign = zone.startsWith('-') ? -1 : 1;
  const offsetMin = zone === 'Z' ? 0 : sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4)));
  const local = new Date(ms + offsetMin * 60_000);
  const fields = [
    local.getUTCFullYear(),
    local.getUTCMonth() + 1,
    local.getUTCDate(),
    local.getUTCHours(),
    local.getUTCMinutes(),
  ];
  return fields.every((value, i) => value === Number(match[i + 1])) ? ms : undefined;
}

/** Reads one expiry value: epoch seconds (string or number) or an ISO 8601 datetime with a zone. */
function readExpiryValue(value: unknown): ExpiryValue {
  const text = typeof value === 'string' ? value.trim() : undefined;
  const iso = text === undefined ? undefined : isoDatetimeToMs(text);
  let ms: number;
  let format: ExpiryFormat;
  if (typeof value === 'number') {
    [ms, format] = [value * 1000, 'epoch seconds (number)'];
  } else if (text !== undefined && NUMERIC_STRING.test(text)) {
    [ms, format] = [Number(text) * 1000, 'epoch seconds (string)'];
  } else if (iso !== undefined) {
    [ms, format] = [iso, 'ISO 8601 datetime'];
  } else if (text !== undefined && /^\d{4}-\d{2}-\d{2}T[\d:.]+$/i.test(text)) {
    return { ok: false, problem: 'an ISO 8601 datetime without a zone (Z or ±hh:mm)' };
  } else {
    const type = typeof value;
    const article = /^[aeiou]/.test(type) ? 'an' : 'a';
    const problem = `${article} ${type} that is neither epoch seconds nor an ISO 8601 datetime with a zone`;
    return { ok: false, problem };
  }
  if (!Number.isFinite(ms) || ms <= 0) return { ok: false, problem: 'a non-finite or non-positive value' };
  return { ok: true, ms: Math.round(ms), format };
}

/**
 * Checks a parsed expiry lies after `referenceTime` and at most {@link MAX_EXPIRY_AHEAD_MS}
 * beyond it: an expiry that says something clear but wrong is malformed, never patched.
 */
function checkExpiryRange(
  ms: number,
  shown: string,
  format: ExpiryFormat | 'JWT exp claim',
  referenceTime: number,
  context: WireContext,
): number {
  const sent = format === 'ISO 8601 datetime' ? new Date(ms).toISOString() : String(ms / 1000);
  if (ms <= referenceTime) {
    throw malformed(context, `has ${shown} ${sent}, already past (reference ${new Date(referenceTime).toISOString()})`);
  }
  if (ms - referenceTime > MAX_EXPIRY_AHEAD_MS) {
    const hint = format !== 'ISO 8601 datetime' && ms > 1e14 ? '; milliseconds sent instead of seconds?' : '';
    throw malformed(context, `has ${shown} ${sent}, more than 10 years ahead${hint}`);
  }
  return ms;
}

/**
 * The `exp` claim of a JWT, in epoch ms, read without verifying anything (the client cannot:
 * the key is the server's). `undefined` when the token is not a JWT or has no numeric `exp`.
 */
function jwtExpiryMs(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[1] === undefined || parts[1] === '') return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    const exp = typeof claims === 'object' && claims !== null ? (claims as { exp?: unknown }).exp : undefined;
    return typeof exp === 'number' && Number.isFinite(exp) && exp > 0 ? Math.round(exp * 1000) : undefined;
  } catch {
    return undefined;
  }
}

/** One expiry as the response gave it, under whichever of its two names came first. */
interface ExpiryReading {
  /** `data.<name>` as sent, for messages. */
  shown: string;
  value: ExpiryValue;
  /** The response table's name (`…ExpiredAt`) was used. */
  tableName: boolean;
}

function readExpiry(record: Record<string, unknown>, names: readonly [string, string]): ExpiryReading | undefined {
  const present = (value: unknown): boolean => value !== undefined && value !== null && value !== '';
  const name = names.find((candidate) => present(record[candidate]));
  if (name === undefined) return undefined;
  return { shown: `data.${name}`, value: readExpiryValue(record[name]), tableName: name === names[1] };
}

function describeShape(reading: ExpiryReading): string | undefined {
  if (!reading.value.ok) return undefined;
  if (!reading.tableName && reading.value.format === 'epoch seconds (string)') return undefined;
  return `${reading.shown} as ${reading.value.format}`;
}

function requireToken(data: Record<string, unknown>, field: string, context: WireContext): string {
  const value = data[field];
  if (typeof value !== 'string' || value.trim() === '') {
    throw malformed(
      context,
      value === undefined || value === null || value === '' ? `lacks data.${field}` : `has a non-string data.${field}`,
    );
  }
  return value;
}

/** What {@link toTokenSet} needs besides the envelope's `data`. */
export interface TokenSetInput {
  /** The server's clock (`Date` header), epoch ms, if known. */
  serverTime: number | undefined;
  /** The local clock, epoch ms: the reference when `serverTime` is unknown. */
  now: number;
  /**
   * Told how the response departs from the page's sample (e.g. `data.accessTokenExpiredAt as
   * ISO 8601 datetime`), once per response that does; never a token or a value.
   */
  onNonSampleShape?: (shape: string) => void;
}

/**
 * Turns a successful envelope's `data` into a {@link TokenSet}. Both tokens are required. Each
 * expiry is read under the sample's name (`…ExpiresAt`) or the response table's (`…ExpiredAt`),
 * as epoch seconds (string or number) or an ISO 8601 datetime with a zone, and converted to
 * epoch ms. A missing or unreadable access expiry falls back to the access token's JWT `exp`
 * claim (decoded, never verified); a missing or unreadable refresh expiry is malformed.
 * @throws {MalformedResponseError} naming the missing or bad field.
 */
export function toTokenSet(data: unknown, input: TokenSetInput, context: WireContext): TokenSet {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw malformed(context, 'has success:true but no data object');
  }
  const record = data as Record<string, unknown>;
  const reference = input.serverTime ?? input.now;
  const accessToken = requireToken(record, 'accessToken', context);
  const refreshToken = requireToken(record, 'refreshToken', context);
  const shapes: string[] = [];

  const access = readExpiry(record, EXPIRY_NAMES.access);
  let accessTokenExpiresAt: number;
  if (access?.value.ok === true) {
    accessTokenExpiresAt = checkExpiryRange(access.value.ms, access.shown, access.value.format, reference, context);
  } else {
    // The sample's JWTs carry `exp` equal to accessTokenExpiresAt: the one stand-in worth trusting.
    const claimed = jwtExpiryMs(accessToken);
    const problem =
      access === undefined || access.value.ok
        ? `lacks data.${EXPIRY_NAMES.access[0]}`
        : `has ${access.shown} as ${access.value.problem}`;
    if (claimed === undefined) {
      throw malformed(context, `${problem}, and the access token carries no JWT exp claim to fall back on`);
    }
    const claim = "the access token's JWT exp claim";
    accessTokenExpiresAt = checkExpiryRange(claimed, claim, 'JWT exp claim', reference, context);
    const missing = access === undefined ? 'no access expiry' : `${access.shown} unreadable`;
    shapes.push(`${missing} (the JWT exp claim was read)`);
  }

  const refresh = readExpiry(record, EXPIRY_NAMES.refresh);
  if (refresh === undefined) throw malformed(context, `lacks data.${EXPIRY_NAMES.refresh[0]}`);
  if (!refresh.value.ok) throw malformed(context, `has ${refresh.shown} as ${refresh.value.problem}`);
  const { ms: refreshMs, format: refreshFormat } = refresh.value;
  const refreshTokenExpiresAt = checkExpiryRange(refreshMs, refresh.shown, refreshFormat, reference, context);

  for (const reading of [access, refresh]) {
    const shape = reading === undefined ? undefined : describeShape(reading);
    if (shape !== undefined) shapes.push(shape);
  }
  if (shapes.length > 0) input.onNonSampleShape?.(shapes.join('; '));
  const set: TokenSet = { accessToken, accessTokenExpiresAt, refreshToken, refreshTokenExpiresAt };
  if (input.serverTime !== undefined) set.serverTime = input.serverTime;
  return set;
}
