/**
 * SPEC §2 conformance of the sandbox, run twice with the same scenarios and expectations:
 * over real HTTP (startAlixSandbox) and through msw handlers (alixHandlers). Passing on both
 * is the equivalence of the two front ends.
 */
import { setupServer } from 'msw/node';
import { alixHandlers } from '../../src/sandbox/msw';
import {
  createAlixSignature,
  generatePartnerKeyPairSync,
  SandboxErrorCodes,
  startAlixSandbox,
  type AlixSandboxCore,
  type AlixSandboxOptions,
} from '../../src/sandbox';

const PARTNER = 'zencardtest';
const SECRET = 'rjgQDe8QVlnP9AJL';
/** The `iat` of the Alix page's example tokens: 2024-11-11T08:32:58Z. */
const T0 = 1_731_313_978_000;
const partnerKeys = generatePartnerKeyPairSync();
const strangerKeys = generatePartnerKeyPairSync();

interface Harness {
  baseUrl: string;
  core: AlixSandboxCore;
}
type Start = (options?: AlixSandboxOptions) => Promise<Harness>;

function overHttp(): Start {
  const running: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((sandbox) => sandbox.close()));
  });
  return async (options) => {
    const sandbox = await startAlixSandbox(options);
    running.push(sandbox);
    return sandbox;
  };
}

function overMsw(): Start {
  const server = setupServer();
  beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
  afterEach(() => server.resetHandlers());
  afterAll(() => server.close());
  return async (options) => {
    const handlers = alixHandlers({ baseUrl: 'https://alix.sandbox.test', ...options });
    server.use(...handlers);
    return handlers;
  };
}

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function call(url: string, init: RequestInit): Promise<Answer> {
  const response = await fetch(url, init);
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, unknown>,
  };
}

function post(h: Harness, path: string, body: unknown): Promise<Answer> {
  return call(`${h.baseUrl}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
}

function signIn(h: Harness, privateKeyPem = partnerKeys.privateKeyPem, partnerCode = PARTNER): Promise<Answer> {
  return post(h, '/api/v2/auth/access-token', {
    partnerCode,
    signature: createAlixSignature(privateKeyPem, PARTNER, SECRET),
  });
}

function refresh(h: Harness, refreshToken: string): Promise<Answer> {
  const signature = createAlixSignature(partnerKeys.privateKeyPem, PARTNER, SECRET);
  return post(h, '/api/v2/auth/refresh-token', { partnerCode: PARTNER, refreshToken, signature });
}

function getCards(h: Harness, accessToken?: string): Promise<Answer> {
  const headers: Record<string, string> = accessToken === undefined ? {} : { Authorization: `Bearer ${accessToken}` };
  return call(`${h.baseUrl}/api/v2/cards`, { headers });
}

function tokens(answer: Answer): { accessToken: string; refreshToken: string } {
  return answer.body.data as { accessToken: string; refreshToken: string };
}

function failure(errorCode: number): Record<string, unknown> {
  return { success: false, message: expect.any(String), data: null, errorCode };
}

describe.each([
  { transport: 'node:http server', setup: overHttp },
  { transport: 'msw handlers', setup: overMsw },
])('Alix sandbox over $transport', ({ setup }) => {
  const start = setup();
  let nowMs = T0;
  const begin = (options: AlixSandboxOptions = {}): Promise<Harness> =>
    start({
      partnerCode: PARTNER,
      secretKey: SECRET,
      privateKeyPem: partnerKeys.privateKeyPem,
      now: () => nowMs,
      ...options,
    });

  beforeEach(() => {
    nowMs = T0;
  });

  describe('POST /api/v2/auth/access-token', () => {
    it('answers the exact Alix envelope with epoch-second strings and a Date header', async () => {
      const h = await begin();
      const answer = await signIn(h);
      expect(answer.status).toBe(200);
      expect(Object.keys(answer.body)).toEqual(['success', 'message', 'data', 'errorCode']);
      expect(answer.body).toEqual({
        success: true,
        message: 'Your request has been successful',
        data: {
          accessToken: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
          refreshToken: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
          accessTokenExpiresAt: '1731314878',
          refreshTokenExpiresAt: '1746865978',
        },
        errorCode: 0,
      });
      expect(answer.headers.get('date')).toBe('Mon, 11 Nov 2024 08:32:58 GMT');
      expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
    });

    it('accepts a userEmail', async () => {
      const h = await begin();
      const signature = createAlixSignature(partnerKeys.privateKeyPem, PARTNER, SECRET);
      const answer = await post(h, '/api/v2/auth/access-token', {
        partnerCode: PARTNER,
        signature,
        userEmail: 'a@b.test',
      });
      expect(answer.status).toBe(200);
    });

    it('rejects a signature made with another key', async () => {
      const h = await begin();
      const answer = await signIn(h, strangerKeys.privateKeyPem);
      expect(answer.status).toBe(400);
      expect(answer.body).toEqual(failure(SandboxErrorCodes.INVALID_SIGNATURE));
      expect(answer.headers.get('date')).toBe('Mon, 11 Nov 2024 08:32:58 GMT');
    });

    it('rejects an unknown partner code', async () => {
      const h = await begin();
      const answer = await signIn(h, partnerKeys.privateKeyPem, 'someone-else');
      expect([answer.status, answer.body]).toEqual([400, failure(SandboxErrorCodes.UNKNOWN_PARTNER)]);
    });

    it('rejects a body without a signature, and a non-JSON content type', async () => {
      const h = await begin();
      const missing = await post(h, '/api/v2/auth/access-token', { partnerCode: PARTNER });
      const text = await call(`${h.baseUrl}/api/v2/auth/access-token`, { method: 'POST', body: 'partnerCode=x' });
      expect([missing.status, missing.body]).toEqual([400, failure(SandboxErrorCodes.INVALID_REQUEST)]);
      expect([text.status, text.body]).toEqual([400, failure(SandboxErrorCodes.INVALID_REQUEST)]);
    });

    it('answers 405 to another method', async () => {
      const h = await begin();
      const answer = await call(`${h.baseUrl}/api/v2/auth/access-token`, { method: 'GET' });
      expect([answer.status, answer.body, answer.headers.get('allow')]).toEqual([405, failure(405), 'POST']);
    });
  });

  describe('POST /api/v2/auth/refresh-token', () => {
    it('issues a new pair and kills the refresh token it used', async () => {
      const h = await begin();
      const first = tokens(await signIn(h));
      nowMs += 60_000;
      const second = await refresh(h, first.refreshToken);
      expect(second.status).toBe(200);
      expect(second.body.data).toMatchObject({
        accessTokenExpiresAt: '1731314938',
        refreshTokenExpiresAt: '1746866038',
      });
      expect(tokens(second).refreshToken).not.toBe(first.refreshToken);
      expect(tokens(second).accessToken).not.toBe(first.accessToken);
      const replay = await refresh(h, first.refreshToken);
      expect([replay.status, replay.body]).toEqual([400, failure(SandboxErrorCodes.REFRESH_TOKEN_USED)]);
      expect((await refresh(h, tokens(second).refreshToken)).status).toBe(200);
    });

    it('rejects an unknown, an expired and a revoked refresh token with distinct codes', async () => {
      const h = await begin({ refreshTokenTtlMs: 10_000 });
      const unknown = await refresh(h, 'not-a-token');
      const expiring = tokens(await signIn(h));
      nowMs += 10_000;
      const expired = await refresh(h, expiring.refreshToken);
      const revoking = tokens(await signIn(h));
      h.core.revokeRefreshTokens();
      const revoked = await refresh(h, revoking.refreshToken);
      expect([unknown.status, unknown.body]).toEqual([400, failure(SandboxErrorCodes.INVALID_REFRESH_TOKEN)]);
      expect(unknown.body.errorCode).toBe(32);
      expect([expired.status, expired.body]).toEqual([400, failure(SandboxErrorCodes.REFRESH_TOKEN_EXPIRED)]);
      expect([revoked.status, revoked.body]).toEqual([400, failure(SandboxErrorCodes.REFRESH_TOKEN_REVOKED)]);
    });
  });

  describe('GET /api/v2/cards', () => {
    it('serves the cards to a valid bearer until 1 ms before expiry, then answers 401', async () => {
      const h = await begin({ accessTokenTtlMs: 60_000 });
      const { accessToken } = tokens(await signIn(h));
      const ok = await getCards(h, accessToken);
      h.core.shiftClock(59_999);
      const lastMs = await getCards(h, accessToken);
      h.core.shiftClock(1);
      const expired = await getCards(h, accessToken);
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({
        success: true,
        errorCode: 0,
        data: expect.arrayContaining([expect.objectContaining({ last4: '4242' })]),
      });
      expect(lastMs.status).toBe(200);
      expect([expired.status, expired.body]).toEqual([401, failure(SandboxErrorCodes.ACCESS_TOKEN_EXPIRED)]);
      expect(expired.headers.get('date')).toBe('Mon, 11 Nov 2024 08:33:58 GMT');
    });

    it('answers 401 to a missing, an unknown and a revoked token', async () => {
      const h = await begin();
      const { accessToken } = tokens(await signIn(h));
      const missing = await getCards(h);
      const unknown = await getCards(h, 'made.up.token');
      h.core.revokeAccessTokens();
      const revoked = await getCards(h, accessToken);
      const fresh = await getCards(h, tokens(await signIn(h)).accessToken);
      expect([missing.status, missing.body]).toEqual([401, failure(SandboxErrorCodes.MISSING_ACCESS_TOKEN)]);
      expect([unknown.status, unknown.body]).toEqual([401, failure(SandboxErrorCodes.INVALID_ACCESS_TOKEN)]);
      expect([revoked.status, revoked.body]).toEqual([401, failure(SandboxErrorCodes.ACCESS_TOKEN_REVOKED)]);
      expect(fresh.status).toBe(200);
    });
  });

  describe('injectFaults()', () => {
    it.each([503, 500, 429])('answers HTTP %i with a failure envelope, then recovers', async (status) => {
      const h = await begin();
      h.core.injectFaults(1, { type: 'status', status, retryAfterSeconds: 2 });
      const faulted = await signIn(h);
      const next = await signIn(h);
      expect([faulted.status, faulted.body, faulted.headers.get('retry-after')]).toEqual([
        status,
        failure(status),
        '2',
      ]);
      expect(faulted.headers.get('date')).toBe('Mon, 11 Nov 2024 08:32:58 GMT');
      expect(next.status).toBe(200);
    });

    it('delays, then answers normally', async () => {
      const h = await begin();
      h.core.injectFaults(1, { type: 'delay', ms: 60 });
      const startedAt = performance.now();
      const answer = await signIn(h);
      expect(performance.now() - startedAt).toBeGreaterThanOrEqual(55);
      expect(answer.status).toBe(200);
    });

    it('drops the connection on a reset', async () => {
      const h = await begin();
      h.core.injectFaults(1, { type: 'reset' });
      await expect(signIn(h)).rejects.toMatchObject({ name: 'TypeError' });
      expect((await signIn(h)).status).toBe(200);
    });

    it('answers 200 with a body that is not JSON', async () => {
      const h = await begin();
      h.core.injectFaults(1, { type: 'malformed' });
      const response = await fetch(`${h.baseUrl}/api/v2/auth/access-token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          partnerCode: PARTNER,
          signature: createAlixSignature(partnerKeys.privateKeyPem, PARTNER, SECRET),
        }),
      });
      const text = await response.text();
      expect(response.status).toBe(200);
      expect(() => JSON.parse(text)).toThrow(SyntaxError);
    });

    it('rejects with the given errorCode, on the chosen endpoint only', async () => {
      const h = await begin();
      const { refreshToken } = tokens(await signIn(h));
      h.core.injectFaults(1, { type: 'reject', errorCode: 32, message: 'The QR code is invalid', endpoint: 'refresh' });
      const signInAnswer = await signIn(h);
      const rejected = await refresh(h, refreshToken);
      expect(signInAnswer.status).toBe(200);
      expect([rejected.status, rejected.body]).toEqual([
        400,
        { success: false, message: 'The QR code is invalid', data: null, errorCode: 32 },
      ]);
      expect((await refresh(h, refreshToken)).status).toBe(200);
    });

    it('spends the refresh token when the reset comes after processing', async () => {
      const h = await begin();
      const { refreshToken } = tokens(await signIn(h));
      h.core.injectFaults(1, { type: 'reset', afterProcessing: true });
      await expect(refresh(h, refreshToken)).rejects.toMatchObject({ name: 'TypeError' });
      const retry = await refresh(h, refreshToken);
      expect([retry.status, retry.body]).toEqual([400, failure(SandboxErrorCodes.REFRESH_TOKEN_USED)]);
    });
  });

  describe('counters()', () => {
    it('counts calls by endpoint, failures, resource requests and 401s', async () => {
      const h = await begin();
      const { accessToken, refreshToken } = tokens(await signIn(h));
      await signIn(h, strangerKeys.privateKeyPem);
      await refresh(h, refreshToken);
      await refresh(h, refreshToken);
      await getCards(h, accessToken);
      await getCards(h);
      expect(h.core.counters()).toEqual({
        authenticate: 2,
        refresh: 2,
        authFailures: 2,
        resourceRequests: 2,
        resource401s: 1,
        requests: 6,
      });
      h.core.resetCounters();
      expect(h.core.counters()).toEqual({
        authenticate: 0,
        refresh: 0,
        authFailures: 0,
        resourceRequests: 0,
        resource401s: 0,
        requests: 0,
      });
    });
  });
});
