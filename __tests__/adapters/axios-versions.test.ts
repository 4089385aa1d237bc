/**
 * attachTokenManager() with real installs of other axios versions (the `axios-0` and `axios-1.6`
 * dev-dependency aliases), not hand-built look-alikes. Each describe loads the library in a
 * fresh module registry whose `axios` is one of them, as in a service whose only axios is that
 * version; with axios 1.6.0 the provider under the TokenManager makes its auth calls with it too.
 */
import axios0 from 'axios-0';
import type axios16 from 'axios-1.6';
import type * as AdapterModule from '../../src/adapters/axios';
import type * as ErrorsModule from '../../src/errors';
import type * as ManagerModule from '../../src/manager/token-manager';
import type * as ProviderModule from '../../src/providers/alix/provider';
import { ErrorCodes } from '../../src/errors';
import { startAlixSandbox, type AlixSandbox } from '../../src/sandbox/server';
import { FakeTokenSource } from '../helpers/fake-token-source';
import { startLocalApi, type LocalApi } from './support/local-api';

/** The library as a service with only `alias` installed as `axios` loads it. */
interface Library {
  /** The module `import axios from 'axios'` gets in src/. */
  peer: unknown;
  attachTokenManager: typeof AdapterModule.attachTokenManager;
  ConfigurationError: typeof ErrorsModule.ConfigurationError;
  TokenManager: typeof ManagerModule.TokenManager;
  AlixAuthProvider: typeof ProviderModule.AlixAuthProvider;
}

function loadWithPeerAxios(alias: 'axios-0' | 'axios-1.6'): Library {
  let library: Library | undefined;
  jest.isolateModules(() => {
    jest.doMock('axios', () => jest.requireActual<object>(alias));
    /* eslint-disable @typescript-eslint/no-require-imports -- loads the library inside the isolated registry */
    library = {
      peer: require('axios'),
      attachTokenManager: (require('../../src/adapters/axios') as typeof AdapterModule).attachTokenManager,
      ConfigurationError: (require('../../src/errors') as typeof ErrorsModule).ConfigurationError,
      TokenManager: (require('../../src/manager/token-manager') as typeof ManagerModule).TokenManager,
      AlixAuthProvider: (require('../../src/providers/alix/provider') as typeof ProviderModule).AlixAuthProvider,
    };
    /* eslint-enable @typescript-eslint/no-require-imports */
  });
  jest.dontMock('axios');
  return library as Library;
}

/** The request interceptors registered on an axios instance (0.x and 1.x keep them in `handlers`). */
function requestInterceptors(instance: { interceptors: { request: unknown } }): unknown[] {
  return (instance.interceptors.request as { handlers: unknown[] }).handlers.filter((handler) => handler !== null);
}

describe('attachTokenManager() with a real axios 1.6.0 (the oldest supported)', () => {
  const library = loadWithPeerAxios('axios-1.6');
  const axios = library.peer as typeof axios16;
  const { attachTokenManager } = library;
  let sandbox: AlixSandbox;
  let elsewhere: LocalApi;
  let manager: ManagerModule.TokenManager;

  beforeAll(async () => {
    [sandbox, elsewhere] = await Promise.all([startAlixSandbox(), startLocalApi()]);
  });
  beforeEach(() => {
    sandbox.resetCounters();
    elsewhere.seen.length = 0;
    manager = new library.TokenManager({
      provider: new library.AlixAuthProvider({
        baseUrl: sandbox.url,
        partnerCode: sandbox.partnerCode,
        secretKey: sandbox.secretKey,
        privateKey: sandbox.privateKeyPem,
      }),
    });
  });
  afterEach(() => manager.close());
  afterAll(() => Promise.all([sandbox.close(), elsewhere.close()]));

  it('is the axios the library resolves here', () => {
    expect(axios.VERSION).toBe('1.6.0');
  });

  it('sends the bearer on requests to the instance’s origin', async () => {
    const api = axios.create({ baseURL: sandbox.url });
    attachTokenManager(api, manager);

    const response = await api.get('/api/v2/cards');

    expect(response.status).toBe(200);
    expect(response.config.headers.get('Authorization')).toBe(`Bearer ${await manager.getAccessToken()}`);
    // The sandbox answers 401 to a request without a valid bearer.
    await expect(axios.get(`${sandbox.url}/api/v2/cards`)).rejects.toMatchObject({ response: { status: 401 } });
    expect(sandbox.counters()).toMatchObject({ resourceRequests: 2, resource401s: 1 });
  });

  it('replays a 401 once, with a new token', async () => {
    const api = axios.create({ baseURL: sandbox.url });
    attachTokenManager(api, manager);
    const before = await manager.getAccessToken();
    sandbox.revokeAccessTokens();
    sandbox.resetCounters();

    const response = await api.get('/api/v2/cards');

    expect(response.status).toBe(200);
    const sent = response.config.headers.get('Authorization');
    expect(sent).toBe(`Bearer ${await manager.getAccessToken()}`);
    expect(sent).not.toBe(`Bearer ${before}`);
    expect(sandbox.counters()).toMatchObject({ resourceRequests: 2, resource401s: 1, refresh: 1, authenticate: 0 });
  });

  it('sends no bearer to another origin', async () => {
    const api = axios.create({ baseURL: sandbox.url });
    attachTokenManager(api, manager);
    await api.get('/api/v2/cards');

    const response = await api.get(`${elsewhere.origin}/public`);

    expect(response.status).toBe(200);
    expect(elsewhere.seen).toEqual([{ path: '/public', auth: null }]);
  });

  it('refuses, unsent, an https request with the bearer that this axios would hand an HTTPS_PROXY unencrypted', async () => {
    const proxy = await startLocalApi();
    // Every variable axios's proxy rule reads (npm sets its own `npm_config_*` for `npm test`), set here alone.
    const saved = { ...process.env };
    for (const name of ['https_proxy', 'all_proxy', 'no_proxy', 'proxy'].flatMap((n) => [n, n.toUpperCase()]))
      for (const variable of [name, `npm_config_${name}`]) delete process.env[variable];
    process.env.HTTPS_PROXY = proxy.origin;
    try {
      const source = new FakeTokenSource('SECRET');
      // Nothing listens on port 9: a request that goes direct fails to connect.
      const api = axios.create({ baseURL: 'https://127.0.0.1:9' });
      attachTokenManager(api, source);

      const refused = await api.get('/cards').catch((e: unknown) => e);

      expect(proxy.seen).toEqual([]);
      expect(refused).toBeInstanceOf(library.ConfigurationError);
      expect((refused as Error).message).toBe(
        'attachTokenManager: a request to https://127.0.0.1:9 not sent: axios 1.6.0 would send it to the http ' +
          `proxy at ${new URL(proxy.origin).host} unencrypted (before 1.16.1, axios does not tunnel https). ` +
          'Upgrade axios to 1.16.1 or later, or add 127.0.0.1 to NO_PROXY.',
      );
      // A proxy the request sets aside, or NO_PROXY, sends it direct.
      await expect(api.get('/cards', { proxy: false })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      process.env.NO_PROXY = '127.0.0.1';
      await expect(api.get('/cards')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      expect(proxy.seen).toEqual([]);
    } finally {
      process.env = saved;
      await proxy.close();
    }
  });
});

describe('attachTokenManager() with a real axios 0.27 instance', () => {
  let api: LocalApi;

  beforeAll(async () => {
    api = await startLocalApi();
  });
  beforeEach(() => {
    api.seen.length = 0;
  });
  afterAll(() => api.close());

  /** Attaches a token source that counts its calls; returns the error thrown. */
  function attachError(library: Library, instance: unknown): { error: unknown; tokenRequests: number } {
    const source = new FakeTokenSource('SECRET');
    const getAccessToken = jest.spyOn(source, 'getAccessToken');
    try {
      library.attachTokenManager(instance as Parameters<Library['attachTokenManager']>[0], source);
    } catch (error) {
      return { error, tokenRequests: getAccessToken.mock.calls.length };
    }
    throw new Error('expected attachTokenManager() to throw');
  }

  it.each(['axios-1.6', 'axios-0'] as const)(
    'throws a ConfigurationError at attach time (library resolves %s): nothing registered, no token asked for, no request sent',
    async (alias) => {
      const library = loadWithPeerAxios(alias);
      const legacy = axios0.create({ baseURL: api.origin });

      const { error, tokenRequests } = attachError(library, legacy);

      expect(error).toBeInstanceOf(library.ConfigurationError);
      expect(error).toMatchObject({ code: ErrorCodes.CONFIGURATION });
      expect((error as Error).message).toBe(
        'attachTokenManager: this axios instance is axios 0.x, which is not supported; install axios ^1.6.0',
      );
      expect(requestInterceptors(legacy)).toEqual([]);
      expect(tokenRequests).toBe(0);
      expect(api.seen).toEqual([]);
      // The instance is left as it was: a request sent anyway carries no bearer.
      await legacy.get('/cards');
      expect(api.seen).toEqual([{ path: '/cards', auth: null }]);
    },
  );

  it('refuses a 1.x instance too while the axios the library resolves is 0.27', () => {
    const library = loadWithPeerAxios('axios-0');
    expect((library.peer as typeof axios0).VERSION).toBe('0.27.2');
    const modern = (loadWithPeerAxios('axios-1.6').peer as typeof axios16).create({ baseURL: api.origin });

    const { error, tokenRequests } = attachError(library, modern);

    expect(error).toBeInstanceOf(library.ConfigurationError);
    expect((error as Error).message).toBe('attachTokenManager: axios 0.27.2 is not supported; install axios ^1.6.0');
    expect(requestInterceptors(modern)).toEqual([]);
    expect(tokenRequests).toBe(0);
  });
});
