import { constants, sign, verify } from 'node:crypto';
import { inspect } from 'node:util';
import { delay, http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import {
  AbortedError,
  AuthRejectedError,
  AuthUnavailableError,
  ConfigurationError,
  ErrorCodes,
  MalformedResponseError,
  TimeoutError,
} from '../../../src/errors';
import { AlixAuthProvider, type AlixAuthProviderOptions } from '../../../src/providers/alix';
import { captureRejection, findLeaks, makeRsaKeyPair, pemBodyLines } from '../../helpers/alix-keys';

const BASE_URL = 'https://alix.test';
const AUTH_URL = `${BASE_URL}/api/v2/auth/access-token`;
const REFRESH_URL = `${BASE_URL}/api/v2/auth/refresh-token`;
const PARTNER_CODE = 'zencardtest';
const SECRET_KEY = 'test-secret-key-7f3a91c2';
const USER_EMAIL = 'user@example.com';
const OLD_REFRESH_TOKEN = 'old-refresh-token-5d8e2b7a41c9';
/** A secret of a custom signed string (a signer's nonce, say): never in an error either. */
const SIGNED_NONCE = 'signed-nonce-3e9b07c4';

// The seed page's 200 sample, verbatim.
const SEED_SUCCESS = {
  success: true,
  message: 'Your request has been successful',
  data: {
    accessToken:
      'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzaWduIjoicmpnUURlOFFWbG5QOUFKTCIsInBhcnRuZXJDb2RlIjoiemVuY2FyZHRlc3QiLCJpYXQiOjE3MzEzMTM5NzgsImV4cCI6MTczMTMxNDg3OH0.7iBLv8Ib6UHbxlrtfjnMzvhpkdYlldSkaXe6RRUI4eQ',
    refreshToken:
      'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzaWduIjoicmpnUURlOFFWbG5QOUFKTCIsInBhcnRuZXJDb2RlIjoiemVuY2FyZHRlc3QiLCJzZXNzaW9uIjoiYjY5ODMwYTItYzk3ZS00NDg0LWE1YzctYTk1NWIwNGFkYzZkIiwiaWF0IjoxNzMxMzEzOTc4LCJleHAiOjE3NDY4NjU5Nzh9.EK7RpVPkTvhmt2bwkrqzVpIRWYGSwn7TFLHmVHPQo7Q',
    accessTokenExpiresAt: '1731314878',
    refreshTokenExpiresAt: '1746865978',
  },
  errorCode: 0,
};
// The seed page's 400 sample, verbatim.
const SEED_FAILURE = {
  success: false,
  message: 'The QR code is invalid. Please check and try again',
  data: null,
  errorCode: 32,
};
/** The seed token's `iat`: the sample's expiries lie ahead of it. */
const SEED_NOW = 1_731_313_978_000;

const keys = makeRsaKeyPair();
const otherKeys = makeRsaKeyPair();
const EXPECTED_SIGNATURE = sign('sha256', Buffer.from(`${PARTNER_CODE}|${SECRET_KEY}`), {
  key: keys.privateKey,
  padding: constants.RSA_PKCS1_PADDING,
}).toString('base64');

const server = setupServer();

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

function makeProvider(overrides: Partial<AlixAuthProviderOptions> = {}): AlixAuthProvider {
  return new AlixAuthProvider({
    baseUrl: BASE_URL,
    partnerCode: PARTNER_CODE,
    secretKey: SECRET_KEY,
    privateKey: keys.privatePem,
    now: () => SEED_NOW,
    ...overrides,
  });
}

/** Answers the refresh call once with the given body/status/headers. */
function respondToRefresh(
  body: string | object,
  init: { status?: number; headers?: Record<string, string> } = {},
): void {
  server.use(
    http.post(REFRESH_URL, () =>
      typeof body === 'string'
        ? new HttpResponse(body, { status: init.status ?? 200, headers: init.headers })
        : HttpResponse.json(body, { status: init.status ?? 200, headers: init.headers }),
    ),
  );
}

function withData(data: Record<string, unknown>): object {
  return { ...SEED_SUCCESS, data: { ...SEED_SUCCESS.data, ...data } };
}

/** The error a call that must fail rejects with. */
function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return captureRejection(promise, []);
}

function refreshError(provider = makeProvider()): Promise<unknown> {
  return rejectionOf(provider.refresh(OLD_REFRESH_TOKEN));
}

describe('AlixAuthProvider', () => {
  describe('authenticate()', () => {
    it('posts { partnerCode, signature } as JSON to the sign-in path', async () => {
      let body: unknown;
      let contentType: string | null = null;
      server.use(
        http.post(AUTH_URL, async ({ request }) => {
          contentType = request.headers.get('content-type');
          body = await request.json();
          return HttpResponse.json(SEED_SUCCESS);
        }),
      );

      await makeProvider().authenticate();

      expect(contentType).toBe('application/json');
      expect(body).toEqual({ partnerCode: PARTNER_CODE, signature: EXPECTED_SIGNATURE });
    });

    it('adds userEmail to the sign-in body when configured', async () => {
      let body: unknown;
      server.use(
        http.post(AUTH_URL, async ({ request }) => {
          body = await request.json();
          return HttpResponse.json(SEED_SUCCESS);
        }),
      );

      await makeProvider({ userEmail: USER_EMAIL }).authenticate();

      expect(body).toEqual({ partnerCode: PARTNER_CODE, signature: EXPECTED_SIGNATURE, userEmail: USER_EMAIL });
    });

    it('uses the configured path and body builder', async () => {
      let body: unknown;
      server.use(
        http.post(`${BASE_URL}/v3/login`, async ({ request }) => {
          body = await request.json();
          return HttpResponse.json(SEED_SUCCESS);
        }),
      );

      await makeProvider({
        paths: { authenticate: '/v3/login' },
        buildAuthenticateBody: ({ partnerCode, signature }) => ({ partner: partnerCode, sig: signature }),
      }).authenticate();

      expect(body).toEqual({ partner: PARTNER_CODE, sig: EXPECTED_SIGNATURE });
    });

    const THREW = 'authenticate failed: the request body builder threw (TypeError)';
    const NOT_AN_OBJECT = 'authenticate failed: the request body builder did not return an object';
    it.each([
      [
        'a circular object',
        (): Record<string, unknown> => {
          const body: Record<string, unknown> = {};
          body.self = body;
          return body;
        },
        THREW,
      ],
      ['an object holding a BigInt', (): Record<string, unknown> => ({ amount: 1n }), THREW],
      ['null', (): Record<string, unknown> => null as unknown as Record<string, unknown>, NOT_AN_OBJECT],
      ['a string', (): Record<string, unknown> => 'partnerCode=x' as unknown as Record<string, unknown>, NOT_AN_OBJECT],
    ])(
      'fails with a ConfigurationError, sending nothing, when the body builder returns %s',
      async (_label, build, message) => {
        const sent: string[] = [];
        server.use(
          http.post(AUTH_URL, ({ request }) => {
            sent.push(request.url);
            return HttpResponse.json(SEED_SUCCESS);
          }),
        );

        const error = await rejectionOf(makeProvider({ buildAuthenticateBody: build }).authenticate());

        expect(error).toBeInstanceOf(ConfigurationError);
        expect((error as Error).message).toBe(message);
        expect(sent).toEqual([]);
      },
    );
  });

  describe('refresh()', () => {
    it('posts { partnerCode, refreshToken, signature } as JSON to the refresh path', async () => {
      let body: unknown;
      let contentType: string | null = null;
      server.use(
        http.post(REFRESH_URL, async ({ request }) => {
          contentType = request.headers.get('content-type');
          body = await request.json();
          return HttpResponse.json(SEED_SUCCESS);
        }),
      );

      await makeProvider().refresh(OLD_REFRESH_TOKEN);

      expect(contentType).toBe('application/json');
      expect(body).toEqual({
        partnerCode: PARTNER_CODE,
        refreshToken: OLD_REFRESH_TOKEN,
        signature: EXPECTED_SIGNATURE,
      });
    });

    it('adds userEmail to the refresh body when configured (the field table and the sample together)', async () => {
      let body: unknown;
      server.use(
        http.post(REFRESH_URL, async ({ request }) => {
          body = await request.json();
          return HttpResponse.json(SEED_SUCCESS);
        }),
      );

      await makeProvider({ userEmail: USER_EMAIL }).refresh(OLD_REFRESH_TOKEN);

      expect(body).toEqual({
        partnerCode: PARTNER_CODE,
        refreshToken: OLD_REFRESH_TOKEN,
        signature: EXPECTED_SIGNATURE,
        userEmail: USER_EMAIL,
      });
    });

    it('lets buildRefreshBody override the refresh body', async () => {
      let body: unknown;
      server.use(
        http.post(REFRESH_URL, async ({ request }) => {
          body = await request.json();
          return HttpResponse.json(SEED_SUCCESS);
        }),
      );

      await makeProvider({
        userEmail: USER_EMAIL,
        buildRefreshBody: ({ partnerCode, refreshToken, signature }) => ({ partnerCode, refreshToken, signature }),
      }).refresh(OLD_REFRESH_TOKEN);

      expect(body).toEqual({
        partnerCode: PARTNER_CODE,
        refreshToken: OLD_REFRESH_TOKEN,
        signature: EXPECTED_SIGNATURE,
      });
    });

    it('keeps a base URL path prefix', async () => {
      let hits = 0;
      server.use(
        http.post(`${BASE_URL}/gateway/api/v2/auth/refresh-token`, () => {
          hits += 1;
          return HttpResponse.json(SEED_SUCCESS);
        }),
      );

      await makeProvider({ baseUrl: `${BASE_URL}/gateway/` }).refresh(OLD_REFRESH_TOKEN);

      expect(hits).toBe(1);
    });

    it('converts the seed sample to a token set in epoch ms', async () => {
      respondToRefresh(SEED_SUCCESS);

      const set = await makeProvider().refresh(OLD_REFRESH_TOKEN);

      expect(set).toEqual({
        accessToken: SEED_SUCCESS.data.accessToken,
        accessTokenExpiresAt: 1_731_314_878_000,
        refreshToken: SEED_SUCCESS.data.refreshToken,
        refreshTokenExpiresAt: 1_746_865_978_000,
      });
    });

    it('accepts expiries sent as numbers', async () => {
      respondToRefresh(withData({ accessTokenExpiresAt: 1731314878, refreshTokenExpiresAt: 1746865978 }));

      const set = await makeProvider().refresh(OLD_REFRESH_TOKEN);

      expect(set.accessTokenExpiresAt).toBe(1_731_314_878_000);
      expect(set.refreshTokenExpiresAt).toBe(1_746_865_978_000);
    });

    it('puts the Date header into serverTime and checks expiries against it', async () => {
      const serverTime = SEED_NOW + 60_000;
      respondToRefresh(SEED_SUCCESS, { headers: { Date: new Date(serverTime).toUTCString() } });

      const set = await makeProvider({ now: () => 1_900_000_000_000 }).refresh(OLD_REFRESH_TOKEN);

      expect(set.serverTime).toBe(serverTime);
    });

    it('leaves serverTime unset when the Date header is unparseable', async () => {
      respondToRefresh(SEED_SUCCESS, { headers: { Date: 'yesterday-ish' } });

      const set = await makeProvider().refresh(OLD_REFRESH_TOKEN);

      expect(set.serverTime).toBeUndefined();
    });

    it('rejects an empty refresh token without a request', async () => {
      const error = await rejectionOf(makeProvider().refresh(''));

      expect(error).toBeInstanceOf(ConfigurationError);
    });
  });

  describe('signature', () => {
    async function capturedSignature(overrides: Partial<AlixAuthProviderOptions> = {}): Promise<string> {
      let signature = '';
      server.use(
        http.post(REFRESH_URL, async ({ request }) => {
          signature = ((await request.json()) as { signature: string }).signature;
          return HttpResponse.json(SEED_SUCCESS);
        }),
      );
      await makeProvider(overrides).refresh(OLD_REFRESH_TOKEN);
      return signature;
    }

    function verifies(data: string, signature: string, publicKey = keys.publicKey): boolean {
      return verify(
        'sha256',
        Buffer.from(data),
        { key: publicKey, padding: constants.RSA_PKCS1_PADDING },
        Buffer.from(signature, 'base64'),
      );
    }

    it('signs partnerCode|secretKey with RSA-SHA256 as padded base64', async () => {
      const signature = await capturedSignature();

      expect(signature).toHaveLength(344);
      expect(signature.endsWith('=')).toBe(true);
      expect(verifies(`${PARTNER_CODE}|${SECRET_KEY}`, signature)).toBe(true);
    });

    it('produces a signature that fails with another public key', async () => {
      const signature = await capturedSignature();

      expect(verifies(`${PARTNER_CODE}|${SECRET_KEY}`, signature, otherKeys.publicKey)).toBe(false);
    });

    it('signs the string signedString() returns', async () => {
      const signature = await capturedSignature({ signedString: (c) => `${c.partnerCode}|${c.operation}` });

      expect(verifies(`${PARTNER_CODE}|refresh`, signature)).toBe(true);
    });

    it('signs and sends with no secretKey at all when signedString() needs none', async () => {
      const signature = await capturedSignature({
        secretKey: undefined,
        signedString: (c) => `${c.partnerCode}|nonce`,
      });

      expect(verifies(`${PARTNER_CODE}|nonce`, signature)).toBe(true);
    });

    it('uses a signer function instead of a key', async () => {
      const signed: string[] = [];
      const signature = await capturedSignature({
        privateKey: undefined,
        signer: async (data) => {
          signed.push(data);
          return sign('sha256', Buffer.from(data), keys.privateKey).toString('base64');
        },
      });

      expect(signed).toEqual([`${PARTNER_CODE}|${SECRET_KEY}`]);
      expect(verifies(`${PARTNER_CODE}|${SECRET_KEY}`, signature)).toBe(true);
    });

    it('wraps a signer that throws in a ConfigurationError', async () => {
      const provider = makeProvider({
        privateKey: undefined,
        signer: async () => {
          throw new Error('HSM offline');
        },
      });

      const error = await refreshError(provider);

      expect(error).toBeInstanceOf(ConfigurationError);
      expect((error as Error).message).toBe('refresh failed: the signer threw (Error)');
    });

    it('passes a typed error thrown by the signer through', async () => {
      const thrown = new AuthUnavailableError({ operation: 'refresh', reason: 'network', detail: 'KMS' });
      const provider = makeProvider({ privateKey: undefined, signer: () => Promise.reject(thrown) });

      await expect(refreshError(provider)).resolves.toBe(thrown);
    });

    it.each([
      ['not base64', 'not base64!'],
      ['empty (which the base64 pattern alone would pass)', ''],
    ])('rejects a signer result that is %s', async (_label, result) => {
      const provider = makeProvider({ privateKey: undefined, signer: async () => result });

      const error = await refreshError(provider);

      expect(error).toBeInstanceOf(ConfigurationError);
      expect((error as Error).message).toMatch(/did not return a base64 string/);
    });

    it('rejects a signedString() that returns an empty string, before any signing', async () => {
      const signer = jest.fn(async () => 'AAAA');
      const provider = makeProvider({ privateKey: undefined, signer, signedString: () => '' });

      const error = await rejectionOf(provider.authenticate());

      expect(error).toBeInstanceOf(ConfigurationError);
      expect((error as Error).message).toBe('authenticate failed: signedString() did not return a non-empty string');
      expect(signer).not.toHaveBeenCalled();
    });

    it('gives up on a signer after signerTimeoutMs (5 s by default), not after the request timeoutMs', async () => {
      jest.useFakeTimers();
      try {
        const outcomeOf = (overrides: Partial<AlixAuthProviderOptions>): { error?: unknown } => {
          const signer = (): Promise<string> => new Promise<string>(() => undefined);
          const outcome: { error?: unknown } = {};
          makeProvider({ privateKey: undefined, signer, timeoutMs: 60_000, ...overrides })
            .authenticate()
            .catch((error: unknown) => {
              outcome.error = error;
            });
          return outcome;
        };
        const configured = outcomeOf({ signerTimeoutMs: 50 });
        const byDefault = outcomeOf({});

        await jest.advanceTimersByTimeAsync(50);
        expect(configured.error).toBeInstanceOf(TimeoutError);
        expect(configured.error).toMatchObject({ stage: 'signer', timeoutMs: 50 });
        await jest.advanceTimersByTimeAsync(4_949);
        expect(byDefault.error).toBeUndefined();
        await jest.advanceTimersByTimeAsync(1);
        expect(byDefault.error).toMatchObject({ code: ErrorCodes.TIMEOUT, stage: 'signer', timeoutMs: 5_000 });
      } finally {
        jest.useRealTimers();
      }
    });
  });

  describe('rejections', () => {
    it('maps the seed 400 / errorCode 32 sample to AuthRejectedError', async () => {
      respondToRefresh(SEED_FAILURE, { status: 400 });

      const error = await refreshError();

      expect(error).toBeInstanceOf(AuthRejectedError);
      expect(error).toMatchObject({
        code: ErrorCodes.AUTH_REJECTED,
        transient: false,
        operation: 'refresh',
        status: 400,
        errorCode: 32,
        apiMessage: SEED_FAILURE.message,
      });
      expect((error as Error).message).toBe(
        `refresh rejected: POST ${REFRESH_URL} answered HTTP 400 with errorCode 32: ${SEED_FAILURE.message}. ` +
          'Sign in again (a TokenManager does so by itself once the refresh token is rejected).',
      );
    });

    it('maps success:false with HTTP 200 to AuthRejectedError', async () => {
      respondToRefresh({ ...SEED_FAILURE, errorCode: 7, message: 'Invalid signature' });

      const error = await refreshError();

      expect(error).toBeInstanceOf(AuthRejectedError);
      expect(error).toMatchObject({ status: 200, errorCode: 7, apiMessage: 'Invalid signature' });
    });

    it('maps a 401 without an envelope to AuthRejectedError without errorCode', async () => {
      respondToRefresh('Unauthorized', { status: 401 });

      const error = await refreshError();

      expect(error).toBeInstanceOf(AuthRejectedError);
      expect(error).toMatchObject({ status: 401, errorCode: undefined, apiMessage: undefined });
    });

    it('redacts the refresh token and signature when the API echoes them', async () => {
      respondToRefresh(
        { ...SEED_FAILURE, message: `bad token ${OLD_REFRESH_TOKEN} / ${EXPECTED_SIGNATURE}` },
        { status: 400 },
      );

      const error = await refreshError();

      expect((error as AuthRejectedError).apiMessage).toBe('bad token [REDACTED] / [REDACTED]');
    });
  });

  describe('transient failures', () => {
    it.each([500, 502, 503])('maps HTTP %i to a transient AuthUnavailableError', async (status) => {
      respondToRefresh({ success: false, message: 'down', data: null, errorCode: 99 }, { status });

      const error = await refreshError();

      expect(error).toBeInstanceOf(AuthUnavailableError);
      expect(error).toMatchObject({ code: ErrorCodes.AUTH_UNAVAILABLE, transient: true, reason: 'http', status });
    });

    it('maps 429 with Retry-After in seconds to retryAfterMs', async () => {
      respondToRefresh('slow down', { status: 429, headers: { 'Retry-After': '7' } });

      const error = await refreshError();

      expect(error).toBeInstanceOf(AuthUnavailableError);
      expect(error).toMatchObject({ status: 429, transient: true, retryAfterMs: 7_000 });
    });

    it('maps 429 with Retry-After as an HTTP-date, measured from the Date header', async () => {
      const serverTime = Date.UTC(2030, 0, 1, 12, 0, 0);
      respondToRefresh('slow down', {
        status: 429,
        headers: {
          Date: new Date(serverTime).toUTCString(),
          'Retry-After': new Date(serverTime + 30_000).toUTCString(),
        },
      });

      const error = await refreshError();

      expect(error).toMatchObject({ status: 429, retryAfterMs: 30_000 });
    });

    it('reports a long Retry-After as sent: the manager’s backoff policy holds the one cap', async () => {
      respondToRefresh('slow down', { status: 429, headers: { 'Retry-After': '86400' } });

      const error = await refreshError();

      expect(error).toMatchObject({ retryAfterMs: 86_400_000 });
    });

    it('maps an HTML 502 page to a transient AuthUnavailableError', async () => {
      respondToRefresh('<html><body>Bad Gateway</body></html>', {
        status: 502,
        headers: { 'Content-Type': 'text/html' },
      });

      const error = await refreshError();

      expect(error).toBeInstanceOf(AuthUnavailableError);
      expect(error).toMatchObject({ status: 502, reason: 'http' });
    });

    it('maps a network error to AuthUnavailableError with reason network', async () => {
      server.use(http.post(REFRESH_URL, () => HttpResponse.error()));

      const error = await refreshError();

      expect(error).toBeInstanceOf(AuthUnavailableError);
      expect(error).toMatchObject({ reason: 'network', transient: true });
    });

    it('maps a request slower than timeoutMs to AuthUnavailableError with reason timeout', async () => {
      server.use(
        http.post(REFRESH_URL, async () => {
          await delay(500);
          return HttpResponse.json(SEED_SUCCESS);
        }),
      );

      const error = await refreshError(makeProvider({ timeoutMs: 50 }));

      expect(error).toBeInstanceOf(AuthUnavailableError);
      expect(error).toMatchObject({ reason: 'timeout', transient: true });
    });
  });

  describe('abort', () => {
    it('rejects with AbortedError when the signal fires during the request', async () => {
      const controller = new AbortController();
      server.use(
        http.post(REFRESH_URL, async () => {
          controller.abort();
          await delay(500);
          return HttpResponse.json(SEED_SUCCESS);
        }),
      );

      const error = await rejectionOf(makeProvider().refresh(OLD_REFRESH_TOKEN, controller.signal));

      expect(error).toBeInstanceOf(AbortedError);
      expect(error).toMatchObject({ code: ErrorCodes.ABORTED });
    });

    it('rejects with AbortedError without a request when the signal already fired', async () => {
      let hits = 0;
      server.use(
        http.post(AUTH_URL, () => {
          hits += 1;
          return HttpResponse.json(SEED_SUCCESS);
        }),
      );

      const error = await rejectionOf(makeProvider().authenticate(AbortSignal.abort()));

      expect(error).toBeInstanceOf(AbortedError);
      expect(hits).toBe(0);
    });

    it('rejects with AbortedError when the signal fires while a signer is pending', async () => {
      const controller = new AbortController();
      const provider = makeProvider({
        privateKey: undefined,
        signer: () => {
          controller.abort();
          return new Promise<string>(() => undefined);
        },
      });

      const error = await rejectionOf(provider.authenticate(controller.signal));

      expect(error).toBeInstanceOf(AbortedError);
    });

    it('neither signs nor builds a body when the signal already fired', async () => {
      const signer = jest.fn(async () => 'AAAA');
      const buildAuthenticateBody = jest.fn((context: object) => ({ ...context }));
      const provider = makeProvider({ privateKey: undefined, signer, buildAuthenticateBody });

      const error = await rejectionOf(provider.authenticate(AbortSignal.abort()));

      expect(error).toBeInstanceOf(AbortedError);
      expect(signer).not.toHaveBeenCalled();
      expect(buildAuthenticateBody).not.toHaveBeenCalled();
    });

    it('sends nothing once the signal fired, at whatever moment of the body building it fires', async () => {
      // The abort comes some microtasks after the builder returns; every moment before the request
      // is sent must end without a request (or with the request aborted), never with tokens.
      let hits = 0;
      server.use(
        http.post(AUTH_URL, () => {
          hits += 1;
          return HttpResponse.json(SEED_SUCCESS);
        }),
      );
      for (let depth = 0; depth < 12; depth += 1) {
        const controller = new AbortController();
        const buildAuthenticateBody = (context: object): Record<string, unknown> => {
          let ticks = depth;
          const later = (): void => (ticks-- === 0 ? controller.abort() : queueMicrotask(later));
          queueMicrotask(later);
          return { ...context };
        };
        const provider = makeProvider({ buildAuthenticateBody });
        const error = await rejectionOf(provider.authenticate(controller.signal));
        expect([depth, error]).toEqual([depth, expect.any(AbortedError)]);
      }
      expect(hits).toBe(0);
    });

    it('lets go of the caller’s signal once the call has ended', async () => {
      respondToRefresh(SEED_SUCCESS);
      const caller = new AbortController();
      await makeProvider().refresh(OLD_REFRESH_TOKEN, caller.signal);

      const abort = jest.spyOn(AbortController.prototype, 'abort');
      try {
        caller.abort();
        expect(abort.mock.contexts).toEqual([caller]);
      } finally {
        abort.mockRestore();
      }
    });

    it('leaves no request timer behind once the call has ended', async () => {
      respondToRefresh(SEED_SUCCESS);
      const setTimer = jest.spyOn(globalThis, 'setTimeout');
      const clearTimer = jest.spyOn(globalThis, 'clearTimeout');
      try {
        await makeProvider({ timeoutMs: 12_345 }).refresh(OLD_REFRESH_TOKEN);
        const timers = setTimer.mock.calls.flatMap(([, delayMs], i) =>
          delayMs === 12_345 ? [setTimer.mock.results[i]?.value as unknown] : [],
        );
        expect(timers).toHaveLength(1);
        expect(clearTimer).toHaveBeenCalledWith(timers[0]);
      } finally {
        setTimer.mockRestore();
        clearTimer.mockRestore();
      }
    });
  });

  describe('malformed responses', () => {
    async function expectMalformed(message: RegExp): Promise<void> {
      const error = await refreshError();
      expect(error).toBeInstanceOf(MalformedResponseError);
      expect(error).toMatchObject({ code: ErrorCodes.MALFORMED_RESPONSE, transient: false, operation: 'refresh' });
      expect((error as Error).message).toMatch(message);
    }

    it('rejects a 200 body that is not JSON', async () => {
      respondToRefresh('{"success": true, "data": ', { headers: { 'Content-Type': 'application/json' } });
      await expectMalformed(/is not valid JSON/);
    });

    it('rejects a 200 HTML page', async () => {
      respondToRefresh('<!doctype html><html><body>Login</body></html>', { headers: { 'Content-Type': 'text/html' } });
      await expectMalformed(/is an HTML page/);
    });

    it('rejects an empty 200 body', async () => {
      respondToRefresh('');
      await expectMalformed(/empty body/);
    });

    it('rejects JSON that is not the envelope', async () => {
      respondToRefresh({ accessToken: 'x' });
      await expectMalformed(/not the Alix envelope/);
    });

    it('rejects success:true without data', async () => {
      respondToRefresh({ success: true, message: 'ok', errorCode: 0 });
      await expectMalformed(/no data object/);
    });

    it.each(['accessToken', 'refreshToken'])('rejects a response without %s', async (field) => {
      respondToRefresh(withData({ [field]: undefined }));
      await expectMalformed(new RegExp(`lacks data\\.${field}`));
    });

    it('rejects an empty access token', async () => {
      respondToRefresh(withData({ accessToken: '' }));
      await expectMalformed(/lacks data\.accessToken/);
    });

    // An access token without a JWT exp claim, so nothing can stand in for a bad expiry.
    it.each([
      ['a non-numeric string', 'tomorrow', /data\.accessTokenExpiresAt as a string that is neither epoch seconds/],
      [
        'an ISO date without a zone',
        '2024-11-11T08:47:58',
        /data\.accessTokenExpiresAt as an ISO 8601 datetime without/,
      ],
      ['an impossible ISO date', '2024-02-31T08:47:58Z', /data\.accessTokenExpiresAt as a string that is neither/],
      ['a boolean', true, /data\.accessTokenExpiresAt as a boolean/],
      ['a missing value', undefined, /lacks data\.accessTokenExpiresAt, and the access token carries no JWT exp claim/],
      ['NaN', 'NaN', /data\.accessTokenExpiresAt as a string that is neither/],
      ['Infinity', 'Infinity', /data\.accessTokenExpiresAt as a string that is neither/],
      ['a huge number overflowing to Infinity', '1e400', /data\.accessTokenExpiresAt as a string that is neither/],
      ['a digit string overflowing to Infinity', '9'.repeat(400), /non-finite/],
      ['zero', 0, /data\.accessTokenExpiresAt as a non-finite or non-positive value/],
      ['a past time', String(SEED_NOW / 1000 - 1), /data\.accessTokenExpiresAt 1731313977, already past/],
      ['the current second', String(SEED_NOW / 1000), /already past/],
      ['more than 10 years ahead', String(SEED_NOW / 1000 + 11 * 365 * 86_400), /more than 10 years ahead/],
      ['microseconds', String((SEED_NOW + 900_000) * 1000), /more than 10 years ahead/],
    ])('rejects accessTokenExpiresAt given as %s', async (_label, value, message) => {
      respondToRefresh(withData({ accessToken: 'opaque-access-token', accessTokenExpiresAt: value }));
      await expectMalformed(message);
    });

    it('rejects a past refreshTokenExpiresAt', async () => {
      respondToRefresh(withData({ refreshTokenExpiresAt: '1700000000' }));
      await expectMalformed(/data\.refreshTokenExpiresAt 1700000000, already past/);
    });

    it('judges expiry against the Date header rather than the local clock', async () => {
      const serverTime = (Number(SEED_SUCCESS.data.accessTokenExpiresAt) + 1) * 1000;
      respondToRefresh(SEED_SUCCESS, { headers: { Date: new Date(serverTime).toUTCString() } });
      await expectMalformed(/accessTokenExpiresAt 1731314878, already past/);
    });

    it('rejects a redirect instead of following it', async () => {
      respondToRefresh('', { status: 302, headers: { Location: 'https://elsewhere.test/' } });
      await expectMalformed(/unexpected HTTP 302/);
    });

    it('refuses an answer over 1 MiB as malformed, however valid its envelope', async () => {
      respondToRefresh({ ...SEED_SUCCESS, padding: 'x'.repeat(1024 * 1024) });

      const error = await refreshError();

      expect(error).toBeInstanceOf(MalformedResponseError);
      expect((error as Error).message).toMatch(/is too large/);
    });
  });

  describe('secrets', () => {
    const secrets: Record<string, string> = {
      accessToken: SEED_SUCCESS.data.accessToken,
      refreshToken: SEED_SUCCESS.data.refreshToken,
      oldRefreshToken: OLD_REFRESH_TOKEN,
      signature: EXPECTED_SIGNATURE,
      secretKey: SECRET_KEY,
      signedNonce: SIGNED_NONCE,
      ...Object.fromEntries(pemBodyLines(keys.privatePem).map((line, i) => [`pem line ${i}`, line])),
    };

    it('finds a secret planted in an error (the scanner works)', () => {
      const planted = new Error(`token ${OLD_REFRESH_TOKEN}`);

      expect(findLeaks([planted], secrets)).toEqual(['0: oldRefreshToken']);
    });

    /**
     * Every kind of failure the suites above produce, each with secrets within reach: echoed in
     * the answer, in the request, or in what a signer threw. The scan covers this list alone,
     * so it passes or fails the same when run by itself (`-t`).
     */
    const failures: Array<[label: string, fail: () => Promise<unknown>]> = [
      ['empty refresh token', () => makeProvider().refresh('')],
      [
        'signer throws',
        () =>
          makeProvider({ privateKey: undefined, signer: () => Promise.reject(new Error('HSM offline')) }).refresh(
            OLD_REFRESH_TOKEN,
          ),
      ],
      [
        'signer throws, echoing what it was asked to sign',
        () =>
          makeProvider({
            privateKey: undefined,
            signer: (data) => Promise.reject(new Error(`HSM refused to sign ${data}`)),
          }).refresh(OLD_REFRESH_TOKEN),
      ],
      [
        'signer throws, echoing a signed string of its own',
        () =>
          makeProvider({
            privateKey: undefined,
            signedString: ({ partnerCode }) => `${partnerCode}|${SIGNED_NONCE}`,
            signer: (data) => Promise.reject(new Error(`HSM refused to sign ${data}`)),
          }).refresh(OLD_REFRESH_TOKEN),
      ],
      [
        'signer rejects with a string, echoing what it was asked to sign',
        () =>
          makeProvider({
            privateKey: undefined,
            signer: (data) => Promise.reject(`HSM refused to sign ${data}`),
          }).refresh(OLD_REFRESH_TOKEN),
      ],
      [
        'signedString() throws, echoing the secret key',
        () =>
          makeProvider({
            signedString: ({ secretKey }) => {
              throw new Error(`cannot build the string from ${secretKey}`);
            },
          }).refresh(OLD_REFRESH_TOKEN),
      ],
      [
        'signer returns non-base64',
        () =>
          makeProvider({ privateKey: undefined, signer: async () => `not base64 ${SECRET_KEY}!` }).refresh(
            OLD_REFRESH_TOKEN,
          ),
      ],
      ['aborted before the request', () => makeProvider().refresh(OLD_REFRESH_TOKEN, AbortSignal.abort())],
      [
        'aborted while the signer is pending',
        () => {
          const controller = new AbortController();
          const signer = (): Promise<string> => {
            controller.abort();
            return new Promise<string>(() => undefined);
          };
          return makeProvider({ privateKey: undefined, signer }).authenticate(controller.signal);
        },
      ],
    ];
    /** Failures of the refresh call, by the answer the server gives. */
    const answers: Array<[label: string, answer: () => Response]> = [
      [
        '400 echoing token, signature, secret',
        () =>
          HttpResponse.json(
            { ...SEED_FAILURE, message: `bad ${OLD_REFRESH_TOKEN} ${EXPECTED_SIGNATURE} ${SECRET_KEY}` },
            { status: 400 },
          ),
      ],
      [
        '200 success:false echoing the token',
        () => HttpResponse.json({ ...SEED_FAILURE, errorCode: 7, message: `Invalid ${OLD_REFRESH_TOKEN}` }),
      ],
      ['401 text echoing the token', () => new HttpResponse(`Unauthorized ${OLD_REFRESH_TOKEN}`, { status: 401 })],
      [
        '503 echoing the token, with Retry-After',
        () =>
          HttpResponse.json(
            { ...SEED_FAILURE, message: `overloaded ${OLD_REFRESH_TOKEN}` },
            { status: 503, headers: { 'Retry-After': '5' } },
          ),
      ],
      [
        '429 echoing the signature',
        () => new HttpResponse(`slow down ${EXPECTED_SIGNATURE}`, { status: 429, headers: { 'Retry-After': '7' } }),
      ],
      [
        '502 HTML page echoing the token',
        () =>
          new HttpResponse(`<html>${OLD_REFRESH_TOKEN}</html>`, {
            status: 502,
            headers: { 'Content-Type': 'text/html' },
          }),
      ],
      [
        '200 HTML page echoing the token',
        () =>
          new HttpResponse(`<html>${OLD_REFRESH_TOKEN}</html>`, {
            status: 200,
            headers: { 'Content-Type': 'text/html' },
          }),
      ],
      [
        '200 truncated JSON holding the new token',
        () =>
          new HttpResponse(`{"success": true, "data": {"accessToken": "${SEED_SUCCESS.data.accessToken}"`, {
            headers: { 'Content-Type': 'application/json' },
          }),
      ],
      [
        '200 JSON that is not the envelope',
        () =>
          HttpResponse.json({
            accessToken: SEED_SUCCESS.data.accessToken,
            refreshToken: SEED_SUCCESS.data.refreshToken,
          }),
      ],
      ['200 without data.refreshToken', () => HttpResponse.json(withData({ refreshToken: undefined }))],
      [
        '200 with a malformed accessTokenExpiresAt and no JWT to fall back on',
        () => HttpResponse.json(withData({ accessToken: `opaque-${OLD_REFRESH_TOKEN}`, accessTokenExpiresAt: 'soon' })),
      ],
      [
        '200 with expiries in microseconds',
        () => HttpResponse.json(withData({ accessTokenExpiresAt: String((SEED_NOW + 900_000) * 1000) })),
      ],
      [
        '200 with a past refreshTokenExpiresAt',
        () => HttpResponse.json(withData({ refreshTokenExpiresAt: '1700000000' })),
      ],
      [
        '302 redirect',
        () =>
          new HttpResponse(null, {
            status: 302,
            headers: { Location: `https://elsewhere.test/?token=${OLD_REFRESH_TOKEN}` },
          }),
      ],
      ['network error', () => HttpResponse.error()],
    ];

    it('keeps every kind of provider error free of tokens, signature, secret key and PEM', async () => {
      const own: unknown[] = [];
      const labels: string[] = [];
      const capture = async (label: string, failure: Promise<unknown>): Promise<void> => {
        labels.push(label);
        await captureRejection(failure, own);
      };
      for (const [label, fail] of failures) await capture(label, fail());
      for (const [label, answer] of answers) {
        server.use(http.post(REFRESH_URL, answer));
        await capture(label, makeProvider().refresh(OLD_REFRESH_TOKEN));
      }
      server.use(
        http.post(AUTH_URL, () =>
          HttpResponse.json({ ...SEED_FAILURE, message: `bad signature ${EXPECTED_SIGNATURE}` }, { status: 400 }),
        ),
      );
      await capture('sign-in 400 echoing the signature', makeProvider().authenticate());
      server.use(http.post(REFRESH_URL, () => delay('infinite')));
      await capture('no answer within timeoutMs', makeProvider({ timeoutMs: 20 }).refresh(OLD_REFRESH_TOKEN));

      expect(own).toHaveLength(failures.length + answers.length + 2);
      const leaks = findLeaks(own, secrets).map((leak) => {
        const [index, secret] = leak.split(': ');
        return `${labels[Number(index)]}: ${secret}`;
      });
      expect(leaks).toEqual([]);
    });

    it('keeps the provider itself free of secrets under util.inspect', () => {
      const rendered = inspect(makeProvider(), { depth: Infinity, showHidden: true });

      expect(findLeaks([rendered], secrets)).toEqual([]);
    });
  });
});
