/**
 * What the HTTP adapters share: the origin allow-list that decides which requests may carry the
 * bearer (parsing, normalising, resolving a request URL the way axios does), and option checks.
 */
import { ConfigurationError } from '../errors';
import { isLoopbackHost } from '../loopback';

/** An allow-list of normalised origins (`scheme://host[:port]`, default ports dropped). */
export type OriginSet = ReadonlySet<string>;

/**
 * Parses one allow-list entry into its origin. The entry must be an `https://` origin (plain
 * `http://` only for loopback hosts), with no credentials, path, query or fragment: a path
 * would suggest a narrower scope than the origin the bearer is actually sent to.
 *
 * @throws {ConfigurationError} when the entry is not such an origin.
 */
export function parseOrigin(entry: string, label = 'origin'): string {
  const url = tryParseUrl(entry);
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new ConfigurationError(`${label} is not an absolute http(s) URL`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new ConfigurationError(`${label} must not contain credentials`);
  }
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') {
    throw new ConfigurationError(
      `${label} ${JSON.stringify(url.origin + url.pathname)} has a path, query or fragment; give the origin only ` +
        `(${url.origin})`,
    );
  }
  assertSecureOrigin(url, label);
  return url.origin;
}

/**
 * The origin of a base URL (any path allowed), under the same rules as {@link parseOrigin}.
 *
 * @throws {ConfigurationError} when the base URL is not absolute http(s), or plain http to a
 * host that is not loopback.
 */
export function originOfBaseUrl(baseUrl: string, label = 'baseURL'): string {
  const url = tryParseUrl(baseUrl);
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new ConfigurationError(`${label} is not an absolute http(s) URL`);
  }
  assertSecureOrigin(url, label);
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
    if (!Array.isArray(origins) || origins.length === 0) {
      throw new ConfigurationError(`${where}: \`origins\` must be a non-empty array of origins`);
    }
    return new Set(origins.map((entry, index) => parseOrigin(entry, `${where}: origins[${index}]`)));
  }
  if (typeof baseUrl === 'string' && baseUrl !== '') {
    return new Set([originOfBaseUrl(baseUrl, `${where}: baseURL`)]);
  }
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

/** The parts of an axios request config that decide where it goes. */
export interface RequestTarget {
  baseURL?: string | undefined;
  url?: string | undefined;
  allowAbsoluteUrls?: boolean | undefined;
}

/**
 * Resolves the URL a request will go to, following axios's `buildFullPath`: a relative `url`
 * (or any `url` when `allowAbsoluteUrls` is `false`) is appended to `baseURL`; an absolute
 * one is used as it is. Returns `undefined` when the result is not an absolute URL.
 */
export function resolveRequestUrl(target: RequestTarget): URL | undefined {
  const url = typeof target.url === 'string' ? target.url : '';
  const baseUrl = typeof target.baseURL === 'string' ? target.baseURL : '';
  const full =
    baseUrl !== '' && (!isAbsoluteUrl(url) || target.allowAbsoluteUrls === false) ? combineUrls(baseUrl, url) : url;
  return tryParseUrl(full);
}

/** True when `url` (a string, URL or unparseable value) has an origin in the allow-list. */
export function isAllowedUrl(origins: OriginSet, url: string | URL | undefined): boolean {
  if (url === undefined) return false;
  const parsed = typeof url === 'string' ? tryParseUrl(url) : url;
  return (
    parsed !== undefined && (parsed.protocol === 'https:' || parsed.protocol === 'http:') && origins.has(parsed.origin)
  );
}

/**
 * Validates `retryStatuses`: integer HTTP statuses 400–599.
 * @throws {ConfigurationError} otherwise.
 */
export function parseRetryStatuses(statuses: readonly number[], where: string): ReadonlySet<number> {
  if (!Array.isArray(statuses) || !statuses.every((s) => Number.isInteger(s) && s >= 400 && s <= 599)) {
    throw new ConfigurationError(`${where}: \`retryStatuses\` must be an array of HTTP error statuses (400–599)`);
  }
  return new Set(statuses);
}

function assertSecureOrigin(url: URL, label: string): void {
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    throw new ConfigurationError(
      `${label} ${url.origin} is plain http; the bearer is only sent over https (or to loopback)`,
    );
  }
}

function tryParseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}
