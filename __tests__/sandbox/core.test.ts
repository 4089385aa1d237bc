import { createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { ConfigurationError } from '../../src/errors';
import {
  AlixSandboxCore,
  createAlixSignature,
  generatePartnerKeyPairSync,
  type SandboxAuthCallEvent,
  type SandboxReply,
  type SandboxResponse,
  verifyAlixSignature,
} from '../../src/sandbox';

const keys = generatePartnerKeyPairSync();
const otherKeys = generatePartnerKeyPairSync();
const T0 = Date.UTC(2025, 0, 1);

function makeCore(options: ConstructorParameters<typeof AlixSandboxCore>[0] = {}): AlixSandboxCore {
  return new AlixSandboxCore({ privateKeyPem: keys.privateKeyPem, now: () => T0, ...options });
}

function answered(reply: SandboxReply): SandboxResponse {
  if ('reset' in reply) throw new Error('expected an answer, got a reset');
  return reply;
}

async function signIn(core: AlixSandboxCore): Promise<SandboxReply> {
  const signature = createAlixSignature(keys.privateKeyPem, core.partnerCode, core.secretKey);
  return core.handle({
    method: 'POST',
    path: '/api/v2/auth/access-token',
    headers: { 'content-type': 'application/json' },
    bodyText: JSON.stringify({ partnerCode: core.partnerCode, signature }),
  });
}

function claims(jwt: string): Record<string, unknown> {
  const [header, payload] = jwt.split('.');
  expect(JSON.parse(Buffer.from(header ?? '', 'base64url').toString())).toEqual({ alg: 'HS256', typ: 'JWT' });
  return JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()) as Record<string, unknown>;
}

function refresh(core: AlixSandboxCore, refreshToken: string, signal?: AbortSignal): Promise<SandboxReply> {
  const signature = createAlixSignature(keys.privateKeyPem, core.partnerCode, core.secretKey);
  return core.handle(
    {
      method: 'POST',
      path: '/api/v2/auth/refresh-token',
      headers: { 'content-type': 'application/json' },
      bodyText: JSON.stringify({ partnerCode: core.partnerCode, signature, refreshToken }),
    },
    signal,
  );
}

describe('AlixSandboxCore', () => {
  describe('constructor', () => {
    it('refuses bad options with a ConfigurationError', () => {
      expect(() => makeCore({ accessTokenTtlMs: 0 })).toThrow(ConfigurationError);
      // Past 10 years no client takes the expiry, and with datetime expiries a date cannot be written: never served.
      expect(() => makeCore({ refreshTokenTtlMs: Number.MAX_SAFE_INTEGER })).toThrow(/at most 10 years/);
      expect(() => makeCore({ partnerCode: '' })).toThrow(ConfigurationError);
      expect(() => makeCore({ publicKeyPem: 'not a key', privateKeyPem: undefined })).toThrow(ConfigurationError);
      expect(() => makeCore({ publicKeyPem: otherKeys.publicKeyPem })).toThrow(/not one key pair/);
    });

    it('refuses a key that is not RSA, rather than refusing every signature later', () => {
      const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
      const privateKeyPem = ecKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      expect(() => makeCore({ privateKeyPem })).toThrow(/privateKeyPem must be an RSA key \(got ec\)/);
    });

    it('derives the public key from a private key', () => {
      expect(makeCore().publicKeyPem).toBe(keys.publicKeyPem);
    });
  });

  describe('handle()', () => {
    it('issues HS256 JWT-looking tokens with iat, exp, partnerCode and session', async () => {
      const core = makeCore();
      const body = JSON.parse(answered(await signIn(core)).bodyText) as {
        data: { accessToken: string; accessTokenExpiresAt: string };
      };
      expect(claims(body.data.accessToken)).toEqual({
        partnerCode: 'sandbox-partner',
        session: expect.any(String),
        kind: 'access',
        jti: expect.any(String),
        iat: T0 / 1000,
        exp: Number(body.data.accessTokenExpiresAt),
      });
    });

    it('rounds expiries up to whole seconds', async () => {
      const core = makeCore({ now: () => T0 + 1, accessTokenTtlMs: 1_000 });
      const body = JSON.parse(answered(await signIn(core)).bodyText) as { data: { accessTokenExpiresAt: string } };
      expect(body.data.accessTokenExpiresAt).toBe(String(T0 / 1000 + 2));
    });

    it('takes the method in any case, as the front ends pass it on', async () => {
      const reply = answered(
        await makeCore().handle({ method: 'get', path: '/api/v2/cards', headers: {}, bodyText: '' }),
      );
      expect(reply.status).toBe(401);
    });

    it('marks token answers uncacheable (Cache-Control: no-store, RFC 6749 §5.1)', async () => {
      expect(answered(await signIn(makeCore())).headers['Cache-Control']).toBe('no-store');
    });

    it('ignores a query string', async () => {
      const reply = answered(
        await makeCore().handle({ method: 'GET', path: '/api/v2/cards?x=1', headers: {}, bodyText: '' }),
      );
      expect(reply.status).toBe(401);
    });
  });

  describe('verifyAlixSignature()', () => {
    const publicKey = createPublicKey(keys.publicKeyPem);
    const signature = createAlixSignature(keys.privateKeyPem, 'partner', 'secret');

    it('verifies an RSA-SHA256 PKCS#1 v1.5 signature of partnerCode|secretKey, in base64', () => {
      const byHand = sign('sha256', Buffer.from('partner|secret'), keys.privateKeyPem).toString('base64');
      expect(signature).toBe(byHand);
      expect(verifyAlixSignature(publicKey, 'partner', 'secret', byHand)).toBe(true);
    });

    it('refuses a signature that is not padded base64, though it decodes to the right bytes', () => {
      expect(signature).toMatch(/==$/);
      expect(verifyAlixSignature(publicKey, 'partner', 'secret', signature.slice(0, -2))).toBe(false);
      expect(
        verifyAlixSignature(publicKey, 'partner', 'secret', `${signature.slice(0, 8)} ${signature.slice(8)}`),
      ).toBe(false);
    });
  });

  describe('request checks', () => {
    const post = (
      core: AlixSandboxCore,
      path: string,
      body: Record<string, unknown>,
      contentType = 'application/json',
    ) =>
      core.handle({
        method: 'POST',
        path,
        headers: { 'content-type': contentType },
        bodyText: JSON.stringify({
          partnerCode: core.partnerCode,
          signature: createAlixSignature(keys.privateKeyPem, core.partnerCode, core.secretKey),
          ...body,
        }),
      });
    const refusal = (reply: SandboxReply): [number, number, string] => {
      const { status, bodyText } = answered(reply);
      const { errorCode, message } = JSON.parse(bodyText) as { errorCode: number; message: string };
      return [status, errorCode, message];
    };

    it.each([
      ['a refresh without a refreshToken', '/api/v2/auth/refresh-token', {}, 'refreshToken is required'],
      [
        'a refresh with an empty refreshToken',
        '/api/v2/auth/refresh-token',
        { refreshToken: '' },
        'refreshToken is required',
      ],
      [
        'a sign-in with a userEmail that is not a string',
        '/api/v2/auth/access-token',
        { userEmail: 42 },
        'userEmail must be a string',
      ],
    ])('refuses %s with errorCode 10 before looking at any token', async (_case, path, body, message) => {
      expect(refusal(await post(makeCore(), path, body))).toEqual([400, 10, message]);
    });

    it('refuses a Content-Type that only mentions JSON further on', async () => {
      const reply = await post(makeCore(), '/api/v2/auth/access-token', {}, 'text/plain; profile=application/json');
      expect(refusal(reply)).toEqual([400, 10, 'Content-Type must be application/json']);
    });

    it('refuses a media type that only starts with json (application/json-seq)', async () => {
      const reply = await post(makeCore(), '/api/v2/auth/access-token', {}, 'application/json-seq');
      expect(refusal(reply)).toEqual([400, 10, 'Content-Type must be application/json']);
    });
  });

  describe('GET /api/v2/cards', () => {
    it('takes the Bearer scheme in any case, as HTTP auth schemes are (RFC 7235)', async () => {
      const core = makeCore();
      const { accessToken } = (JSON.parse(answered(await signIn(core)).bodyText) as { data: { accessToken: string } })
        .data;
      const headers = { authorization: `bearer ${accessToken}` };
      const reply = answered(await core.handle({ method: 'GET', path: '/api/v2/cards', headers, bodyText: '' }));
      expect(reply.status).toBe(200);
    });
  });

  describe('GET /api/v2/cards challenges', () => {
    it('sends a bare Bearer challenge without a token and an invalid_token one for a refused token', async () => {
      const core = makeCore();
      const get = async (headers: Record<string, string>) =>
        answered(await core.handle({ method: 'GET', path: '/api/v2/cards', headers, bodyText: '' })).headers[
          'WWW-Authenticate'
        ];
      expect(await get({})).toBe('Bearer');
      expect(await get({ authorization: 'Bearer never-issued' })).toBe('Bearer error="invalid_token"');
    });
  });

  describe('injectFaults()', () => {
    it('serves faults in order and only to their endpoint', async () => {
      const core = makeCore();
      core.injectFaults(1, { type: 'status', status: 503, endpoint: 'refresh' });
      core.injectFaults(2, { type: 'status', status: 500 });
      const statuses = [];
      for (let i = 0; i < 3; i += 1) statuses.push(answered(await signIn(core)).status);
      expect(statuses).toEqual([500, 500, 200]);
      expect(core.pendingFaults()).toBe(1);
    });

    it('refuses a bad count or fault', () => {
      const core = makeCore();
      expect(() => core.injectFaults(-1, { type: 'reset' })).toThrow(ConfigurationError);
      expect(() => core.injectFaults(1, { type: 'status', status: 200 })).toThrow(ConfigurationError);
      expect(() => core.injectFaults(1, { type: 'explode' } as never)).toThrow(ConfigurationError);
    });

    it('refuses a reject fault with an interim (1xx) status, which the server could never end its call with', () => {
      expect(() => makeCore().injectFaults(1, { type: 'reject', errorCode: 32, status: 101 })).toThrow(
        ConfigurationError,
      );
    });

    it('keeps the fault as injected, whatever the test does to its object afterwards', async () => {
      const core = makeCore();
      const fault = { type: 'status' as const, status: 503 };
      core.injectFaults(1, fault);
      fault.status = 500;
      expect(answered(await signIn(core)).status).toBe(503);
    });

    it('queues nothing for a count of 0', async () => {
      const core = makeCore();
      core.injectFaults(0, { type: 'status', status: 503 });
      expect(core.pendingFaults()).toBe(0);
      expect(answered(await signIn(core)).status).toBe(200);
    });

    it('rounds Retry-After up to whole seconds', async () => {
      const core = makeCore();
      core.injectFaults(1, { type: 'status', status: 429, retryAfterSeconds: 1.5 });
      expect(answered(await signIn(core)).headers['Retry-After']).toBe('2');
    });

    it('answers a delayed call whose client has gone with a reset, without processing it', async () => {
      const core = makeCore();
      const { refreshToken } = (JSON.parse(answered(await signIn(core)).bodyText) as { data: { refreshToken: string } })
        .data;
      core.injectFaults(1, { type: 'delay', ms: 60_000 });
      const gone = new AbortController();
      const reply = refresh(core, refreshToken, gone.signal);
      gone.abort();
      expect(await reply).toEqual({ reset: true });
      expect(answered(await refresh(core, refreshToken)).status).toBe(200);
    });

    it('keeps the process open while a delayed call waits, as its socket would (msw has none)', async () => {
      const core = makeCore();
      core.injectFaults(1, { type: 'delay', ms: 60_000 });
      const refTimers = (): number => process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;
      const before = refTimers();
      const gone = new AbortController();
      const reply = core.handle(
        { method: 'POST', path: '/api/v2/auth/access-token', headers: {}, bodyText: '{}' },
        gone.signal,
      );
      const waiting = refTimers();
      gone.abort();
      expect(await reply).toEqual({ reset: true });
      expect([waiting, refTimers()]).toEqual([before + 1, before]);
    });
  });

  describe('counters()', () => {
    it('hands out a snapshot that later calls leave as it was', async () => {
      const core = makeCore();
      const before = core.counters();
      await signIn(core);
      expect([before.authenticate, core.counters().authenticate]).toEqual([0, 1]);
    });
  });

  describe('resetCounters()', () => {
    it('leaves out a call that arrived before it, its failure too', async () => {
      const core = makeCore();
      core.injectFaults(1, { type: 'delay', ms: 1_000 });
      jest.useFakeTimers();
      try {
        const reply = core.handle({ method: 'POST', path: '/api/v2/auth/access-token', headers: {}, bodyText: '{}' });
        core.resetCounters();
        await jest.advanceTimersByTimeAsync(1_000);
        expect(answered(await reply).status).toBe(400);
      } finally {
        jest.useRealTimers();
      }
      const zero = { authenticate: 0, refresh: 0, authFailures: 0, resourceRequests: 0, resource401s: 0, requests: 0 };
      expect(core.counters()).toEqual(zero);
    });
  });

  describe('onAuthCall()', () => {
    it('reports each auth call without secrets, until removed', async () => {
      const core = makeCore();
      const events: SandboxAuthCallEvent[] = [];
      const remove = core.onAuthCall((event) => events.push(event));
      core.onAuthCall(() => {
        throw new Error('a broken listener is ignored');
      });
      await signIn(core);
      core.injectFaults(1, { type: 'reset' });
      await signIn(core);
      remove();
      await signIn(core);
      expect(events).toEqual([
        { endpoint: 'authenticate', outcome: 'success', status: 200, errorCode: 0, fault: undefined, at: T0 },
        { endpoint: 'authenticate', outcome: 'fault', status: undefined, errorCode: undefined, fault: 'reset', at: T0 },
      ]);
    });
  });

  describe('shiftClock()', () => {
    it('refuses a shift that is not a finite number', () => {
      expect(() => makeCore().shiftClock(Number.NaN)).toThrow(ConfigurationError);
    });

    it('moves the Date header and the issued expiries', async () => {
      const core = makeCore({ accessTokenTtlMs: 60_000 });
      core.shiftClock(3_600_000);
      const reply = answered(await signIn(core));
      const body = JSON.parse(reply.bodyText) as { data: { accessTokenExpiresAt: string } };
      expect(reply.headers.Date).toBe(new Date(T0 + 3_600_000).toUTCString());
      expect(body.data.accessTokenExpiresAt).toBe(String((T0 + 3_660_000) / 1000));
    });
  });
});
