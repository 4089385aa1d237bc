/**
 * axios is a peer: the hook accepts instances of axios 1.6+ (the application's or another copy's),
 * sets the bearer through the request's own AxiosHeaders, and refuses what it cannot serve at attach time.
 */
import axios, { AxiosHeaders } from 'axios';
import type { AxiosAdapter, InternalAxiosRequestConfig } from 'axios';
import { attachTokenManager } from '../../src/adapters/axios';
import {
  MIN_AXIOS_VERSION,
  SUPPORTED_AXIOS_RANGE,
  assertSupportedPeer,
  cleartextProxyFor,
} from '../../src/axios-peer-version';
import { ConfigurationError } from '../../src/errors';
import { FakeTokenSource } from '../helpers/fake-token-source';
import { startLocalApi } from './support/local-api';

const ORIGIN = 'https://api.example.com';

function captureAdapter(seen: InternalAxiosRequestConfig[]): AxiosAdapter {
  return async (config) => {
    seen.push(config);
    return { data: null, status: 200, statusText: 'OK', headers: {}, config };
  };
}

describe('attachTokenManager() and the peer axios', () => {
  it('sets the bearer on the request’s own AxiosHeaders, beside the other headers', async () => {
    const seen: InternalAxiosRequestConfig[] = [];
    const api = axios.create({ baseURL: ORIGIN, adapter: captureAdapter(seen), headers: { 'X-Trace': 't1' } });
    attachTokenManager(api, new FakeTokenSource('SECRET'));
    await api.get('/cards');
    const headers = seen[0]?.headers;
    expect(headers).toBeInstanceOf(AxiosHeaders);
    expect(headers?.get('Authorization')).toBe('Bearer SECRET-0');
    expect(headers?.get('X-Trace')).toBe('t1');
  });

  it('refuses an axios 0.x instance at attach time', () => {
    // A look-alike not built from axios 1.x's Axios class (real 0.27 instances: axios-versions.test.ts).
    const interceptors = {
      request: { use: jest.fn(), eject: jest.fn() },
      response: { use: jest.fn(), eject: jest.fn() },
    };
    const legacy = { request: jest.fn(), defaults: { baseURL: ORIGIN }, interceptors };
    expect(() => attachTokenManager(legacy, new FakeTokenSource())).toThrow(ConfigurationError);
    expect(() => attachTokenManager(legacy, new FakeTokenSource())).toThrow(/0\.x.*install axios \^1\.6\.0/);
    expect(legacy.interceptors.request.use).not.toHaveBeenCalled();
  });

  it('serves a bare `new axios.Axios()` of the peer', async () => {
    const seen: InternalAxiosRequestConfig[] = [];
    const bare = new axios.Axios({ baseURL: ORIGIN, adapter: captureAdapter(seen), headers: {} });
    attachTokenManager(bare, new FakeTokenSource('SECRET'));
    await bare.request({ url: '/cards' });
    expect(seen[0]?.headers.get('Authorization')).toBe('Bearer SECRET-0');
  });

  it('serves a bare `new axios.Axios()` of the peer without an adapter of its own, on axios’s default one', async () => {
    const api = await startLocalApi();
    try {
      const bare = new axios.Axios({ baseURL: api.origin });
      attachTokenManager(bare, new FakeTokenSource('SECRET'));
      await bare.request({ url: '/cards' });
    } finally {
      await api.close();
    }
    expect(api.seen).toEqual([{ path: '/cards', auth: 'Bearer SECRET-0' }]);
  });

  it('refuses something that is not an axios instance', () => {
    expect(() => attachTokenManager({} as never, new FakeTokenSource())).toThrow(ConfigurationError);
  });

  it.each([
    ['no defaults', { defaults: undefined }],
    ['null defaults', { defaults: null }],
    ['no interceptors', { interceptors: undefined }],
    ['no request()', { request: undefined }],
  ])('refuses an axios 1.x instance with %s as not an axios instance, not with a TypeError', (_what, broken) => {
    const bare = Object.assign(new axios.Axios({}), broken);
    expect(() => attachTokenManager(bare, new FakeTokenSource())).toThrow(
      /the first argument is not an axios instance/,
    );
  });

  it('serves an instance of another axios copy through that copy’s transports (axios-second-copy.test.ts)', () => {
    let foreign: typeof axios | undefined;
    jest.isolateModules(() => {
      foreign = jest.requireActual<{ default: typeof axios }>('axios').default;
    });
    const api = foreign?.create({ baseURL: ORIGIN });
    expect(api).toBeDefined();
    expect(() => attachTokenManager(api as NonNullable<typeof api>, new FakeTokenSource())).not.toThrow();
  });

  it('serves an instance of another axios copy that brings its own adapter function', async () => {
    let foreign: typeof axios | undefined;
    jest.isolateModules(() => {
      foreign = jest.requireActual<{ default: typeof axios }>('axios').default;
    });
    const seen: InternalAxiosRequestConfig[] = [];
    const api = (foreign as typeof axios).create({ baseURL: ORIGIN, adapter: captureAdapter(seen) });
    attachTokenManager(api, new FakeTokenSource('SECRET'));
    await api.get('/cards');
    expect(seen[0]?.headers.get('Authorization')).toBe('Bearer SECRET-0');
  });
});

describe('assertSupportedPeer()', () => {
  const complete = { AxiosHeaders: class {}, getAdapter: () => async () => ({ status: 200 }) };

  it('accepts the installed axios and every 1.x from the minimum', () => {
    expect(() => assertSupportedPeer('check')).not.toThrow();
    expect(() => assertSupportedPeer('check', { ...complete, VERSION: MIN_AXIOS_VERSION })).not.toThrow();
    expect(() => assertSupportedPeer('check', { ...complete, VERSION: '1.99.0' })).not.toThrow();
  });

  it.each(['0.27.2', '1.5.1', '2.0.0', undefined])(
    'names axios %s as unsupported and the range to install',
    (version) => {
      const check = (): void => assertSupportedPeer('check', { ...complete, VERSION: version });
      expect(check).toThrow(ConfigurationError);
      expect(check).toThrow(`install axios ${SUPPORTED_AXIOS_RANGE}`);
    },
  );

  it('names a 1.x without AxiosHeaders or getAdapter as unsupported', () => {
    expect(() => assertSupportedPeer('check', { VERSION: '1.6.0', AxiosHeaders: class {} })).toThrow(/getAdapter/);
  });
});

describe('cleartextProxyFor()', () => {
  const saved = { ...process.env };
  beforeEach(() => {
    for (const name of [
      'HTTPS_PROXY',
      'https_proxy',
      'HTTP_PROXY',
      'http_proxy',
      'ALL_PROXY',
      'all_proxy',
      'NO_PROXY',
      'no_proxy',
    ]) {
      delete process.env[name];
    }
  });
  afterAll(() => {
    process.env = saved;
  });

  it('names the http proxy an axios before 1.16.1 (or of unknown version) sends an https request to in clear', () => {
    process.env.HTTPS_PROXY = 'http://proxy.local:3128';
    for (const VERSION of ['1.6.0', '1.16.0', undefined]) {
      expect(cleartextProxyFor('https://api.example.com/x', { VERSION })?.href).toBe('http://proxy.local:3128/');
    }
    for (const VERSION of ['1.16.1', '1.17.0', '2.0.0']) {
      expect(cleartextProxyFor('https://api.example.com/x', { VERSION })).toBeUndefined();
    }
  });

  it('names none for an http URL (already in clear, whatever proxy it takes), nor for an https proxy', () => {
    process.env.HTTPS_PROXY = 'http://proxy.local:3128';
    process.env.HTTP_PROXY = 'http://proxy.local:3128';
    expect(cleartextProxyFor('http://api.example.com/x', { VERSION: '1.6.0' })).toBeUndefined();
    process.env.HTTPS_PROXY = 'https://proxy.local:3129';
    expect(cleartextProxyFor('https://api.example.com/x', { VERSION: '1.6.0' })).toBeUndefined();
  });
});
