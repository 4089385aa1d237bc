/**
 * A replay leaves nothing of the first attempt open: its response stream, its 401 body.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import axios from 'axios';
import type { AxiosError } from 'axios';
import { attachTokenManager } from '../../src/adapters/axios';
import { createAuthorizedFetch } from '../../src/adapters/fetch';
import { FakeTokenSource } from '../helpers/fake-token-source';

const ALLOWED = 'https://api.alix.example';

type Body = { destroyed: boolean; readableEnded: boolean };

/** A token source whose first token is `SECRET-0` and that fails every later call (no fresh token for a replay). */
function authDownAfterOneToken(): FakeTokenSource {
  const source = new FakeTokenSource('SECRET');
  let calls = 0;
  source.getAccessToken = async () => {
    calls += 1;
    if (calls > 1) throw new Error('auth down');
    return 'SECRET-0';
  };
  return source;
}

/**
 * A loopback server whose 401 bodies never end (only the client can let their socket go; `rejects` says which
 * requests get one), and an axios instance on it with `responseType: 'stream'` that keeps each rejected body.
 */
async function streamingApi(rejects: (authorization: string | undefined) => boolean) {
  const server = http.createServer((req, res) => {
    req.resume();
    const rejected = rejects(req.headers.authorization);
    res.writeHead(rejected ? 401 : 200, { 'content-type': 'text/plain' });
    res.write('x'.repeat(1024));
    if (!rejected) res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const bodies: Body[] = [];
  const httpAdapter = axios.getAdapter('http');
  const api = axios.create({
    baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    responseType: 'stream',
    adapter: async (config) => {
      try {
        return await httpAdapter(config);
      } catch (error) {
        const data = (error as AxiosError).response?.data as Body | undefined;
        if (data !== undefined) bodies.push(data);
        throw error;
      }
    },
  });
  const close = async (): Promise<void> => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { api, bodies, close };
}

describe('replays leave nothing of the first attempt open', () => {
  it('axios responseType stream: the 401 response stream is released when the request is replayed', async () => {
    const { api, bodies, close } = await streamingApi((authorization) => authorization === 'Bearer SECRET-0');
    const detach = attachTokenManager(api, new FakeTokenSource('SECRET'));
    const response = await api.get('/cards');
    detach();
    (response.data as { destroy(): void }).destroy();
    await new Promise((resolve) => setImmediate(resolve));
    await close();
    expect(response.status).toBe(200);
    // The first attempt's 401 body: still open, it holds its socket until the server ends it.
    expect(bodies.map((body) => body.destroyed || body.readableEnded)).toEqual([true]);
  });

  it('axios responseType stream: the 401 response stream is released when the replay cannot get a token', async () => {
    const { api, bodies, close } = await streamingApi(() => true);
    const source = authDownAfterOneToken();
    const detach = attachTokenManager(api, source);
    await expect(api.get('/cards')).rejects.toThrow('auth down');
    detach();
    await new Promise((resolve) => setImmediate(resolve));
    const released = bodies.map((body) => body.destroyed || body.readableEnded);
    await close();
    expect(released).toEqual([true]);
  });

  it('fetch: the 401 body is cancelled when the replay cannot get a token', async () => {
    let cancelled = 0;
    const source = authDownAfterOneToken();
    const fakeFetch = async () =>
      new Response(new ReadableStream({ cancel: () => void (cancelled += 1) }), { status: 401 });
    const authorized = createAuthorizedFetch(source, { origins: [ALLOWED], fetch: fakeFetch as typeof fetch });
    await expect(authorized(`${ALLOWED}/cards`)).rejects.toThrow('auth down');
    await new Promise((resolve) => setImmediate(resolve));
    expect(cancelled).toBe(1);
  });

  /** A Request whose body is a stream that counts its cancellations (the source's, once every copy let it go). */
  function streamedRequest(): { request: Request; cancelled: () => number } {
    let cancelled = 0;
    const body = new ReadableStream({ cancel: () => void (cancelled += 1) });
    const request = new Request(`${ALLOWED}/cards`, { method: 'POST', body, duplex: 'half' } as RequestInit);
    return { request, cancelled: () => cancelled };
  }

  /** A fetch that lets the body it is sent go unread (its cancel settles once every copy is let go) and answers `status`. */
  const answering = (status: number) => async (input: unknown) => {
    void (input as Request).body?.cancel();
    return new Response(null, { status });
  };

  it("fetch: the copy of a Request's body kept for a replay is released when the first answer is returned", async () => {
    const { request, cancelled } = streamedRequest();
    const authorized = createAuthorizedFetch(new FakeTokenSource('SECRET'), {
      origins: [ALLOWED],
      fetch: answering(200) as typeof fetch,
    });
    expect((await authorized(request)).status).toBe(200);
    await new Promise((resolve) => setImmediate(resolve));
    expect(cancelled()).toBe(1);
  });

  it("fetch: the copy of a Request's body kept for a replay is released when the replay cannot get a token", async () => {
    const { request, cancelled } = streamedRequest();
    const authorized = createAuthorizedFetch(authDownAfterOneToken(), {
      origins: [ALLOWED],
      fetch: answering(401) as typeof fetch,
    });
    await expect(authorized(request)).rejects.toThrow('auth down');
    await new Promise((resolve) => setImmediate(resolve));
    expect(cancelled()).toBe(1);
  });
});
