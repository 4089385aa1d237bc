/**
 * The sandbox's strict modes: each emulates a server that enforces one of the Alix page's
 * tables where the table and the page's sample disagree.
 */
import { ConfigurationError } from '../../src/errors';
import {
  AlixSandboxCore,
  createAlixSignature,
  generatePartnerKeyPairSync,
  SandboxErrorCodes,
  type AlixSandboxOptions,
  type SandboxReply,
} from '../../src/sandbox';

const keys = generatePartnerKeyPairSync();
/** The Alix sample's `iat`: 2024-11-11T08:32:58Z. */
const T0 = 1_731_313_978_000;
const USER = 'jane@example.com';

function makeCore(options: AlixSandboxOptions = {}): AlixSandboxCore {
  return new AlixSandboxCore({ privateKeyPem: keys.privateKeyPem, now: () => T0, ...options });
}

interface Answer {
  status: number;
  body: { errorCode: number; message: string; data: Record<string, string> };
}

async function post(core: AlixSandboxCore, path: string, body: Record<string, unknown>): Promise<Answer> {
  const signature = createAlixSignature(keys.privateKeyPem, core.partnerCode, core.secretKey);
  const bodyText = JSON.stringify({ partnerCode: core.partnerCode, signature, ...body });
  const headers = { 'content-type': 'application/json' };
  const reply: SandboxReply = await core.handle({ method: 'POST', path, headers, bodyText });
  if ('reset' in reply) throw new Error('expected an answer');
  return { status: reply.status, body: JSON.parse(reply.bodyText) as Answer['body'] };
}

const signIn = (core: AlixSandboxCore, extra: Record<string, unknown> = {}): Promise<Answer> =>
  post(core, '/api/v2/auth/access-token', extra);
const refresh = (core: AlixSandboxCore, body: Record<string, unknown>): Promise<Answer> =>
  post(core, '/api/v2/auth/refresh-token', body);

describe('AlixSandboxCore › strict.refreshUserEmail (the refresh field table)', () => {
  it('refuses a refresh without userEmail with errorCode 10, and leaves its refresh token usable', async () => {
    const core = makeCore({ strict: { refreshUserEmail: true } });
    const { refreshToken } = (await signIn(core, { userEmail: USER })).body.data;

    const without = await refresh(core, { refreshToken });
    const withUser = await refresh(core, { refreshToken, userEmail: USER });

    expect([without.status, without.body.errorCode, without.body.message]).toEqual([
      400,
      SandboxErrorCodes.INVALID_REQUEST,
      'userEmail is required',
    ]);
    expect(withUser.status).toBe(200);
  });

  it('refuses an empty userEmail as a missing one', async () => {
    const core = makeCore({ strict: { refreshUserEmail: true } });
    const { refreshToken } = (await signIn(core, { userEmail: USER })).body.data;

    const empty = await refresh(core, { refreshToken, userEmail: '' });

    expect([empty.status, empty.body.message]).toEqual([400, 'userEmail is required']);
  });

  it('accepts a refresh without userEmail by default, as the sample sends it', async () => {
    const core = makeCore();
    const { refreshToken } = (await signIn(core, { userEmail: USER })).body.data;

    expect((await refresh(core, { refreshToken })).status).toBe(200);
  });
});

describe('AlixSandboxCore › strict.datetimeExpiries (the response table)', () => {
  it('names the expiries …ExpiredAt and sends them as ISO 8601 datetimes in UTC', async () => {
    const core = makeCore({ strict: { datetimeExpiries: true } });

    const { data } = (await signIn(core)).body;

    expect(Object.keys(data)).toEqual(['accessToken', 'refreshToken', 'accessTokenExpiredAt', 'refreshTokenExpiredAt']);
    expect([data.accessTokenExpiredAt, data.refreshTokenExpiredAt]).toEqual([
      '2024-11-11T08:47:58Z',
      '2025-05-10T08:32:58Z',
    ]);
  });

  it('keeps the sample shape by default', async () => {
    const { data } = (await signIn(makeCore())).body;

    expect([data.accessTokenExpiresAt, data.refreshTokenExpiresAt]).toEqual(['1731314878', '1746865978']);
  });
});

describe('AlixSandboxCore › the strict option', () => {
  it.each([
    ['not an object', 'yes', /strict must be an object/],
    ['a non-boolean flag', { refreshUserEmail: 1 }, /strict\.refreshUserEmail must be a boolean/],
    ['an unknown flag', { userEmailOnRefresh: true }, /strict\.userEmailOnRefresh is unknown/],
  ])('is refused when %s', (_label, strict, message) => {
    expect(() => makeCore({ strict: strict as never })).toThrow(ConfigurationError);
    expect(() => makeCore({ strict: strict as never })).toThrow(message);
  });
});
