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

    it('lets callers join a run in flight during fail-fast instead of refusing them', () => {
      const cycler = makeCycler();
      cycler.recordFailure(signInRejected(), T0);
      expect(cycler.decide(T0 + 1, false, true)).toEqual({ kind: 'wait', reason: 'initial' });
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

  describe('install()', () => {
    // Jitter up to (window − skew) / 2 = 145 s for a 15-minute token; random() near its top.
    const jittery = { refreshJitterMs: Number.POSITIVE_INFINITY, random: () => 0.99 };

    it('refreshes a seeded set at the plain refresh point, without jitter', () => {
      const cycler = makeCycler(jittery);
      expect(cycler.install(tokens(), 'seeded', T0, T0).refreshAt).toBe(T0 + 10 * MINUTE);
      expect(makeCycler(jittery).install(tokens(), 'signed-in', T0, T0).refreshAt).toBe(T0 + 10 * MINUTE + 143_550);
    });

    it("places a handed-over session's refresh point after the refreshing replica's latest one", () => {
      // Without hand-over: the shared point; with it: the latest point (no jitter here) plus a quarter
      // to three quarters of the 290 s left before blockAt (random() = 0: a quarter).
      expect(makeCycler().install(tokens(), 'adopted', T0, T0).refreshAt).toBe(T0 + 10 * MINUTE);
      expect(makeCycler().install(tokens(), 'adopted', T0, T0, true).refreshAt).toBe(T0 + 10 * MINUTE + 72_500);
      // Only an adopted session is a hand-over: a set this replica obtained keeps its own point.
      expect(makeCycler().install(tokens(), 'refreshed', T0, T0, true).refreshAt).toBe(T0 + 10 * MINUTE);
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

    it("plans the next background attempt after an open breaker's refusal at its retryAfterMs", () => {
      const cycler = makeCycler();
      cycler.install(tokens(), 'signed-in', T0, T0);
      const at = T0 + 10 * MINUTE;
      const refused = new AuthUnavailableError({ operation: 'refresh', reason: 'breaker', retryAfterMs: 2_000 });
      expect(cycler.recordFailure(refused, at)).toEqual({ nextAttemptAt: at + 2_000, delayMs: 2_000 });
    });

    it('refreshes in the background no earlier than the refresh point after a forced refresh failed before it', () => {
      const cycler = makeCycler();
      cycler.install(tokens(), 'signed-in', T0, T0);
      cycler.recordFailure(unavailable(), T0 + MINUTE);
      expect(cycler.decide(T0 + 2 * MINUTE, false, false).kind).toBe('serve');
      expect(cycler.decide(T0 + 10 * MINUTE, false, false).kind).toBe('serve-and-refresh');
    });

    it('enters fail-fast only for a rejected sign-in, and a valid token is still served', () => {
      const cycler = makeCycler();
      cycler.install(tokens(), 'signed-in', T0, T0);
      expect(cycler.recordFailure(signInRejected(), T0 + 10 * MINUTE).failFastUntil).toBe(T0 + 10 * MINUTE + 30_000);
      expect(cycler.decide(T0 + 10 * MINUTE + 1, false, false).kind).toBe('serve');
    });

    it('plans the next attempt after a rejected sign-in no later than the blocking margin', () => {
      const cycler = makeCycler({ rejectedBackoffMs: 10 * MINUTE });
      cycler.install(tokens(), 'signed-in', T0, T0);
      const at = T0 + 10 * MINUTE;
      const blockAt = T0 + 15 * MINUTE - 10_000;
      expect(cycler.recordFailure(signInRejected(), at)).toEqual({
        failFastUntil: at + 10 * MINUTE,
        nextAttemptAt: blockAt,
        delayMs: blockAt - at,
      });
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

    it('reports the held token as stale once it was rejected, whatever the target', () => {
      const cycler = makeCycler();
      cycler.install(tokens(), 'signed-in', T0, T0);
      expect(cycler.invalidate('a1', T0)).toBe('refreshing');
      expect(cycler.invalidate('a1', T0 + 1, { target: 'GET /cards' })).toBe('stale');
      expect(cycler.invalidate(undefined, T0 + 60_000)).toBe('stale');
    });

    it('ends fail-fast: callers wait for the refresh a rejected token starts', () => {
      const cycler = makeCycler();
      cycler.install(tokens(), 'signed-in', T0, T0);
      cycler.recordFailure(signInRejected(), T0 + 10 * MINUTE);
      expect(cycler.invalidate('a1', T0 + 10 * MINUTE + 1)).toBe('refreshing');
      expect(cycler.failure).toEqual({ kind: 'none' });
      expect(cycler.decide(T0 + 10 * MINUTE + 2, false, false)).toEqual({ kind: 'wait', reason: 'invalidated' });
    });

    it("ends a target's storm invalidateCooldownMs after the replay's 401, to the millisecond", () => {
      const cycler = makeCycler();
      cycler.install(tokens(), 'signed-in', T0, T0);
      const target = 'GET /cards';
      expect(cycler.invalidate('a1', T0, { target, replay: true })).toBe('cooldown');
      expect(cycler.invalidate('a1', T0 + 30_000 - 1, { target })).toBe('cooldown');
      expect(cycler.invalidate('a1', T0 + 30_000, { target })).toBe('refreshing');
    });

    it('keeps a target reported again in its storm longest: the oldest other target is forgotten first', () => {
      const cycler = makeCycler();
      cycler.install(tokens(), 'signed-in', T0, T0);
      const targets = Array.from({ length: 256 }, (_, index) => `GET /cards/${index}`);
      for (const target of targets) cycler.invalidate('a1', T0, { target, replay: true });
      // Reported again: now the newest of the 256 remembered.
      cycler.invalidate('a1', T0 + 1, { target: targets[0], replay: true });
      cycler.invalidate('a1', T0 + 2, { target: 'GET /accounts', replay: true });
      expect(cycler.invalidate('a1', T0 + 3, { target: targets[0] })).toBe('cooldown');
      expect(cycler.invalidate('a1', T0 + 3, { target: targets[1] })).toBe('refreshing');
    });

    it('keeps a target of any length (a path carrying user input) in at most 65 characters, each its own', () => {
      const cycler = makeCycler();
      cycler.install(tokens(), 'signed-in', T0, T0);
      const search = (term: string): string => `GET /cards/search/${'x'.repeat(100_000)}${term}`;
      const set = jest.spyOn(Map.prototype, 'set');
      cycler.invalidate('a1', T0, { target: search('a'), replay: true });
      const keptLengths = set.mock.calls.map(([key]) => String(key).length);
      set.mockRestore();
      expect(keptLengths).toEqual([expect.any(Number)]);
      expect(keptLengths[0]).toBeLessThanOrEqual(65);
      expect(cycler.invalidate('a1', T0 + 1, { target: search('a') })).toBe('cooldown');
      expect(cycler.invalidate('a1', T0 + 1, { target: search('b') })).toBe('refreshing');
    });
  });
  describe('refreshTokenWarning()', () => {
    const WEEK = 7 * 24 * 60 * MINUTE;
    const expiring = (leftMs: number): TokenSet => ({ ...tokens(), refreshTokenExpiresAt: T0 + leftMs });

    it('warns once per refresh token, however often a set carrying it is installed', () => {
      const cycler = makeCycler();
      cycler.install(expiring(WEEK - 1), 'refreshed', T0, T0);
      expect(cycler.refreshTokenWarning(T0, WEEK)).toEqual({
        refreshTokenExpiresAt: T0 + WEEK - 1,
        remainingMs: WEEK - 1,
      });
      // A provider that does not rotate: the next set keeps the refresh token and its expiry.
      cycler.install({ ...expiring(WEEK - 1), accessToken: 'a2' }, 'refreshed', T0 + MINUTE, T0 + MINUTE);
      expect(cycler.refreshTokenWarning(T0 + MINUTE, WEEK)).toBeUndefined();
      cycler.install({ ...expiring(WEEK - 2), accessToken: 'a3' }, 'refreshed', T0 + MINUTE, T0 + MINUTE);
      expect(cycler.refreshTokenWarning(T0 + MINUTE, WEEK)?.refreshTokenExpiresAt).toBe(T0 + WEEK - 2);
    });

    it('warns with exactly warningMs left, not 1 ms earlier', () => {
      const early = makeCycler();
      early.install(expiring(WEEK + 1), 'refreshed', T0, T0);
      expect(early.refreshTokenWarning(T0, WEEK)).toBeUndefined();
      const cycler = makeCycler();
      cycler.install(expiring(WEEK), 'refreshed', T0, T0);
      expect(cycler.refreshTokenWarning(T0, WEEK)).toEqual({ refreshTokenExpiresAt: T0 + WEEK, remainingMs: WEEK });
    });
  });

  describe('clear()', () => {
    it('forgets a seeded refresh token too (a closed manager holds no secret)', () => {
      const cycler = makeCycler();
      cycler.holdSeed({ refreshToken: 'r0', refreshTokenExpiresAt: T0 + MINUTE });
      cycler.clear();
      expect(cycler.seed).toBeUndefined();
      expect(cycler.held).toBeUndefined();
    });
  });
});
