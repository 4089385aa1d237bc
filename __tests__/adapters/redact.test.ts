import util from 'node:util';
import { AxiosError, AxiosHeaders } from 'axios';
import type { InternalAxiosRequestConfig } from 'axios';
import { redactAxiosError, redactHeaders, redactRequest } from '../../src/adapters/redact';
import { REDACTED_BEARER } from '../../src/redaction';

const kOutHeaders = Symbol('kOutHeaders');

/** The shape of a Node ClientRequest after it has sent its headers. */
function fakeClientRequest(token: string): Record<PropertyKey, unknown> {
  return {
    _header: `GET /x HTTP/1.1\r\nAccept: */*\r\nAuthorization: Bearer ${token}\r\nHost: api\r\n\r\n`,
    [kOutHeaders]: { authorization: ['Authorization', `Bearer ${token}`], accept: ['Accept', '*/*'] },
  };
}

describe('redactHeaders()', () => {
  it('redacts a bearer in AxiosHeaders, plain objects and fetch Headers, whatever the case', () => {
    const axiosHeaders = new AxiosHeaders({ Authorization: 'Bearer abc', Accept: '*/*' });
    const plain = { authorization: 'bearer abc' };
    const fetchHeaders = new Headers({ Authorization: 'Bearer abc' });
    [axiosHeaders, plain, fetchHeaders].forEach((headers) => redactHeaders(headers));
    expect(axiosHeaders.get('Authorization')).toBe(REDACTED_BEARER);
    expect(axiosHeaders.get('Accept')).toBe('*/*');
    expect(plain.authorization).toBe(REDACTED_BEARER);
    expect(fetchHeaders.get('authorization')).toBe(REDACTED_BEARER);
  });

  it('leaves other authorization schemes alone', () => {
    const plain = { Authorization: 'Basic dXNlcjpwYXNz' };
    redactHeaders(plain);
    expect(plain.Authorization).toBe('Basic dXNlcjpwYXNz');
  });
});

describe('redactRequest()', () => {
  it('redacts the raw header block and the outgoing header map of a Node request', () => {
    const request = fakeClientRequest('abc.def');
    redactRequest(request);
    expect(request._header).toBe(
      'GET /x HTTP/1.1\r\nAccept: */*\r\nAuthorization: Bearer [REDACTED]\r\nHost: api\r\n\r\n',
    );
    expect((request[kOutHeaders] as Record<string, string[]>).authorization).toEqual([
      'Authorization',
      REDACTED_BEARER,
    ]);
  });

  it('follows a redirectable request to its options and current request', () => {
    const current = fakeClientRequest('abc');
    const redirectable = { _options: { headers: { Authorization: 'Bearer abc' } }, _currentRequest: current };
    current._redirectable = redirectable;
    redactRequest(redirectable);
    expect(redirectable._options.headers.Authorization).toBe(REDACTED_BEARER);
    expect(current._header).not.toContain('abc');
  });
});

describe('redactAxiosError()', () => {
  it('leaves no token in the inspected or serialised error, and keeps the request readable', () => {
    const config = { headers: new AxiosHeaders({ Authorization: 'Bearer abc' }) } as InternalAxiosRequestConfig;
    const request = fakeClientRequest('abc');
    const response = { status: 401, statusText: '', headers: {}, data: {}, config, request };
    const error = new AxiosError('Request failed with status code 401', 'ERR_BAD_REQUEST', config, request, response);
    redactAxiosError(error);
    expect(util.inspect(error, { depth: Infinity })).not.toContain('abc');
    expect(JSON.stringify(error.toJSON())).not.toContain('abc');
    expect(error.request).toBe(request);
  });

  it('ignores values that are not errors', () => {
    expect(() => [undefined, null, 'x', 42].forEach((value) => redactAxiosError(value))).not.toThrow();
  });
});
