/**
 * The tolerant reader of the ambiguous Alix page (issue 24 item 5, SPEC §2): expiries under the
 * sample's names or the response table's, as epoch seconds or ISO 8601 datetimes, the access
 * token's JWT `exp` when the access expiry is missing or unreadable, and one warning per process
 * and shape.
 */
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import pino from 'pino';
import { MalformedResponseError } from '../../../src/errors';
import { AlixAuthProvider, type AlixAuthProviderOptions } from '../../../src/providers/alix';
import { makeRsaKeyPair } from '../../helpers/alix-keys';
import { collectingStream } from '../../helpers/streams';

const BASE_URL = 'https://alix.test';
const REFRESH_URL = `${BASE_URL}/api/v2/auth/refresh-token`;
// The seed page's sample tokens: the access token's JWT exp (1731314878) equals its accessTokenExpiresAt.
const ACCESS_JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzaWduIjoicmpnUURlOFFWbG5QOUFKTCIsInBhcnRuZXJDb2RlIjoiemVuY2FyZHRlc3QiLCJp' +
  'YXQiOjE3MzEzMTM5NzgsImV4cCI6MTczMTMxNDg3OH0.7iBLv8Ib6UHbxlrtfjnMzvhpkdYlldSkaXe6RRUI4eQ';
const REFRESH_JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzaWduIjoicmpnUURlOFFWbG5QOUFKTCIsInBhcnRuZXJDb2RlIjoiemVuY2FyZHRlc3QiLCJz' +
  'ZXNzaW9uIjoiYjY5ODMwYTItYzk3ZS00NDg0LWE1YzctYTk1NWIwNGFkYzZkIiwiaWF0IjoxNzMxMzEzOTc4LCJleHAiOjE3NDY4NjU5Nzh9.' +
  'EK7RpVPkTvhmt2bwkrqzVpIRWYGSwn7TFLHmVHPQo7Q';
const SEED_NOW = 1_731_313_978_000;
const ACCESS_EXPIRES_AT = 1_731_314_878_000;
const REFRESH_EXPIRES_AT = 1_746_865_978_000;
const keys = makeRsaKeyPair();

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

function makeProvider(overrides: Partial<AlixAuthProviderOptions> = {}): AlixAuthProvider {
  return new AlixAuthProvider({
    baseUrl: BASE_URL,
    partnerCode: 'zencardtest',
    secretKey: 'rjgQDe8QVlnP9AJL',
    privateKey: keys.privatePem,
    now: () => SEED_NOW,
    ...overrides,
  });
}

/** Answers every refresh with these `data` fields (tokens default to the sample's). */
function answerRefreshWith(data: Record<string, unknown>, headers: Record<string, string> = {}): void {
  const tokens = { accessToken: ACCESS_JWT, refreshToken: REFRESH_JWT };
  const body = { success: true, message: 'ok', data: { ...tokens, ...data }, errorCode: 0 };
  server.use(http.post(REFRESH_URL, () => HttpResponse.json(body, { headers })));
}

function refreshError(provider = makeProvider()): Promise<unknown> {
  return provider.refresh('old-refresh-token').then(
    () => {
      throw new Error('expected the refresh to fail');
    },
    (error: unknown) => error,
  );
}

describe('AlixAuthProvider › expiries as the page reads them', () => {
  it.each([
    [
      'the sample: …ExpiresAt, epoch-second strings',
      { accessTokenExpiresAt: '1731314878', refreshTokenExpiresAt: '1746865978' },
    ],
    [
      'the response table: …ExpiredAt, ISO datetimes in UTC',
      { accessTokenExpiredAt: '2024-11-11T08:47:58Z', refreshTokenExpiredAt: '2025-05-10T08:32:58Z' },
    ],
    [
      'ISO datetimes with an offset and fractions',
      { accessTokenExpiresAt: '2024-11-11T15:47:58.000+07:00', refreshTokenExpiresAt: '2025-05-10T03:32:58-05:00' },
    ],
    [
      '…ExpiredAt names with epoch seconds as numbers',
      { accessTokenExpiredAt: 1731314878, refreshTokenExpiredAt: 1746865978 },
    ],
    [
      'datetimes as epoch milliseconds (Jackson), numbers and strings',
      { accessTokenExpiredAt: ACCESS_EXPIRES_AT, refreshTokenExpiredAt: String(REFRESH_EXPIRES_AT) },
    ],
  ])('reads %s', async (_label, data) => {
    answerRefreshWith(data);

    const set = await makeProvider().refresh('old-refresh-token');

    expect(set).toEqual({
      accessToken: ACCESS_JWT,
      accessTokenExpiresAt: ACCESS_EXPIRES_AT,
      refreshToken: REFRESH_JWT,
      refreshTokenExpiresAt: REFRESH_EXPIRES_AT,
    });
  });

  it("takes the sample's name when both names are sent", async () => {
    answerRefreshWith({
      accessTokenExpiresAt: '1731314878',
      accessTokenExpiredAt: '2024-11-11T09:00:00Z',
      refreshTokenExpiresAt: '1746865978',
      refreshTokenExpiredAt: '2025-01-01T00:00:00Z',
    });

    const set = await makeProvider().refresh('old-refresh-token');

    expect([set.accessTokenExpiresAt, set.refreshTokenExpiresAt]).toEqual([ACCESS_EXPIRES_AT, REFRESH_EXPIRES_AT]);
  });

  it("takes the response table's name when the sample's is sent null (a serializer that writes every field)", async () => {
    answerRefreshWith({
      accessTokenExpiresAt: null,
      accessTokenExpiredAt: '2024-11-11T08:47:58Z',
      refreshTokenExpiresAt: null,
      refreshTokenExpiredAt: '2025-05-10T08:32:58Z',
    });

    const set = await makeProvider().refresh('old-refresh-token');

    expect([set.accessTokenExpiresAt, set.refreshTokenExpiresAt]).toEqual([ACCESS_EXPIRES_AT, REFRESH_EXPIRES_AT]);
  });

  it.each([
    ['missing', {}],
    ['unreadable', { accessTokenExpiresAt: 'soon' }],
    ['a zoneless ISO datetime', { accessTokenExpiredAt: '2024-11-11T08:47:58' }],
  ])("falls back to the access token's JWT exp when the access expiry is %s", async (_label, data) => {
    answerRefreshWith({ ...data, refreshTokenExpiresAt: '1746865978' });

    const set = await makeProvider().refresh('old-refresh-token');

    expect(set.accessTokenExpiresAt).toBe(ACCESS_EXPIRES_AT);
  });

  it('names an expiry in epoch milliseconds as it was sent when it is already past', async () => {
    answerRefreshWith({ accessTokenExpiresAt: SEED_NOW - 1, refreshTokenExpiresAt: '1746865978' });

    const error = await refreshError();

    expect(error).toBeInstanceOf(MalformedResponseError);
    expect((error as Error).message).toMatch(`data.accessTokenExpiresAt ${SEED_NOW - 1}, already past`);
  });

  it('refuses a JWT exp that is already past, naming the claim', async () => {
    answerRefreshWith({ refreshTokenExpiresAt: '1746865978' });

    const error = await refreshError(makeProvider({ now: () => ACCESS_EXPIRES_AT }));

    expect(error).toBeInstanceOf(MalformedResponseError);
    expect((error as Error).message).toMatch(/the access token's JWT exp claim 1731314878, already past/);
  });

  it('keeps a missing refresh expiry malformed, JWT or not', async () => {
    answerRefreshWith({ accessTokenExpiresAt: '1731314878' });

    const error = await refreshError();

    expect(error).toBeInstanceOf(MalformedResponseError);
    expect((error as Error).message).toMatch(/lacks data\.refreshTokenExpiresAt/);
  });

  it('keeps an ISO datetime that is already past malformed', async () => {
    answerRefreshWith({ accessTokenExpiredAt: '2024-11-11T08:32:57Z', refreshTokenExpiredAt: '2025-05-10T08:32:58Z' });

    const error = await refreshError();

    expect((error as Error).message).toMatch(/data\.accessTokenExpiredAt 2024-11-11T08:32:57\.000Z, already past/);
  });

  it('judges an ISO expiry against the Date header and hands the server time on for skew correction', async () => {
    const serverTime = SEED_NOW + 60_000;
    answerRefreshWith(
      { accessTokenExpiredAt: '2024-11-11T08:47:58Z', refreshTokenExpiredAt: '2025-05-10T08:32:58Z' },
      { Date: new Date(serverTime).toUTCString() },
    );

    const set = await makeProvider({ now: () => ACCESS_EXPIRES_AT + 3_600_000 }).refresh('old-refresh-token');

    expect([set.accessTokenExpiresAt, set.serverTime]).toEqual([ACCESS_EXPIRES_AT, serverTime]);
  });
});

describe('AlixAuthProvider › the warning about a non-sample shape', () => {
  it('is logged once per process and shape, naming the shape and no token', async () => {
    const output = collectingStream();
    const logger = pino({ level: 'warn' }, output.stream);
    answerRefreshWith({ accessTokenExpiredAt: '2024-11-11T08:47:58Z', refreshTokenExpiredAt: '2025-05-10T08:32:58Z' });

    await makeProvider({ logger }).refresh('old-refresh-token');
    await makeProvider({ logger }).refresh('old-refresh-token');
    answerRefreshWith({ refreshTokenExpiresAt: '1746865978' });
    await makeProvider({ logger }).refresh('old-refresh-token');
    await makeProvider({ logger }).refresh('old-refresh-token');

    const lines = output
      .text()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((line) => [line.level, line.shape])).toEqual([
      [40, 'data.accessTokenExpiredAt as ISO 8601 datetime; data.refreshTokenExpiredAt as ISO 8601 datetime'],
      [40, 'no access expiry (the JWT exp claim was read)'],
    ]);
    expect(output.text()).not.toContain(ACCESS_JWT.split('.')[1]);
    expect(output.text()).not.toContain(REFRESH_JWT.split('.')[1]);
  });

  it("is not logged for the sample's shape", async () => {
    const output = collectingStream();
    answerRefreshWith({ accessTokenExpiresAt: '1731314878', refreshTokenExpiresAt: '1746865978' });

    await makeProvider({ logger: pino({ level: 'warn' }, output.stream) }).refresh('old-refresh-token');

    expect(output.text()).toBe('');
  });
});
