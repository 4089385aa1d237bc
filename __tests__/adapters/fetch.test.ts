import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { createAuthorizedFetch } from '../../src/adapters/fetch';
import { ConfigurationError } from '../../src/errors';
import { FakeTokenSource } from '../helpers/fake-token-source';

const API = 'https://api.example.com';

const state = {
  validToken: 'SECRET-0',
  hits: new Map<string, number>(),
  seen: [] as { url: string; auth: string | null; body: string }[],
};

const server = setupServer(
  http.all('*', async ({ request }) => {
    const id = request.headers.get('x-request-id') ?? '';
    state.hits.set(id, (state.hits.get(id) ?? 0) + 1);
    const auth = request.headers.get('authorization');
    const body = await request.text();
    state.seen.push({ url: request.url, auth, body });
    const path = new URL(request.url).pathname;
    if (path === '/always-401') return HttpResponse.json({ error: 'invalid token' }, { status: 401 });
    if (path === '/protected' && auth !== `Bearer ${state.validToken}`) {
      return HttpResponse.json({ error: 'invalid token' }, { status: 401 });
    }
    return HttpResponse.json({ auth, body, custom: request.headers.get('x-custom') });
  }),
);

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterAll(() => server.close());

let source: FakeTokenSource;
let authorizedFetch: typeof fetch;
let nextId = 0;

beforeEach(() => {
  state.validToken = 'SECRET-0';
  state.hits.clear();
  state.seen.length = 0;
  source = new FakeTokenSource('SECRET');
  authorizedFetch = createAuthorizedFetch(source, { origins: [API] });
});

function withId(init: RequestInit = {}): { id: string; init: RequestInit } {
  nextId += 1;
  const id = `req-${nextId}`;
  return { id, init: { ...init, headers: { 'x-request-id': id } } };
}

interface Echo {
  auth: string | null;
  body: string;
  custom: string | null;
}

async function echoOf(response: Response): Promise<Echo> {
  return (await response.json()) as Echo;
}

function streamOf(text: string): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(text));
      controller.close();
    },
  });
}

describe('createAuthorizedFetch()', () => {
  describe('origin scope', () => {
    it('adds the bearer for string, URL and Request inputs on an allowed origin', async () => {
      const request = new Request(`${API}/echo`, { headers: { 'x-custom': 'kept' } });
      const responses = await Promise.all([
        authorizedFetch(`${API}/echo`),
        authorizedFetch(new URL(`${API}/echo`)),
        authorizedFetch(request),
      ]);
      const bodies = await Promise.all(responses.map(echoOf));
      expect(bodies.map((b) => b.auth)).toEqual(['Bearer SECRET-0', 'Bearer SECRET-0', 'Bearer SECRET-0']);
      expect(bodies[2]?.custom).toBe('kept');
    });

    it.each([
      ['another host', 'https://other.example.com/echo'],
      ['another protocol', 'http://api.example.com/echo'],
      ['another port', 'https://api.example.com:8443/echo'],
    ])('sends no bearer to %s', async (_what, url) => {
      const response = await authorizedFetch(url);
      expect((await echoOf(response)).auth).toBeNull();
    });

    it('hands a request for another origin to fetch untouched', async () => {
      const inner = jest.fn(async () => new Response('ok'));
      const wrapped = createAuthorizedFetch(source, { origins: [API], fetch: inner });
      const init = { headers: { accept: 'text/plain' } };
      await wrapped('https://other.example.com/x', init);
      expect(inner).toHaveBeenCalledWith('https://other.example.com/x', init);
    });

    it('looks up globalThis.fetch on every call', async () => {
      const spy = jest.spyOn(globalThis, 'fetch').mockResolvedValue(new Response('stubbed'));
      try {
        expect(await (await authorizedFetch(`${API}/echo`)).text()).toBe('stubbed');
      } finally {
        spy.mockRestore();
      }
    });

    it('reads an option or alixSession given as undefined as not given', async () => {
      const unset = { fetch: undefined, retryStatuses: undefined, sessionKey: undefined };
      state.validToken = 'SECRET-1';
      const wrapped = createAuthorizedFetch(source, { origins: [API], ...unset });
      const response = await wrapped(`${API}/protected`, { alixSession: undefined });
      expect((await echoOf(response)).auth).toBe('Bearer SECRET-1');
    });

    it('throws a ConfigurationError without origins', () => {
      const missing = {} as { origins: string[] };
      expect(() => createAuthorizedFetch(source, missing)).toThrow(ConfigurationError);
      expect(() => createAuthorizedFetch(source, { origins: [] })).toThrow(ConfigurationError);
      expect(() => createAuthorizedFetch(source, { origins: ['http://api.example.com'] })).toThrow(ConfigurationError);
    });
  });

  describe('retry on 401', () => {
    it('invalidates the rejected token and replays once with a fresh one and the same body', async () => {
      state.validToken = source.nextToken;
      const { id, init } = withId({ method: 'POST', body: '{"amount":1}' });
      const response = await authorizedFetch(`${API}/protected`, init);
      expect(await echoOf(response)).toEqual({ auth: 'Bearer SECRET-1', body: '{"amount":1}', custom: null });
      expect(source.invalidated).toEqual(['SECRET-0']);
      expect(source.refreshCount).toBe(1);
      expect(state.hits.get(id)).toBe(2);
    });

    it('replays a Request input with its body', async () => {
      state.validToken = source.nextToken;
      const request = new Request(`${API}/protected`, { method: 'PUT', body: 'payload' });
      const response = await authorizedFetch(request);
      expect(response.status).toBe(200);
      expect(state.seen.map((s) => s.body)).toEqual(['payload', 'payload']);
    });

    it('returns the 401 as it is for a stream body, after invalidating the token', async () => {
      state.validToken = source.nextToken;
      const init = { method: 'POST', body: streamOf('chunk'), duplex: 'half' } as RequestInit;
      const response = await authorizedFetch(`${API}/protected`, init);
      expect(response.status).toBe(401);
      expect(state.seen).toHaveLength(1);
      expect(source.invalidated).toEqual(['SECRET-0']);
    });
  });
});
