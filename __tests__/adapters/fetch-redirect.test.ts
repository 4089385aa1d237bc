import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAuthorizedFetch } from '../../src/adapters/fetch';
import { FakeTokenSource } from '../helpers/fake-token-source';

/** Real servers: the redirect handling under test is Node's own fetch (undici). */
function createServer(): http.Server {
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://placeholder');
    if (url.pathname === '/redirect') {
      res.writeHead(302, { location: url.searchParams.get('to') ?? '/' }).end();
      return;
    }
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ auth: req.headers.authorization ?? null }));
  });
}

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const a = createServer();
const b = createServer();
let originA = '';
let originB = '';

beforeAll(async () => {
  originA = await listen(a);
  originB = await listen(b);
});

afterAll(async () => {
  await Promise.all(
    [a, b].map((server) => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    }),
  );
});

describe('createAuthorizedFetch() redirects', () => {
  const redirect = (to: string): string => `${originA}/redirect?to=${encodeURIComponent(to)}`;

  it('keeps the bearer on a same-origin redirect', async () => {
    const authorizedFetch = createAuthorizedFetch(new FakeTokenSource('SECRET'), { origins: [originA] });
    const response = await authorizedFetch(redirect(`${originA}/echo`));
    expect(((await response.json()) as { auth: string | null }).auth).toBe('Bearer SECRET-0');
  });

  it('drops the bearer on a redirect to another port', async () => {
    const authorizedFetch = createAuthorizedFetch(new FakeTokenSource('SECRET'), { origins: [originA] });
    const response = await authorizedFetch(redirect(`${originB}/echo`));
    expect(((await response.json()) as { auth: string | null }).auth).toBeNull();
  });
});
