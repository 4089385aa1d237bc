import { inspect } from 'node:util';
import { AxiosError } from 'axios';
import { AbortedError, AuthRejectedError, AuthUnavailableError, MalformedResponseError } from '../../../src/errors';
import type { Logger } from '../../../src/logger';
import { toLocalClock } from '../../../src/token-set';
import { DIST_INDEX, runNode } from '../../helpers/child';
import {
  classifyTransportError,
  interpretResponse,
  parseHttpDate,
  parseRetryAfterMs,
} from '../../../src/providers/alix/classify';

const transport = {
  operation: 'refresh' as const,
  url: 'https://alix.test/api/v2/auth/refresh-token',
  aborted: false,
  timedOut: false,
  timeoutMs: 10_000,
};

function axiosError(code: string, message: string): AxiosError {
  const error = new AxiosError(message, code, {
    headers: {} as never,
    data: '{"refreshToken":"rt-secret-123456","signature":"c2lnbmF0dXJl"}',
  });
  return error;
}

describe('classifyTransportError()', () => {
  it.each([
    ['ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:443', 'ECONNREFUSED'],
    ['ECONNRESET', 'read ECONNRESET', 'ECONNRESET'],
    ['ENOTFOUND', 'getaddrinfo ENOTFOUND alix.test', 'ENOTFOUND'],
    ['EAI_AGAIN', 'getaddrinfo EAI_AGAIN alix.test', 'EAI_AGAIN'],
    ['ERR_NETWORK', 'socket hang up', 'socket hang up'],
  ])('maps %s to AuthUnavailableError with reason network', (code, message, detail) => {
    const error = classifyTransportError(axiosError(code, message), transport);

    expect(error).toBeInstanceOf(AuthUnavailableError);
    expect(error).toMatchObject({ reason: 'network', transient: true });
    expect(error.message).toContain(`(${detail})`);
  });

  it('maps an axios timeout to reason timeout', () => {
    const error = classifyTransportError(axiosError('ECONNABORTED', 'timeout of 10000ms exceeded'), transport);

    expect(error).toMatchObject({ reason: 'timeout', transient: true });
  });

  it('maps an ECONNABORTED that is no timeout (a request aborted) to reason network, not timeout', () => {
    const error = classifyTransportError(axiosError('ECONNABORTED', 'Request aborted'), transport);

    expect(error).toMatchObject({ reason: 'network' });
    expect(error.message).toContain('(ECONNABORTED)');
  });

  it('maps the provider timer firing to reason timeout', () => {
    const error = classifyTransportError(axiosError('ERR_CANCELED', 'canceled'), { ...transport, timedOut: true });

    expect(error).toMatchObject({ reason: 'timeout' });
  });

  it('maps the caller aborting to AbortedError', () => {
    expect(
      classifyTransportError(axiosError('ERR_CANCELED', 'canceled'), { ...transport, aborted: true }),
    ).toBeInstanceOf(AbortedError);
  });

  it('maps an oversized response to MalformedResponseError', () => {
    const error = classifyTransportError(
      axiosError('ERR_BAD_RESPONSE', 'maxContentLength size of 1048576 exceeded'),
      transport,
    );

    expect(error).toBeInstanceOf(MalformedResponseError);
  });

  it('maps a thrown non-Error (a string) to reason network', () => {
    const error = classifyTransportError('boom', transport);

    expect(error).toMatchObject({ reason: 'network' });
    expect(error.message).toContain('(network error)');
  });

  it('keeps no AxiosError (and no request body) as the cause', () => {
    const error = classifyTransportError(axiosError('ECONNRESET', 'read ECONNRESET'), transport);

    expect(error.cause).not.toBeInstanceOf(AxiosError);
    expect(JSON.stringify(error)).not.toContain('rt-secret');
    expect(error.cause).not.toHaveProperty('config');
    expect(inspect(error, { depth: Infinity, showHidden: true })).not.toContain('rt-secret');
  });
});

describe('interpretResponse()', () => {
  const context = { operation: 'authenticate' as const, url: 'https://alix.test/p', secrets: [], now: 0 };

  it('treats a 404 HTML page as a rejection without errorCode', () => {
    const error = captured(() =>
      interpretResponse({ status: 404, headers: {}, data: '<html>Not found</html>' }, context),
    );

    expect(error).toBeInstanceOf(AuthRejectedError);
    expect(error).toMatchObject({ status: 404, errorCode: undefined, operation: 'authenticate' });
  });

  it('keeps a character reference past U+10FFFF as written, rather than throwing a RangeError', () => {
    const text = JSON.stringify({ success: false, message: 'bad &#x110000; and &#1114112; &amp;', errorCode: 3 });
    const error = captured(() => interpretResponse({ status: 400, headers: {}, data: text }, context));

    expect(error).toMatchObject({ apiMessage: 'bad &#x110000; and &#1114112; &' });
  });

  it('accepts an errorCode sent as a numeric string', () => {
    const text = JSON.stringify({ success: false, message: 'no', data: null, errorCode: '32' });
    const error = captured(() => interpretResponse({ status: 400, headers: {}, data: text }, context));

    expect(error).toMatchObject({ errorCode: 32 });
  });

  it('accepts a negative errorCode sent as a numeric string', () => {
    const text = JSON.stringify({ success: false, message: 'no', data: null, errorCode: '-1' });
    const error = captured(() => interpretResponse({ status: 400, headers: {}, data: text }, context));

    expect(error).toMatchObject({ errorCode: -1 });
  });

  it('says a success:true envelope whose data is an array has no data object', () => {
    const text = JSON.stringify({ success: true, message: 'ok', data: [], errorCode: 0 });
    const error = captured(() => interpretResponse({ status: 200, headers: {}, data: text }, context));

    expect(error).toBeInstanceOf(MalformedResponseError);
    expect((error as Error).message).toContain('has success:true but no data object');
  });

  it('keeps out a signature the server echoes JSON-escaped, as PHP writes a slash (\\/) in a quoted body', () => {
    // The seed page's signature: its slashes cut the escaped echo into runs too short to look opaque.
    const signature =
      'NvbOckSnBVXJiOqhY+9UIbDBGHCMuEOHsz9hR3M+3L/GU13nlrARhWVbLiF8/YacsACdzc7dtBkZTG0Yx/kps8anuBVjMr2CDqtCXBci' +
      'p7sBxz+Lv+e4KH7oCXM0hbDt6vgA/GWdo9qtrHRgy7oOr4vedCQPHIe6t4YUXwl5WMrnpJpmrx+nrWYMfiM/d4V6qycq4z9D/URWjILt' +
      'CYDqpjWEx0frYz9tt3zbCAtz6s5ShGFY8iQGx9YdektjYzy/cexxHSfVxyCFaQCq4QCi04kUl6Lbg5bptexnks3eG5VViXEkaiH4pm+L' +
      '0u08NyQdClMBveLLFe46CxxIv4gm1A==';
    const message = `bad request {"signature":"${signature.replaceAll('/', '\\/')}"}`;
    const text = JSON.stringify({ success: false, message, data: null, errorCode: 12 });
    const error = captured(() =>
      interpretResponse({ status: 400, headers: {}, data: text }, { ...context, secrets: [signature] }),
    ) as AuthRejectedError;

    expect(error.apiMessage).toBe('bad request {"signature":"[REDACTED]"}');
  });

  it('truncates a long API message', () => {
    const text = JSON.stringify({ success: false, message: 'x'.repeat(1000), data: null, errorCode: 1 });
    const error = captured(() =>
      interpretResponse({ status: 400, headers: {}, data: text }, context),
    ) as AuthRejectedError;

    expect(error.apiMessage).toHaveLength(301);
  });

  it('keeps an API message of 300 characters whole, and cuts one of 301 to 300 and an ellipsis', () => {
    const rejected = (message: string) => {
      const text = JSON.stringify({ success: false, message, data: null, errorCode: 1 });
      return captured(() => interpretResponse({ status: 400, headers: {}, data: text }, context)) as AuthRejectedError;
    };
    const whole = 'ab '.repeat(100);
    expect(rejected(whole).apiMessage).toBe(whole);
    expect(rejected(`${whole}c`).apiMessage).toBe(`${whole}…`);
  });

  it.each([101, 302])(
    'reads a success:false envelope on an HTTP %i as an unexpected status, not as a rejection',
    (status) => {
      const text = JSON.stringify({ success: false, message: 'moved', data: null, errorCode: 32 });
      const error = captured(() => interpretResponse({ status, headers: {}, data: text }, context));

      expect(error).toBeInstanceOf(MalformedResponseError);
      expect((error as Error).message).toContain(`unexpected HTTP ${status}`);
    },
  );

  it('describes a 200 whose body starts with a tag as an HTML page, whatever its content-type', () => {
    const error = captured(() => interpretResponse({ status: 200, headers: {}, data: '<!doctype html>' }, context));

    expect((error as Error).message).toContain('is an HTML page, not JSON');
  });

  it('describes a 200 that its content-type calls HTML as an HTML page, whatever its first character', () => {
    const response = { status: 200, headers: { 'content-type': 'text/HTML; charset=utf-8' }, data: 'Service down' };
    const error = captured(() => interpretResponse(response, context));

    expect(error).toBeInstanceOf(MalformedResponseError);
    expect((error as Error).message).toContain('is an HTML page, not JSON');
  });
});

describe('interpretResponse() on a successful envelope', () => {
  const NOW = Date.UTC(2030, 0, 1);
  const seconds = (ms: number): string => String(ms / 1000);
  const data = {
    accessToken: 'access-1',
    refreshToken: 'refresh-1',
    accessTokenExpiresAt: seconds(NOW + 900_000),
    refreshTokenExpiresAt: seconds(NOW + 86_400_000),
  };
  const read = (fields: Record<string, unknown>, logger?: Logger) => {
    const text = JSON.stringify({ success: true, message: 'ok', errorCode: 0, data: { ...data, ...fields } });
    const context = { operation: 'refresh' as const, url: 'https://alix.test/p', secrets: [], now: NOW, logger };
    return interpretResponse({ status: 200, headers: {}, data: text }, context);
  };
  const MAX_TOKEN = 8 * 1024 - 'Authorization: Bearer '.length;
  const TEN_YEARS_MS = 10 * 365.25 * 24 * 60 * 60 * 1000;

  it('accepts an access token as long as a header line may carry, and refuses one character more', () => {
    expect(read({ accessToken: 'a'.repeat(MAX_TOKEN) }).accessToken).toHaveLength(MAX_TOKEN);
    expect(captured(() => read({ accessToken: 'a'.repeat(MAX_TOKEN + 1) }))).toBeInstanceOf(MalformedResponseError);
  });

  it('accepts an expiry exactly 10 years ahead, and refuses one a second further', () => {
    expect(read({ refreshTokenExpiresAt: seconds(NOW + TEN_YEARS_MS) }).refreshTokenExpiresAt).toBe(NOW + TEN_YEARS_MS);
    const error = captured(() => read({ refreshTokenExpiresAt: seconds(NOW + TEN_YEARS_MS + 1_000) }));
    expect(error).toBeInstanceOf(MalformedResponseError);
  });

  it('rounds fractional epoch seconds to whole ms', () => {
    expect(read({ accessTokenExpiresAt: `${(NOW + 900_000) / 1000}.1234` }).accessTokenExpiresAt).toBe(NOW + 900_123);
  });

  it('refuses hour 24 in an ISO 8601 datetime, which Date.parse would roll over into the next day', () => {
    const error = captured(() => read({ accessTokenExpiresAt: '2030-01-01T24:00:00Z' }));
    expect(error).toBeInstanceOf(MalformedResponseError);
  });

  it('refuses a success that is not a boolean (`"true"`) as no Alix envelope, whatever data it carries', () => {
    const text = JSON.stringify({ success: 'true', message: 'ok', errorCode: 0, data });
    const context = { operation: 'refresh' as const, url: 'https://alix.test/p', secrets: [], now: NOW };
    const error = captured(() => interpretResponse({ status: 200, headers: {}, data: text }, context));

    expect(error).toBeInstanceOf(MalformedResponseError);
    expect((error as Error).message).toContain('not the Alix envelope');
  });

  it('falls back only on a numeric JWT exp claim: one sent as text is no claim', () => {
    const jwt = (exp: unknown): string =>
      ['{"alg":"HS256"}', JSON.stringify({ exp }), 'sig']
        .map((part) => Buffer.from(part).toString('base64url'))
        .join('.');
    const exp = (NOW + 900_000) / 1000;
    expect(read({ accessTokenExpiresAt: undefined, accessToken: jwt(exp) }).accessTokenExpiresAt).toBe(NOW + 900_000);
    const error = captured(() => read({ accessTokenExpiresAt: undefined, accessToken: jwt(String(exp)) }));
    expect(error).toBeInstanceOf(MalformedResponseError);
    expect((error as Error).message).toContain('carries no JWT exp claim');
  });

  it('refuses a blank refresh token, which no refresh could use', () => {
    expect(captured(() => read({ refreshToken: '   ' }))).toBeInstanceOf(MalformedResponseError);
  });

  it('names a non-string token and an object expiry, described, never quoted', () => {
    expect((captured(() => read({ refreshToken: 123 })) as Error).message).toContain(
      'has a non-string data.refreshToken',
    );
    expect((captured(() => read({ refreshTokenExpiresAt: { at: 1 } })) as Error).message).toContain(
      'has data.refreshTokenExpiresAt as an object that is neither epoch seconds nor an ISO 8601 datetime',
    );
  });

  it('returns the token set when the logger throws on the shape warning (logging never breaks a refresh)', () => {
    const warn = jest.fn(() => {
      throw new Error('log transport down');
    });
    const logger = { isLevelEnabled: () => true, warn } as unknown as Logger;
    const expiry = NOW + 900_000;
    expect(read({ accessTokenExpiresAt: expiry }, logger).accessTokenExpiresAt).toBe(expiry);
    expect(warn).toHaveBeenCalledTimes(1);
  });

  it("reports the response table's name (…ExpiredAt) even with the sample's epoch-second strings", () => {
    const warn = jest.fn();
    const logger = { isLevelEnabled: () => true, warn } as unknown as Logger;
    const { accessTokenExpiresAt, ...rest } = data;
    const text = JSON.stringify({ success: true, data: { ...rest, accessTokenExpiredAt: accessTokenExpiresAt } });
    const context = { operation: 'refresh' as const, url: 'https://alix.test/p', secrets: [], now: NOW, logger };
    interpretResponse({ status: 200, headers: {}, data: text }, context);
    expect(warn).toHaveBeenCalledWith(
      expect.objectContaining({ shape: 'data.accessTokenExpiredAt as epoch seconds (string)' }),
      expect.any(String),
    );
  });
});

describe('parseRetryAfterMs()', () => {
  const reference = Date.UTC(2030, 0, 1);

  it.each([
    ['absent', undefined, undefined],
    ['delta-seconds', '120', 120_000],
    ['zero', '0', 0],
    ['an HTTP-date ahead', new Date(reference + 45_000).toUTCString(), 45_000],
    ['an HTTP-date in the past', new Date(reference - 45_000).toUTCString(), 0],
    ['a huge delay, reported as sent (the manager applies the one cap)', '999999', 999_999_000],
    ['garbage', 'soon', undefined],
    ['a negative number', '-5', undefined],
    ['a date Date.parse reads leniently', 'May 2030', undefined],
    ['a number with a unit', '120 seconds', undefined],
  ])('parses %s', (_label, value, expected) => {
    expect(parseRetryAfterMs(value, reference)).toBe(expected);
  });
});

describe('parseHttpDate()', () => {
  const AT = Date.UTC(1994, 10, 6, 8, 49, 37);

  it.each([
    ['the preferred form (IMF-fixdate)', 'Sun, 06 Nov 1994 08:49:37 GMT', AT],
    ['the obsolete RFC 850 form', 'Sunday, 06-Nov-94 08:49:37 GMT', AT],
    ['the obsolete asctime form, read as GMT', 'Sun Nov  6 08:49:37 1994', AT],
    ['surrounding spaces', '  Sun, 06 Nov 1994 08:49:37 GMT ', AT],
    ['a bare number, which Date.parse reads as a year', '1', undefined],
    ['a year', '2024', undefined],
    ['words and a number', 'garbage 12', undefined],
    ['a day Date.parse would roll over', 'Mon, 31 Feb 2025 08:00:00 GMT', undefined],
    ['the wrong weekday', 'Mon, 06 Nov 1994 08:49:37 GMT', undefined],
    ['another zone', 'Sun, 06 Nov 1994 08:49:37 PST', undefined],
    ['an ISO 8601 datetime', '1994-11-06T08:49:37Z', undefined],
    ['nothing', '', undefined],
  ])('reads %s', (_label, value, expected) => {
    expect(parseHttpDate(value)).toBe(expected);
  });

  it('reads an asctime Date header as GMT on a host whose zone is not UTC', async () => {
    // The zone is the process's: a child process of the built package, on New York time, against a server whose
    // Date header is in asctime form (no zone named).
    const expiresAt = String(AT / 1000 + 900);
    const body = { success: true, message: 'ok', errorCode: 0, data: { accessToken: 'a', refreshToken: 'r' } };
    const data = { ...body, data: { ...body.data, accessTokenExpiresAt: expiresAt, refreshTokenExpiresAt: expiresAt } };
    const script = `
      const { AlixAuthProvider } = require(${JSON.stringify(DIST_INDEX)});
      const { privateKey } = require('node:crypto').generateKeyPairSync('rsa', { modulusLength: 2048 });
      const server = require('node:http').createServer((_request, response) => {
        response.writeHead(200, { 'Content-Type': 'application/json', Date: 'Sun Nov  6 08:49:37 1994' });
        response.end(${JSON.stringify(JSON.stringify(data))});
      });
      server.listen(0, '127.0.0.1', async () => {
        const baseUrl = 'http://127.0.0.1:' + server.address().port;
        const provider = new AlixAuthProvider({ baseUrl, partnerCode: 'p', secretKey: 's', privateKey });
        console.log((await provider.authenticate().catch((error) => error)).serverTime);
        server.close();
      });`;
    const result = await runNode(['-e', script], { TZ: 'America/New_York' });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(Number(result.stdout)).toBe(AT);
  });

  it('takes no clock offset from a Date header that is not an HTTP-date', () => {
    const text = JSON.stringify({
      success: true,
      message: 'ok',
      errorCode: 0,
      data: {
        accessToken: 'access-1',
        refreshToken: 'refresh-1',
        accessTokenExpiresAt: String(Date.UTC(2030, 0, 2) / 1000),
        refreshTokenExpiresAt: String(Date.UTC(2030, 0, 3) / 1000),
      },
    });
    const context = {
      operation: 'refresh' as const,
      url: 'https://alix.test/p',
      secrets: [],
      now: Date.UTC(2030, 0, 1),
    };
    const read = (date: string) => interpretResponse({ status: 200, headers: { date }, data: text }, context);
    expect(read('1').serverTime).toBeUndefined();
    expect(read('Tue, 01 Jan 2030 00:00:00 GMT').serverTime).toBe(Date.UTC(2030, 0, 1));
  });

  it.each([
    ['an hour behind the issuer (a front proxy, or local time labelled GMT)', -3600, 0, 0],
    ['honest, the token issued 5 minutes before (served from a cache)', 0, -300, undefined],
    ['honest, the token stamped after its own expiry (a garbled iat)', 0, 1000, undefined],
  ])('cross-checks a Date header %s with the access JWT iat', (_label, dateOffsetS, iatOffsetS, expected) => {
    // The issuer's clock: the expiries and the JWT's iat are on it; iat is at most its now, never after it.
    const issuerS = 1_731_313_978;
    const claims = { iat: issuerS + iatOffsetS, exp: issuerS + 900 };
    const jwt = ['{"alg":"HS256"}', JSON.stringify(claims)].map((part) => Buffer.from(part).toString('base64url'));
    const data = { accessToken: `${jwt.join('.')}.c2ln`, refreshToken: 'refresh-1' };
    const expiries = { accessTokenExpiresAt: String(issuerS + 900), refreshTokenExpiresAt: String(issuerS + 86_400) };
    const text = JSON.stringify({ success: true, message: 'ok', errorCode: 0, data: { ...data, ...expiries } });
    const date = new Date((issuerS + dateOffsetS) * 1000).toUTCString();
    const context = { operation: 'refresh' as const, url: 'https://alix.test/p', secrets: [], now: issuerS * 1000 };
    const set = interpretResponse({ status: 200, headers: { date }, data: text }, context);

    expect(set.serverTime).toBe(expected === undefined ? Date.parse(date) : (issuerS + expected) * 1000);
    // The local clock agrees with the issuer's: the access token must not outlive the issuer's expiry.
    const local = toLocalClock(set, { sentAt: issuerS * 1000, receivedAt: issuerS * 1000 });
    expect(local.accessTokenExpiresAt).toBeLessThanOrEqual((issuerS + 900) * 1000);
  });
});

function captured(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}
