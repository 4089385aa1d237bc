/**
 * attachTokenManager() with instances of a second copy of axios in the same process, while the
 * library resolves the repository's own `axios`: real second installs (the `axios-other` alias,
 * axios 1.21.1, and `axios-1.6`, the oldest supported) and the axios of a fresh module registry
 * (`jest.resetModules()`); and the latest axios as a second copy while the library resolves 1.6.0,
 * whose AxiosHeaders would fold a newer copy's headers. Each gets the adapter's whole contract: the
 * bearer only to allowed origins at send time, one replay on 401, no folded headers, no bearer in errors.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import util from 'node:util';
import axios from 'axios';
import type { AxiosError, AxiosInstance, AxiosStatic, InternalAxiosRequestConfig } from 'axios';
import type * as AdapterModule from '../../src/adapters/axios';
import axios16 from 'axios-1.6';
import axiosOther from 'axios-other';
import { attachTokenManager } from '../../src/adapters/axios';
import { ConfigurationError } from '../../src/errors';
import { FakeTokenSource } from '../helpers/fake-token-source';
import { closedOrigin, pathsHolding } from './support/local-api';

/** One request as the API saw it: every header line as sent, in order. */
interface Seen {
  path: string;
  rawHeaders: string[];
  body: string;
}

interface Api {
  origin: string;
  seen: Seen[];
  close(): Promise<void>;
}

/**
 * A real HTTP server on 127.0.0.1. `/always-401` rejects every token; `/first-token-rejected`
 * rejects the bearer `SECRET-0` (a token the server revoked); `/redirect?to=<url>` answers 302 to that
 * url; anything else answers 200.
 */
async function startApi(): Promise<Api> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const { pathname: path, searchParams } = new URL(req.url ?? '/', 'http://placeholder');
      if (path === '/redirect') return void res.writeHead(302, { location: searchParams.get('to') ?? '/' }).end();
      seen.push({ path, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks).toString('utf8') });
      const rejected =
        path === '/always-401' || (path === '/first-token-rejected' && req.headers.authorization === 'Bearer SECRET-0');
      res
        .writeHead(rejected ? 401 : 200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ ok: !rejected }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { origin, seen, close };
}

/** The values of header `name` in the order sent (one entry per header line). */
function headerLines(request: Seen | undefined, name: string): string[] {
  const raw = request?.rawHeaders ?? [];
  const values: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]?.toLowerCase() === name) values.push(raw[i + 1] as string);
  return values;
}

/** The axios of a fresh module registry: what a test after `jest.resetModules()`, or a second bundle, holds. */
function freshRegistryAxios(): AxiosStatic {
  jest.resetModules();
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the point is a new registry's module
  return (require('axios') as { default: AxiosStatic }).default;
}

/** The library and the axios it resolves, loaded where `axios` is the `axios-1.6` install. */
function libraryOnAxios16(): Library {
  let library: Library | undefined;
  jest.isolateModules(() => {
    jest.doMock('axios', () => jest.requireActual<object>('axios-1.6'));
    /* eslint-disable @typescript-eslint/no-require-imports -- loads the library inside the isolated registry */
    library = {
      peer: (require('axios') as { default: AxiosStatic }).default,
      attachTokenManager: (require('../../src/adapters/axios') as typeof AdapterModule).attachTokenManager,
    };
    /* eslint-enable @typescript-eslint/no-require-imports */
  });
  jest.dontMock('axios');
  return library as Library;
}

interface Library {
  /** The axios the library resolves (its peer). */
  peer: AxiosStatic;
  attachTokenManager: typeof attachTokenManager;
}

const here: () => Library = () => ({ peer: axios, attachTokenManager });

// The copies' typings differ in detail; the tests use the common 1.x surface through the peer's types.
const copies: Array<[string, () => AxiosStatic, () => Library]> = [
  ['axios-other (a second install of axios 1.21.1)', () => axiosOther as unknown as AxiosStatic, here],
  ['axios-1.6 (a second install of axios 1.6.0, the oldest supported)', () => axios16 as unknown as AxiosStatic, here],
  ['a fresh module registry (jest.resetModules())', freshRegistryAxios, here],
  ['axios-other while the library resolves axios 1.6.0', () => axiosOther as unknown as AxiosStatic, libraryOnAxios16],
];

let allowed: Api;
let other: Api;

beforeAll(async () => {
  [allowed, other] = await Promise.all([startApi(), startApi()]);
});
afterAll(() => Promise.all([allowed.close(), other.close()]));
beforeEach(() => {
  allowed.seen.length = 0;
  other.seen.length = 0;
});

describe.each(copies)('attachTokenManager() with an instance of %s', (_label, load, loadLibrary) => {
  const copy = load();
  const { peer, attachTokenManager } = loadLibrary();

  it('is another copy than the axios the library resolves', () => {
    expect(copy).not.toBe(peer);
    expect(copy.AxiosHeaders).not.toBe(peer.AxiosHeaders);
  });

  it('sends the bearer to the allowed origin once, beside the other headers, none folded', async () => {
    const api = copy.create({ baseURL: allowed.origin, headers: { 'X-Trace': 't1' } });
    attachTokenManager(api, new FakeTokenSource('SECRET'));

    const response = await api.post('/cards', { limit: 5 }, { headers: { 'X-Request-Id': 'r1' } });

    const [sent] = allowed.seen;
    expect(response.status).toBe(200);
    expect(response.config.headers.get('Authorization')).toBe('Bearer SECRET-0');
    expect(headerLines(sent, 'authorization')).toEqual(['Bearer SECRET-0']);
    expect(headerLines(sent, 'x-trace')).toEqual(['t1']);
    expect(headerLines(sent, 'x-request-id')).toEqual(['r1']);
    expect(headerLines(sent, 'content-type')).toEqual(['application/json']);
    expect(sent?.body).toBe('{"limit":5}');
    const names = (sent?.rawHeaders ?? []).filter((_value, index) => index % 2 === 0).map((name) => name.toLowerCase());
    expect(new Set(names).size).toBe(names.length);
  });

  it('sends no bearer to another origin, absolute URL or an interceptor’s rewritten baseURL', async () => {
    const api = copy.create({ baseURL: allowed.origin });
    attachTokenManager(api, new FakeTokenSource('SECRET'));
    // Registered after ours, so it runs first: the check must come at send time, after it.
    api.interceptors.request.use((config) => ({ ...config, baseURL: other.origin }) as InternalAxiosRequestConfig);

    await api.get('/echo');
    await api.get(`${other.origin}/absolute`);

    expect(other.seen.map((r) => [r.path, headerLines(r, 'authorization')])).toEqual([
      ['/echo', []],
      ['/absolute', []],
    ]);
    expect(allowed.seen).toEqual([]);
  });

  it('sends no bearer elsewhere for an absolute URL under allowAbsoluteUrls: false, as the copy reads it', async () => {
    const api = copy.create({ baseURL: allowed.origin });
    attachTokenManager(api, new FakeTokenSource('SECRET'));

    // axios 1.8 and later join the url to the base URL; earlier versions send it as it is.
    await api.get(`${other.origin}/absolute`, { allowAbsoluteUrls: false });

    expect([...allowed.seen, ...other.seen]).toHaveLength(1);
    expect(other.seen.map((r) => headerLines(r, 'authorization'))).not.toContainEqual(['Bearer SECRET-0']);
  });

  it('keeps the bearer off a redirect to another origin', async () => {
    const api = copy.create({ baseURL: allowed.origin });
    attachTokenManager(api, new FakeTokenSource('SECRET'));

    const response = await api.get(`/redirect?to=${encodeURIComponent(`${other.origin}/landed`)}`);

    expect(response.status).toBe(200);
    expect(other.seen.map((r) => [r.path, headerLines(r, 'authorization')])).toEqual([['/landed', []]]);
  });

  it('keeps the bearer off a redirect to a subdomain, where follow-redirects keeps it', async () => {
    const port = new URL(allowed.origin).port;
    const asked: string[] = [];
    // Every name reaches the allowed API: `evil.localhost` is another origin on its port.
    const lookup = (name: string, _options: object, done: (error: null, address: string, family: number) => void) => {
      asked.push(name);
      done(null, '127.0.0.1', 4);
    };
    // An agent of its own: a kept-alive socket of another test would skip the lookup.
    const httpAgent = new http.Agent({ keepAlive: false });
    const api = copy.create({ baseURL: `http://localhost:${port}`, lookup, httpAgent } as object);
    attachTokenManager(api, new FakeTokenSource('SECRET'));

    await api.get(`/redirect?to=${encodeURIComponent(`http://evil.localhost:${port}/landed`)}`);
    httpAgent.destroy();

    expect(asked).toEqual(['localhost', 'evil.localhost']);
    expect(allowed.seen.map((r) => [headerLines(r, 'host'), headerLines(r, 'authorization')])).toEqual([
      [[`evil.localhost:${port}`], []],
    ]);
  });

  it('adds the bearer when an interceptor switches the request to the allowed origin', async () => {
    const api = copy.create({ baseURL: other.origin });
    api.interceptors.request.use((config) => ({ ...config, baseURL: allowed.origin }) as InternalAxiosRequestConfig);
    attachTokenManager(api, new FakeTokenSource('SECRET'), { origins: [allowed.origin] });

    await api.get('/echo');

    expect(allowed.seen.map((r) => headerLines(r, 'authorization'))).toEqual([['Bearer SECRET-0']]);
    expect(other.seen).toEqual([]);
  });

  it("applies the instance's own transforms once, not again in the copy's dispatch", async () => {
    const applied: string[] = [];
    const api = copy.create({
      baseURL: allowed.origin,
      headers: { 'Content-Type': 'application/json' },
      transformRequest: [(data: unknown) => (applied.push('request'), JSON.stringify(data))],
      transformResponse: [(data: unknown) => (applied.push('response'), data)],
    });
    attachTokenManager(api, new FakeTokenSource('SECRET'));

    await api.post('/cards', { limit: 5 });

    expect(applied).toEqual(['request', 'response']);
    expect(allowed.seen.map((r) => r.body)).toEqual(['{"limit":5}']);
  });

  it('replays a 401 once, with a fresh token, the body and headers intact', async () => {
    const source = new FakeTokenSource('SECRET');
    const api = copy.create({ baseURL: allowed.origin, headers: { 'X-Trace': 't1' } });
    attachTokenManager(api, source);

    const response = await api.post('/first-token-rejected', { limit: 5 });

    expect(response.status).toBe(200);
    expect(response.data).toEqual({ ok: true });
    expect(source.invalidated).toEqual(['SECRET-0']);
    expect(source.refreshCount).toBe(1);
    expect(allowed.seen.map((r) => [headerLines(r, 'authorization'), headerLines(r, 'x-trace'), r.body])).toEqual([
      [['Bearer SECRET-0'], ['t1'], '{"limit":5}'],
      [['Bearer SECRET-1'], ['t1'], '{"limit":5}'],
    ]);
  });

  it('sends a request rejected twice twice, and rejects with the copy’s own AxiosError', async () => {
    const source = new FakeTokenSource('SECRET');
    const api = copy.create({ baseURL: allowed.origin });
    attachTokenManager(api, source);

    const error = (await api.get('/always-401').catch((e: unknown) => e)) as AxiosError;

    expect(error).toBeInstanceOf(copy.AxiosError);
    expect(error.response?.status).toBe(401);
    expect(error.response?.data).toEqual({ ok: false });
    expect(allowed.seen.map((r) => headerLines(r, 'authorization'))).toEqual([
      ['Bearer SECRET-0'],
      ['Bearer SECRET-1'],
    ]);
    expect(source.storms).toEqual(['GET /always-401']);
  });

  it('leaves the config the instance sent on the response, to be re-sent through it as it is', async () => {
    const api = copy.create({ baseURL: allowed.origin });
    attachTokenManager(api, new FakeTokenSource('SECRET'));
    const sent: InternalAxiosRequestConfig[] = [];
    api.interceptors.request.use((config) => (sent.push(config), config));

    const response = await api.get('/echo');
    // Paging through `response.config` gets the instance's own transforms: the JSON is parsed.
    const again = await api.request({ ...response.config, url: '/echo' });

    expect(response.config).toBe(sent[0]);
    expect(again.data).toEqual({ ok: true });
  });

  it("leaves the config the instance sent on the error's response, to be re-sent through it as it is", async () => {
    const api = copy.create({ baseURL: allowed.origin });
    attachTokenManager(api, new FakeTokenSource('SECRET'));

    const error = (await api.get('/always-401').catch((e: unknown) => e)) as AxiosError;
    // A retry helper re-sending `error.response.config` gets the instance's own transforms: the JSON is parsed.
    const again = await api.request({ ...error.response?.config, url: '/echo' });

    expect(error.response?.config).toBe(error.config);
    expect(again.data).toEqual({ ok: true });
  });

  it("sends without a default header an interceptor removed: the copy's dispatch adds no default back", async () => {
    const api = copy.create({ baseURL: allowed.origin, headers: { 'X-Trace': 't1' } });
    attachTokenManager(api, new FakeTokenSource('SECRET'));
    api.interceptors.request.use((config) => {
      if (config.url === '/untraced') config.headers.delete('X-Trace');
      return config;
    });

    await api.get('/traced');
    await api.get('/untraced');

    expect(allowed.seen.map((r) => [r.path, headerLines(r, 'x-trace')])).toEqual([
      ['/traced', ['t1']],
      ['/untraced', []],
    ]);
  });

  it("serves a bare `new Axios()` of the copy, its defaults applied once, by the copy's own request()", async () => {
    const bare = new copy.Axios({ baseURL: allowed.origin, headers: { 'X-Trace': 't1' } });
    attachTokenManager(bare, new FakeTokenSource('SECRET'));
    bare.interceptors.request.use((config) => {
      if (config.url === '/untraced') config.headers.delete('X-Trace');
      return config;
    });

    await bare.request({ url: '/traced' });
    await bare.request({ url: '/untraced' });

    expect(allowed.seen.map((r) => [r.path, headerLines(r, 'x-trace'), headerLines(r, 'authorization')])).toEqual([
      ['/traced', ['t1'], ['Bearer SECRET-0']],
      ['/untraced', [], ['Bearer SECRET-0']],
    ]);
  });

  it.each([
    ['the API answers 401 twice', async (): Promise<AxiosInstance> => copy.create({ baseURL: allowed.origin })],
    ['the connection is refused', async (): Promise<AxiosInstance> => copy.create({ baseURL: await closedOrigin() })],
  ])('rethrows an error holding the bearer nowhere when %s', async (_case, make) => {
    const token = `SECRET-${'z'.repeat(24)}`;
    const api = await make();
    attachTokenManager(api, new FakeTokenSource(token));

    const error = (await api.get('/always-401').catch((e: unknown) => e)) as AxiosError;

    expect(copy.isAxiosError(error)).toBe(true);
    expect(pathsHolding(error, token)).toEqual([]);
    expect(JSON.stringify(error.toJSON())).not.toContain(token);
    expect(util.inspect(error, { depth: Infinity })).not.toContain(token);
    expect(error.config?.headers.get('Authorization')).toBe('Bearer [REDACTED]');
  });
});

describe('attachTokenManager() with an instance of axios-other on its fetch adapter', () => {
  it.each([
    ['the API answers 401 twice', async (): Promise<string> => allowed.origin, 2],
    ['the connection is refused', closedOrigin, 0],
  ])('rethrows an error holding the bearer nowhere when %s', async (_case, origin, sends) => {
    const token = `SECRET-${'f'.repeat(24)}`;
    const api = axiosOther.create({ baseURL: await origin(), adapter: 'fetch' });
    attachTokenManager(api, new FakeTokenSource(token));

    const error = (await api.get('/always-401').catch((e: unknown) => e)) as AxiosError;

    expect(error).toBeInstanceOf(axiosOther.AxiosError);
    expect(allowed.seen).toHaveLength(sends);
    expect(pathsHolding(error, token)).toEqual([]);
    expect(util.inspect(error, { depth: Infinity })).not.toContain(token);
  });
});

describe('attachTokenManager() and a second copy’s axios module', () => {
  it('serves the module itself like an instance', async () => {
    const module = axiosOther as unknown as AxiosStatic;
    const detach = attachTokenManager(module, new FakeTokenSource('SECRET'), { origins: [allowed.origin] });
    await axiosOther.get(`${allowed.origin}/module`);
    detach();
    expect(allowed.seen.map((r) => headerLines(r, 'authorization'))).toEqual([['Bearer SECRET-0']]);
  });

  it('refuses a module that shows a VERSION older than 1.6', () => {
    const old = Object.assign(axios16.create({ baseURL: allowed.origin }), { VERSION: '1.5.1' });
    expect(() => attachTokenManager(old, new FakeTokenSource())).toThrow(ConfigurationError);
    expect(() => attachTokenManager(old, new FakeTokenSource())).toThrow(
      /axios 1\.5\.1 is not supported; install axios \^1\.6\.0/,
    );
  });
});
