/**
 * `@opentelemetry/api` is an optional peer: the core never loads it. (The otel entry without it
 * is tested in __tests__/errors/missing-peer.test.ts, and its built ESM and CommonJS entries
 * from the packed tarball by scripts/check-consumers.sh.)
 */
/** Simulates a project without the peer: requiring it throws as Node would. */
function withoutOtelApi(): { loaded: () => boolean } {
  let loaded = false;
  jest.doMock('@opentelemetry/api', () => {
    loaded = true;
    throw Object.assign(new Error("Cannot find module '@opentelemetry/api'"), { code: 'MODULE_NOT_FOUND' });
  });
  return { loaded: () => loaded };
}

describe('the @opentelemetry/api optional peer', () => {
  afterEach(() => jest.resetModules());

  it('is never loaded by the core entry', () => {
    jest.isolateModules(() => {
      const peer = withoutOtelApi();
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- loads the entry inside the isolated registry
      const core = require('../../src/index') as { TokenManager?: unknown };
      expect(typeof core.TokenManager).toBe('function');
      expect(peer.loaded()).toBe(false);
    });
  });
});
