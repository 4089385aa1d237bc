import {
  createOriginSet,
  createTargetCheck,
  isAllowedUrl,
  parseOrigin,
  parseRetryStatuses,
  resolveRequestUrl,
} from '../../src/adapters/origins';
import { ConfigurationError } from '../../src/errors';

describe('parseOrigin()', () => {
  it('normalises case and drops the default port and a trailing slash', () => {
    expect(parseOrigin('HTTPS://API.Example.com:443/')).toBe('https://api.example.com');
  });

  it('keeps a non-default port', () => {
    expect(parseOrigin('https://api.example.com:8443')).toBe('https://api.example.com:8443');
  });

  it('accepts plain http for loopback hosts only', () => {
    expect(parseOrigin('http://127.0.0.1:3000')).toBe('http://127.0.0.1:3000');
    expect(parseOrigin('http://localhost')).toBe('http://localhost');
    expect(parseOrigin('http://[::1]:3000')).toBe('http://[::1]:3000');
    expect(() => parseOrigin('http://api.example.com')).toThrow(ConfigurationError);
    // An absolute `localhost.` is not looked up in the hosts file but in DNS, which may answer anything.
    expect(() => parseOrigin('http://localhost.:3000')).toThrow(ConfigurationError);
  });

  it.each([
    ['a path', 'https://api.example.com/v2'],
    ['a query', 'https://api.example.com/?a=1'],
    ['a fragment', 'https://api.example.com/#top'],
    ['credentials', 'https://user:pass@api.example.com'],
    ['a password alone', 'https://:pass@api.example.com'],
    ['another scheme', 'ftp://api.example.com'],
    ['another scheme on a loopback host', 'ftp://127.0.0.1'],
    ['no scheme', 'api.example.com'],
  ])('rejects an entry with %s', (_what, entry) => {
    expect(() => parseOrigin(entry)).toThrow(ConfigurationError);
  });

  it('does not echo credentials in its message', () => {
    expect(() => parseOrigin('https://user:hunter2@api.example.com')).toThrow(/^(?!.*hunter2)/);
  });
});

describe('createOriginSet()', () => {
  it('defaults to the origin of the base URL', () => {
    expect([...createOriginSet(undefined, 'https://api.example.com/v2/', 'test')]).toEqual(['https://api.example.com']);
  });

  it('prefers explicit origins over the base URL', () => {
    const origins = createOriginSet(
      ['https://a.example.com', 'https://b.example.com'],
      'https://api.example.com',
      'test',
    );
    expect([...origins]).toEqual(['https://a.example.com', 'https://b.example.com']);
  });

  it('throws a ConfigurationError with neither origins nor a base URL, or with empty origins', () => {
    expect(() => createOriginSet(undefined, undefined, 'test')).toThrow(ConfigurationError);
    expect(() => createOriginSet(undefined, '', 'test')).toThrow(/no origin to send the bearer to/);
    expect(() => createOriginSet([], 'https://api.example.com', 'test')).toThrow(ConfigurationError);
  });
});

describe('resolveRequestUrl()', () => {
  const baseURL = 'https://api.example.com/v2/';

  it('joins a relative url to the base URL with one slash', () => {
    expect(resolveRequestUrl({ baseURL, url: '/cards' })?.href).toBe('https://api.example.com/v2/cards');
  });

  it('uses an absolute url as it is', () => {
    expect(resolveRequestUrl({ baseURL, url: 'https://evil.example.net/x' })?.origin).toBe('https://evil.example.net');
  });

  it('appends even an absolute url to the base URL when allowAbsoluteUrls is false', () => {
    expect(resolveRequestUrl({ baseURL, url: 'https://evil.example.net/x', allowAbsoluteUrls: false })?.origin).toBe(
      'https://api.example.com',
    );
  });

  it('returns undefined for what cannot be resolved to an absolute URL', () => {
    expect(resolveRequestUrl({ url: '/cards' })).toBeUndefined();
    expect(resolveRequestUrl({ url: '//evil.example.net/x' })).toBeUndefined();
  });
});

describe('createTargetCheck()', () => {
  // An answer kept for a base outlives the allow-list it was read from: emptying the list tells kept from not kept.
  it('keeps the answers of 64 bases at most, each at most 2048 characters long', () => {
    const origins = new Set(['https://api.example.com']);
    const check = createTargetCheck(origins);
    const bases = Array.from({ length: 65 }, (_, index) => `https://api.example.com/v${index}`);
    const long = `https://api.example.com/${'a'.repeat(2048)}`;
    for (const baseURL of [long, ...bases]) expect(check({ baseURL, url: '/cards' })).toBe(true);
    origins.clear();
    expect(check({ baseURL: long, url: '/cards' })).toBe(false);
    expect(check({ baseURL: bases[0], url: '/cards' })).toBe(true);
    expect(check({ baseURL: bases[63], url: '/cards' })).toBe(true);
    expect(check({ baseURL: bases[64], url: '/cards' })).toBe(false);
  });
});

describe('isAllowedUrl()', () => {
  const origins = createOriginSet(['https://api.example.com'], undefined, 'test');

  it('matches on scheme, host and port', () => {
    expect(isAllowedUrl(origins, 'https://api.example.com:443/a')).toBe(true);
    expect(isAllowedUrl(origins, 'http://api.example.com/a')).toBe(false);
    expect(isAllowedUrl(origins, 'https://api.example.com:8443/a')).toBe(false);
    expect(isAllowedUrl(origins, 'https://api.example.com.evil.net/a')).toBe(false);
    expect(isAllowedUrl(origins, 'not a url')).toBe(false);
    // A blob: URL has the origin of the URL inside it, but is no request to that origin.
    expect(isAllowedUrl(origins, 'blob:https://api.example.com/0f6c1b5e')).toBe(false);
  });
});

describe('parseRetryStatuses()', () => {
  it('accepts HTTP error statuses and rejects anything else', () => {
    expect([...parseRetryStatuses([401, 403], 'test')]).toEqual([401, 403]);
    expect(() => parseRetryStatuses([200], 'test')).toThrow(ConfigurationError);
    expect(() => parseRetryStatuses([401.5], 'test')).toThrow(ConfigurationError);
    expect(() => parseRetryStatuses(new Set([401]) as never, 'test')).toThrow(ConfigurationError);
  });
});
