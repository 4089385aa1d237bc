/**
 * The Alix provider's transport against real servers on 127.0.0.1 (no msw): what leaves the host.
 */
import { once } from 'node:events';
import { gzipSync } from 'node:zlib';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AuthUnavailableError, MalformedResponseError } from '../../../src/errors';
import { AlixAuthProvider } from '../../../src/providers/alix';
import { makeRsaKeyPair } from '../../helpers/alix-keys';

const keys = makeRsaKeyPair();

/** A real HTTP server on 127.0.0.1 that records what it is sent and answers with `answer`. */
async function recordingServer(
  answer: string | Buffer,
  headers: Record<string, string> = {},
): Promise<{ server: Server; url: string; received: string[] }> {
  const received: string[] = [];
  const server = createServer((request: IncomingMessage, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    request.on('end', () => {
      received.push(`${request.method ?? ''} ${request.url ?? ''} ${body}`);
      response.writeHead(200, { 'Content-Type': 'application/json', ...headers });
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
      const provider = new AlixAuthProvider({
        baseUrl: alix.url,
        partnerCode: 'acme',
        secretKey: 'transport-secret',
        privateKey: keys.privatePem,
      });
      await expect(provider.refresh('refresh-token-9d3f')).resolves.toMatchObject({ accessToken: 'a' });
      expect(proxy.received).toEqual([]);
      expect(alix.received).toEqual([expect.stringContaining('POST /api/v2/auth/refresh-token')]);
    } finally {
      alix.server.close();
      proxy.server.close();
    }
  });

  it.each([
    ['gzip', Buffer.concat([gzipSync('{"success":true}').subarray(0, 10), Buffer.from('not deflate data')])],
    ['br', Buffer.from('not brotli data')],
  ])(
    'calls a %s body that does not decompress an unreadable answer, not a server it could not reach',
    async (encoding, body) => {
      const alix = await recordingServer(body, { 'Content-Encoding': encoding });
      try {
        const provider = new AlixAuthProvider({
          baseUrl: alix.url,
          partnerCode: 'acme',
          secretKey: 'transport-secret',
          privateKey: keys.privatePem,
        });
        const error = await provider.refresh('refresh-token-9d3f').catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(MalformedResponseError);
        expect((error as Error).message).toMatch(
          new RegExp(
            `^refresh failed: the answer to POST ${alix.url}/api/v2/auth/refresh-token could not be decompressed \\((Z|ERR)_\\w+\\)\\.`,
          ),
        );
      } finally {
        alix.server.close();
      }
    },
  );

  it('calls a connection dropped mid-body a server that answered, still transient and ambiguous', async () => {
    // The server sends its status and half the body, then the connection drops (a proxy or a load balancer cut it).
    const server = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        response.writeHead(200, { 'Content-Type': 'application/json' });
        response.write('{"success":true,"data":{"accessToken":"', () => response.destroy());
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const provider = new AlixAuthProvider({
        baseUrl: url,
        partnerCode: 'acme',
        secretKey: 'transport-secret',
        privateKey: keys.privatePem,
      });
      const error = await provider.refresh('refresh-token-9d3f').catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(AuthUnavailableError);
      // `network`: the refresh may have run on the server, so the manager treats it as ambiguous.
      expect(error).toMatchObject({ reason: 'network', status: 200, transient: true });
      expect((error as Error).message).toMatch(
        new RegExp(
          `^refresh failed: the connection to the auth server at 127\\.0\\.0\\.1:\\d+ dropped while POST ${url}/api/v2/auth/refresh-token answered HTTP 200 \\(ERR_BAD_RESPONSE\\)`,
        ),
      );
    } finally {
      server.close();
    }
  });
});
