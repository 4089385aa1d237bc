import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import util from 'node:util';
import axios, { AxiosHeaders } from 'axios';
import type { AxiosAdapter, AxiosInstance, InternalAxiosRequestConfig, AxiosError } from 'axios';
import { attachTokenManager, createRedirectGuard } from '../../src/adapters/axios';
import { ConfigurationError } from '../../src/errors';
import { FakeTokenSource } from '../helpers/fake-token-source';

interface Recorded {
  path: string;
  auth: string | null;
  body: string;
}

interface Gate {
  arrived: Promise<void>;
  release: () => void;
}

/** A real HTTP server on 127.0.0.1 whose routes decide auth the way an API would. */
function createApi() {
  const state = {
    validToken: 'SECRET-0',
    hits: new Map<string, number>(),
    requests: [] as Recorded[],
    gate: undefined as { onArrive: () => void; released: Promise<void> } | undefined,
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://placeholder');
      const body = Buffer.concat(chunks).toString('utf8');
      const auth = req.headers.authorization ?? null;
      const id = String(req.headers['x-request-id'] ?? '');
      const hits = (state.hits.get(id) ?? 0) + 1;
      state.hits.set(id, hits);
      state.requests.push({ path: url.pathname, auth, body });
      const send = (status: number, payload: unknown = {}): void => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
      };
      const protectedRoute = (): void =>
        auth === `Bearer ${state.validToken}` ? send(200, { auth, body }) : send(401, { error: 'invalid token' });
      if (url.pathname === '/echo') send(200, { auth, body });
      else if (url.pathname === '/protected') protectedRoute();
      else if (url.pathname === '/always-401') send(401, { error: 'invalid token' });
      else if (url.pathname === '/redirect') res.writeHead(302, { location: url.searchParams.get('to') ?? '/' }).end();
      else if (url.pathname === '/held' && hits === 1 && state.gate) {
        const gate = state.gate;
        gate.onArrive();
        void gate.released.then(protectedRoute);
      } else if (url.pathname === '/held') protectedRoute();
      else send(404);
    });
  });
  return { server, state };
}

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

function openGate(state: ReturnType<typeof createApi>['state']): Gate {
  let onArrive!: () => void;
  let release!: () => void;
  const arrived = new Promise<void>((resolve) => (onArrive = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  state.gate = { onArrive, released };
  return { arrived, release };
}

/** An adapter that records the config it was given instead of sending anything. */
function captureAdapter(seen: InternalAxiosRequestConfig[]): AxiosAdapter {
  return async (config) => {
    seen.push(config);
    return { data: null, status: 200, statusText: 'OK', headers: {}, config };
  };
}

/** A fetch that follows redirects keeping every header, as node-fetch does for another port or a subdomain. */
async function headerKeepingFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  let request = new Request(input, init);
  for (;;) {
    const response = await fetch(request, { redirect: 'manual' });
    const location = response.headers.get('location');
    if (request.redirect === 'manual' || location === null) return response;
    request = new Request(new URL(location, request.url), { headers: request.headers });
  }
}

function errorText(error: AxiosError): string {
  return util.inspect(error, { depth: Infinity }) + JSON.stringify(error.toJSON());
}

const a = createApi();
const b = createApi();
let originA = '';
let originB = '';
let agent: http.Agent;

beforeAll(async () => {
  originA = await listen(a.server);
  originB = await listen(b.server);
  agent = new http.Agent({ keepAlive: true });
});

afterAll(async () => {
  agent.destroy();
  await Promise.all([close(a.server), close(b.server)]);
});

let source: FakeTokenSource;
let api: AxiosInstance;
let detach: () => void;
let nextId = 0;

beforeEach(() => {
  for (const { state } of [a, b]) {
    state.validToken = 'SECRET-0';
    state.hits.clear();
    state.requests.length = 0;
    state.gate = undefined;
  }
  source = new FakeTokenSource('SECRET');
  api = axios.create({ baseURL: `${originA}/`, httpAgent: agent });
  detach = attachTokenManager(api, source);
});

afterEach(() => detach());

function withId(): { headers: { 'x-request-id': string } } {
  nextId += 1;
  return { headers: { 'x-request-id': `req-${nextId}` } };
}

describe('attachTokenManager()', () => {
  describe('origin scope', () => {
    it('adds the bearer to requests for the baseURL origin', async () => {
      const response = await api.get('/echo');
      expect(response.data.auth).toBe('Bearer SECRET-0');
    });

    it('sends no bearer to an absolute URL on another host', async () => {
      const otherHost = originA.replace('127.0.0.1', 'localhost');
      const response = await api.get(`${otherHost}/echo`);
      expect(response.data.auth).toBeNull();
    });

    it('sends no bearer to another port of the same host', async () => {
      const response = await api.get(`${originB}/echo`);
      expect(response.data.auth).toBeNull();
    });

    it('sends no bearer when the protocol changes', async () => {
      const seen: InternalAxiosRequestConfig[] = [];
      await api.get(`${originA.replace('http:', 'https:')}/echo`, { adapter: captureAdapter(seen) });
      expect(seen[0]?.headers.has('Authorization')).toBe(false);
    });

    it('under allowAbsoluteUrls: false, adds the bearer only when both the absolute url and the joined one are allowed', async () => {
      // axios 1.8.3 and later join the url to baseURL; earlier versions (or their transports) send it as it is.
      const seen: InternalAxiosRequestConfig[] = [];
      await api.get(`${originA}/echo`, { allowAbsoluteUrls: false, adapter: captureAdapter(seen) });
      await api.get(`${originB}/echo`, { allowAbsoluteUrls: false, adapter: captureAdapter(seen) });
      expect(seen[0]?.headers.get('Authorization')).toBe('Bearer SECRET-0');
      expect(seen[1]?.headers.has('Authorization')).toBe(false);
    });

    it('sends no bearer when a request overrides baseURL with another origin', async () => {
      const response = await api.get('/echo', { baseURL: originB });
      expect(response.data.auth).toBeNull();
    });

    it('uses the origins option instead of the baseURL', async () => {
      const plain = axios.create({ httpAgent: agent });
      const detachPlain = attachTokenManager(plain, source, { origins: [originB] });
      const [toB, toA] = await Promise.all([plain.get(`${originB}/echo`), plain.get(`${originA}/echo`)]);
      detachPlain();
      expect([toB.data.auth, toA.data.auth]).toEqual(['Bearer SECRET-0', null]);
    });

    it('throws a ConfigurationError without a baseURL or origins', () => {
      expect(() => attachTokenManager(axios.create(), source)).toThrow(ConfigurationError);
    });

    it('throws a ConfigurationError for plain http to a host that is not loopback', () => {
      const remote = axios.create({ baseURL: 'http://api.example.com/v2' });
      expect(() => attachTokenManager(remote, source)).toThrow(ConfigurationError);
      expect(() => attachTokenManager(remote, source, { origins: ['https://api.example.com/v2'] })).toThrow(
        /origin only/,
      );
    });

    it('reads an option or request option given as undefined as not given', async () => {
      const again = axios.create({ baseURL: `${originA}/`, httpAgent: agent });
      const unset = { origins: undefined, retryStatuses: undefined, sessionKey: undefined };
      const detachAgain = attachTokenManager(again, source, unset);
      const response = await again.get('/echo', { skipAuth: undefined, alixSession: undefined });
      detachAgain();
      expect(response.data.auth).toBe('Bearer SECRET-0');
    });

    it('leaves a request with skipAuth untouched', async () => {
      const response = await api.get('/echo', { skipAuth: true });
      expect(response.data.auth).toBeNull();
    });
  });

  describe('retry on 401', () => {
    it('replays a 401 that arrives after a refresh with the new token and no second refresh', async () => {
      const gate = openGate(a.state);
      const pending = api.get('/held', withId());
      await gate.arrived;
      await source.refresh();
      a.state.validToken = source.token;
      gate.release();
      const response = await pending;
      expect(response.data.auth).toBe('Bearer SECRET-1');
      expect(source.refreshCount).toBe(1);
      expect(source.invalidated).toEqual(['SECRET-0']);
    });

    it('replays a POST JSON body intact', async () => {
      a.state.validToken = source.nextToken;
      const payload = { amount: 12.5, note: 'say "hi"', nested: { list: [1, 2] } };
      const response = await api.post('/protected', payload);
      const bodies = a.state.requests.map((r) => r.body);
      expect(bodies).toEqual([JSON.stringify(payload), JSON.stringify(payload)]);
      expect(JSON.parse(response.data.body)).toEqual(payload);
    });

    it('replays the serialised body without running request transformers again', async () => {
      a.state.validToken = source.nextToken;
      const wrap = (data: unknown): string => JSON.stringify({ wrapped: data });
      await api.post('/protected', 'payload', { transformRequest: [wrap] });
      expect(a.state.requests.map((r) => r.body)).toEqual(['{"wrapped":"payload"}', '{"wrapped":"payload"}']);
    });

    it('does not replay a stream body and surfaces the 401 after invalidating the token', async () => {
      a.state.validToken = source.nextToken;
      const error = await api.post('/protected', Readable.from(['chunk'])).catch((e: unknown) => e);
      expect((error as AxiosError).response?.status).toBe(401);
      expect(a.state.requests).toHaveLength(1);
      expect(source.invalidated).toEqual(['SECRET-0']);
    });

    it('retries a 401 that validateStatus lets through as a response', async () => {
      a.state.validToken = source.nextToken;
      const response = await api.get('/protected', { validateStatus: () => true });
      expect(response.status).toBe(200);
      expect(source.refreshCount).toBe(1);
    });
  });

  describe('redirects', () => {
    it('keeps the bearer on a same-origin redirect', async () => {
      const response = await api.get(`/redirect?to=${encodeURIComponent(`${originA}/echo`)}`);
      expect(response.data.auth).toBe('Bearer SECRET-0');
    });

    it('drops the bearer on a redirect to another port', async () => {
      const response = await api.get(`/redirect?to=${encodeURIComponent(`${originB}/echo`)}`);
      expect(b.state.requests).toEqual([{ path: '/echo', auth: null, body: '' }]);
      expect(response.data.auth).toBeNull();
    });

    it('drops the bearer on a redirect to another host', async () => {
      const otherHost = originA.replace('127.0.0.1', 'localhost');
      const response = await api.get(`/redirect?to=${encodeURIComponent(`${otherHost}/echo`)}`);
      expect(response.data.auth).toBeNull();
    });

    it('drops the bearer on a redirect to another origin with the fetch adapter and an env.fetch that keeps it', async () => {
      const envFetch = jest.fn(headerKeepingFetch);
      const to = (target: string): string => `/redirect?to=${encodeURIComponent(`${target}/echo`)}`;
      const away = await api.get(to(originB), { adapter: 'fetch', env: { fetch: envFetch } });
      const home = await api.get(to(originA), { adapter: 'fetch', env: { fetch: envFetch } });

      expect(b.state.requests).toEqual([{ path: '/echo', auth: null, body: '' }]);
      expect([away.data.auth, home.data.auth]).toEqual([null, 'Bearer SECRET-0']);
      expect(envFetch).toHaveBeenCalledTimes(4);
    });

    it('neither invalidates nor replays a 401 from another origin a redirect took the request to, bearerless', async () => {
      const error = await api
        .get(`/redirect?to=${encodeURIComponent(`${originB}/always-401`)}`)
        .catch((e: unknown) => e);

      expect((error as AxiosError).response?.status).toBe(401);
      expect(b.state.requests).toEqual([{ path: '/always-401', auth: null, body: '' }]);
      expect(source.invalidated).toEqual([]);
      expect(source.refreshCount).toBe(0);
    });

    it('calls the user beforeRedirect hook after its own check', async () => {
      const targets: string[] = [];
      await api.get(`/redirect?to=${encodeURIComponent(`${originA}/echo`)}`, {
        beforeRedirect: (options) => targets.push(String(options.href)),
      });
      expect(targets).toEqual([`${originA}/echo`]);
    });
  });

  describe('redirect guard', () => {
    const guard = createRedirectGuard(new Set(['https://api.example.com']));
    const details = [
      { headers: {}, statusCode: 302 },
      { headers: {}, url: 'https://api.example.com/', method: 'GET' },
    ] as const;

    it('deletes Authorization when the redirect target is outside the allow-list', () => {
      const options = { href: 'https://api.example.com:8443/x', headers: { authorization: 'Bearer t', Accept: '*/*' } };
      guard(undefined)(options, ...details);
      expect(options.headers).toEqual({ Accept: '*/*' });
    });

    it('keeps Authorization on a redirect within the allow-list and calls the wrapped hook', () => {
      const user = jest.fn();
      const options = { href: 'https://api.example.com/y', headers: { Authorization: 'Bearer t' } };
      guard(user)(options, ...details);
      expect(options.headers).toEqual({ Authorization: 'Bearer t' });
      expect(user).toHaveBeenCalledWith(options, ...details);
    });

    it('does not wrap its own hook twice', () => {
      const hook = guard(undefined);
      expect(guard(hook)).toBe(hook);
    });
  });

  describe('redaction', () => {
    it('leaves no token in a rejected response error', async () => {
      const error = (await api.get('/always-401').catch((e: unknown) => e)) as AxiosError;
      expect(errorText(error)).not.toMatch(/SECRET-\d/);
      expect(AxiosHeaders.from(error.config?.headers).get('Authorization')).toBe('Bearer [REDACTED]');
      expect((error.request as { _header: string })._header).toContain('Bearer [REDACTED]');
    });

    it('leaves no token in a network error', async () => {
      const closed = http.createServer();
      const closedOrigin = await listen(closed);
      await close(closed);
      const other = axios.create({ baseURL: closedOrigin });
      const detachOther = attachTokenManager(other, source);
      const error = (await other.get('/x').catch((e: unknown) => e)) as AxiosError;
      detachOther();
      expect(error.code).toBe('ECONNREFUSED');
      expect(errorText(error)).not.toMatch(/SECRET-\d/);
    });
  });

  describe('detach()', () => {
    it('ejects both interceptors', async () => {
      detach();
      const echo = await api.get('/echo');
      const error = await api.get('/always-401').catch((e: unknown) => e);
      expect(echo.data.auth).toBeNull();
      expect((error as AxiosError).response?.status).toBe(401);
      expect(source.invalidated).toEqual([]);
    });
  });

  describe('several instances', () => {
    it('serves several instances from one manager and separate instances from separate managers', async () => {
      const second = new FakeTokenSource('OTHER');
      const sameManager = axios.create({ baseURL: originA, httpAgent: agent });
      const otherManager = axios.create({ baseURL: originB, httpAgent: agent });
      const detachers = [attachTokenManager(sameManager, source), attachTokenManager(otherManager, second)];
      const responses = await Promise.all([api.get('/echo'), sameManager.get('/echo'), otherManager.get('/echo')]);
      detachers.forEach((d) => d());
      expect(responses.map((r) => r.data.auth)).toEqual(['Bearer SECRET-0', 'Bearer SECRET-0', 'Bearer OTHER-0']);
    });
  });
});
