/**
 * The sandbox's token registry on an injected clock: it forgets tokens once expired, so a
 * long-running sandbox holds only live ones, and still refuses a forgotten one as expired.
 */
import { generatePartnerKeyPairSync } from '../../src/sandbox';
import { resolveSandboxOptions } from '../../src/sandbox/options';
import { MAX_LIVE_TOKENS, SandboxTokenRegistry, type TokenSession } from '../../src/sandbox/state';

const { privateKeyPem } = generatePartnerKeyPairSync();
const T0 = Date.UTC(2025, 0, 1);
const SESSION: TokenSession = { session: 'session-1', userEmail: 'jane@example.com' };

function makeRegistry(tokenSigningSecret = 'registry-secret', maxLiveTokens?: number): SandboxTokenRegistry {
  const options = { privateKeyPem, accessTokenTtlMs: 60_000, refreshTokenTtlMs: 600_000, tokenSigningSecret };
  return new SandboxTokenRegistry(resolveSandboxOptions(options), maxLiveTokens);
}

describe('SandboxTokenRegistry', () => {
  it('forgets each token once it has expired, so it holds only live ones', () => {
    const tokens = makeRegistry();
    tokens.issue(SESSION, T0);
    tokens.issue(SESSION, T0 + 1_000);
    expect(tokens.size).toBe(4);

    tokens.issue(SESSION, T0 + 60_000); // the first access token has expired
    expect(tokens.size).toBe(5);

    tokens.issue(SESSION, T0 + 601_000); // only the third pair's refresh token and the new pair live
    expect(tokens.size).toBe(3);
  });

  it('holds a bounded number of live tokens, and refuses the oldest forgotten as unknown', () => {
    const tokens = makeRegistry(undefined, 6);
    const oldest = tokens.issue(SESSION, T0);
    for (let n = 1; n < 3; n += 1) tokens.issue({ session: `other-${n}`, userEmail: undefined }, T0);
    expect(tokens.size).toBe(6);
    const newest = tokens.issue({ session: 'newest', userEmail: undefined }, T0);
    expect(tokens.size).toBe(6);
    expect(tokens.problem(oldest.accessToken, 'access', T0)).toBe('unknown');
    expect(tokens.problem(oldest.refreshToken, 'refresh', T0)).toBe('unknown');
    expect(tokens.problem(newest.refreshToken, 'refresh', T0)).toBeUndefined();
    expect(new SandboxTokenRegistry(resolveSandboxOptions({ privateKeyPem }))).toHaveProperty(
      'maxLiveTokens',
      MAX_LIVE_TOKENS,
    );
  });

  it('refuses a forgotten token as expired, for its kind and its user', () => {
    const tokens = makeRegistry();
    const first = tokens.issue(SESSION, T0);
    tokens.issue(SESSION, T0 + 600_000);

    expect(tokens.problem(first.refreshToken, 'refresh', T0 + 600_000)).toBe('expired');
    expect(tokens.problem(first.accessToken, 'access', T0 + 600_000)).toBe('expired');
    expect(tokens.get(first.refreshToken, 'refresh')).toMatchObject({ userEmail: SESSION.userEmail });
  });

  it('forgets a spent refresh token, and still refuses it as used, or revoked once its session is', () => {
    const tokens = makeRegistry();
    const spent = tokens.issue(SESSION, T0).refreshToken;
    tokens.issue(tokens.spend(spent), T0 + 1_000);
    expect(tokens.size).toBe(3); // the first access token and the second pair
    expect(tokens.problem(spent, 'refresh', T0 + 2_000)).toBe('used');
    tokens.revoke('refresh', undefined);
    expect(tokens.problem(spent, 'refresh', T0 + 2_000)).toBe('revoked');
  });

  it('forgets a session with its newest refresh token: a spent one recalled after a clock step back is unknown', () => {
    const tokens = makeRegistry();
    const spent = tokens.issue(SESSION, T0).refreshToken;
    tokens.issue(tokens.spend(spent), T0);
    tokens.issue({ session: 'session-2', userEmail: undefined }, T0 + 600_000); // forgets session-1's tokens
    expect(tokens.problem(spent, 'refresh', T0 + 1_000)).toBe('unknown');
  });

  it('answers expired for an expired token, used or revoked, before and after forgetting it alike', () => {
    const tokens = makeRegistry();
    const pair = tokens.issue(SESSION, T0);
    tokens.issue(tokens.spend(pair.refreshToken), T0);
    tokens.revoke('access', undefined);
    const answers = () => [
      tokens.problem(pair.refreshToken, 'refresh', T0 + 600_000),
      tokens.problem(pair.accessToken, 'access', T0 + 600_000),
    ];

    expect(answers()).toEqual(['expired', 'expired']);
    tokens.issue(SESSION, T0 + 600_000);
    expect(answers()).toEqual(['expired', 'expired']);
  });

  it('refuses an expired token presented as the other kind alike before and after forgetting it', () => {
    const tokens = makeRegistry();
    const pair = tokens.issue(SESSION, T0);
    const answers = () => [
      tokens.problem(pair.accessToken, 'refresh', T0 + 600_000),
      tokens.problem(pair.refreshToken, 'access', T0 + 600_000),
      tokens.get(pair.accessToken, 'refresh'),
    ];

    expect(answers()).toEqual(['unknown', 'unknown', undefined]);
    tokens.issue(SESSION, T0 + 600_000); // forgets the pair
    expect(answers()).toEqual(['unknown', 'unknown', undefined]);
  });

  it('never takes a token it did not issue for a forgotten one', () => {
    const tokens = makeRegistry();
    const forgotten = tokens.issue(SESSION, T0);
    tokens.issue(SESSION, T0 + 600_000);
    const stranger = makeRegistry('another-secret').issue(SESSION, T0);
    // Its own session: sessions are random UUIDs, one per sign-in, never shared between sandboxes.
    const sibling = makeRegistry().issue({ ...SESSION, session: 'session-2' }, T0);

    expect(tokens.problem(stranger.refreshToken, 'refresh', T0 + 600_000)).toBe('unknown');
    expect(tokens.problem(`${forgotten.refreshToken}.extra`, 'refresh', T0 + 600_000)).toBe('unknown');
    expect(tokens.problem('not-a-jwt', 'access', T0)).toBe('unknown');
    // Signed with the same secret by another partner's sandbox: never this partner's, expired or not.
    const options = { privateKeyPem, partnerCode: 'other-partner', tokenSigningSecret: 'registry-secret' };
    const foreign = new SandboxTokenRegistry(resolveSandboxOptions(options)).issue(SESSION, T0);
    expect(tokens.problem(foreign.accessToken, 'access', T0 + 900_000)).toBe('unknown');
    // Signed with the same secret, but not yet expired: not one this registry forgot.
    expect(tokens.problem(sibling.refreshToken, 'refresh', T0)).toBe('unknown');
  });
});
