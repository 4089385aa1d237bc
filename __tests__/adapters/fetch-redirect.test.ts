import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAuthorizedFetch, followingRedirects } from '../../src/adapters/fetch';
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

const API = 'https://api.alix.example';

/** What a scripted fetch was called with. */
type Call = { url: string; method: string; headers: Headers; body: unknown; signal: unknown };

/**
 * A fetch that answers each URL from `redirects` (a status and a `Location`), anything else with a 200, and records
 * every call it gets.
 */
function scriptedFetch(redirects: Record<string, [number, string]>) {
  const calls: Call[] = [];
  const fetchImpl = async (input: Parameters<typeof fetch>[0], init?: RequestInit): Promise<Response> => {
    const request = input instanceof Request ? input : undefined;
    calls.push({
      url: request?.url ?? String(input),
      method: init?.method ?? request?.method ?? 'GET',
      headers: new Headers(init?.headers ?? request?.headers),
      body: init?.body,
      signal: init?.signal,
    });
    const [status, location] = redirects[request?.url ?? String(input)] ?? [200, undefined];
    return new Response(null, { status, headers: location === undefined ? {} : { location } });
  };
  return { calls, fetch: fetchImpl as typeof fetch };
}

describe('createAuthorizedFetch() redirects, by the rules of fetch', () => {
  const authorizedWith = (redirects: Record<string, [number, string]>) => {
    const scripted = scriptedFetch(redirects);
    const authorized = createAuthorizedFetch(new FakeTokenSource('SECRET'), { origins: [API], fetch: scripted.fetch });
    return { ...scripted, authorized };
  };
  const sent = (calls: Call[]) => calls.map(({ url, method, body }) => ({ url, method, body }));

  it('resends the body on a 308, and turns a POST answered 301 into a GET without it', async () => {
    const { calls, authorized } = authorizedWith({
      [`${API}/moved`]: [308, '/here'],
      [`${API}/old`]: [301, '/new'],
    });

    await authorized(`${API}/moved`, { method: 'PUT', body: 'card=1' });
    await authorized(`${API}/old`, { method: 'POST', body: 'card=2' });

    expect(sent(calls)).toEqual([
      { url: `${API}/moved`, method: 'PUT', body: 'card=1' },
      { url: `${API}/here`, method: 'PUT', body: 'card=1' },
      { url: `${API}/old`, method: 'POST', body: 'card=2' },
      { url: `${API}/new`, method: 'GET', body: undefined },
    ]);
  });

  it('keeps a HEAD answered 303 a HEAD', async () => {
    const { calls, authorized } = authorizedWith({ [`${API}/old`]: [303, '/new'] });

    await authorized(`${API}/old`, { method: 'HEAD' });

    expect(calls.map(({ method }) => method)).toEqual(['HEAD', 'HEAD']);
  });

  it('follows 20 redirects and fails the 21st, as fetch does', async () => {
    const chain = (length: number): Record<string, [number, string]> =>
      Object.fromEntries(Array.from({ length }, (_, i) => [`${API}/r${i}`, [302, `/r${i + 1}`]]));
    const twenty = authorizedWith(chain(20));
    expect((await twenty.authorized(`${API}/r0`)).status).toBe(200);
    expect(twenty.calls).toHaveLength(21);

    const longer = authorizedWith(chain(21));
    await expect(longer.authorized(`${API}/r0`)).rejects.toThrow('fetch failed: more than 20 redirects');
    expect(longer.calls).toHaveLength(21);
  });

  it("drops the caller's credentials headers on a hop to another origin (another port too), and keeps the rest", async () => {
    const { calls, authorized } = authorizedWith({
      [`${API}/here`]: [302, '/there'],
      [`${API}/there`]: [302, `${API}:8443/elsewhere`],
    });
    const headers = { cookie: 'session=1', 'proxy-authorization': 'Basic cHJveHk6cGFzcw==', 'x-card': '1' };

    await authorized(`${API}/here`, { headers });

    const credentials = calls.map(({ headers: sentHeaders }) => [
      sentHeaders.get('cookie'),
      sentHeaders.get('proxy-authorization'),
      sentHeaders.get('x-card'),
    ]);
    expect(credentials).toEqual([
      ['session=1', 'Basic cHJveHk6cGFzcw==', '1'],
      ['session=1', 'Basic cHJveHk6cGFzcw==', '1'],
      [null, null, '1'],
    ]);
  });

  it("leaves a Request input's redirect: 'manual' alone", async () => {
    const { calls, authorized } = authorizedWith({ [`${API}/old`]: [302, '/new'] });

    const response = await authorized(new Request(`${API}/old`, { redirect: 'manual' }));

    expect(response.status).toBe(302);
    expect(calls.map(({ url }) => url)).toEqual([`${API}/old`]);
  });

  it('follows the redirects of the replay itself too: a fetch that keeps headers on them never carries the bearer off', async () => {
    const reached: Array<[string, string | null]> = [];
    // The first send is rejected; the replay is redirected to another origin by a fetch that keeps every header.
    const keeping = async (input: Parameters<typeof fetch>[0], init?: RequestInit): Promise<Response> => {
      const auth = new Headers(init?.headers).get('authorization');
      reached.push([String(input), auth]);
      if (reached.length === 1) return new Response(null, { status: 401 });
      if (String(input) !== `${API}/cards`) return new Response(null, { status: 200 });
      const moved = new Response(null, { status: 302, headers: { location: 'https://evil.example/x' } });
      return init?.redirect === 'manual' ? moved : keeping('https://evil.example/x', init);
    };
    const authorized = createAuthorizedFetch(new FakeTokenSource('SECRET'), { origins: [API], fetch: keeping });

    expect((await authorized(`${API}/cards`)).status).toBe(200);
    expect(reached).toEqual([
      [`${API}/cards`, 'Bearer SECRET-0'],
      [`${API}/cards`, 'Bearer SECRET-1'],
      ['https://evil.example/x', null],
    ]);
  });

  it('replays a call once in all, not once per redirect hop, when every hop rejects the bearer it first gets', async () => {
    const reached: Array<[string, string | null]> = [];
    // Each hop rejects the first bearer it sees and sends the next one on to the following hop.
    const rejectingHops = async (input: Parameters<typeof fetch>[0], init?: RequestInit): Promise<Response> => {
      const url = String(input);
      const seen = reached.some(([hop]) => hop === url);
      reached.push([url, new Headers(init?.headers).get('authorization')]);
      const next = Number(new URL(url).pathname.slice('/hop'.length)) + 1;
      return seen
        ? new Response(null, { status: 302, headers: { location: `/hop${next}` } })
        : new Response(null, { status: 401 });
    };
    const source = new FakeTokenSource();
    const authorized = createAuthorizedFetch(source, { origins: [API], fetch: rejectingHops });

    expect((await authorized(`${API}/hop1`)).status).toBe(401);
    expect(reached).toEqual([
      [`${API}/hop1`, 'Bearer token-0'],
      [`${API}/hop1`, 'Bearer token-1'],
      [`${API}/hop2`, 'Bearer token-1'],
    ]);
    // The hop's rejection is still reported (its token may be revoked); only the replay budget is spent.
    expect(source.invalidated).toEqual(['token-0', 'token-1']);
  });

  it("keeps a Request input's headers and signal on its redirects", async () => {
    const { calls, authorized } = authorizedWith({ [`${API}/old`]: [302, '/new'] });
    const request = new Request(`${API}/old`, { headers: { 'x-card': '1' }, signal: new AbortController().signal });

    await authorized(request);

    expect(calls).toHaveLength(2);
    expect(calls[1]?.headers.get('x-card')).toBe('1');
    expect(calls[1]?.signal).toBe(request.signal);
  });
});

describe('followingRedirects()', () => {
  it("leaves a call's redirect: 'manual' to the fetch it wraps, and follows the others itself", async () => {
    const { calls, fetch: fetchImpl } = scriptedFetch({ [`${API}/old`]: [302, '/new'] });
    const following = followingRedirects(fetchImpl);

    expect((await following(`${API}/old`, { redirect: 'manual' })).status).toBe(302);
    expect((await following(`${API}/old`)).status).toBe(200);

    expect(calls.map(({ url }) => url)).toEqual([`${API}/old`, `${API}/old`, `${API}/new`]);
  });
});
