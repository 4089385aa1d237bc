/**
 * The axios hook decides at send time: after every interceptor ran, whatever their order, and
 * errors it rethrows hold the bearer nowhere (non-enumerable and internal properties included).
 */
import axios from 'axios';
import type { AxiosError, AxiosInstance, InternalAxiosRequestConfig } from 'axios';
import { attachTokenManager } from '../../src/adapters/axios';
import { FakeTokenSource } from '../helpers/fake-token-source';
import { closedOrigin, pathsHolding, useLocalApiPair } from './support/local-api';

const apis = useLocalApiPair();

/** An app interceptor that sends every request to the other origin instead. */
function redirectToOther(api: AxiosInstance): void {
  api.interceptors.request.use(
    (config: InternalAxiosRequestConfig) => ({ ...config, baseURL: apis.other.origin }) as InternalAxiosRequestConfig,
  );
}

describe('attachTokenManager() at send time', () => {
  it.each([
    ['before attachTokenManager (it runs after ours)', 'before'],
    ['after attachTokenManager (it runs before ours)', 'after'],
  ])('sends no bearer to an origin an interceptor registered %s switches to', async (_label, order) => {
    const api = axios.create({ baseURL: apis.allowed.origin });
    if (order === 'before') redirectToOther(api);
    const detach = attachTokenManager(api, new FakeTokenSource('SECRET'));
    if (order === 'after') redirectToOther(api);
    await api.get('/echo');
    detach();
    expect(apis.other.seen).toEqual([{ path: '/echo', auth: null }]);
    expect(apis.allowed.seen).toEqual([]);
  });

  it('adds the bearer when an interceptor registered before it switches to the allowed origin', async () => {
    const api = axios.create({ baseURL: apis.other.origin });
    api.interceptors.request.use(
      (config: InternalAxiosRequestConfig) =>
        ({ ...config, baseURL: apis.allowed.origin }) as InternalAxiosRequestConfig,
    );
    const detach = attachTokenManager(api, new FakeTokenSource('SECRET'), { origins: [apis.allowed.origin] });
    await api.get('/echo');
    detach();
    expect(apis.allowed.seen).toEqual([{ path: '/echo', auth: 'Bearer SECRET-0' }]);
  });

  it('decides per request when the base URL has no host of its own', async () => {
    const sent: Array<string | null> = [];
    const capture = async (config: InternalAxiosRequestConfig) => {
      sent.push((config.headers.get('Authorization') as string | undefined) ?? null);
      return { data: null, status: 200, statusText: 'OK', headers: {}, config };
    };
    const api = axios.create({ baseURL: 'http:', adapter: capture });
    const detach = attachTokenManager(api, new FakeTokenSource('SECRET'), { origins: [apis.allowed.origin] });
    // Joined as axios does: http:/127.0.0.1:<port>/echo, which a URL parser reads with that host.
    await api.get(`${apis.allowed.origin.slice('http://'.length)}/echo`);
    await api.get(`${apis.other.origin.slice('http://'.length)}/echo`);
    detach();
    expect(sent).toEqual(['Bearer SECRET-0', null]);
  });

  it('adds the bearer to a config re-sent through the instance, once, with the current token', async () => {
    const source = new FakeTokenSource('SECRET');
    const api = axios.create({ baseURL: apis.allowed.origin });
    const detach = attachTokenManager(api, source);
    const first = await api.get('/echo');
    await source.refresh();
    await api.request(first.config);
    detach();
    expect(apis.allowed.seen.map((r) => r.auth)).toEqual(['Bearer SECRET-0', 'Bearer SECRET-1']);
  });

  it('sends a re-sent config without the bearer once detached', async () => {
    const api = axios.create({ baseURL: apis.allowed.origin });
    const detach = attachTokenManager(api, new FakeTokenSource('SECRET'));
    const first = await api.get('/echo');
    detach();
    first.config.headers.delete('Authorization');
    await api.request(first.config);
    expect(apis.allowed.seen.map((r) => r.auth)).toEqual(['Bearer SECRET-0', null]);
  });
});

describe('errors rethrown by attachTokenManager()', () => {
  it('hold the bearer nowhere after a connection is refused, hidden properties included', async () => {
    const token = `SECRET-${'x'.repeat(24)}`;
    const source = new FakeTokenSource(token);
    const api = axios.create({ baseURL: await closedOrigin() });
    const detach = attachTokenManager(api, source);
    const error = (await api.get('/cards').catch((e: unknown) => e)) as AxiosError;
    detach();
    expect(error.code).toBe('ECONNREFUSED');
    expect(pathsHolding(error, source.token)).toEqual([]);
  });

  it('hold the bearer nowhere when the API answers 401 twice', async () => {
    const token = `SECRET-${'y'.repeat(24)}`;
    const source = new FakeTokenSource(token);
    const api = axios.create({ baseURL: apis.allowed.origin });
    const detach = attachTokenManager(api, source);
    const error = (await api.get('/always-401').catch((e: unknown) => e)) as AxiosError;
    detach();
    expect(error.response?.status).toBe(401);
    expect(pathsHolding(error, `${token}-`)).toEqual([]);
  });
});
