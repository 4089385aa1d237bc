/**
 * Scrubs bearer tokens out of an error before it leaves an adapter. An AxiosError keeps the
 * request config (with its headers) and the Node request (with the raw header block), so a
 * logging `err` as it is, or `JSON.stringify(err.toJSON())`, would print the token
 * (axios/axios#4246, #4249).
 */
import { REDACTED_BEARER, isBearerValue, redactBearerLines } from '../redaction';

type UnknownRecord = Record<PropertyKey, unknown>;

function isObject(value: unknown): value is UnknownRecord {
  return typeof value === 'object' && value !== null;
}

/** A header value (a string, or a list of them) with every bearer replaced. */
function redactValue(value: unknown): unknown {
  if (typeof value === 'string') return isBearerValue(value) ? REDACTED_BEARER : value;
  return Array.isArray(value) ? value.map(redactValue) : value;
}

/**
 * Replaces every `Authorization: Bearer …` value in a header container (AxiosHeaders, a
 * plain object or a fetch `Headers`) with `Bearer [REDACTED]`. Other schemes are left alone.
 */
export function redactHeaders(headers: unknown): void {
  if (!isObject(headers)) return;
  try {
    if (headers instanceof Headers && isBearerValue(headers.get('authorization') ?? '')) {
      headers.set('authorization', REDACTED_BEARER);
    }
    for (const key of Object.keys(headers)) {
      if (key.toLowerCase() === 'authorization') headers[key] = redactValue(headers[key]);
    }
  } catch {
    // A frozen or exotic header object: left as it is (nothing can change it).
  }
}

/**
 * Redacts bearer lines in raw request bytes: a string, a byte buffer, or a list of pending writes
 * whose `field` (`chunk` or `data`) holds them.
 */
function redactRaw(data: unknown, field?: 'chunk' | 'data'): unknown {
  if (field !== undefined && Array.isArray(data)) {
    for (const entry of data) if (isObject(entry)) entry[field] = redactRaw(entry[field]);
  }
  if (typeof data === 'string') return redactBearerLines(data);
  if (!(data instanceof Uint8Array)) return data;
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');
  const clean = redactBearerLines(text);
  return clean === text ? data : Buffer.from(clean, 'latin1');
}

/**
 * Redacts the bearer inside a request object an HTTP client left on an error: a Node
 * `ClientRequest` (`_header` block, outgoing header map, a socket that never sent it), a
 * follow-redirects `RedirectableRequest` (`_options.headers`, `_currentRequest`) or a fetch
 * `Request`, or an HTTP/2 stream (axios's `httpVersion: 2`).
 */
export function redactRequest(request: unknown, seen = new Set<unknown>()): void {
  if (!isObject(request) || seen.has(request)) return;
  seen.add(request);
  try {
    if (typeof request._header === 'string') request._header = redactBearerLines(request._header);
    // A socket that never connected (ECONNREFUSED, a DNS failure) still holds the request it was asked to write in
    // `_pendingData` (a string, a buffer, or a writev list of `{ chunk }`) or its writable buffer. Only a destroyed
    // socket is touched: a live one would send what we change.
    const socket = request.socket;
    if (isObject(socket) && socket.destroyed === true) {
      socket._pendingData = redactRaw(socket._pendingData, 'chunk');
      if (isObject(socket._writableState)) redactRaw(socket._writableState.buffered, 'chunk');
    }
    redactRaw(request.outputData, 'data');
    // Node's ClientRequest keeps its outgoing headers under this internal symbol, an HTTP/2 stream (axios's
    // `httpVersion: 2`) under `sent-headers`.
    const symbols = Object.getOwnPropertySymbols(request);
    const symbol = symbols.find((s) => s.description === 'kOutHeaders');
    const entry = symbol === undefined ? undefined : (request[symbol] as UnknownRecord | undefined)?.authorization;
    if (Array.isArray(entry) && entry.length === 2) entry[1] = redactValue(entry[1]);
    for (const sent of symbols) if (sent.description === 'sent-headers') redactHeaders(request[sent]);
    if (isObject(request._options)) redactHeaders(request._options.headers);
    redactHeaders(request.headers);
  } catch {
    // Never let redaction replace the caller's error with one of its own.
  }
  const viaResponse = isObject(request.res) ? request.res.req : undefined;
  for (const next of [request._currentRequest, request._redirectable, viaResponse]) redactRequest(next, seen);
}

/** Makes a property non-enumerable (still readable), when it is an own, configurable, enumerable one. */
function hide(target: UnknownRecord, key: string): void {
  const descriptor = Object.getOwnPropertyDescriptor(target, key);
  if (descriptor?.enumerable === true && descriptor.configurable === true) {
    Object.defineProperty(target, key, { ...descriptor, enumerable: false });
  }
}

/**
 * Redacts the bearer everywhere it is reachable from an AxiosError-shaped object: the
 * config's headers, the response's config, and the underlying request objects. The request
 * objects, the config's `httpAgent`/`httpsAgent` and a body stream's `req`/`socket`/`client` are
 * also made non-enumerable (still readable as `err.request`, `err.config.httpAgent`), because
 * through their sockets and timers they reach other in-flight requests that `util.inspect` would print.
 * Anything that is not an object is left as it is; the function never throws.
 */
export function redactAxiosError(error: unknown): void {
  if (!isObject(error)) return;
  try {
    // The error and its response each hold the config sent and the request objects.
    for (const holder of [error, error.response]) {
      if (!isObject(holder)) continue;
      if (isObject(holder.config)) {
        redactHeaders(holder.config.headers);
        for (const agent of ['httpAgent', 'httpsAgent']) hide(holder.config, agent);
      }
      redactRequest(holder.request);
      hide(holder, 'request');
    }
    const body = isObject(error.response) ? error.response.data : undefined;
    if (isObject(body)) redactRequest(body.req);
    // A body stream (responseType 'stream') reaches the agent's other requests through its request and socket; a JSON
    // body's own fields stay as the server sent them.
    if (isObject(body) && typeof body.pipe === 'function')
      for (const key of ['req', 'socket', 'client']) hide(body, key);
  } catch {
    // Never let redaction replace the caller's error with one of its own.
  }
}
