import { Writable } from 'node:stream';
import pino from 'pino';
import { AuthRejectedError, ConfigurationError } from '../../src/errors';
import { createLogger } from '../../src/logger';
import { TokenManager } from '../../src/manager/token-manager';
import { FakeProvider } from '../helpers/fake-provider';
import { T0, makeManager, minutes, useFakeClock } from '../helpers/manager';

function captureLogs(): { logger: pino.Logger; lines: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines: () => chunks.join('') };
}

describe('TokenManager', () => {
  beforeEach(() => useFakeClock());
  afterEach(() => jest.useRealTimers());

  describe('events', () => {
    it('emits refreshed with expiries and whether it was a sign-in, never a token', async () => {
      const { manager } = makeManager();
      const events: unknown[] = [];
      manager.on('refreshed', (event) => events.push(event));
      await manager.getAccessToken();
      await manager.getAccessToken({ forceRefresh: true });
      expect(events).toEqual([
        {
          accessTokenExpiresAt: T0 + minutes(15),
          refreshTokenExpiresAt: expect.any(Number),
          signIn: true,
          reason: 'initial',
        },
        {
          accessTokenExpiresAt: T0 + minutes(15),
          refreshTokenExpiresAt: expect.any(Number),
          signIn: false,
          reason: 'forced',
        },
      ]);
      expect(JSON.stringify(events)).not.toMatch(/access-|refresh-/);
      manager.close();
    });

    it('derives error from the refresh-ended event of a failed run: the same Error, right after it', async () => {
      const { manager, provider } = makeManager();
      provider.script.push(new AuthRejectedError({ operation: 'authenticate', status: 400, errorCode: 32 }));
      const seen: Array<[string, unknown]> = [];
      manager.on('lifecycle', (event) => {
        if (event.type === 'refresh-ended') seen.push(['refresh-ended', event.error]);
      });
      manager.on('error', (error) => seen.push(['error', error]));
      const failure: unknown = await manager.getAccessToken().catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(AuthRejectedError);
      expect(seen.map(([name]) => name)).toEqual(['refresh-ended', 'error']);
      for (const [, error] of seen) expect(error).toBe(failure);
      manager.close();
    });

    it('warns once per refresh token when it nears its own expiry', async () => {
      const { manager } = makeManager({ refreshTokenWarningMs: minutes(60) }, { refreshTtlMs: minutes(59) });
      const warnings: unknown[] = [];
      manager.on('refreshTokenExpiring', (event) => warnings.push(event));
      await manager.getAccessToken();
      await manager.getAccessToken();
      expect(warnings).toEqual([{ refreshTokenExpiresAt: T0 + minutes(59), remainingMs: minutes(59) }]);
      manager.close();
    });
  });

  describe('status()', () => {
    it('reports state, expiries and counters without any secret', async () => {
      const { manager } = makeManager();
      expect(manager.status().state).toBe('idle');
      await manager.getAccessToken();
      const status = manager.status();
      expect(status).toMatchObject({
        state: 'valid',
        accessTokenExpiresAt: T0 + minutes(15),
        nextRefreshAt: T0 + minutes(10),
        lastRefreshAt: T0,
        lastError: null,
        refreshCount: 1,
        counts: { signIns: 1 },
      });
      expect(JSON.stringify(status)).not.toMatch(/access-1|refresh-1/);
      jest.setSystemTime(T0 + minutes(16));
      expect(manager.status().state).toBe('expired');
      manager.close();
    });
  });

  describe('logging', () => {
    it('logs lifecycle events through the given pino logger with no token in them', async () => {
      const { logger, lines } = captureLogs();
      const { manager } = makeManager({ logger });
      await manager.getAccessToken();
      manager.invalidate('access-1');
      await manager.getAccessToken();
      const output = lines();
      expect(output).toContain('"event":"refresh-start"');
      expect(output).toContain('"event":"invalidated"');
      expect(output).toContain('"module":"alix-token-manager"');
      expect(output).not.toMatch(/access-\d|refresh-\d/);
      manager.close();
    });

    it('redacts tokens and authorization headers at any depth the library logs', () => {
      const { logger, lines } = captureLogs();
      const log = createLogger(logger);
      log.info({
        accessToken: 'secret-a',
        err: { config: { headers: { authorization: 'Bearer secret-b' } } },
        nested: { refreshToken: 'secret-c' },
      });
      expect(lines()).not.toMatch(/secret-[abc]/);
      expect(lines()).toContain('[REDACTED]');
    });
  });

  describe('constructor', () => {
    it.each([
      ['no provider', {}],
      ['a negative window', { provider: new FakeProvider({ now: Date.now }), refreshBeforeExpiryMs: -1 }],
      ['a non-function clock', { provider: new FakeProvider({ now: Date.now }), now: 5 }],
      [
        'seed tokens with nothing in them',
        { provider: new FakeProvider({ now: Date.now }), initialTokens: { refreshToken: '' } },
      ],
      ['a store without methods', { provider: new FakeProvider({ now: Date.now }), store: {} }],
      [
        'a randomize that is not a boolean',
        { provider: new FakeProvider({ now: Date.now }), retry: { randomize: 'no' } },
      ],
      [
        'retries that are not a whole number',
        { provider: new FakeProvider({ now: Date.now }), retry: { retries: 1.5 } },
      ],
      ['a negative number of retries', { provider: new FakeProvider({ now: Date.now }), retry: { retries: -1 } }],
      ['a retry factor below 1', { provider: new FakeProvider({ now: Date.now }), retry: { factor: 0 } }],
      [
        'no pause between background runs',
        { provider: new FakeProvider({ now: Date.now }), retry: { backgroundMinDelayMs: 0 } },
      ],
    ])('throws a ConfigurationError for %s', (_label, options) => {
      expect(() => new TokenManager(options as never)).toThrow(ConfigurationError);
    });

    it.each([
      [{ retry: { minTimeoutMs: 0 } }, 'retry.minTimeoutMs is now retry.minDelayMs'],
      [{ retry: { maxTimeoutMs: 0 } }, 'retry.maxTimeoutMs is now retry.maxDelayMs'],
      [{ backgroundRetryDelayMs: 1 }, 'backgroundRetryDelayMs is now retry.backgroundMinDelayMs'],
      [{ backgroundRetryMaxDelayMs: 1 }, 'backgroundRetryMaxDelayMs is now retry.backgroundMaxDelayMs'],
    ])('refuses the renamed option in %j, naming its new name', (renamed, message) => {
      const options = { provider: new FakeProvider({ now: Date.now }), ...renamed };
      expect(() => new TokenManager(options as never)).toThrow(ConfigurationError);
      expect(() => new TokenManager(options as never)).toThrow(message);
    });
  });
});
