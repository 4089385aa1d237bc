import {
  computeSchedule,
  hasUsableRefreshToken,
  pickTokenSet,
  startingPoint,
  toLocalClock,
  tokenSetProblem,
} from '../src/token-set';
import type { TokenSet } from '../src/token-set';

const MINUTE = 60_000;
const T0 = 1_000_000;

const tokens = (overrides: Partial<TokenSet> = {}): TokenSet => ({
  accessToken: 'a1',
  accessTokenExpiresAt: T0 + 15 * MINUTE,
  refreshToken: 'r1',
  refreshTokenExpiresAt: T0 + 180 * 24 * 60 * MINUTE,
  ...overrides,
});

describe('toLocalClock()', () => {
  it("trusts the local clock within the Date header's resolution (2 s either side of the round trip)", () => {
    const set = tokens();
    for (const serverTime of [T0 - 2_000, T0 - 1_500, T0 + 1_500, T0 + 2_000]) {
      const { serverTime: _dropped, ...expected } = { ...set, serverTime };
      expect(toLocalClock({ ...set, serverTime }, { sentAt: T0, receivedAt: T0 })).toEqual(expected);
    }
  });

  it('moves both expiries by the offset once the server is more than 2 s ahead or behind', () => {
    const ahead = toLocalClock({ ...tokens(), serverTime: T0 + 3_000 }, { sentAt: T0, receivedAt: T0 });
    expect(ahead).toEqual(
      tokens({
        accessTokenExpiresAt: tokens().accessTokenExpiresAt - 3_000,
        refreshTokenExpiresAt: (tokens().refreshTokenExpiresAt ?? 0) - 3_000,
      }),
    );
    const behind = toLocalClock({ ...tokens(), serverTime: T0 - 5 * MINUTE }, { sentAt: T0, receivedAt: T0 });
    expect(behind.accessTokenExpiresAt).toBe(tokens().accessTokenExpiresAt + 5 * MINUTE);
    expect(behind.refreshTokenExpiresAt).toBe((tokens().refreshTokenExpiresAt ?? 0) + 5 * MINUTE);
  });

  it('takes the largest offset the round trip allows (measured from sentAt), so the expiry lands earliest', () => {
    const local = toLocalClock({ ...tokens(), serverTime: T0 + 100_000 }, { sentAt: T0, receivedAt: T0 + 10_000 });
    expect(local.accessTokenExpiresAt).toBe(tokens().accessTokenExpiresAt - 100_000);
  });

  it('adds no refresh expiry to a set that had none', () => {
    const { refreshTokenExpiresAt: _none, ...set } = tokens();
    const local = toLocalClock({ ...set, serverTime: T0 + MINUTE }, { sentAt: T0, receivedAt: T0 });
    expect(local).not.toHaveProperty('refreshTokenExpiresAt');
    expect(local).not.toHaveProperty('serverTime');
  });
});

describe('startingPoint()', () => {
  const seed = { refreshToken: 'seeded-refresh' };

  it('starts from the stored set rather than the seed', () => {
    expect(startingPoint(tokens({ accessToken: 'stored' }), seed, T0)).toEqual({
      kind: 'tokens',
      tokens: tokens({ accessToken: 'stored' }),
    });
  });

  it('falls back to the refresh token when the access token expires at usableUntil or is empty', () => {
    const refreshOnly = {
      kind: 'seed',
      seed: { refreshToken: 'r1', refreshTokenExpiresAt: tokens().refreshTokenExpiresAt },
    };
    const expiresAt = tokens().accessTokenExpiresAt;
    expect(startingPoint(tokens(), undefined, expiresAt)).toEqual(refreshOnly);
    expect(startingPoint(tokens(), undefined, expiresAt - 1)).toMatchObject({ kind: 'tokens' });
    expect(startingPoint(tokens({ accessToken: '' }), undefined, T0)).toEqual(refreshOnly);
  });

  it('gives nothing when neither a usable access token nor a non-empty refresh token is held', () => {
    expect(startingPoint(undefined, undefined, T0)).toBeUndefined();
    expect(startingPoint(undefined, { refreshToken: '' }, T0)).toBeUndefined();
    expect(startingPoint(tokens({ accessToken: '', refreshToken: '' }), undefined, T0)).toBeUndefined();
  });
});

describe('computeSchedule()', () => {
  const base = {
    accessTokenExpiresAt: T0 + 15 * MINUTE,
    obtainedAt: T0,
    refreshBeforeExpiryMs: 5 * MINUTE,
    expirySkewMs: 10_000,
    refreshJitterMs: MINUTE,
    random: 0,
  };

  it('never opens the refresh window after callers start to wait (an adopted set with little time left)', () => {
    const schedule = computeSchedule({ ...base, accessTokenExpiresAt: T0 + 10_000, adopted: true, random: 0.5 });
    expect(schedule).toEqual({ refreshAt: T0, blockAt: T0 });
  });

  it("places an adopted set's fallback after the latest refresh a replica can pick, spread by `fallback`", () => {
    // Latest: expiry − window + full jitter = T0 + 11 min; room to blockAt: 3 min 50 s.
    const latest = T0 + 11 * MINUTE;
    const roomMs = 15 * MINUTE - 10_000 - 11 * MINUTE;
    const at = (fallback: number): number => computeSchedule({ ...base, adopted: true, fallback }).refreshAt;
    expect(at(0)).toBe(latest + roomMs / 4);
    expect(at(0.5)).toBe(latest + roomMs / 2);
    expect(computeSchedule({ ...base, adopted: true, fallback: 0.5 }).blockAt).toBe(T0 + 15 * MINUTE - 10_000);
  });

  it("keeps the fallback a quarter of the way past the refreshing replica's latest point when expirySkewMs is over half the window", () => {
    // A 40 s token: window 20 s; the fetching replica's margin is 10 s (half the window), its jitter at most 5 s.
    const short = { ...base, accessTokenExpiresAt: T0 + 40_000, expirySkewMs: 12_000, refreshJitterMs: 10_000 };
    const latest = T0 + 25_000;
    expect(computeSchedule({ ...short, random: 0.9999 }).refreshAt).toBeLessThan(latest);
    const blockAt = T0 + 40_000 - 12_000;
    expect(computeSchedule({ ...short, adopted: true, fallback: 0 })).toEqual({
      refreshAt: latest + (blockAt - latest) / 4,
      blockAt,
    });
  });

  it("opens an adopted set's fallback window at blockAt at the latest, when a replica's latest point is past it", () => {
    // A 40 s token: window 20 s; the fetching replica's latest point is at 25 s, the adopted blockAt at 24 s.
    const short = { ...base, accessTokenExpiresAt: T0 + 40_000, expirySkewMs: 16_000, refreshJitterMs: 10_000 };
    expect(computeSchedule({ ...short, adopted: true, fallback: 0.5 })).toEqual({
      refreshAt: T0 + 24_000,
      blockAt: T0 + 24_000,
    });
  });

  it('never serves a set that expired before it was obtained: callers wait from its expiry at the latest', () => {
    expect(computeSchedule({ ...base, accessTokenExpiresAt: T0 - 1_000 })).toEqual({
      refreshAt: T0 - 1_000,
      blockAt: T0 - 1_000,
    });
  });
});

describe('hasUsableRefreshToken()', () => {
  it('reads a null expiry as "no expiry known": the refresh token is usable', () => {
    const set = { refreshToken: 'r1', refreshTokenExpiresAt: null as unknown as number };
    expect(hasUsableRefreshToken(set, T0, 60_000)).toBe(true);
  });

  it('keeps the margin in hand: usable only while expiry − margin is after now', () => {
    const set = { refreshToken: 'r1', refreshTokenExpiresAt: T0 + 60_000 };
    expect(hasUsableRefreshToken(set, T0 - 1, 60_000)).toBe(true);
    expect(hasUsableRefreshToken(set, T0, 60_000)).toBe(false);
  });
});

describe('tokenSetProblem()', () => {
  it('takes an expiry for epoch seconds only when it reads as long past: not under a fake clock near epoch 0', () => {
    // T0 is 1000 s after the epoch, as under `jest.useFakeTimers({ now: 0 })`: ms expiries are small numbers.
    expect(tokenSetProblem(tokens(), { now: T0 })).toBeUndefined();
    const now = Date.UTC(2030, 0, 1);
    expect(tokenSetProblem(tokens({ accessTokenExpiresAt: now / 1000 + 900 }), { now })).toMatch(
      /reads as epoch seconds/,
    );
    // An expiry long past but nowhere near now / 1000 is not seconds: no "multiply it by 1000" advice.
    expect(tokenSetProblem(tokens({ accessTokenExpiresAt: 1 }), { now })).toBeUndefined();
  });

  it.each([true, 0, { token: 'r1' }])('refuses a refresh token that is not a string (%p)', (refreshToken) => {
    const set = { ...tokens(), refreshToken } as unknown as TokenSet;
    expect(tokenSetProblem(set)).toBe('refreshToken must be a string');
  });

  it.each(['soon', true])('refuses a refresh expiry that is not epoch ms (%p)', (refreshTokenExpiresAt) => {
    const set = { ...tokens(), refreshTokenExpiresAt } as unknown as TokenSet;
    expect(tokenSetProblem(set)).toBe('refreshTokenExpiresAt must be epoch ms');
  });
});

describe('tokenSetProblem() with accessTokenOptional (a seed, a stored session)', () => {
  it('takes a refresh token alone, and refuses a set with neither token (an unset variable seeded as "")', () => {
    expect(tokenSetProblem({ refreshToken: 'r1' }, { accessTokenOptional: true })).toBeUndefined();
    const empty = { accessToken: '', refreshToken: '' };
    expect(tokenSetProblem(empty, { accessTokenOptional: true })).toBe('needs an accessToken or a refreshToken');
  });

  it('still checks an access token that is there: it must fit a Bearer header and expire at epoch ms', () => {
    const optional = { accessTokenOptional: true };
    expect(tokenSetProblem(tokens({ accessToken: 'a b' }), optional)).toMatch(/Bearer header cannot carry/);
    expect(tokenSetProblem(tokens({ accessTokenExpiresAt: Number.NaN }), optional)).toMatch(/epoch ms/);
    expect(tokenSetProblem(tokens({ refreshToken: undefined }), optional)).toBeUndefined();
  });
});

describe('pickTokenSet()', () => {
  it("drops a provider's null refresh token and expiry (none), and any field not of a token set", () => {
    const set = { ...tokens(), refreshToken: null, refreshTokenExpiresAt: null, serverTime: T0 } as unknown as TokenSet;
    expect(pickTokenSet(set)).toStrictEqual({ accessToken: 'a1', accessTokenExpiresAt: T0 + 15 * MINUTE });
  });
});
