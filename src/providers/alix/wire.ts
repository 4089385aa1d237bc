/**
 * The Alix wire format and its one border with the library: the JSON envelope, its
 * epoch-second expiry strings, and their conversion to a {@link TokenSet} in epoch ms.
 * Nothing outside this file sees a wire-format expiry.
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
  const errorCode = typeof record.errorCode === 'number' && Number.isFinite(record.errorCode)
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

/**
 * Converts one wire expiry (epoch seconds, string or number) to epoch ms and checks it is
 * after `referenceTime` and at most {@link MAX_EXPIRY_AHEAD_MS} beyond it.
 * @throws {MalformedResponseError} naming the field.
 */
export function epochSecondsToMs(value: unknown, field: string, referenceTime: number, context: WireContext): number {
  let seconds: number;
  if (typeof value === 'number') {
    seconds = value;
  } else if (typeof value === 'string' && NUMERIC_STRING.test(value.trim())) {
    seconds = Number(value.trim());
  } else if (value === undefined || value === null || value === '') {
    throw malformed(context, `lacks data.${field}`);
  } else {
    throw malformed(context, `has a non-numeric data.${field} (${typeof value}); epoch seconds expected`);
  }
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw malformed(context, `has a non-finite or non-positive data.${field}; epoch seconds expected`);
  }
  const ms = Math.round(seconds * 1000);
  if (ms <= referenceTime) {
    throw malformed(context, `has data.${field} ${seconds}, already past (reference ${new Date(referenceTime).toISOString()})`);
  }
  if (ms - referenceTime > MAX_EXPIRY_AHEAD_MS) {
    const hint = seconds > 1e11 ? '; milliseconds sent instead of seconds?' : '';
    throw malformed(context, `has data.${field} ${seconds}, more than 10 years ahead${hint}`);
  }
  return ms;
}

function requireToken(data: Record<string, unknown>, field: string, context: WireContext): string {
  const value = data[field];
  if (typeof value !== 'string' || value.trim() === '') {
    throw malformed(context, value === undefined || value === null || value === '' ? `lacks data.${field}` : `has a non-string data.${field}`);
  }
  return value;
}

/** What {@link toTokenSet} needs besides the envelope's `data`. */
export interface TokenSetInput {
  /** The server's clock (`Date` header), epoch ms, if known. */
  serverTime: number | undefined;
  /** The local clock, epoch ms: the reference when `serverTime` is unknown. */
  now: number;
}

/**
 * Turns a successful envelope's `data` into a {@link TokenSet}: both tokens are required,
 * both expiries converted from epoch seconds to epoch ms.
 * @throws {MalformedResponseError} naming the missing or bad field.
 */
export function toTokenSet(data: unknown, input: TokenSetInput, context: WireContext): TokenSet {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw malformed(context, 'has success:true but no data object');
  }
  const record = data as Record<string, unknown>;
  const reference = input.serverTime ?? input.now;
  const accessToken = requireToken(record, 'accessToken', context);
  const accessTokenExpiresAt = epochSecondsToMs(record.accessTokenExpiresAt, 'accessTokenExpiresAt', reference, context);
  const refreshToken = requireToken(record, 'refreshToken', context);
  const refreshTokenExpiresAt = epochSecondsToMs(record.refreshTokenExpiresAt, 'refreshTokenExpiresAt', reference, context);
  const set: TokenSet = { accessToken, accessTokenExpiresAt, refreshToken, refreshTokenExpiresAt };
  if (input.serverTime !== undefined) set.serverTime = input.serverTime;
  return set;
}
