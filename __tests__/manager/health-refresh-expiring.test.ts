/**
 * health()'s "refresh token expiring soon" branch, against the sandbox: a sandbox that issues
 * refresh tokens with two days to live, a manager that warns at seven (the default) or one.
 */
import { TokenManager } from '../../src/manager/token-manager';
import type { TokenManagerOptions } from '../../src/manager/options';
import { AlixAuthProvider } from '../../src/providers/alix/provider';
import { startAlixSandbox } from '../../src/sandbox/server';
import type { AlixSandbox } from '../../src/sandbox/server';

const DAY_MS = 24 * 60 * 60_000;
const REFRESH_TOKEN_REASON = 'refresh token expires soon; a full sign-in will follow';

describe('health() when the refresh token expires soon (sandbox)', () => {
  let sandbox: AlixSandbox;
  let manager: TokenManager | undefined;

  beforeAll(async () => {
    sandbox = await startAlixSandbox({ refreshTokenTtlMs: 2 * DAY_MS });
  });
  afterEach(() => manager?.close());
  afterAll(() => sandbox.close());

  const start = (options: Partial<TokenManagerOptions> = {}): TokenManager => {
    manager = new TokenManager({
      provider: new AlixAuthProvider({
        baseUrl: sandbox.url,
        partnerCode: sandbox.partnerCode,
        secretKey: sandbox.secretKey,
        privateKey: sandbox.privateKeyPem,
      }),
      ...options,
    });
    return manager;
  };

  it('is degraded, naming the refresh token, while the access token itself is fresh', async () => {
    const subject = start();
    await subject.getAccessToken();

    const { accessTokenExpiresAt, refreshTokenExpiresAt } = subject.status();
    // The premise: a fresh 15-minute access token, and a refresh token with about two days
    // left: inside the 7-day warning, outside a 1-day one (the second test).
    expect((accessTokenExpiresAt ?? 0) - Date.now()).toBeGreaterThan(10 * 60_000);
    expect((refreshTokenExpiresAt ?? 0) - Date.now()).toBeGreaterThan(1 * DAY_MS);
    expect((refreshTokenExpiresAt ?? Infinity) - Date.now()).toBeLessThan(7 * DAY_MS);
    expect(subject.health()).toEqual({ status: 'degraded', reasons: [REFRESH_TOKEN_REASON] });
  });

  it('is ok with the same tokens when refreshTokenWarningMs is shorter than what is left', async () => {
    const subject = start({ refreshTokenWarningMs: 1 * DAY_MS });
    await subject.getAccessToken();

    expect(subject.health()).toEqual({ status: 'ok', reasons: [] });
  });
});
