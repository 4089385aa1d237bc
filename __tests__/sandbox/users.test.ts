/**
 * Per-user tokens in the sandbox: the sign-in's `userEmail` as a claim that refreshes keep,
 * auth calls counted per user, and 403 for a token used for another user (`X-Alix-User`).
 */
import { ConfigurationError } from '../../src/errors';
import { setupServer } from 'msw/node';
import { alixHandlers } from '../../src/sandbox/msw';
import { MAX_COUNTED_USERS } from '../../src/sandbox/core';
import {
  AlixSandboxCore,
  createAlixSignature,
  generatePartnerKeyPairSync,
  DEFAULT_ALIX_SANDBOX_OPTIONS,
  SANDBOX_USER_HEADER,
  SandboxErrorCodes,
  startAlixSandbox,
  type AlixSandboxControl,
  type SandboxReply,
} from '../../src/sandbox';

const keys = generatePartnerKeyPairSync();
const T0 = Date.UTC(2025, 0, 1);
const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';

interface Answer {
  status: number;
  body: { success: boolean; errorCode: number; data: { accessToken: string; refreshToken: string } };
}

function answer(reply: SandboxReply): Answer {
  if ('reset' in reply) throw new Error('expected an answer, got a reset');
  return { status: reply.status, body: JSON.parse(reply.bodyText) as Answer['body'] };
}

function makeCore(): AlixSandboxCore {
  return new AlixSandboxCore({ privateKeyPem: keys.privateKeyPem, now: () => T0 });
}

function post(core: AlixSandboxCore, path: string, body: Record<string, unknown>): Promise<Answer> {
  const signature = createAlixSignature(keys.privateKeyPem, core.partnerCode, core.secretKey);
  const bodyText = JSON.stringify({ partnerCode: core.partnerCode, signature, ...body });
  return core.handle({ method: 'POST', path, headers: { 'content-type': 'application/json' }, bodyText }).then(answer);
}

async function signIn(
  core: AlixSandboxCore,
  userEmail?: string,
): Promise<{ accessToken: string; refreshToken: string }> {
  const reply = await post(core, '/api/v2/auth/access-token', userEmail === undefined ? {} : { userEmail });
  expect(reply.status).toBe(200);
  return reply.body.data;
}

function refresh(core: AlixSandboxCore, refreshToken: string, extra: Record<string, unknown> = {}): Promise<Answer> {
  return post(core, '/api/v2/auth/refresh-token', { refreshToken, ...extra });
}

async function getCards(core: AlixSandboxCore, accessToken: string, user?: string): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${accessToken}` };
  if (user !== undefined) headers[SANDBOX_USER_HEADER] = user;
  return answer(await core.handle({ method: 'GET', path: '/api/v2/cards', headers, bodyText: '' }));
}

function claims(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>;
}

describe('AlixSandboxCore per-user tokens', () => {
  describe('issued tokens', () => {
    it('name the user of the sign-in in a userEmail claim', async () => {
      const { accessToken, refreshToken } = await signIn(makeCore(), ALICE);
      expect(claims(accessToken)).toMatchObject({ userEmail: ALICE, partnerCode: 'sandbox-partner' });
      expect(claims(refreshToken)).toMatchObject({ userEmail: ALICE });
    });

    it('carry no userEmail claim when the sign-in named no user', async () => {
      const core = makeCore();
      const { accessToken } = await signIn(core);
      const { accessToken: fromEmpty } = await signIn(core, '');
      expect(claims(accessToken)).not.toHaveProperty('userEmail');
      expect(claims(fromEmpty)).not.toHaveProperty('userEmail');
    });

    it('keep the user of the refresh token through refreshes, whatever the refresh body names', async () => {
      const core = makeCore();
      const first = await signIn(core, ALICE);
      const second = await refresh(core, first.refreshToken, { userEmail: BOB });
      const third = await refresh(core, second.body.data.refreshToken);
      expect(third.status).toBe(200);
      expect(claims(second.body.data.accessToken)).toMatchObject({
        userEmail: ALICE,
        session: claims(first.accessToken).session,
      });
      expect(claims(third.body.data.accessToken)).toMatchObject({ userEmail: ALICE });
      expect((await getCards(core, third.body.data.accessToken, ALICE)).status).toBe(200);
    });
  });

  describe('expired tokens', () => {
    it('refuse a long-expired token as expired, and count its refresh for its user, after other sign-ins', async () => {
      const core = makeCore();
      const alice = await signIn(core, ALICE);
      const spent = (await refresh(core, alice.refreshToken)).body.data;
      core.shiftClock(DEFAULT_ALIX_SANDBOX_OPTIONS.refreshTokenTtlMs);
      await signIn(core, BOB);

      const reused = await refresh(core, alice.refreshToken);
      const expired = await refresh(core, spent.refreshToken);
      const cards = await getCards(core, spent.accessToken);

      expect([reused.status, reused.body.errorCode]).toEqual([400, SandboxErrorCodes.REFRESH_TOKEN_EXPIRED]);
      expect([expired.status, expired.body.errorCode]).toEqual([400, SandboxErrorCodes.REFRESH_TOKEN_EXPIRED]);
      expect([cards.status, cards.body.errorCode]).toEqual([401, SandboxErrorCodes.ACCESS_TOKEN_EXPIRED]);
      expect(core.authCallsFor(ALICE)).toEqual({ authenticate: 1, refresh: 3 });
    });
  });

  describe('token kinds', () => {
    it('refuse an access token as a refresh token, and a refresh token as a bearer', async () => {
      const core = makeCore();
      const alice = await signIn(core, ALICE);
      const asRefresh = await refresh(core, alice.accessToken);
      const asBearer = await getCards(core, alice.refreshToken);
      expect([asRefresh.status, asRefresh.body.errorCode]).toEqual([400, SandboxErrorCodes.INVALID_REFRESH_TOKEN]);
      expect([asBearer.status, asBearer.body.errorCode]).toEqual([401, SandboxErrorCodes.INVALID_ACCESS_TOKEN]);
    });

    it('revoke only their own kind', async () => {
      const core = makeCore();
      const alice = await signIn(core, ALICE);
      core.revokeAccessTokens();
      expect((await refresh(core, alice.refreshToken)).status).toBe(200);
      core.revokeRefreshTokens();
      expect((await getCards(core, (await signIn(core, ALICE)).accessToken)).status).toBe(200);
    });

    it('refuse a spent refresh token that was revoked afterwards as revoked', async () => {
      const core = makeCore();
      const alice = await signIn(core, ALICE);
      await refresh(core, alice.refreshToken);
      core.revokeRefreshTokens(ALICE);
      expect((await refresh(core, alice.refreshToken)).body.errorCode).toBe(SandboxErrorCodes.REFRESH_TOKEN_REVOKED);
    });
  });

  describe('authCallsFor() and userCounters()', () => {
    it('count sign-ins by their userEmail and refreshes by their refresh token’s user, failed ones too', async () => {
      const core = makeCore();
      const alice = await signIn(core, ALICE);
      await signIn(core, BOB);
      await signIn(core, BOB);
      await signIn(core);
      await refresh(core, alice.refreshToken);
      const spent = await refresh(core, alice.refreshToken);
      await refresh(core, 'never-issued');
      expect(spent.body.errorCode).toBe(SandboxErrorCodes.REFRESH_TOKEN_USED);
      expect(core.authCallsFor(ALICE)).toEqual({ authenticate: 1, refresh: 2 });
      expect(core.authCallsFor(BOB)).toEqual({ authenticate: 2, refresh: 0 });
      expect(core.authCallsFor()).toEqual({ authenticate: 1, refresh: 1 });
      expect(core.authCallsFor('carol@example.com')).toEqual({ authenticate: 0, refresh: 0 });
      expect([...core.userCounters().byUser]).toEqual([
        [ALICE, { authenticate: 1, refresh: 2 }],
        [BOB, { authenticate: 2, refresh: 0 }],
      ]);
      expect(core.counters()).toMatchObject({ authenticate: 4, refresh: 3 });
    });

    it('count a bounded number of users, forgetting the first seen first but never the calls that named none', async () => {
      const core = makeCore();
      await signIn(core);
      // Refused before any token is issued: only the counting is under test.
      core.injectFaults(Infinity, { type: 'reject', errorCode: SandboxErrorCodes.INVALID_REQUEST });
      const signature = createAlixSignature(keys.privateKeyPem, core.partnerCode, core.secretKey);
      const headers = { 'content-type': 'application/json' };
      const user = (n: number): string => `user-${n}@example.com`;
      for (let n = 0; n < MAX_COUNTED_USERS; n += 1) {
        const bodyText = JSON.stringify({ partnerCode: core.partnerCode, signature, userEmail: user(n) });
        await core.handle({ method: 'POST', path: '/api/v2/auth/access-token', headers, bodyText });
      }
      const { byUser } = core.userCounters();
      expect(byUser.size).toBe(MAX_COUNTED_USERS - 1);
      expect(byUser.has(user(0))).toBe(false);
      expect(core.authCallsFor(user(MAX_COUNTED_USERS - 1))).toEqual({ authenticate: 1, refresh: 0 });
      expect(core.authCallsFor()).toEqual({ authenticate: 1, refresh: 0 });
    }, 60_000); // a hundred thousand calls

    it('refuse an empty userEmail with a ConfigurationError, as the other per-user controls do', () => {
      const core = makeCore();
      expect(() => core.authCallsFor('')).toThrow(
        new ConfigurationError('authCallsFor(): userEmail must be a non-empty string'),
      );
      expect(() => core.revokeAccessTokens('')).toThrow(
        new ConfigurationError('revokeAccessTokens(): userEmail must be a non-empty string'),
      );
    });

    it('count a faulted call for its user', async () => {
      const core = makeCore();
      core.injectFaults(1, { type: 'status', status: 503 });
      expect((await post(core, '/api/v2/auth/access-token', { userEmail: ALICE })).status).toBe(503);
      expect(core.authCallsFor(ALICE)).toEqual({ authenticate: 1, refresh: 0 });
    });

    it('start again from zero after resetCounters(), and hand out snapshots', async () => {
      const core = makeCore();
      await signIn(core, ALICE);
      const before = core.userCounters();
      before.byUser.set(BOB, { authenticate: 9, refresh: 9 });
      expect(core.authCallsFor(BOB)).toEqual({ authenticate: 0, refresh: 0 });
      expect((await getCards(core, (await signIn(core, ALICE)).accessToken, BOB)).status).toBe(403);
      core.resetCounters();
      expect(core.authCallsFor(ALICE)).toEqual({ authenticate: 0, refresh: 0 });
      expect(core.userCounters()).toEqual({ byUser: new Map(), resourceUserMismatches: 0 });
    });
  });

  describe('GET /api/v2/cards with X-Alix-User', () => {
    it('answers 403 with errorCode 44 for another user’s token and counts it', async () => {
      const core = makeCore();
      const alice = await signIn(core, ALICE);
      const reply = await getCards(core, alice.accessToken, BOB);
      expect(reply.status).toBe(403);
      expect(reply.body).toMatchObject({
        success: false,
        errorCode: SandboxErrorCodes.TOKEN_USER_MISMATCH,
        data: null,
      });
      expect(core.userCounters().resourceUserMismatches).toBe(1);
      expect(core.counters()).toMatchObject({ resourceRequests: 1, resource401s: 0 });
    });

    it('answers 403 for a token issued to no user', async () => {
      const core = makeCore();
      const { accessToken } = await signIn(core);
      expect((await getCards(core, accessToken, ALICE)).status).toBe(403);
    });

    it('serves the token’s own user, and any request that names no user', async () => {
      const core = makeCore();
      const alice = await signIn(core, ALICE);
      expect((await getCards(core, alice.accessToken, ALICE)).status).toBe(200);
      expect((await getCards(core, alice.accessToken)).status).toBe(200);
      expect((await getCards(core, alice.accessToken, '  ')).status).toBe(200);
      expect((await getCards(core, alice.accessToken, 'ALICE@example.com')).status).toBe(403);
      expect(core.userCounters().resourceUserMismatches).toBe(1);
    });

    it('answers 401, not 403, when the token itself is bad', async () => {
      const core = makeCore();
      const alice = await signIn(core, ALICE);
      core.revokeAccessTokens();
      const reply = await getCards(core, alice.accessToken, BOB);
      expect([reply.status, reply.body.errorCode]).toEqual([401, SandboxErrorCodes.ACCESS_TOKEN_REVOKED]);
      expect(core.userCounters().resourceUserMismatches).toBe(0);
    });
  });
});

describe.each([
  [
    'startAlixSandbox()',
    async (): Promise<{
      baseUrl: string;
      control: AlixSandboxControl;
      core: AlixSandboxCore;
      stop: () => Promise<void>;
    }> => {
      const sandbox = await startAlixSandbox({ privateKeyPem: keys.privateKeyPem });
      return { baseUrl: sandbox.baseUrl, control: sandbox, core: sandbox.core, stop: () => sandbox.close() };
    },
  ],
  [
    'alixHandlers()',
    async (): Promise<{
      baseUrl: string;
      control: AlixSandboxControl;
      core: AlixSandboxCore;
      stop: () => Promise<void>;
    }> => {
      const handlers = alixHandlers({ baseUrl: 'https://alix.users.test', privateKeyPem: keys.privateKeyPem });
      const server = setupServer(...handlers);
      server.listen({ onUnhandledRequest: 'error' });
      return {
        baseUrl: handlers.baseUrl,
        control: handlers.core,
        core: handlers.core,
        stop: async () => server.close(),
      };
    },
  ],
])('per-user checks over %s', (_name, start) => {
  it('binds tokens to users over HTTP and reports per-user counts on the control surface', async () => {
    const { baseUrl, control, core, stop } = await start();
    try {
      const signature = createAlixSignature(keys.privateKeyPem, core.partnerCode, core.secretKey);
      const signedIn = await fetch(`${baseUrl}/api/v2/auth/access-token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ partnerCode: core.partnerCode, signature, userEmail: ALICE }),
      });
      const { data } = (await signedIn.json()) as Answer['body'];
      const cards = (user: string): Promise<Response> =>
        fetch(`${baseUrl}/api/v2/cards`, {
          headers: { Authorization: `Bearer ${data.accessToken}`, [SANDBOX_USER_HEADER]: user },
        });
      expect((await cards(ALICE)).status).toBe(200);
      const wrong = await cards(BOB);
      expect(wrong.status).toBe(403);
      expect(((await wrong.json()) as Answer['body']).errorCode).toBe(SandboxErrorCodes.TOKEN_USER_MISMATCH);
      expect(control.authCallsFor(ALICE)).toEqual({ authenticate: 1, refresh: 0 });
      expect(control.userCounters().resourceUserMismatches).toBe(1);
    } finally {
      await stop();
    }
  });
});
