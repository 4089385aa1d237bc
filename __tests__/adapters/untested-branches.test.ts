/**
 * Branches of the adapters no other test reached (found by a coverage and mutation review): each test here fails
 * when its branch is dropped or inverted.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import axios from 'axios';
import type { AxiosAdapter, AxiosResponse, InternalAxiosRequestConfig } from 'axios';
import { bearerReached } from '../../src/adapters/authorize';
import { attachTokenManager, createRedirectGuard } from '../../src/adapters/axios';
import { createAuthorizedFetch } from '../../src/adapters/fetch';
import { goesOverPlainHttp } from '../../src/adapters/origins';
import { redactAxiosError, redactHeaders, redactRequest } from '../../src/adapters/redact';
import { MalformedResponseError } from '../../src/errors';
import { FakeTokenSource } from '../helpers/fake-token-source';

const BASE = 'https://api.example';

/** A transport that answers each request with the next status, recording the Authorization it carried. */
function scripted(statuses: number[], seen: (string | undefined)[], headers: unknown = {}): AxiosAdapter {
  return async (config: InternalAxiosRequestConfig) => {
    seen.push(config.headers.get('Authorization') as string | undefined);
    const status = statuses.shift() ?? 200;
    return { data: null, status, statusText: '', headers, config } as AxiosResponse;
  };
}

describe('attachTokenManager(): rarely taken paths', () => {
  it('accepts null options as none', async () => {
    const source = new FakeTokenSource('T');
    const seen: (string | undefined)[] = [];
    const api = axios.create({ baseURL: BASE, adapter: scripted([200], seen) });
    attachTokenManager(api, source, null as never);
    await api.get('/x');
    expect(seen).toEqual(['Bearer T-0']);
  });

  it.each([true, false])(
    'sends a request with no url to its baseURL with the bearer, and replays its 401 (allowAbsoluteUrls %s)',
    async (allowAbsoluteUrls) => {
      const source = new FakeTokenSource('T');
      const targets: (string | undefined)[] = [];
      const invalidate = source.invalidate.bind(source);
      source.invalidate = (token, options) => (targets.push(options?.target), invalidate(token, options));
      const seen: (string | undefined)[] = [];
      const api = axios.create({ baseURL: `${BASE}/v2`, adapter: scripted([401, 200], seen), allowAbsoluteUrls });
      attachTokenManager(api, source);
      const response = await api.request({ method: 'post' });
      expect(response.status).toBe(200);
      expect(seen).toEqual(['Bearer T-0', 'Bearer T-1']);
      expect(targets).toEqual(['POST /v2']);
    },
  );

  it('replays a 401 whose transport answered with null headers', async () => {
    const source = new FakeTokenSource('T');
    const seen: (string | undefined)[] = [];
    const api = axios.create({ baseURL: BASE, adapter: scripted([401, 200], seen, null) });
    attachTokenManager(api, source);
    expect((await api.get('/x')).status).toBe(200);
    expect(seen).toEqual(['Bearer T-0', 'Bearer T-1']);
  });

  it('lets an error that is not an AxiosError through as it is, without a replay, whatever its fields', async () => {
    const source = new FakeTokenSource('T');
    const thrown = Object.assign(new TypeError('transport broke'), { response: { status: 401, headers: {} } });
    const api = axios.create({
      baseURL: BASE,
      adapter: async () => {
        throw thrown;
      },
    });
    attachTokenManager(api, source);
    await expect(api.get('/x')).rejects.toBe(thrown);
    expect(source.invalidated).toEqual([]);
  });

  it('serves each transport given as a list holding a function through that function (no cache key)', async () => {
    const source = new FakeTokenSource('T');
    const first: (string | undefined)[] = [];
    const second: (string | undefined)[] = [];
    const api = axios.create({ baseURL: BASE });
    attachTokenManager(api, source);
    // Both functions have the same source text.
    await api.get('/x', { adapter: [scripted([200], first)] as never });
    await api.get('/y', { adapter: [scripted([200], second)] as never });
    expect([first, second]).toEqual([['Bearer T-0'], ['Bearer T-0']]);
  });

  it('ends the wait for a token when the request’s signal aborts, though it also has a cancelToken', async () => {
    const api = axios.create({ baseURL: BASE, adapter: scripted([200], []) });
    const waiting = {
      getAccessToken: (options?: { signal?: AbortSignal }) =>
        new Promise<string>((_, reject) =>
          options?.signal?.addEventListener('abort', () => reject(new Error('gave up'))),
        ),
      invalidate: () => undefined,
    };
    attachTokenManager(api, waiting);
    const controller = new AbortController();
    const request = api.get('/x', { signal: controller.signal, cancelToken: axios.CancelToken.source().token });
    await Promise.resolve();
    controller.abort();
    const settled = request.then(
      () => 'sent',
      () => 'rejected',
    );
    expect(await Promise.race([settled, new Promise((resolve) => setImmediate(resolve, 'still waiting'))])).toBe(
      'rejected',
    );
  });

  it('sends through the default transport when the instance’s adapter default was removed', async () => {
    const server = http.createServer((req, res) => res.end(req.headers.authorization ?? 'none'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const api = axios.create({ baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
      api.defaults.adapter = undefined;
      attachTokenManager(api, new FakeTokenSource('T'));
      expect((await api.get('/x', { proxy: false })).data).toBe('Bearer T-0');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('attachTokenManager(): what never gets the bearer', () => {
  it.each([
    ['a protocol-relative url (axios takes it as absolute)', '//evil.example/x'],
    ['an absolute url with an upper-case scheme (axios matches schemes in any case)', 'HTTPS://evil.example/x'],
    ['a url with credentials (axios sends them as Basic)', 'https://user:pass@api.example/x'],
  ])('%s', async (_what, url) => {
    const seen: (string | undefined)[] = [];
    const api = axios.create({ baseURL: BASE, adapter: scripted([200], seen) });
    attachTokenManager(api, new FakeTokenSource('T'));
    await api.get(url);
    expect(seen).toEqual([undefined]);
  });

  it('a request with `auth` (axios sends it as Basic in place of any Authorization)', async () => {
    const seen: (string | undefined)[] = [];
    const api = axios.create({ baseURL: BASE, adapter: scripted([401], seen) });
    const source = new FakeTokenSource('T');
    attachTokenManager(api, source);
    expect((await api.get('/x', { auth: { username: 'u', password: 'p' } })).status).toBe(401);
    expect(seen).toEqual([undefined]);
    expect(source.invalidated).toEqual([]);
  });

  it('refuses, unsent, a request naming a session when the single source cannot say whom it acts for', async () => {
    const seen: (string | undefined)[] = [];
    const api = axios.create({ baseURL: BASE, adapter: scripted([200], seen) });
    attachTokenManager(api, new FakeTokenSource('T'));
    await expect(api.get('/x', { alixSession: 'someone@example.com' })).rejects.toThrow(/does not act for/);
    expect(seen).toEqual([]);
  });
});

describe('createRedirectGuard()', () => {
  it('drops the bearer from a redirect that names no href, and copes with one that has no headers', () => {
    const guard = createRedirectGuard(new Set([BASE]))(undefined);
    const headers = { Authorization: 'Bearer secret' };
    guard({ headers });
    expect(headers).toEqual({});
    expect(() => guard({ href: 'https://elsewhere.example/' })).not.toThrow();
  });
});

describe('bearerReached()', () => {
  it('does not take an answer from the same host and port over another scheme as the bearer’s', () => {
    const answer = (url: string): Response =>
      Object.defineProperty(new Response(null, { status: 401 }), 'url', { value: url });
    expect(bearerReached(answer('http://api.example:8443/x'), 'https://api.example:8443/x')).toBe(false);
    expect(bearerReached(answer('https://api.example:8443/y'), 'https://api.example:8443/x')).toBe(true);
  });
});

describe('goesOverPlainHttp()', () => {
  it('reads a URL that does not start with its scheme as axios does (leading space trimmed)', () => {
    expect(goesOverPlainHttp({ baseURL: ' http://127.0.0.1:8080', url: '/x' })).toBe(true);
    expect(goesOverPlainHttp({ url: ' https://127.0.0.1:8080/x' })).toBe(false);
  });
});

describe('redaction never throws', () => {
  it('leaves a frozen header object as it is', () => {
    const headers = Object.freeze({ Authorization: 'Bearer secret' });
    expect(() => redactHeaders(headers)).not.toThrow();
  });

  it('still follows the chain of a request object whose getters throw', () => {
    const next = { _header: 'GET / HTTP/1.1\r\nAuthorization: Bearer secret\r\n\r\n' };
    const hostile = {
      _currentRequest: next,
      get _header(): string {
        throw new Error('exotic');
      },
    };
    expect(() => redactRequest(hostile)).not.toThrow();
    expect(next._header).not.toContain('secret');
  });

  it('does not throw for an error whose response getter throws', () => {
    const error = {
      config: { headers: { Authorization: 'Bearer secret' } },
      get response(): never {
        throw new Error('exotic');
      },
    };
    expect(() => redactAxiosError(error)).not.toThrow();
  });

  it('keeps a pending buffer without a bearer as it is', () => {
    const pending = Buffer.from('GET / HTTP/1.1\r\nAccept: */*\r\n\r\n');
    const request = { socket: { destroyed: true, _pendingData: pending } };
    redactRequest(request);
    expect(request.socket._pendingData).toBe(pending);
  });
});

describe('createAuthorizedFetch(): a token a Bearer header cannot carry', () => {
  it('refuses to send it, with a typed error that does not quote it', async () => {
    const token = 'secret-part\nX-Injected: 1';
    const fetchImpl = jest.fn<Promise<Response>, Parameters<typeof fetch>>();
    const source = { getAccessToken: async () => token, invalidate: () => undefined };
    const authorizedFetch = createAuthorizedFetch(source, { origins: [BASE], fetch: fetchImpl });
    const failure = await authorizedFetch(`${BASE}/x`).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(MalformedResponseError);
    expect(String((failure as Error).message)).not.toContain('secret-part');
    expect(fetchImpl).not.toHaveBeenCalled();
  });
});
