import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAuthorizedFetch } from '../../src/adapters/fetch';
import { FakeTokenSource } from '../helpers/fake-token-source';

/** Real servers: `/redirect?to=…&status=…` redirects, `/loop` to itself, anything else echoes what it got. */
function createServer(): http.Server {
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://placeholder');
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      if (url.pathname === '/loop') {
        res.writeHead(302, { location: '/loop' }).end();
        return;
      }
      if (url.pathname === '/redirect') {
        const status = Number(url.searchParams.get('status') ?? 302);
        res.writeHead(status, { location: url.searchParams.get('to') ?? '/' }).end();
        return;
      }
      const echo = { auth: req.headers.authorization ?? null, method: req.method, type: req.headers['content-type'] };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ...echo, body }));
    });
  });
}

type Echo = { auth: string | null; method: string; type?: string; body: string };

/**
 * A fetch that follows redirects keeping every header, as node-fetch does for a redirect to another port or a
 * subdomain of the same host.
 */
const headerKeepingFetch = async (input: unknown, init?: RequestInit): Promise<Response> => {
  let url = String(input);
  for (;;) {
    const response = await fetch(url, { ...init, redirect: 'manual' });
    const location = response.headers.get('location');
    if (init?.redirect === 'manual' || location === null) return response;
    url = new URL(location, url).href;
  }
};

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

  it('never carries the bearer off the allowed origins, even with a fetch that keeps headers on redirects', async () => {
    const authorizedFetch = createAuthorizedFetch(new FakeTokenSource('SECRET'), {
      origins: [originA],
      fetch: headerKeepingFetch as typeof fetch,
    });
    const echo = (await (await authorizedFetch(redirect(`${originB}/echo`))).json()) as Echo;
    expect(echo.auth).toBeNull();
    const home = (await (await authorizedFetch(redirect(`${originA}/echo`))).json()) as Echo;
    expect(home.auth).toBe('Bearer SECRET-0');
  });

  it('gives the bearer to a redirect target that is an allowed origin too', async () => {
    const authorizedFetch = createAuthorizedFetch(new FakeTokenSource('SECRET'), { origins: [originA, originB] });
    const echo = (await (await authorizedFetch(redirect(`${originB}/echo`))).json()) as Echo;
    expect(echo.auth).toBe('Bearer SECRET-0');
  });

  it.each([303, 302])(
    'turns a POST answered %i into a GET without the body or its headers, as fetch does',
    async (status) => {
      const authorizedFetch = createAuthorizedFetch(new FakeTokenSource('SECRET'), { origins: [originA] });
      const to = `${originA}/redirect?status=${status}&to=${encodeURIComponent(`${originA}/echo`)}`;
      const init = { method: 'POST', body: 'card=1', headers: { 'content-type': 'text/plain' } };
      const echo = (await (await authorizedFetch(to, init)).json()) as Echo;
      expect(echo).toEqual({ auth: 'Bearer SECRET-0', method: 'GET', body: '' });
    },
  );

  it('resends the body on a 307 when it can, and returns the 307 as it is when it cannot (a stream)', async () => {
    const authorizedFetch = createAuthorizedFetch(new FakeTokenSource('SECRET'), { origins: [originA] });
    const to = `${originA}/redirect?status=307&to=${encodeURIComponent(`${originA}/echo`)}`;
    const echo = (await (await authorizedFetch(to, { method: 'PUT', body: 'card=1' })).json()) as Echo;
    expect(echo).toMatchObject({ auth: 'Bearer SECRET-0', method: 'PUT', body: 'card=1' });
    const stream = new Blob(['card=2']).stream();
    const answer = await authorizedFetch(to, { method: 'PUT', body: stream, duplex: 'half' } as RequestInit);
    expect(answer.status).toBe(307);
  });

  it("returns a 307 as it is for a Request input's body rather than resend the request without it", async () => {
    const authorizedFetch = createAuthorizedFetch(new FakeTokenSource('SECRET'), { origins: [originA] });
    const to = `${originA}/redirect?status=307&to=${encodeURIComponent(`${originA}/echo`)}`;
    const answer = await authorizedFetch(new Request(to, { method: 'PUT', body: 'card=1' }));
    expect(answer.status).toBe(307);
  });

  it('fails a redirect to a data: or blob: URL, or an invalid one, as fetch does, instead of reading it', async () => {
    const authorizedFetch = createAuthorizedFetch(new FakeTokenSource('SECRET'), { origins: [originA] });
    const blob = URL.createObjectURL(new Blob(['held in this process']));
    for (const to of ['data:text/plain,forged', blob, 'http://[bad']) {
      await expect(authorizedFetch(redirect(to))).rejects.toThrow(TypeError);
    }
    URL.revokeObjectURL(blob);
  });

  it("leaves a caller's redirect: 'manual' alone, and stops after 20 redirects as fetch does", async () => {
    const authorizedFetch = createAuthorizedFetch(new FakeTokenSource('SECRET'), { origins: [originA] });
    expect((await authorizedFetch(redirect(`${originA}/echo`), { redirect: 'manual' })).status).toBe(302);
    await expect(authorizedFetch(`${originA}/loop`)).rejects.toThrow('fetch failed: more than 20 redirects');
  });
});
