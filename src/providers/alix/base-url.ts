/** Validation of the provider's base URL: https, or http on a loopback host only. */
import { ConfigurationError } from '../../errors';
import { isLoopbackHost } from '../../loopback';

export { isLoopbackHost };

/**
 * Parses and checks `baseUrl`, returning it without a trailing slash, query or fragment.
 * @throws {ConfigurationError} when it is not an absolute http(s) URL, carries credentials,
 *   or is plain `http:` for a host that is not loopback.
 */
export function parseBaseUrl(baseUrl: unknown): string {
  if (typeof baseUrl !== 'string' || baseUrl.trim() === '') {
    throw new ConfigurationError('baseUrl is required (e.g. https://api.alix.example)');
  }
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new ConfigurationError('baseUrl is not an absolute URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigurationError(`baseUrl must use https: (got ${url.protocol})`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new ConfigurationError('baseUrl must not contain a user name or password');
  }
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    throw new ConfigurationError(
      `baseUrl uses plain http: for ${url.hostname}, which only loopback hosts (127.0.0.0/8, ::1, localhost) may. ` +
        `Use https:.`,
    );
  }
  if (url.search !== '' || url.hash !== '') {
    throw new ConfigurationError('baseUrl must not contain a query or fragment');
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}
