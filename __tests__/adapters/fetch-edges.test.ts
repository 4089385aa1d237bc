/**
 * createAuthorizedFetch() against real local servers: replays, bodies, headers, signals and
 * redirects, as an attacker and a new user would use it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAuthorizedFetch } from '../../src/adapters/fetch';
import { makeManager } from '../helpers/manager';
import { FakeTokenSource } from '../helpers/fake-token-source';
import { startLocalApi } from './support/local-api';

interface Seen {
  path: string;
  method: string;
  auth: string | null;
  body: string;
}

/** `/protected` takes the current token only; `/redirect?to=…&status=…` redirects; anything else echoes. */
function createApi(state: { valid: string; seen: Seen[] }): http.Server {
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://placeholder');
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const auth = req.headers.authorization ?? null;
      state.seen.push({ path: url.pathname, method: req.method ?? '', auth, body });
      if (url.pathname === '/loop') {
        res.writeHead(302, { location: '/loop' }).end('loop body');
        return;
      }
      if (url.pathname === '/redirect') {
        const status = Number(url.searchParams.get('status') ?? 302);
        res.writeHead(status, { location: url.searchParams.get('to') ?? '/' }).end('redirect body');
        return;
      }
      if (url.pathname === '/protected' && auth !== `Bearer ${state.valid}`) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid token"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ auth, body }));
    });
  });
}

const state = { valid: 'SECRET-1', seen: [] as Seen[] };
const api = createApi(state);
let origin = '';

beforeAll(async () => {
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
});

afterAll(async () => {
  api.closeAllConnections();
  await new Promise<void>((resolve) => api.close(() => resolve()));
});

beforeEach(() => {
  state.valid = 'SECRET-1';
  state.seen.length = 0;
});

/** A fetch that keeps every response it returns, to check which bodies were let go of. */
function recordingFetch(): { fetch: typeof fetch; responses: Response[] } {
  const responses: Response[] = [];
  return {
    responses,
    fetch: async (input, init) => {
      const response = await fetch(input, init);
      responses.push(response);
      return response;
    },
  };
}

describe('createAuthorizedFetch(): a Request input with `init.body: null`', () => {
  // fetch sends the Request's own body when init.body is null, as when it is left out.
  it("replays the Request's own body once with the fresh token", async () => {
    const authorized = createAuthorizedFetch(new FakeTokenSource('SECRET'), { origins: [origin] });
    const request = new Request(`${origin}/protected`, { method: 'POST', body: 'payload' });
    const outcome = await authorized(request, { body: null }).then(
      (response) => response.status,
      (error: unknown) => String(error),
    );
    expect(outcome).toBe(200);
    expect(state.seen.map(({ auth, body }) => ({ auth, body }))).toEqual([
      { auth: 'Bearer SECRET-0', body: 'payload' },
      { auth: 'Bearer SECRET-1', body: 'payload' },
    ]);
  });

  it('returns a 307 as it is instead of following it without the body', async () => {
    state.valid = 'SECRET-0';
    const authorized = createAuthorizedFetch(new FakeTokenSource('SECRET'), { origins: [origin] });
    const request = new Request(`${origin}/redirect?status=307&to=/echo`, { method: 'POST', body: 'payload' });
    const response = await authorized(request, { body: null });
    expect(response.status).toBe(307);
    expect(state.seen.map(({ path, body }) => ({ path, body }))).toEqual([{ path: '/redirect', body: 'payload' }]);
  });
});

describe('createAuthorizedFetch(): a redirect that fails the call', () => {
  it.each([
    ['more than 20 redirects', '/loop'],
    ['a redirect to a data: URL', '/redirect?to=data:,hi'],
  ])(
    'cancels the body of the last response (%s): nobody will read it, and it holds a connection',
    async (_name, path) => {
      const recording = recordingFetch();
      const authorized = createAuthorizedFetch(new FakeTokenSource('SECRET'), {
        origins: [origin],
        fetch: recording.fetch,
      });
      const error = await authorized(`${origin}${path}`).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TypeError);
      expect(recording.responses.map((response) => response.bodyUsed)).not.toContain(false);
    },
  );
});

describe('createAuthorizedFetch(): replays', () => {
  it('refreshes once for many concurrent 401s to one stale token, and replays each request once', async () => {
    const { manager, provider } = makeManager();
    expect(await manager.getAccessToken()).toBe('access-1');
    state.valid = 'access-2';
    const authorized = createAuthorizedFetch(manager, { origins: [origin] });
    const statuses = await Promise.all(
      Array.from({ length: 5 }, async () => (await authorized(`${origin}/protected`)).status),
    );
    await manager.close();
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    expect(provider.refreshCount).toBe(1);
    expect(state.seen.filter(({ auth }) => auth === 'Bearer access-2')).toHaveLength(5);
  });

  it("does not send the replay when the caller's signal aborts after the 401, and cancels the 401's body", async () => {
    const source = new FakeTokenSource('SECRET');
    const controller = new AbortController();
    const invalidate = source.invalidate.bind(source);
    source.invalidate = (token, options) => {
      controller.abort();
      invalidate(token, options);
    };
    const recording = recordingFetch();
    const authorized = createAuthorizedFetch(source, { origins: [origin], fetch: recording.fetch });
    const request = new Request(`${origin}/protected`, { method: 'POST', body: 'x', signal: controller.signal });
    const error = await authorized(request).catch((e: unknown) => e);
    expect((error as Error).name).toBe('AbortError');
    expect(state.seen).toHaveLength(1);
    expect(recording.responses.map((response) => response.bodyUsed)).toEqual([true]);
  });

  it("takes `init.signal: null` as no signal, as fetch does: the Request's aborted signal then cancels nothing", async () => {
    state.valid = 'SECRET-0';
    const authorized = createAuthorizedFetch(new FakeTokenSource('SECRET'), { origins: [origin] });
    const request = new Request(`${origin}/redirect?to=/echo`, { signal: AbortSignal.abort() });
    const response = await authorized(request, { signal: null });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { auth: string }).auth).toBe('Bearer SECRET-0');
  });

  it.each([
    ['a Headers', () => new Headers({ AuThOrIzAtIoN: 'Basic mine' })],
    ['an array of pairs', () => [['AUTHORIZATION', 'Basic mine']] as [string, string][]],
    ['a plain object', () => ({ aUTHORIZATION: 'Basic mine' })],
    ['a Headers subclass', () => new (class extends Headers {})({ authorization: 'Basic mine' })],
  ])("sends one Authorization, the bearer, when the caller's own comes in %s", async (_name, headers) => {
    state.valid = 'SECRET-0';
    const authorized = createAuthorizedFetch(new FakeTokenSource('SECRET'), { origins: [origin] });
    const response = await authorized(new URL(`${origin}/echo`), { headers: headers() });
    expect(((await response.json()) as { auth: string }).auth).toBe('Bearer SECRET-0');
  });
});

describe('createAuthorizedFetch(): a redirect with a session pool and a `sessionKey` option', () => {
  /** A pool of fake sessions whose tokens are `T:<key>-0`, …; the key comes from the URL's `user` parameter. */
  function perUserFetch(): typeof fetch {
    const sessions = new Map<string, FakeTokenSource>();
    const pool = {
      get: (key: string) => sessions.get(key) ?? sessions.set(key, new FakeTokenSource(`T:${key}`)).get(key)!,
    };
    return createAuthorizedFetch(pool, {
      origins: [origin],
      sessionKey: (request) => new URL(request.url).searchParams.get('user') ?? undefined,
    });
  }

  it.each([
    ['names another session', '/echo?user=bob'],
    ['names none', '/echo'],
  ])("keeps the first request's session on a hop whose URL %s", async (_name, to) => {
    const response = await perUserFetch()(`${origin}/redirect?user=alice&to=${encodeURIComponent(to)}`);
    expect(state.seen.map(({ path, auth }) => ({ path, auth }))).toEqual([
      { path: '/redirect', auth: 'Bearer T:alice-0' },
      { path: '/echo', auth: 'Bearer T:alice-0' },
    ]);
    expect(response.status).toBe(200);
  });
});

describe('createAuthorizedFetch(): a URL object input', () => {
  it('sends the bearer to the URL judged, even when the caller reuses (changes) the URL object at once', async () => {
    const other = await startLocalApi();
    const authorized = createAuthorizedFetch(new FakeTokenSource('SECRET'), { origins: [origin] });
    const url = new URL(`${origin}/echo`);
    const sent = authorized(url);
    // e.g. one URL object reused in a loop for the next call, while this one waits for its token
    url.href = `${other.origin}/steal`;
    await sent;
    await other.close();
    expect(other.seen).toEqual([]);
    expect(state.seen.map(({ path, auth }) => ({ path, auth }))).toEqual([{ path: '/echo', auth: 'Bearer SECRET-0' }]);
  });
});
