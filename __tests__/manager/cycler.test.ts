import { AuthRejectedError, AuthUnavailableError, ConfigurationError, MalformedResponseError } from '../../src/errors';
import { RefreshCycler } from '../../src/manager/cycler';
import type { CyclerSettings } from '../../src/manager/cycler';
import type { TokenSet } from '../../src/token-set';

const MINUTE = 60_000;
const T0 = 1_000_000;

function makeCycler(overrides: Partial<CyclerSettings> = {}): RefreshCycler {
  return new RefreshCycler({
    refreshBeforeExpiryMs: 5 * MINUTE,
    expirySkewMs: 10_000,
    refreshJitterMs: 0,
    rejectedBackoffMs: 30_000,
    invalidateCooldownMs: 30_000,
    random: () => 0,
    background: {
      minDelayMs: 5_000,
      maxDelayMs: 60_000,
      factor: 2,
      randomize: false,
      maxAttempts: Number.POSITIVE_INFINITY,
      maxRetryAfterMs: 600_000,
      random: () => 0,
    },
    ...overrides,
  });
}

const tokens = (expiresInMs = 15 * MINUTE, accessToken = 'a1'): TokenSet => ({
  accessToken,
  accessTokenExpiresAt: T0 + expiresInMs,
  refreshToken: 'r1',
  refreshTokenExpiresAt: T0 + 180 * 24 * 60 * MINUTE,
});
const unavailable = (retryAfterMs?: number): AuthUnavailableError =>
  new AuthUnavailableError({ operation: 'refresh', reason: 'http', status: 503, retryAfterMs });
const signInRejected = (): AuthRejectedError =>
  new AuthRejectedError({ operation: 'authenticate', status: 400, errorCode: 32 });

describe('RefreshCycler', () => {
  describe('decide()', () => {
    it.each([
      ['1 ms before the refresh point', 'serve', 10 * MINUTE - 1],
      ['at the refresh point', 'serve-and-refresh', 10 * MINUTE],
      ['1 ms before the blocking margin', 'serve-and-refresh', 15 * MINUTE - 10_000 - 1],
      ['at the blocking margin', 'wait', 15 * MINUTE - 10_000],
      ['after expiry', 'wait', 15 * MINUTE + 1],
    ])('for a 15-minute token %s: %s', (_label, kind, elapsed) => {
      const cycler = makeCycler();
      cycler.install(tokens(), 'signed-in', T0, T0);
      expect(cycler.decide(T0 + elapsed, false, false).kind).toBe(kind);
    });

    it.each([
      ['nothing held', 'initial', undefined, false],
      ['a valid token and forceRefresh', 'forced', 'valid', true],
    ] as const)('with %s waits (%s)', (_label, reason, held, force) => {
      const cycler = makeCycler();
      if (held !== undefined) cycler.install(tokens(), 'signed-in', T0, T0);
      expect(cycler.decide(T0, force, false)).toEqual({ kind: 'wait', reason });
    });

    it('serves without a second refresh while one runs inside the window', () => {
      const cycler = makeCycler();
      cycler.install(tokens(), 'signed-in', T0, T0);
      expect(cycler.decide(T0 + 11 * MINUTE, false, true)).toEqual({ kind: 'serve', token: 'a1' });
    });

    it('reads the timeline, not the wall clock, once a token arrived (wall ahead by an hour)', () => {
      const cycler = makeCycler();
      const wall = T0 + 60 * MINUTE;
      cycler.install({ ...tokens(), accessTokenExpiresAt: wall + 15 * MINUTE }, 'signed-in', T0, wall);
      expect(cycler.held?.refreshAt).toBe(T0 + 10 * MINUTE);
      expect(cycler.decide(T0 + 10 * MINUTE - 1, false, false).kind).toBe('serve');
    });
  });

  describe('adopted sessions', () => {
    it.each([
      ['20 s left', 20_000, 10_000],
      ['5 minutes left', 5 * MINUTE, 10_000],
    ])('keep the whole expirySkewMs as the blocking margin with %s', (_label, leftMs, marginMs) => {
      const cycler = makeCycler();
      cycler.install(tokens(leftMs), 'adopted', T0, T0);
      expect(cycler.decide(T0 + leftMs - marginMs - 1, false, false).kind).not.toBe('wait');
      expect(cycler.decide(T0 + leftMs - marginMs, false, false).kind).toBe('wait');
    });

    it('are jittered by their token: replicas adopting one token refresh at one point; tokens spread', () => {
      // A 15-minute window, jitter up to (window − skew) / 2 = 445 s; no randomness of the replica's own.
      const settings = {
        refreshBeforeExpiryMs: 15 * MINUTE,
        refreshJitterMs: Number.POSITIVE_INFINITY,
        random: () => 0.99,
      };
      const pointOf = (accessToken: string): number => {
        const cycler = makeCycler(settings);
        return cycler.install(tokens(30 * MINUTE, accessToken), 'adopted', T0, T0).refreshAt;
      };
      expect(pointOf('token-of-user-1')).toBe(pointOf('token-of-user-1'));
      const points = Array.from({ length: 200 }, (_, index) => pointOf(`token-of-user-${index}`) - (T0 + 15 * MINUTE));
      for (const offset of points) expect(offset).toBeGreaterThanOrEqual(0);
      for (const offset of points) expect(offset).toBeLessThan(445_000);
      // Spread over the range, not bunched: every quarter of it holds some of the 200 points.
      const quarters = new Set(points.map((offset) => Math.floor(offset / (445_000 / 4))));
      expect(quarters).toEqual(new Set([0, 1, 2, 3]));
    });
  });

  describe('recordFailure()', () => {
    it('plans background attempts with doubling delays, never past the blocking margin', () => {
      const cycler = makeCycler();
      cycler.install(tokens(), 'signed-in', T0, T0);
      const at = T0 + 10 * MINUTE;
      expect(cycler.recordFailure(unavailable(), at)).toEqual({ nextAttemptAt: at + 5_000, delayMs: 5_000 });
      expect(cycler.recordFailure(unavailable(), at + 5_000)).toEqual({ nextAttemptAt: at + 15_000, delayMs: 10_000 });
      const late = T0 + 15 * MINUTE - 12_000;
      expect(cycler.recordFailure(unavailable(), late).nextAttemptAt).toBe(T0 + 15 * MINUTE - 10_000);
    });

    it('schedules the next background attempt at Retry-After, even past the blocking margin', () => {
      const cycler = makeCycler();
      cycler.install(tokens(), 'signed-in', T0, T0);
      const at = T0 + 10 * MINUTE;
      expect(cycler.recordFailure(unavailable(300_000), at)).toEqual({ nextAttemptAt: at + 300_000, delayMs: 300_000 });
      expect(cycler.timerAt(at)).toBe(at + 300_000);
    });

    it('enters fail-fast only for a rejected sign-in, and a valid token is still served', () => {
      const cycler = makeCycler();
      cycler.install(tokens(), 'signed-in', T0, T0);
      expect(cycler.recordFailure(signInRejected(), T0 + 10 * MINUTE).failFastUntil).toBe(T0 + 10 * MINUTE + 30_000);
      expect(cycler.decide(T0 + 10 * MINUTE + 1, false, false).kind).toBe('serve');
    });

    it.each([
      ['a malformed answer', new MalformedResponseError('html')],
      ['an unavailable server', unavailable()],
      ['a bad signer', new ConfigurationError('signer threw')],
    ])('does not latch fail-fast for %s with no token held', (_label, error) => {
      const cycler = makeCycler();
      expect(cycler.recordFailure(error, T0)).toEqual({});
      expect(cycler.decide(T0 + 1, false, false)).toEqual({ kind: 'wait', reason: 'initial' });
    });

    it('fails fast until rejectedBackoffMs after a rejected sign-in with no token, to the millisecond', () => {
      const cycler = makeCycler();
      const error = signInRejected();
      cycler.recordFailure(error, T0);
      expect(cycler.decide(T0 + 30_000 - 1, false, false)).toEqual({ kind: 'fail-fast', error });
      expect(cycler.decide(T0 + 30_000, false, false).kind).toBe('wait');
    });
  });

  describe('invalidate()', () => {
    it.each([
      ['nothing held', 'ignored', undefined, 'a1'],
      ['another token', 'stale', 'held', 'other'],
      ['the held token', 'refreshing', 'held', 'a1'],
      ['no token (the held one)', 'refreshing', 'held', undefined],
    ] as const)('with %s reports %s', (_label, result, held, token) => {
      const cycler = makeCycler();
      if (held !== undefined) cycler.install(tokens(), 'signed-in', T0, T0);
      expect(cycler.invalidate(token, T0)).toBe(result);
    });

    it('starts one refresh per cooldown, to the millisecond, and keeps serving the new token meanwhile', () => {
      const cycler = makeCycler();
      cycler.install(tokens(), 'signed-in', T0, T0);
      expect(cycler.invalidate('a1', T0)).toBe('refreshing');
      expect(cycler.decide(T0, false, false)).toEqual({ kind: 'wait', reason: 'invalidated' });
      cycler.install(tokens(15 * MINUTE, 'a2'), 'refreshed', T0 + 100, T0 + 100);
      expect(cycler.invalidate('a2', T0 + 30_000 - 1)).toBe('cooldown');
      expect(cycler.decide(T0 + 30_000 - 1, false, false).kind).toBe('serve');
      expect(cycler.invalidate('a2', T0 + 30_000)).toBe('refreshing');
    });
  });
});
