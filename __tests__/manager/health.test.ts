/**
 * health()'s verdict at the edges of each rule: pure, from a status snapshot and the wall clock.
 */
import { assessHealth } from '../../src/manager/status';
import type { HealthInput } from '../../src/manager/status';
import type { TokenManagerStatus } from '../../src/manager/types';

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const DAY_MS = 24 * 60 * 60_000;

/** A valid session with 15 minutes left and a refresh token good for 180 days, unless overridden. */
function statusOf(overrides: Partial<TokenManagerStatus> = {}): TokenManagerStatus {
  return {
    state: 'valid',
    accessTokenExpiresAt: NOW + 15 * 60_000,
    refreshTokenExpiresAt: NOW + 180 * DAY_MS,
    nextRefreshAt: NOW + 10 * 60_000,
    lastRefreshAt: NOW,
    lastError: null,
    refreshCount: 1,
    counts: {
      signIns: 1,
      failures: 0,
      retries: 0,
      invalidations: 0,
      adoptions: 0,
      ambiguousRefreshes: 0,
      unreadableSessions: 0,
    },
    refreshTokenRejections: { count: 0, lastAt: null, current: false },
    breaker: null,
    ...overrides,
  };
}

/** By default a caller gets the held token at once while it is valid or refreshed before its expiry. */
const servableIn = ({ state, accessTokenExpiresAt }: TokenManagerStatus): boolean =>
  state === 'valid' || (state === 'refreshing' && (accessTokenExpiresAt ?? NOW) > NOW);

const health = (status: TokenManagerStatus, input: Partial<HealthInput> = {}): ReturnType<typeof assessHealth> =>
  assessHealth({
    status,
    now: NOW,
    servable: servableIn(status),
    options: {},
    refreshTokenWarningMs: 7 * DAY_MS,
    stats: { lockUnavailable: undefined, writeFailing: undefined },
    ...input,
  });

const lastError = {
  code: 'ERR_ALIX_AUTH_UNAVAILABLE',
  name: 'AuthUnavailableError',
  message: 'down',
  nextAttemptAt: null,
};

describe('assessHealth()', () => {
  it('needs a minute of validity by default: ok at exactly 60 s left, degraded below', () => {
    expect(health(statusOf({ accessTokenExpiresAt: NOW + 60_000 }))).toEqual({ status: 'ok', reasons: [] });
    expect(health(statusOf({ accessTokenExpiresAt: NOW + 59_000 }))).toEqual({
      status: 'degraded',
      reasons: ['access token expires in 59 s'],
    });
  });

  it('says 0 s, never a negative time, for a token its wall clock already sees expired', () => {
    expect(health(statusOf({ accessTokenExpiresAt: NOW - 5_000 })).reasons).toEqual(['access token expires in 0 s']);
  });

  it('counts a token still valid during a refresh, and none at its expiry', () => {
    expect(health(statusOf({ state: 'refreshing' }))).toEqual({ status: 'ok', reasons: [] });
    expect(health(statusOf({ state: 'refreshing', accessTokenExpiresAt: NOW }))).toEqual({
      status: 'degraded',
      reasons: ['no valid token held; the next call refreshes'],
    });
    expect(health(statusOf({ state: 'refreshing', accessTokenExpiresAt: NOW, lastError })).status).toBe('down');
  });

  it('counts no token while callers wait for the refresh, however long it has left', () => {
    expect(health(statusOf({ state: 'refreshing' }), { servable: false })).toEqual({
      status: 'degraded',
      reasons: ['no valid token held; the next call refreshes'],
    });
  });

  it('tells a manager that never held a token from one whose token expired', () => {
    const empty = { accessTokenExpiresAt: null, nextRefreshAt: null };
    expect(health(statusOf({ state: 'idle', ...empty }))).toEqual({
      status: 'degraded',
      reasons: ['no token held yet; the first call signs in'],
    });
    expect(health(statusOf({ state: 'expired', accessTokenExpiresAt: NOW - 1 }))).toEqual({
      status: 'degraded',
      reasons: ['no valid token held; the next call refreshes'],
    });
  });

  it('is down when closed, whatever is held', () => {
    expect(health(statusOf({ state: 'closed' }))).toEqual({ status: 'down', reasons: ['the token manager is closed'] });
  });

  it('is degraded by a failing background refresh, an unusable breaker or lock, and an unstored token set', () => {
    const breaker = { state: 'closed' as const, failures: 0, openUntil: null, level: null, unavailable: 'NOPERM' };
    expect(
      health(statusOf({ lastError, breaker }), { stats: { lockUnavailable: 'NOPERM lock', writeFailing: 'READONLY' } }),
    ).toEqual({
      status: 'degraded',
      reasons: [
        'background refresh failing: ERR_ALIX_AUTH_UNAVAILABLE',
        'auth breaker unavailable: NOPERM',
        'refresh lock unavailable: NOPERM lock',
        'the token set is not stored: READONLY',
      ],
    });
  });

  it('warns about a refresh token with less than refreshTokenWarningMs left, not one with exactly that', () => {
    const reason = 'refresh token expires soon; a full sign-in will follow';
    expect(health(statusOf({ refreshTokenExpiresAt: NOW + 7 * DAY_MS }))).toEqual({ status: 'ok', reasons: [] });
    expect(health(statusOf({ refreshTokenExpiresAt: NOW + 7 * DAY_MS - 1 }))).toEqual({
      status: 'degraded',
      reasons: [reason],
    });
  });
});
