/**
 * The provider's auth calls go through the application's (peer) axios, so the provider checks
 * its version at construction, as attachTokenManager() does at attach time. Each test loads the
 * provider in a fresh module registry whose `axios` is a real install of another version
 * (the `axios-0` and `axios-1.6` dev-dependency aliases).
 */
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
});
