/**
 * The optional peers (@opentelemetry/api for /otel, msw for /testing/msw) load on first use:
 * each entry imports without its peer, and its first call throws one typed MissingPeerError.
 * (The built ESM and CommonJS entries are checked from the packed tarball by
 * scripts/check-consumers.sh.)
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { MissingPeerError } from '../../src/errors';
import type * as OptionalPeerModule from '../../src/optional-peer';
import type * as OtelEntry from '../../src/otel';
import type * as MswEntry from '../../src/sandbox/msw-entry';

const peerDependencies = (
  JSON.parse(readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')) as {
    peerDependencies: Record<string, string>;
  }
).peerDependencies;

/** Makes `require(name)` fail inside the isolated registry as Node's does for a package that is not installed. */
function withoutPackage(name: string): void {
  jest.doMock(name, () => {
    throw Object.assign(new Error(`Cannot find module '${name}' from 'src/optional-peer.ts'`), {
      code: 'MODULE_NOT_FOUND',
    });
  });
}

/** The error `act` throws, or undefined. */
function thrownBy(act: () => unknown): unknown {
  try {
    act();
  } catch (error) {
    return error;
  }
  return undefined;
}

afterEach(() => {
  jest.dontMock('@opentelemetry/api');
  jest.dontMock('msw');
  jest.resetModules();
});

/* eslint-disable @typescript-eslint/no-require-imports -- each test loads an entry inside its own isolated registry */
describe('alix-token-manager/otel without @opentelemetry/api', () => {
  it('imports, and instrumentTokenManager() throws a MissingPeerError naming the peer, its range and the fix', () => {
    jest.isolateModules(() => {
      withoutPackage('@opentelemetry/api');
      const otel = require('../../src/otel') as typeof OtelEntry;
      const error = thrownBy(() =>
        otel.instrumentTokenManager({ on: jest.fn(), off: jest.fn(), status: jest.fn() } as never),
      );

      expect(otel.METRIC_NAMES).toBeDefined();
      expect(error).toMatchObject({
        name: 'MissingPeerError',
        code: 'ERR_ALIX_MISSING_PEER',
        packageName: '@opentelemetry/api',
        range: peerDependencies['@opentelemetry/api'],
        entry: 'alix-token-manager/otel',
        installCommand: `npm install "@opentelemetry/api@${peerDependencies['@opentelemetry/api']}"`,
      });
      expect((error as MissingPeerError).message).toContain('without it, use');
    });
  });
});

describe('alix-token-manager/testing/msw without msw', () => {
  it('imports, and alixHandlers() throws a MissingPeerError with a dev-dependency install command', () => {
    jest.isolateModules(() => {
      withoutPackage('msw');
      const entry = require('../../src/sandbox/msw-entry') as typeof MswEntry;
      const error = thrownBy(() => entry.alixHandlers());

      expect(error).toMatchObject({
        code: 'ERR_ALIX_MISSING_PEER',
        packageName: 'msw',
        range: peerDependencies.msw,
        installCommand: `npm install --save-dev "msw@${peerDependencies.msw}"`,
      });
      expect((error as MissingPeerError).message).toContain('alix-token-manager/testing');
    });
  });
});

describe('loadOptionalPeer()', () => {
  it('rethrows a failure inside an installed peer as it is', () => {
    jest.isolateModules(() => {
      jest.doMock('msw', () => {
        throw Object.assign(new Error("Cannot find module './core/index.js'"), { code: 'MODULE_NOT_FOUND' });
      });
      const { loadOptionalPeer } = require('../../src/optional-peer') as typeof OptionalPeerModule;
      const error = thrownBy(() => loadOptionalPeer({ packageName: 'msw', entry: 'e', worksWithout: 'w' }));

      expect(error).toBeInstanceOf(Error);
      expect((error as { code?: string }).code).toBe('MODULE_NOT_FOUND');
    });
  });

  it("rethrows a missing subpath of the peer (a broken install) as it is, not as the peer's absence", () => {
    jest.isolateModules(() => {
      jest.doMock('msw', () => {
        throw Object.assign(new Error("Cannot find module 'msw/lib/core'"), { code: 'MODULE_NOT_FOUND' });
      });
      const { loadOptionalPeer } = require('../../src/optional-peer') as typeof OptionalPeerModule;
      const error = thrownBy(() => loadOptionalPeer({ packageName: 'msw', entry: 'e', worksWithout: 'w' }));

      expect((error as { code?: string }).code).toBe('MODULE_NOT_FOUND');
    });
  });

  it('loads an installed peer', () => {
    jest.isolateModules(() => {
      const { loadOptionalPeer } = require('../../src/optional-peer') as typeof OptionalPeerModule;
      const api = loadOptionalPeer<{ trace?: unknown }>({
        packageName: '@opentelemetry/api',
        entry: 'e',
        worksWithout: 'w',
      });
      expect(api.trace).toBeDefined();
    });
  });

  it('takes each range from package.json peerDependencies', () => {
    for (const packageName of ['msw', '@opentelemetry/api'] as const) {
      jest.isolateModules(() => {
        withoutPackage(packageName);
        const { loadOptionalPeer } = require('../../src/optional-peer') as typeof OptionalPeerModule;
        const error = thrownBy(() => loadOptionalPeer({ packageName, entry: 'e', worksWithout: 'w' }));
        expect(error).toMatchObject({ range: peerDependencies[packageName] });
      });
    }
  });
});
/* eslint-enable @typescript-eslint/no-require-imports */
