/**
 * The provider's auth calls go through the application's (peer) axios, so the provider checks
 * its version at construction, as attachTokenManager() does at attach time. Each test loads the
 * provider in a fresh module registry whose `axios` is a real install of another version
 * (the `axios-0` and `axios-1.6` dev-dependency aliases).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { ErrorCodes } from '../../../src/errors';
import type * as ErrorsModule from '../../../src/errors';
import type * as ProviderModule from '../../../src/providers/alix/provider';
import type { AlixAuthProviderOptions } from '../../../src/providers/alix';
import { startAlixSandbox, type AlixSandbox } from '../../../src/sandbox/server';
import { captureThrow, findLeaks, pemBodyLines } from '../../helpers/alix-keys';

type PeerAlias = 'axios-0' | 'axios-1.6';

interface Loaded {
  AlixAuthProvider: typeof ProviderModule.AlixAuthProvider;
  ConfigurationError: typeof ErrorsModule.ConfigurationError;
  /** `axios.VERSION` as the provider's module registry resolves `axios`. */
  peerVersion: string;
}

/** The provider and error classes from a registry where `import axios from 'axios'` is `alias`. */
function loadWithPeerAxios(alias: PeerAlias): Loaded {
  let loaded: Loaded | undefined;
  jest.isolateModules(() => {
    jest.doMock('axios', () => jest.requireActual<object>(alias));
    /* eslint-disable @typescript-eslint/no-require-imports -- loads the modules inside the isolated registry */
    loaded = {
      AlixAuthProvider: (require('../../../src/providers/alix/provider') as typeof ProviderModule).AlixAuthProvider,
      ConfigurationError: (require('../../../src/errors') as typeof ErrorsModule).ConfigurationError,
      peerVersion: (require('axios') as { VERSION: string }).VERSION,
    };
    /* eslint-enable @typescript-eslint/no-require-imports */
  });
  jest.dontMock('axios');
  return loaded as Loaded;
}

describe('AlixAuthProvider and the installed axios version', () => {
  let sandbox: AlixSandbox;
  const errors: unknown[] = [];

  beforeAll(async () => {
    sandbox = await startAlixSandbox();
  });
  afterAll(() => sandbox.close());

  function options(): AlixAuthProviderOptions {
    return {
      baseUrl: sandbox.url,
      partnerCode: sandbox.partnerCode,
      secretKey: sandbox.secretKey,
      privateKey: sandbox.privateKeyPem,
    };
  }

  it('refuses to construct with axios 0.27 installed, naming the version and the range to install', () => {
    const { AlixAuthProvider, ConfigurationError, peerVersion } = loadWithPeerAxios('axios-0');
    expect(peerVersion).toBe('0.27.2');
    sandbox.resetCounters();

    const error = captureThrow(() => new AlixAuthProvider(options()), errors);

    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error).toMatchObject({ code: ErrorCodes.CONFIGURATION });
    expect((error as Error).message).toBe('AlixAuthProvider: axios 0.27.2 is not supported; install axios ^1.6.0');
    expect(
      findLeaks([error], { secretKey: sandbox.secretKey, privateKey: pemBodyLines(sandbox.privateKeyPem)[0] ?? '' }),
    ).toEqual([]);
    expect(sandbox.counters().requests).toBe(0);
  });

  it('refuses forUsers() with axios 0.27 installed, before any user', () => {
    const { AlixAuthProvider, ConfigurationError } = loadWithPeerAxios('axios-0');
    expect(() => AlixAuthProvider.forUsers(options())).toThrow(ConfigurationError);
  });

  it('constructs and signs in with axios 1.6.0, the oldest supported', async () => {
    const { AlixAuthProvider, peerVersion } = loadWithPeerAxios('axios-1.6');
    expect(peerVersion).toBe('1.6.0');
    sandbox.resetCounters();

    const session = await new AlixAuthProvider(options()).authenticate();

    expect(session.accessToken).toEqual(expect.any(String));
    expect(sandbox.counters().authenticate).toBe(1);
  });

  describe('behind an http proxy (HTTPS_PROXY)', () => {
    const seen: string[] = [];
    const proxy = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(502).end();
    });
    proxy.on('connect', (req: http.IncomingMessage, socket: Duplex) => {
      seen.push(`CONNECT ${req.url}`);
      socket.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
    });
    // Every variable axios's proxy rule reads (npm sets its own `npm_config_*` for `npm test`), set here alone.
    const PROXY_VARIABLES = ['https_proxy', 'all_proxy', 'no_proxy', 'proxy']
      .flatMap((name) => [name, name.toUpperCase(), `npm_config_${name}`])
      .filter((name) => name !== 'PROXY');
    const saved = Object.fromEntries(PROXY_VARIABLES.map((name) => [name, process.env[name]]));

    beforeAll(async () => {
      await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
      for (const name of PROXY_VARIABLES) delete process.env[name];
      process.env.HTTPS_PROXY = `http://user:proxy-password@127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      for (const [name, value] of Object.entries(saved))
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    });
    afterEach(() => {
      seen.length = 0;
      delete process.env.NO_PROXY;
    });

    /** An https auth server that refuses connections: only the proxy can answer. */
    const httpsOptions = (): AlixAuthProviderOptions => ({ ...options(), baseUrl: 'https://127.0.0.1:9' });

    it('refuses an auth call that axios 1.6 would hand the proxy in the clear, unsigned and unsent', async () => {
      const { AlixAuthProvider, ConfigurationError } = loadWithPeerAxios('axios-1.6');
      const error = await new AlixAuthProvider(httpsOptions()).authenticate().catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(ConfigurationError);
      expect((error as Error).message).toBe(
        'authenticate not sent: axios 1.6.0 would send it to the http proxy at ' +
          `${new URL(process.env.HTTPS_PROXY ?? '').host} unencrypted (before 1.16.1, axios does not tunnel ` +
          'https). Upgrade axios to 1.16.1 or later, or add 127.0.0.1 to NO_PROXY.',
      );
      expect(seen).toEqual([]);
    });

    it('sends it where NO_PROXY excludes the host, and through a CONNECT tunnel with a newer axios', async () => {
      process.env.NO_PROXY = '127.0.0.1';
      const { AlixAuthProvider } = loadWithPeerAxios('axios-1.6');
      const direct = await new AlixAuthProvider(httpsOptions()).authenticate().catch((caught: unknown) => caught);
      expect(direct).toMatchObject({ code: ErrorCodes.AUTH_UNAVAILABLE, reason: 'network' });
      delete process.env.NO_PROXY;

      const { AlixAuthProvider: Current } = jest.requireActual<typeof ProviderModule>(
        '../../../src/providers/alix/provider',
      );
      const tunnelled = await new Current(httpsOptions()).authenticate().catch((caught: unknown) => caught);
      expect(tunnelled).toMatchObject({ code: ErrorCodes.AUTH_UNAVAILABLE });
      expect(seen).toEqual(['CONNECT 127.0.0.1:9']);
    });
  });
});
