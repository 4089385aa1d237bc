/**
 * The origin allow-list both HTTP adapters check at send time (parsing and normalising its
 * entries), the URL a request really goes to (axios's `buildFullPath`), and option checks.
 */
import { assertConfig } from '../errors';
import { isLoopbackHost } from '../loopback';

/** An allow-list of normalised origins (`scheme://host[:port]`, default ports dropped). */
export type OriginSet = ReadonlySet<string>;

/**
 * Parses one allow-list entry into its origin. The entry must be an `https://` origin (plain
 * `http://` only for loopback hosts), with no credentials, path, query or fragment: a path
 * would suggest a narrower scope than the origin the bearer is actually sent to. A base URL
 * (`baseUrl: true`) may have any path.
 *
 * @throws {ConfigurationError} when the entry is not such an origin.
 */
export function parseOrigin(entry: string, label = 'origin', baseUrl = false): string {
  const url = parseUrl(entry);
  assertConfig(url?.protocol === 'https:' || url?.protocol === 'http:', `${label} is not an absolute http(s) URL`);
  assertConfig(baseUrl || (url.username === '' && url.password === ''), `${label} must not contain credentials`);
  assertConfig(
    baseUrl || (url.pathname === '/' && url.search === '' && url.hash === ''),
    `${label} ${JSON.stringify(url.origin + url.pathname)} has a path, query or fragment; give the origin only ` +
      `(${url.origin})`,
  );
  assertConfig(
    url.protocol === 'https:' || isLoopbackHost(url.hostname),
    `${label} ${url.origin} is plain http; the bearer is only sent over https (or to loopback)`,
  );
  return url.origin;
}

/**
 * Builds the allow-list from explicit `origins`, or from the base URL's origin when none are
 * given.
 *
 * @throws {ConfigurationError} when neither gives an origin, or an entry is invalid.
 */
export function createOriginSet(
  origins: readonly string[] | undefined,
  baseUrl: string | undefined,
  where: string,
): OriginSet {
  if (origins === undefined) {
    assertConfig(
      typeof baseUrl === 'string' && baseUrl !== '',
      `${where}: no origin to send the bearer to; give the axios instance a baseURL or pass \`origins\``,
    );
    return new Set([parseOrigin(baseUrl, `${where}: baseURL`, true)]);
  }
  assertConfig(
    Array.isArray(origins) && origins.length > 0,
    `${where}: \`origins\` must be a non-empty array of origins`,
  );
  return new Set(origins.map((entry, index) => parseOrigin(entry, `${where}: origins[${index}]`)));
}

/**
 * Resolves the URL a request will go to, following axios's `buildFullPath`: a relative `url`
 * (or any `url` when `allowAbsoluteUrls` is `false`) is appended to `baseURL` with exactly one
 * slash; an absolute one (`scheme://` or protocol-relative `//`) is used as it is. Returns
 * `undefined` when the result is not an absolute URL.
 */
export function resolveRequestUrl(target: RequestTarget): URL | undefined {
  const url = typeof target.url === 'string' ? target.url : '';
  const base = joinedBase(target);
  if (base === undefined) return parseUrl(url);
  return parseUrl(url === '' ? base : `${base.replace(/\/+$/, '')}/${url.replace(/^\/+/, '')}`);
}

/**
 * Whether a request goes over plain http: read off the string it is built from when that starts with its scheme
 * (no URL parse per request), else from the URL axios resolves.
 */
export function goesOverPlainHttp(target: RequestTarget): boolean {
  const from = joinedBase(target) ?? target.url;
  if (typeof from === 'string' && /^https?:/i.test(from)) return from[4] === ':';
  return resolveRequestUrl(target)?.protocol === 'http:';
}

/** What axios builds a request's URL from. */
type RequestTarget = { baseURL?: unknown; url?: unknown; allowAbsoluteUrls?: unknown };

const ABSOLUTE_URL = /^([a-z][a-z\d+\-.]*:)?\/\//i;

/** The `baseURL` axios appends the request's `url` to, if it does (see {@link resolveRequestUrl}). */
function joinedBase(target: RequestTarget): string | undefined {
  const url = typeof target.url === 'string' ? target.url : '';
  const absolute = ABSOLUTE_URL.test(url) && target.allowAbsoluteUrls !== false;
  return typeof target.baseURL === 'string' && target.baseURL !== '' && !absolute ? target.baseURL : undefined;
}

/**
 * The allow-list check of an axios instance's requests. A URL appended to a `baseURL` with a host
 * of its own has that base's origin, so the answer is kept per base (at most 64, of at most
 * 2048 characters: a base built from user input could be megabytes long): parsing each request's URL would cost
 * more than all the rest of the adapter's work.
 *
 * A `url` that is not a string (a URL object, which axios 1.6 sends to its own origin) never gets
 * the bearer. Under `allowAbsoluteUrls: false` an absolute `url` must be allowed as well as the
 * joined one: axios before 1.8 ignores the option, and 1.8.0–1.8.2's transports send such a url
 * as it is while `getUri()` joins it.
 */
export function createTargetCheck(origins: OriginSet): (target: RequestTarget) => boolean {
  const byBase = new Map<string, boolean>();
  return (target) => {
    const { url } = target;
    if (url !== undefined && typeof url !== 'string') return false;
    const base = joinedBase(target);
    // Not joined: `url` is the whole URL.
    if (base === undefined) return isBearerUrl(origins, url);
    const absolute = target.allowAbsoluteUrls === false && ABSOLUTE_URL.test(url ?? '');
    if (absolute && !isBearerUrl(origins, url)) return false;
    const cached = byBase.get(base);
    if (cached !== undefined) return cached;
    const allowed = isBearerUrl(origins, resolveRequestUrl(target));
    // A base that parses alone has its host (an http(s) URL has one): what is joined after its `/` is path.
    const cacheable = byBase.size < 64 && base.length <= 2048;
    if (cacheable && parseUrl(base) !== undefined) byBase.set(base, allowed);
    return allowed;
  };
}

/** True when `url` (a string, URL or unparseable value) is http(s) with an origin in the allow-list. */
export function isAllowedUrl(origins: OriginSet, url: string | URL | undefined): boolean {
  const parsed = typeof url === 'string' ? parseUrl(url) : url;
  // The protocol is checked too: a `blob:https://host/…` URL has that host's origin.
  return parsed !== undefined && /^https?:$/.test(parsed.protocol) && origins.has(parsed.origin);
}

/**
 * True when axios would send the bearer to `url`: an allowed URL without credentials. axios sends a URL's
 * `user:password` as Basic in place of any Authorization, so a 401 to it says nothing about the bearer.
 */
function isBearerUrl(origins: OriginSet, url: string | URL | undefined): boolean {
  const parsed = typeof url === 'string' ? parseUrl(url) : url;
  return parsed !== undefined && parsed.username === '' && parsed.password === '' && isAllowedUrl(origins, parsed);
}

/**
 * Validates `retryStatuses`: integer HTTP statuses 400–599. Any answer's status can be looked up in the set, an
 * absent one (a network error) included: that one is never in it.
 * @throws {ConfigurationError} otherwise.
 */
export function parseRetryStatuses(statuses: readonly number[], where: string): ReadonlySet<number | undefined> {
  assertConfig(
    Array.isArray(statuses) && statuses.every((s) => Number.isInteger(s) && s >= 400 && s <= 599),
    `${where}: \`retryStatuses\` must be an array of HTTP error statuses (400–599)`,
  );
  return new Set(statuses);
}

function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}
