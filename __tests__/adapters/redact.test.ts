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

  it('redacts each bearer in a header given as a list of values', () => {
    const plain = { Authorization: ['Bearer abc', 'Basic dXNlcjpwYXNz'] };
    redactHeaders(plain);
    expect(plain.Authorization).toEqual([REDACTED_BEARER, 'Basic dXNlcjpwYXNz']);
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

describe('redactRequest() on a socket that never sent the request', () => {
  const block = 'GET /x HTTP/1.1\r\nAuthorization: Bearer abc\r\n\r\n';
  const clean = 'GET /x HTTP/1.1\r\nAuthorization: Bearer [REDACTED]\r\n\r\n';

  it('redacts its pending data: a string, a buffer, or a writev list of chunks', () => {
    for (const [pending, read] of [
      [block, (value: unknown) => value],
      [Buffer.from(block, 'latin1'), (value: unknown) => (value as Buffer).toString('latin1')],
      [[{ chunk: block }, { chunk: Buffer.from(block, 'latin1') }], (value: unknown) => util.inspect(value)],
    ] as const) {
      const request = { socket: { destroyed: true, _pendingData: pending } };
      redactRequest(request);
      const left = read(request.socket._pendingData);
      expect(left).not.toContain('abc');
      if (typeof pending === 'string' || Buffer.isBuffer(pending)) expect(left).toBe(clean);
    }
  });

  it('keeps every other byte of a buffer, a binary body after the header block included', () => {
    const body = Buffer.from([0xff, 0x00, 0xc3]);
    const request = { socket: { destroyed: true, _pendingData: Buffer.concat([Buffer.from(block, 'latin1'), body]) } };
    redactRequest(request);
    expect(request.socket._pendingData).toEqual(Buffer.concat([Buffer.from(clean, 'latin1'), body]));
  });

  it("redacts the chunks buffered in its writable state, and a request's pending writes", () => {
    const buffered = [{ chunk: Buffer.from(block, 'latin1') }];
    const outputData = [{ data: block }];
    redactRequest({ socket: { destroyed: true, _writableState: { buffered } }, outputData });
    expect(buffered[0]?.chunk.toString('latin1')).toBe(clean);
    expect(outputData[0]?.data).toBe(clean);
  });

  it('leaves the data of a live socket alone: it is still to be sent', () => {
    const request = { socket: { destroyed: false, _pendingData: block } };
    redactRequest(request);
    expect(request.socket._pendingData).toBe(block);
  });

  it('follows a response back to the request that made it', () => {
    const request = fakeClientRequest('abc');
    redactRequest({ res: { req: request } });
    expect(request._header).not.toContain('abc');
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

  it('hides the request objects and both agents from enumeration, and keeps them readable', () => {
    const agents = { httpAgent: { sockets: {} }, httpsAgent: { sockets: {} } };
    const config = { headers: new AxiosHeaders(), ...agents } as unknown as InternalAxiosRequestConfig;
    const request = fakeClientRequest('abc');
    const error = new AxiosError('Request failed with status code 401', 'ERR_BAD_REQUEST', config, request);
    redactAxiosError(error);
    expect(Object.keys(error)).not.toContain('request');
    expect(Object.keys(error.config ?? {})).not.toContain('httpAgent');
    expect(Object.keys(error.config ?? {})).not.toContain('httpsAgent');
    expect([error.request, error.config?.httpAgent, error.config?.httpsAgent]).toEqual([
      request,
      agents.httpAgent,
      agents.httpsAgent,
    ]);
  });

  it("redacts the request behind a stream response's data", () => {
    const request = fakeClientRequest('abc');
    const response = { status: 401, statusText: '', headers: {}, data: { req: request }, config: {} };
    redactAxiosError({ response });
    expect(request._header).not.toContain('abc');
  });

  it("still redacts the response's config when the error's request cannot be hidden", () => {
    const config = { headers: { Authorization: 'Bearer abc' } };
    const error = { response: { status: 401, config } };
    Object.defineProperty(error, 'request', { value: {}, enumerable: true, configurable: false });
    redactAxiosError(error);
    expect(config.headers.Authorization).toBe(REDACTED_BEARER);
  });

  it('ignores values that are not errors', () => {
    expect(() => [undefined, null, 'x', 42].forEach((value) => redactAxiosError(value))).not.toThrow();
  });
});
