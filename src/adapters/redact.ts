/**
 * Scrubs bearer tokens out of an error before it leaves an adapter. An AxiosError keeps the
 * request config (with its headers) and the Node request (with the raw header block), so a
 * logging `err` as it is, or `JSON.stringify(err.toJSON())`, would print the token
 * (axios/axios#4246, #4249).
 */
import { REDACTED_BEARER, isBearerValue, redactBearerLines } from '../redaction';

export { REDACTED_BEARER };

type UnknownRecord = Record<PropertyKey, unknown>;

function isObject(value: unknown): value is UnknownRecord {
  return typeof value === 'object' && value !== null;
}

function redactValue(value: unknown): unknown {
  if (typeof value === 'string') return isBearerValue(value) ? REDACTED_BEARER : value;
  if (Array.isArray(value)) return value.map(redactValue);
  return value;
}

/**
 * Replaces every `Authorization: Bearer …` value in a header container (AxiosHeaders, a
 * plain object or a fetch `Headers`) with `Bearer [REDACTED]`. Other schemes are left alone.
 */
export function redactHeaders(headers: unknown): void {
  if (!isObject(headers)) return;
  try {
    if (typeof Headers !== 'undefined' && headers instanceof Headers) {
      const value = headers.get('authorization');
      if (value !== null && isBearerValue(value)) headers.set('authorization', REDACTED_BEARER);
      return;
    }
    for (const key of Object.keys(headers)) {
      if (key.toLowerCase() === 'authorization') headers[key] = redactValue(headers[key]);
    }
  } catch {
    // A frozen or exotic header object: the property is hidden from inspection instead.
  }
}

/** Node's ClientRequest keeps its outgoing headers under this internal symbol. */
function outgoingHeaderMap(request: UnknownRecord): unknown {
  const symbol = Object.getOwnPropertySymbols(request).find((s) => s.description === 'kOutHeaders');
  return symbol === undefined ? undefined : request[symbol];
}

/** Redacts bearer lines in a raw header block held as a string or a byte buffer. */
function redactRaw(data: unknown): unknown {
  if (typeof data === 'string') return redactBearerLines(data);
  if (data instanceof Uint8Array) {
    const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');
    const clean = redactBearerLines(text);
    return clean === text ? data : Buffer.from(clean, 'latin1');
  }
  return data;
}

/**
 * A socket that never connected (ECONNREFUSED, a DNS failure) still holds the request it was
 * asked to write, header block and bearer included, in `_pendingData` (a string, a buffer, or a
 * writev list of `{ chunk }`); so can the writable buffer (`_writableState.buffered`). Only a
 * destroyed socket is touched: a live one would send what we change.
 */
function redactSocket(socket: unknown): void {
  if (!isObject(socket) || socket.destroyed !== true) return;
  if (Array.isArray(socket._pendingData)) {
    for (const entry of socket._pendingData) if (isObject(entry)) entry.chunk = redactRaw(entry.chunk);
  } else {
    socket._pendingData = redactRaw(socket._pendingData);
  }
  const state = socket._writableState;
  if (isObject(state) && Array.isArray(state.buffered)) {
    for (const entry of state.buffered) if (isObject(entry)) entry.chunk = redactRaw(entry.chunk);
  }
}

/**
 * Redacts the bearer inside a request object an HTTP client left on an error: a Node
 * `ClientRequest` (`_header` block, outgoing header map, a socket that never sent it), a
 * follow-redirects `RedirectableRequest` (`_options.headers`, `_currentRequest`) or a fetch
 * `Request`.
 */
export function redactRequest(request: unknown, seen = new Set<unknown>()): void {
  if (!isObject(request) || seen.has(request)) return;
  seen.add(request);
  try {
    if (typeof request._header === 'string') request._header = redactBearerLines(request._header);
    redactSocket(request.socket);
    if (Array.isArray(request.outputData)) {
      for (const entry of request.outputData) if (isObject(entry)) entry.data = redactRaw(entry.data);
    }
    const outgoing = outgoingHeaderMap(request);
    if (isObject(outgoing)) {
      const entry = outgoing.authorization;
      if (Array.isArray(entry) && entry.length === 2) entry[1] = redactValue(entry[1]);
    }
    if (isObject(request._options)) redactHeaders(request._options.headers);
    if (isObject(request.headers)) redactHeaders(request.headers);
  } catch {
    // Never let redaction replace the caller's error with one of its own.
  }
  redactRequest(request._currentRequest, seen);
  redactRequest(request._redirectable, seen);
  if (isObject(request.res)) redactRequest(request.res.req, seen);
}

function hide(target: UnknownRecord, key: string): void {
  const descriptor = Object.getOwnPropertyDescriptor(target, key);
  if (descriptor === undefined || descriptor.enumerable !== true || descriptor.configurable !== true) return;
  Object.defineProperty(target, key, { ...descriptor, enumerable: false });
}

/**
 * Redacts the bearer everywhere it is reachable from an AxiosError-shaped object: the
 * config's headers, the response's config, and the underlying request objects. The request
 * objects and the config's `httpAgent`/`httpsAgent` are also made non-enumerable (still
 * readable as `err.request`, `err.config.httpAgent`), because through their sockets and
 * timers they reach other in-flight requests that `util.inspect` would print.
 * Anything that is not an object is left as it is; the function never throws.
 */
export function redactAxiosError(error: unknown): void {
  if (!isObject(error)) return;
  try {
    const config = error.config;
    if (isObject(config)) {
      redactHeaders(config.headers);
      // An agent's sockets and timers reach every other request in flight.
      hide(config, 'httpAgent');
      hide(config, 'httpsAgent');
    }
    redactRequest(error.request);
    hide(error, 'request');
    const response = error.response;
    if (isObject(response)) {
      if (isObject(response.config)) redactHeaders(response.config.headers);
      redactRequest(response.request);
      hide(response, 'request');
      if (isObject(response.data)) redactRequest(response.data.req);
    }
  } catch {
    // Never let redaction replace the caller's error with one of its own.
  }
}
