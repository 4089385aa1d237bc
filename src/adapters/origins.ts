/**
 * The origin allow-list both HTTP adapters check at send time (parsing and normalising its
 * entries), the URL a request really goes to (axios's `buildFullPath`), and option checks.
 */
import { ConfigurationError, assertConfig } from '../errors';
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
  const url = tryParseUrl(entry);
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
  if (origins !== undefined) {
    assertConfig(
      Array.isArray(origins) && origins.length > 0,
      `${where}: \`origins\` must be a non-empty array of origins`,
    );
    return new Set(origins.map((entry, index) => parseOrigin(entry, `${where}: origins[${index}]`)));
  }
  if (typeof baseUrl === 'string' && baseUrl !== '') return new Set([parseOrigin(baseUrl, `${where}: baseURL`, true)]);
  throw new ConfigurationError(
    `${where}: no origin to send the bearer to; give the axios instance a baseURL or pass \`origins\``,
  );
}

/** The same test axios uses: `scheme://` or protocol-relative `//`. */
export function isAbsoluteUrl(url: string): boolean {
  return /^([a-z][a-z\d+\-.]*:)?\/\//i.test(url);
}

/** Joins a base URL and a relative URL with exactly one slash, as axios does. */
export function combineUrls(baseUrl: string, relativeUrl: string): string {
  if (relativeUrl === '') return baseUrl;
  return `${baseUrl.replace(/\/+$/, '')}/${relativeUrl.replace(/^\/+/, '')}`;
}

/**
 * Resolves the URL a request will go to, following axios's `buildFullPath`: a relative `url`
 * (or any `url` when `allowAbsoluteUrls` is `false`) is appended to `baseURL`; an absolute
 * one is used as it is. Returns `undefined` when the result is not an absolute URL.
 */
export function resolveRequestUrl(target: {
  baseURL?: unknown;
  url?: unknown;
  allowAbsoluteUrls?: unknown;
}): URL | undefined {
  const url = typeof target.url === 'string' ? target.url : '';
  const baseUrl = typeof target.baseURL === 'string' ? target.baseURL : '';
  const joined = baseUrl !== '' && (!isAbsoluteUrl(url) || target.allowAbsoluteUrls === false);
  return tryParseUrl(joined ? combineUrls(baseUrl, url) : url);
}

/** True when `url` (a string, URL or unparseable value) is http(s) with an origin in the allow-list. */
export function isAllowedUrl(origins: OriginSet, url: string | URL | undefined): boolean {
  const parsed = typeof url === 'string' ? tryParseUrl(url) : url;
  // The protocol is checked too: a `blob:https://host/…` URL has that host's origin.
  return parsed !== undefined && /^https?:$/.test(parsed.protocol) && origins.has(parsed.origin);
}

/**
 * Validates `retryStatuses`: integer HTTP statuses 400–599.
 * @throws {ConfigurationError} otherwise.
 */
export function parseRetryStatuses(statuses: readonly number[], where: string): ReadonlySet<number> {
  assertConfig(
    Array.isArray(statuses) && statuses.every((s) => Number.isInteger(s) && s >= 400 && s <= 599),
    `${where}: \`retryStatuses\` must be an array of HTTP error statuses (400–599)`,
  );
  return new Set(statuses);
}

function tryParseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}
