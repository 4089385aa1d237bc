/**
 * The request side of the Alix provider under hostile or sloppy configuration: what it refuses
 * at construction (paths with a query, credentials with stray whitespace or control characters)
 * and that such a refusal never echoes the value.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AbortedError, ConfigurationError, ErrorCodes } from '../../../src/errors';
import { AlixAuthProvider, type AlixAuthProviderOptions } from '../../../src/providers/alix';
import { captureThrow, findLeaks, makeRsaKeyPair } from '../../helpers/alix-keys';

const SECRET_KEY = 'wire-review-secret-7c2e01';
const GATEWAY_KEY = 'gateway-subscription-key-5f0a93';
const keys = makeRsaKeyPair();
const errors: unknown[] = [];

function options(overrides: Partial<AlixAuthProviderOptions> = {}): AlixAuthProviderOptions {
  return {
    baseUrl: 'https://alix.test',
    partnerCode: 'acme',
    secretKey: SECRET_KEY,
    privateKey: keys.privatePem,
    ...overrides,
  };
}

function constructionError(overrides: Partial<AlixAuthProviderOptions>): Error {
  const error = captureThrow(() => new AlixAuthProvider(options(overrides)), errors);
  expect(error).toBeInstanceOf(ConfigurationError);
  expect(error).toMatchObject({ code: ErrorCodes.CONFIGURATION, transient: false });
  return error as Error;
}

afterAll(() => {
  expect(findLeaks(errors, { secretKey: SECRET_KEY, gatewayKey: GATEWAY_KEY })).toEqual([]);
});

describe('AlixAuthProvider request configuration', () => {
  it.each([
    ['a query', { refresh: `/api/v2/auth/refresh-token?subscription-key=${GATEWAY_KEY}` }, 'paths.refresh'],
    ['a fragment', { authenticate: `/api/v2/auth/access-token#${GATEWAY_KEY}` }, 'paths.authenticate'],
  ])('refuses a path with %s at construction, without echoing it', (_what, paths, name) => {
    // Every error message shows the called URL: a query there (a gateway key, say) would be in each one.
    const error = constructionError({ paths });
    expect(error.message).toContain(`${name} must not contain a query or fragment`);
  });

  it.each([
    ['secretKey', `${SECRET_KEY}\n`],
    ['secretKey', ` ${SECRET_KEY}`],
    ['partnerCode', 'acme '],
    ['partnerCode', 'ac\tme'],
    ['userEmail', 'user@example.com\r\n'],
    ['userEmail', 'user@\u0000example.com'],
  ] as const)('refuses a %s with surrounding whitespace or a control character, by name only', (name, value) => {
    // A secret read from a file keeps its trailing newline: it signs a string Alix never verifies.
    const error = constructionError({ [name]: value });
    expect(error.message).toContain(`${name} must not have leading or trailing whitespace or control characters`);
  });

  it('never gives two different partner/user pairs one session identity', () => {
    // The identity hashes the parts joined by newlines: a newline inside one must not move the border.
    const make = (partnerCode: string, userEmail: string): (() => string) => {
      return () => new AlixAuthProvider(options({ partnerCode, userEmail })).identity.id;
    };
    const ids = [make('acme\nuser', 'x@example.com'), make('acme', 'user\nx@example.com')].flatMap((id) => {
      try {
        return [id()];
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigurationError);
        return [];
      }
    });
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('ends with AbortedError when the signal fires while a body builder has not settled', async () => {
    const controller = new AbortController();
    const buildRefreshBody = ((): unknown => {
      controller.abort();
      return new Promise(() => undefined);
    }) as unknown as AlixAuthProviderOptions['buildRefreshBody'];
    const provider = new AlixAuthProvider(options({ buildRefreshBody }));
    await expect(provider.refresh('refresh-token-1', controller.signal)).rejects.toBeInstanceOf(AbortedError);
  });

  it('still accepts unicode and inner spaces in the end-user email and the secret key', () => {
    const provider = new AlixAuthProvider(options({ userEmail: 'zoë@exämple.com', secretKey: 'a b|c' }));
    expect(provider.identity.user).toBe('zoë@exämple.com');
  });
});

/** A real HTTP server on 127.0.0.1 that records what it is sent and answers with `answer`. */
async function recordingServer(answer: string): Promise<{ server: Server; url: string; received: string[] }> {
  const received: string[] = [];
  const server = createServer((request: IncomingMessage, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    request.on('end', () => {
      received.push(`${request.method ?? ''} ${request.url ?? ''} ${body}`);
      response.setHeader('Content-Type', 'application/json');
      response.end(answer);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

describe('AlixAuthProvider transport', () => {
  const PROXY_VARIABLES = ['http_proxy', 'HTTP_PROXY', 'no_proxy', 'NO_PROXY'] as const;
  const saved = Object.fromEntries(PROXY_VARIABLES.map((name) => [name, process.env[name]]));
  afterEach(() => {
    for (const name of PROXY_VARIABLES) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  });

  it('never sends a loopback http: auth call through an HTTP_PROXY, where it would leave the host in clear text', async () => {
    const now = Math.floor(Date.now() / 1000);
    const data = { accessToken: 'a', refreshToken: 'r', accessTokenExpiresAt: String(now + 900) };
    const answer = JSON.stringify({
      success: true,
      message: 'ok',
      errorCode: 0,
      data: { ...data, refreshTokenExpiresAt: String(now + 86_400) },
    });
    const alix = await recordingServer(answer);
    const proxy = await recordingServer(answer);
    try {
      // The proxy of a corporate network: plain http, another host (here another port).
      process.env.http_proxy = proxy.url;
      process.env.HTTP_PROXY = proxy.url;
      delete process.env.no_proxy;
      delete process.env.NO_PROXY;
      const provider = new AlixAuthProvider(options({ baseUrl: alix.url }));
      await expect(provider.refresh('refresh-token-9d3f')).resolves.toMatchObject({ accessToken: 'a' });
      expect(proxy.received).toEqual([]);
      expect(alix.received).toEqual([expect.stringContaining('POST /api/v2/auth/refresh-token')]);
    } finally {
      alix.server.close();
      proxy.server.close();
    }
  });
});
