import { decodeSession, encodeSession, sessionProblem } from '../../src/stores/redis-scripts';
import { tokenSetProblem } from '../../src/token-set';
import type { StoredSession } from '../../src/stores/types';
import type { TokenSet } from '../../src/token-set';

const T0 = 1_000_000;
const TOKENS: TokenSet = {
  accessToken: 'a1',
  accessTokenExpiresAt: T0 + 900_000,
  refreshToken: 'r1',
  refreshTokenExpiresAt: T0 + 86_400_000,
};

/** A stored value as the Redis store keeps it, with `fields` replaced. */
const raw = (fields: Record<string, unknown>): string =>
  JSON.stringify({ version: 3, identity: 'id-a', tokens: TOKENS, ...fields });

describe('The stored session format (encodeSession / decodeSession)', () => {
  it('stores only the token set’s own fields, and no null "none"', () => {
    const tokens = { ...TOKENS, refreshToken: null, serverTime: T0, note: 'x' } as unknown as TokenSet;
    const stored = JSON.parse(encodeSession({ identity: 'id-a', tokens }, 4)) as Record<string, unknown>;
    const { refreshToken: _dropped, ...kept } = TOKENS;
    expect(stored).toEqual({ version: 4, identity: 'id-a', tokens: kept });
  });

  it('round-trips a session, and reads an absent key as version 0 with no problem to report', () => {
    const session: StoredSession = { identity: 'id-a', tokens: TOKENS };
    expect(decodeSession(encodeSession(session, 7))).toEqual({ version: 7, session });
    expect(decodeSession(null)).toEqual({ version: 0, session: undefined });
  });

  it('reads a value that is not a JSON object as absent, at version 0, and says why', () => {
    for (const raw of ['{"version":', '42', 'null', '"text"'])
      expect(decodeSession(raw)).toEqual({ version: 0, session: undefined, problem: expect.stringMatching(/^not /) });
    expect(decodeSession('null').problem).toBe('not an object');
  });

  it.each([
    ['a fractional version', 1.5],
    ['a version past the safe integers', 2 ** 60],
    ['a negative version', -1],
    ['a version that is text', '3'],
  ])('counts %s as version 0 (as the fencing script does) and the session as absent', (_label, version) => {
    expect(decodeSession(raw({ version }))).toEqual({ version: 0, session: undefined, problem: 'no valid version' });
  });

  it('reads a `sealed` that is not text as no seal: the value needs a valid token set instead', () => {
    expect(decodeSession(raw({ sealed: 42, tokens: undefined }))).toMatchObject({ version: 3, session: undefined });
    expect(decodeSession(raw({ sealed: 42 }))).toEqual({ version: 3, session: { identity: 'id-a', tokens: TOKENS } });
  });

  it('reads a null refresh token (a provider’s "none") as no refresh token, and keeps the version', () => {
    const decoded = decodeSession(raw({ tokens: { ...TOKENS, refreshToken: null, refreshTokenExpiresAt: null } }));
    expect(decoded).toEqual({
      version: 3,
      session: { identity: 'id-a', tokens: { accessToken: 'a1', accessTokenExpiresAt: TOKENS.accessTokenExpiresAt } },
    });
  });

  it.each([
    [
      'an access expiry JSON reads as Infinity',
      '{"version":3,"identity":"id-a","tokens":{"accessToken":"a1","accessTokenExpiresAt":1e999}}',
      'accessTokenExpiresAt must be epoch ms',
    ],
    [
      'a refresh expiry that is text',
      raw({ tokens: { ...TOKENS, refreshTokenExpiresAt: 'soon' } }),
      'refreshTokenExpiresAt must be epoch ms',
    ],
    [
      'a refresh token that is a number',
      raw({ tokens: { ...TOKENS, refreshToken: 5 } }),
      'refreshToken must be a string',
    ],
  ])('rejects %s, keeping the version so a writer may replace it', (_label, value, problem) => {
    expect(decodeSession(value)).toEqual({ version: 3, session: undefined, problem });
  });
});

describe('sessionProblem() / tokenSetProblem()', () => {
  it('names what is wrong with a session a caller asks to store, without throwing on a non-object', () => {
    expect(sessionProblem(null as unknown as StoredSession)).toBe('not a session object');
    expect(sessionProblem('id-a' as unknown as StoredSession)).toBe('not a session object');
    expect(sessionProblem({ identity: 'id-a', tokens: TOKENS })).toBeUndefined();
  });

  it('refuses a non-finite access expiry, and accepts null refresh fields', () => {
    expect(tokenSetProblem({ ...TOKENS, accessTokenExpiresAt: Number.NaN })).toBe(
      'accessTokenExpiresAt must be epoch ms',
    );
    expect(tokenSetProblem({ ...TOKENS, refreshToken: null, refreshTokenExpiresAt: null })).toBeUndefined();
  });

  it('refuses to store an access token a Bearer header cannot carry, as the manager refuses to serve one', () => {
    expect(sessionProblem({ identity: 'id-a', tokens: { ...TOKENS, accessToken: 'a1\r\nX-Injected: 1' } })).toBe(
      'accessToken has characters a Bearer header cannot carry (RFC 6750 b64token)',
    );
  });
});
