/**
 * Error messages that say what to do (issue #12 item 5), against the real sandbox server:
 * a rejected signature names both halves of the credentials, HTTP failures read as
 * sentences, connection errors name host:port, and every message shows the full URL called.
 */
import { createServer } from 'node:net';
import { AuthRejectedError, AuthUnavailableError } from '../../../src/errors';
import { AlixAuthProvider, type AlixAuthProviderOptions } from '../../../src/providers/alix';
import { startAlixSandbox, type AlixSandbox } from '../../../src/sandbox/server';
import { SandboxErrorCodes } from '../../../src/sandbox/envelope';
import { captureRejection, findLeaks, makeRsaKeyPair } from '../../helpers/alix-keys';

const otherKeys = makeRsaKeyPair();
let sandbox: AlixSandbox;

/** The rejection of `call`, checked to hold no credential however it is rendered. */
async function failure(call: Promise<unknown>): Promise<unknown> {
  const errors: unknown[] = [];
  const error = await captureRejection(call, errors);
  expect(findLeaks(errors, { secretKey: sandbox.secretKey, wrongSecret: WRONG_SECRET })).toEqual([]);
  return error;
}

const WRONG_SECRET = 'not-the-secret-key';

beforeAll(async () => {
  sandbox = await startAlixSandbox();
});
afterEach(() => sandbox.clearFaults());
afterAll(() => sandbox.close());

function provider(overrides: Partial<AlixAuthProviderOptions> = {}): AlixAuthProvider {
  return new AlixAuthProvider({
    baseUrl: sandbox.url,
    partnerCode: sandbox.partnerCode,
    secretKey: sandbox.secretKey,
    privateKey: sandbox.privateKeyPem,
    timeoutMs: 5_000,
    ...overrides,
  });
}

const signInUrl = (): string => `${sandbox.url}/api/v2/auth/access-token`;

describe('a rejected signature', () => {
  it.each([
    ['a wrong secret key', { secretKey: WRONG_SECRET }],
    ['a private key whose public half Alix does not hold', { privateKey: otherKeys.privatePem }],
  ])('with %s names ALIX_SECRET_KEY and the private key', async (_label, overrides) => {
    const error = await failure(provider(overrides).authenticate());

    expect(error).toBeInstanceOf(AuthRejectedError);
    expect(error).toMatchObject({ errorCode: SandboxErrorCodes.INVALID_SIGNATURE, status: 400, url: signInUrl() });
    const { message } = error as Error;
    expect(message).toContain(`authenticate rejected: POST ${signInUrl()} answered HTTP 400 with errorCode 12`);
    expect(message).toContain('ALIX_SECRET_KEY');
    expect(message).toContain('secretKey');
    expect(message).toMatch(/private key .* whose public half Alix holds/);
  });

  it('is recognised by the API message alone when the errorCode is unknown', async () => {
    sandbox.injectFaults(1, { type: 'reject', errorCode: 977, message: 'Signature verification failed' });

    const error = await failure(provider().authenticate());

    expect(error).toMatchObject({ errorCode: 977 });
    expect((error as Error).message).toContain('ALIX_SECRET_KEY');
  });

  it('is recognised by errorCode 12 alone when the API message does not say so', async () => {
    sandbox.injectFaults(1, { type: 'reject', errorCode: 12, message: 'Unauthorized' });

    const error = await failure(provider().authenticate());

    expect(error).toMatchObject({ errorCode: 12 });
    expect((error as Error).message).toContain('ALIX_SECRET_KEY');
  });

  it('is not claimed for other rejections', async () => {
    const error = await failure(provider({ partnerCode: 'someone-else' }).authenticate());

    expect(error).toMatchObject({ errorCode: SandboxErrorCodes.UNKNOWN_PARTNER });
    expect((error as Error).message).not.toContain('ALIX_SECRET_KEY');
  });
});

describe('an unavailable auth server', () => {
  it('reads an HTTP 502 as a sentence with the full URL', async () => {
    sandbox.injectFaults(1, { type: 'status', status: 502, endpoint: 'authenticate' });

    const error = await failure(provider().authenticate());

    expect(error).toBeInstanceOf(AuthUnavailableError);
    expect((error as Error).message).toBe(
      `authenticate failed: POST ${signInUrl()} answered HTTP 502 (errorCode 502): the auth server is unavailable. ` +
        'A TokenManager retries with backoff; if this persists, run alix-token doctor and ask Alix about it.',
    );
  });

  it('says how long the server asked to wait', async () => {
    sandbox.injectFaults(1, { type: 'status', status: 503, retryAfterSeconds: 4 });

    const error = await failure(provider().authenticate());

    expect((error as Error).message).toMatch(
      /answered HTTP 503 .*: the auth server is unavailable and asked to retry after 4000 ms\. /,
    );
  });

  it('names host:port when the connection is refused', async () => {
    const port = await closedPort();

    const error = await failure(provider({ baseUrl: `http://127.0.0.1:${port}` }).authenticate());

    expect(error).toMatchObject({ reason: 'network' });
    expect((error as Error).message).toBe(
      `authenticate failed: could not reach the auth server at 127.0.0.1:${port} (ECONNREFUSED) for POST /api/v2/auth/access-token. ` +
        'Check baseUrl, or run alix-token doctor.',
    );
  });

  it('names host:port when the server does not answer in time', async () => {
    sandbox.injectFaults(1, { type: 'delay', ms: 2_000 });

    const error = await failure(provider({ timeoutMs: 100 }).authenticate());

    expect(error).toMatchObject({ reason: 'timeout' });
    expect((error as Error).message).toBe(
      `authenticate failed: POST ${signInUrl()} got no answer from 127.0.0.1:${sandbox.port} (within 100 ms). ` +
        'Check that baseUrl is reachable from this host (DNS, firewall, HTTPS_PROXY), raise timeoutMs for a slow server, ' +
        'or run alix-token doctor.',
    );
  });
});

describe('a baseUrl whose path prefix doubles', () => {
  it('shows the full URL that was called', async () => {
    const error = await failure(provider({ baseUrl: `${sandbox.url}/api` }).authenticate());

    expect(error).toMatchObject({ status: 404 });
    expect((error as Error).message).toContain(`POST ${sandbox.url}/api/api/v2/auth/access-token answered HTTP 404`);
  });
});

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('a malformed answer', () => {
  it('names the full URL in a sentence', async () => {
    sandbox.injectFaults(1, { type: 'malformed', endpoint: 'authenticate' });

    const error = await failure(provider().authenticate());

    expect((error as Error).message).toBe(
      `authenticate failed: the HTTP 200 answer to POST ${signInUrl()} is not valid JSON. ` +
        'Check that baseUrl and paths point at the Alix auth API (not a proxy or a web page), or run alix-token doctor.',
    );
  });
});
