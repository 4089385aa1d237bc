/**
 * How the provider reads the auth server's answers, against a real local HTTP server:
 * statuses that ask for a retry, access tokens a Bearer header cannot carry, the datetime forms
 * the page's "datetime" allows, and server text that echoes a secret or control characters.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AuthRejectedError, AuthUnavailableError, MalformedResponseError } from '../../../src/errors';
import { TokenManager } from '../../../src/manager/token-manager';
import { AlixAuthProvider } from '../../../src/providers/alix';
import { makeRsaKeyPair } from '../../helpers/alix-keys';

const NOW = 1_731_313_978_000;
const SECRET_KEY = 'rjgQDe8QVlnP9AJL';
const REFRESH_TOKEN = 'old-refresh-token-0123456789';
const SAMPLE_EXPIRIES = { accessTokenExpiresAt: '1731314878', refreshTokenExpiresAt: '1746865978' };
const keys = makeRsaKeyPair();

type Answer = (request: { path: string; body: Record<string, unknown> }, response: ServerResponse) => void;
let answer: Answer = (_request, response) => response.end();
const calls: string[] = [];
let server: Server;
let baseUrl = '';

beforeAll(async () => {
  server = createServer((request: IncomingMessage, response: ServerResponse) => {
    // No automatic Date header: expiries are then checked against the provider's `now`.
    response.sendDate = false;
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    request.on('end', () => {
      calls.push(request.url ?? '');
      answer({ path: request.url ?? '', body: JSON.parse(text) as Record<string, unknown> }, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => (calls.length = 0));

function makeProvider(now = (): number => NOW): AlixAuthProvider {
  return new AlixAuthProvider({
    baseUrl,
    partnerCode: 'zencardtest',
    secretKey: SECRET_KEY,
    privateKey: keys.privatePem,
    now,
  });
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Answer {
  return (_request, response) => {
    response.writeHead(status, { 'Content-Type': 'application/json', ...headers });
    response.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
}

function success(data: Record<string, unknown>): Answer {
  const tokens = { accessToken: 'access-token-1', refreshToken: 'refresh-token-1', ...SAMPLE_EXPIRIES };
  return json(200, { success: true, message: 'ok', data: { ...tokens, ...data }, errorCode: 0 });
}

function refreshError(provider = makeProvider()): Promise<unknown> {
  return provider.refresh(REFRESH_TOKEN).then(
    () => {
      throw new Error('expected the refresh to fail');
    },
    (error: unknown) => error,
  );
}

describe('AlixAuthProvider › statuses that ask for the same request again', () => {
  it.each([408, 425])('reads HTTP %i as transient, with its Retry-After, not as a rejection', async (status) => {
    answer = json(
      status,
      { success: false, message: 'try again', data: null, errorCode: status },
      { 'Retry-After': '3' },
    );
    const error = await refreshError();
    expect(error).toBeInstanceOf(AuthUnavailableError);
    expect(error).toMatchObject({ transient: true, reason: 'http', status, retryAfterMs: 3000 });
  });

  it('a refresh answered 408 is not taken for a rejected refresh token: no sign-in follows', async () => {
    // The real clock here: the manager checks expiries against it.
    const inSeconds = (seconds: number): string => String(Math.floor(Date.now() / 1000) + seconds);
    const signIn = success({ accessTokenExpiresAt: inSeconds(900), refreshTokenExpiresAt: inSeconds(86_400) });
    answer = (request, response) =>
      (request.path.endsWith('/access-token') ? signIn : json(408, ''))(request, response);
    const provider = new AlixAuthProvider({
      baseUrl,
      partnerCode: 'zencardtest',
      secretKey: SECRET_KEY,
      privateKey: keys.privatePem,
    });
    const manager = new TokenManager({ provider, retry: { retries: 0 } });
    try {
      await manager.getAccessToken();
      await manager.getAccessToken({ forceRefresh: true }).catch(() => undefined);
      expect(calls.filter((path) => path.endsWith('/access-token'))).toHaveLength(1);
      expect(calls.filter((path) => path.endsWith('/refresh-token'))).toHaveLength(1);
    } finally {
      manager.close();
    }
  });
});

describe('AlixAuthProvider › access tokens a Bearer header cannot carry', () => {
  it.each([
    ['a space', 'abc def'],
    ['a leading space', ' abcdef'],
    ['a newline', 'abc\ndef'],
    ['CR/LF and a smuggled header', 'abc\r\nX-Evil: 1'],
    ['a non-ASCII character', 'abcdé'],
    ['a NUL', 'abc\u0000def'],
  ])('refuses an access token with %s, without quoting it', async (_label, accessToken) => {
    answer = success({ accessToken });
    const error = await refreshError();
    expect(error).toBeInstanceOf(MalformedResponseError);
    expect((error as Error).message).toContain('data.accessToken with characters a Bearer header cannot carry');
    expect((error as Error).message).not.toContain(accessToken);
  });

  it('refuses a 1 MB access token by its length', async () => {
    answer = success({ accessToken: 'a'.repeat(1_000_000) });
    const error = await refreshError();
    expect(error).toBeInstanceOf(MalformedResponseError);
    expect((error as Error).message).toMatch(
      /data\.accessToken of 1000000 characters, over the \d+ a header may carry/,
    );
  });

  it('still accepts the sample JWT and a refresh token that only travels in the body', async () => {
    answer = success({ accessToken: 'eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.sig-_~+/=', refreshToken: 'any thing\nat all' });
    await expect(makeProvider().refresh(REFRESH_TOKEN)).resolves.toMatchObject({ refreshToken: 'any thing\nat all' });
  });
});

describe('AlixAuthProvider › the datetime forms of the page’s response table', () => {
  it.each([
    ['a basic offset (Java’s Z pattern)', '2024-11-11T15:47:58+0700'],
    ['an hours-only offset', '2024-11-11T15:47:58+07'],
    ['PostgreSQL’s timestamptz text (space, hours-only offset)', '2024-11-11 15:47:58+07'],
    ['RFC 3339 with a space', '2024-11-11 08:47:58Z'],
    ['a negative basic offset', '2024-11-11T03:17:58-0530'],
  ])('reads %s', async (_label, accessTokenExpiredAt) => {
    answer = success({ accessTokenExpiresAt: undefined, accessTokenExpiredAt });
    await expect(makeProvider().refresh(REFRESH_TOKEN)).resolves.toMatchObject({
      accessTokenExpiresAt: 1_731_314_878_000,
    });
  });

  it.each([
    ['a zoneless datetime with a space', '2024-11-11 08:47:58', 'without a zone'],
    ['an offset of 99 hours', '2024-11-11T08:47:58+9999', 'neither epoch seconds nor'],
  ])('still refuses %s', async (_label, refreshTokenExpiredAt, problem) => {
    answer = success({ refreshTokenExpiresAt: undefined, refreshTokenExpiredAt });
    const error = await refreshError();
    expect(error).toBeInstanceOf(MalformedResponseError);
    expect((error as Error).message).toContain(problem);
  });
});

describe('AlixAuthProvider › server text in a rejection', () => {
  /** Answers 400 with a message made from the request's own signature. */
  function rejectEchoing(message: (signature: string) => string): Answer {
    return ({ body }, response) =>
      json(400, { success: false, message: message(String(body.signature)), data: null, errorCode: 12 })(
        { path: '', body },
        response,
      );
  }

  it.each([
    ['percent-encoded (a quoted form body)', (signature: string) => encodeURIComponent(signature)],
    [
      'percent-encoded in lower case',
      (signature: string) => encodeURIComponent(signature).replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()),
    ],
    ['wrapped every 64 characters with CR/LF', (signature: string) => signature.replace(/.{64}/g, '$&\r\n')],
    [
      'as HTML hex character references (&#x2F;, &#x2B;, &#x3D;)',
      (signature: string) => signature.replace(/[+/=]/g, (char) => `&#x${char.charCodeAt(0).toString(16)};`),
    ],
    [
      'as HTML decimal character references, escaped twice (&amp;#47;)',
      (signature: string) => signature.replace(/[+/=]/g, (char) => `&amp;#${char.charCodeAt(0)};`),
    ],
    [
      'as HTML named character references (&sol;, &plus;, &equals;)',
      (signature: string) =>
        signature.replace(/[+/=]/g, (char) => ({ '+': '&plus;', '/': '&sol;' })[char] ?? '&equals;'),
    ],
    ['with a zero-width space every 8 characters', (signature: string) => signature.replace(/.{8}/g, '$&\u200b')],
  ])('keeps no piece of a signature echoed %s', async (_label, echo) => {
    let signature = '';
    answer = rejectEchoing((sent) => {
      signature = sent;
      return `bad signature: ${echo(sent)}`;
    });
    const error = (await refreshError()) as AuthRejectedError;
    expect(error).toBeInstanceOf(AuthRejectedError);
    const shown = `${error.message} ${JSON.stringify(error)}`;
    const pieces = signature.match(/[A-Za-z0-9]{12}/g) ?? [];
    expect(pieces.length).toBeGreaterThan(10);
    expect(pieces.filter((piece) => shown.includes(piece))).toEqual([]);
  });

  it('turns control characters (ANSI escapes, CR/LF) into spaces', async () => {
    answer = json(400, { success: false, message: 'bad\u001b[31m input\r\nX-Forged: yes', data: null, errorCode: 3 });
    const error = (await refreshError()) as AuthRejectedError;
    expect(error.apiMessage).toBe('bad [31m input X-Forged: yes');
    expect(error.message).not.toMatch(/\p{Cc}/u);
  });

  it('drops invisible format characters (a right-to-left override would reorder a log line)', async () => {
    answer = json(400, { success: false, message: 'bad \u202egnp.exe\u202c input\u200b', data: null, errorCode: 3 });
    const error = (await refreshError()) as AuthRejectedError;
    expect(error.apiMessage).toBe('bad gnp.exe input');
    expect(error.message).not.toMatch(/\p{Cf}/u);
  });
});
