/**
 * Faults aimed at one end user (`userEmail`) and faults that last (`injectFaults(Infinity, …)`),
 * for tests like "one user's sign-in answers 500 forever while every other user is served".
 */
import { ConfigurationError } from '../../src/errors';
import { AlixSandboxCore, createAlixSignature, generatePartnerKeyPairSync, type SandboxReply } from '../../src/sandbox';

const keys = generatePartnerKeyPairSync();
const T0 = Date.UTC(2025, 0, 1);
const BAD = 'bad@example.com';

function makeCore(): AlixSandboxCore {
  return new AlixSandboxCore({ privateKeyPem: keys.privateKeyPem, now: () => T0 });
}

function statusOf(reply: SandboxReply): number | 'reset' {
  return 'reset' in reply ? 'reset' : reply.status;
}

function post(core: AlixSandboxCore, path: string, body: Record<string, unknown>): Promise<SandboxReply> {
  const signature = createAlixSignature(keys.privateKeyPem, core.partnerCode, core.secretKey);
  const bodyText = JSON.stringify({ partnerCode: core.partnerCode, signature, ...body });
  return core.handle({ method: 'POST', path, headers: { 'content-type': 'application/json' }, bodyText });
}

function signIn(core: AlixSandboxCore, userEmail?: string): Promise<SandboxReply> {
  return post(core, '/api/v2/auth/access-token', userEmail === undefined ? {} : { userEmail });
}

function refresh(core: AlixSandboxCore, refreshToken: string): Promise<SandboxReply> {
  return post(core, '/api/v2/auth/refresh-token', { refreshToken });
}

function refreshTokenOf(reply: SandboxReply): string {
  if ('reset' in reply) throw new Error('expected an answer');
  return (JSON.parse(reply.bodyText) as { data: { refreshToken: string } }).data.refreshToken;
}

describe('AlixSandboxCore › injectFaults() for one end user', () => {
  it("faults only that user's sign-ins, however many other users come first", async () => {
    const core = makeCore();
    core.injectFaults(2, { type: 'status', status: 500, userEmail: BAD });

    const others = await Promise.all(Array.from({ length: 20 }, (_, i) => signIn(core, `user${i}@example.com`)));
    const anonymous = await signIn(core);
    const bad = [await signIn(core, BAD), await signIn(core, BAD), await signIn(core, BAD)];

    expect(others.map(statusOf)).toEqual(Array(20).fill(200));
    expect(statusOf(anonymous)).toBe(200);
    expect(bad.map(statusOf)).toEqual([500, 500, 200]);
    expect(core.pendingFaults()).toBe(0);
  });

  it("faults a refresh presenting that user's refresh token, not one naming the user in its body", async () => {
    const core = makeCore();
    const badToken = refreshTokenOf(await signIn(core, BAD));
    const otherToken = refreshTokenOf(await signIn(core, 'other@example.com'));
    core.injectFaults(1, { type: 'reject', errorCode: 32, userEmail: BAD, endpoint: 'refresh' });

    const other = await post(core, '/api/v2/auth/refresh-token', { refreshToken: otherToken, userEmail: BAD });
    const signInOfBad = await signIn(core, BAD);
    const bad = await refresh(core, badToken);

    expect([statusOf(other), statusOf(signInOfBad), statusOf(bad)]).toEqual([200, 200, 400]);
  });

  it("leaves a user's fault queued for that user while later faults serve the others", async () => {
    const core = makeCore();
    core.injectFaults(1, { type: 'status', status: 503, userEmail: BAD });
    core.injectFaults(1, { type: 'status', status: 502 });

    const first = await signIn(core, 'someone@example.com');
    const second = await signIn(core, 'someone@example.com');
    const bad = await signIn(core, BAD);

    expect([statusOf(first), statusOf(second), statusOf(bad)]).toEqual([502, 200, 503]);
  });
});

describe('AlixSandboxCore › injectFaults(Infinity, …)', () => {
  it('faults every matching call until clearFaults(), and pendingFaults() says Infinity', async () => {
    const core = makeCore();
    core.injectFaults(Infinity, { type: 'status', status: 500, userEmail: BAD });

    const bad = [];
    for (let i = 0; i < 5; i += 1) bad.push(statusOf(await signIn(core, BAD)));
    const good = statusOf(await signIn(core, 'good@example.com'));
    const pending = core.pendingFaults();
    core.clearFaults();
    const afterClear = statusOf(await signIn(core, BAD));

    expect(bad).toEqual([500, 500, 500, 500, 500]);
    expect(good).toBe(200);
    expect(pending).toBe(Infinity);
    expect([afterClear, core.pendingFaults()]).toEqual([200, 0]);
    expect(core.authCallsFor(BAD)).toEqual({ authenticate: 6, refresh: 0 });
  });

  it('counts finite faults behind a lasting one in pendingFaults()', () => {
    const core = makeCore();
    core.injectFaults(2, { type: 'reset' });
    core.injectFaults(3, { type: 'reset', userEmail: BAD });

    expect(core.pendingFaults()).toBe(5);
  });
});

describe('AlixSandboxCore › fault validation', () => {
  it.each([
    [
      'an empty userEmail',
      1,
      { type: 'reset', userEmail: '' },
      ConfigurationError,
      /userEmail must be a non-empty string/,
    ],
    [
      'a non-string userEmail',
      1,
      { type: 'reset', userEmail: 42 },
      ConfigurationError,
      /userEmail must be a non-empty string/,
    ],
    ['a negative count', -1, { type: 'reset' }, ConfigurationError, /count must be an integer >= 0, or Infinity/],
    ['a fractional count', 1.5, { type: 'reset' }, ConfigurationError, /or Infinity/],
    ['NaN as count', Number.NaN, { type: 'reset' }, ConfigurationError, /or Infinity/],
    ['-Infinity as count', -Infinity, { type: 'reset' }, ConfigurationError, /or Infinity/],
    [
      'an infinite Retry-After',
      1,
      { type: 'status', status: 503, retryAfterSeconds: Infinity },
      ConfigurationError,
      /finite/,
    ],
    ['a negative Retry-After', 1, { type: 'status', status: 503, retryAfterSeconds: -1 }, ConfigurationError, /finite/],
    ['a negative delay', 1, { type: 'delay', ms: -1 }, ConfigurationError, /a delay fault needs ms >= 0/],
    ['a delay of NaN ms', 1, { type: 'delay', ms: Number.NaN }, ConfigurationError, /a delay fault needs ms >= 0/],
    [
      'a fractional errorCode',
      1,
      { type: 'reject', errorCode: 32.5 },
      ConfigurationError,
      /a reject fault needs an integer errorCode/,
    ],
  ])('refuses %s', (_label, count, fault, type, message) => {
    const core = makeCore();

    expect(() => core.injectFaults(count, fault as never)).toThrow(type);
    expect(() => core.injectFaults(count, fault as never)).toThrow(message);
    expect(core.pendingFaults()).toBe(0);
  });
});

describe('AlixSandboxCore › revokeAccessTokens(userEmail)', () => {
  it("revokes that user's access tokens only", async () => {
    const core = makeCore();
    const tokenOf = (reply: SandboxReply): string =>
      'reset' in reply ? '' : (JSON.parse(reply.bodyText) as { data: { accessToken: string } }).data.accessToken;
    const bad = tokenOf(await signIn(core, BAD));
    const good = tokenOf(await signIn(core, 'good@example.com'));

    core.revokeAccessTokens(BAD);
    const cards = (token: string): Promise<SandboxReply> => {
      const headers = { authorization: `Bearer ${token}` };
      return core.handle({ method: 'GET', path: '/api/v2/cards', headers, bodyText: '' });
    };

    expect([statusOf(await cards(bad)), statusOf(await cards(good))]).toEqual([401, 200]);
    expect(() => core.revokeAccessTokens('')).toThrow(ConfigurationError);
  });
});
