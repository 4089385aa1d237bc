import { inspect } from 'node:util';
import { AxiosError } from 'axios';
import { AbortedError, AuthRejectedError, AuthUnavailableError, MalformedResponseError } from '../../../src/errors';
import { classifyTransportError, interpretResponse, parseRetryAfterMs } from '../../../src/providers/alix/classify';

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

  it('accepts an errorCode sent as a numeric string', () => {
    const text = JSON.stringify({ success: false, message: 'no', data: null, errorCode: '32' });
    const error = captured(() => interpretResponse({ status: 400, headers: {}, data: text }, context));

    expect(error).toMatchObject({ errorCode: 32 });
  });

  it('truncates a long API message', () => {
    const text = JSON.stringify({ success: false, message: 'x'.repeat(1000), data: null, errorCode: 1 });
    const error = captured(() =>
      interpretResponse({ status: 400, headers: {}, data: text }, context),
    ) as AuthRejectedError;

    expect(error.apiMessage).toHaveLength(301);
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
  ])('parses %s', (_label, value, expected) => {
    expect(parseRetryAfterMs(value, reference)).toBe(expected);
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
