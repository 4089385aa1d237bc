/**
 * createAuthorizedFetch(): the origin judged is the one fetch requests, whatever the input, and
 * the wrapper works installed as the global fetch.
 */
import { Readable } from 'node:stream';
import { createAuthorizedFetch } from '../../src/adapters/fetch';
import { FakeTokenSource } from '../helpers/fake-token-source';
import { startLocalApi } from './support/local-api';

describe('createAuthorizedFetch(): inputs that are not a Request', () => {
  it('judges the origin of the URL fetch really requests for an object input that is not a Request', async () => {
    const [allowed, other] = await Promise.all([startLocalApi(), startLocalApi()]);
    // The platform fetch: it reads a Request's url, and stringifies any other input.
    const authorized = createAuthorizedFetch(new FakeTokenSource('SECRET'), { origins: [allowed.origin] });
    // e.g. a framework's request-like object, or a link record with a url field and its own toString()
    const input = { url: `${allowed.origin}/cards`, toString: () => `${other.origin}/steal` };
    await authorized(input as unknown as string);
    await Promise.all([allowed.close(), other.close()]);
    expect(other.seen).toEqual([{ path: '/steal', auth: null }]);
  });
});

describe('createAuthorizedFetch(): a Request input', () => {
  const ALLOWED = 'https://api.alix.example';

  /** A fetch that records the URL, bearer and body of each call, and answers 200. */
  function recordingFetch() {
    const calls: { url: string; auth: string | null; body: string }[] = [];
    const fetchImpl = async (input: Parameters<typeof fetch>[0], init?: RequestInit): Promise<Response> => {
      const request = new Request(input, init);
      calls.push({ url: request.url, auth: request.headers.get('authorization'), body: await request.text() });
      return new Response('ok');
    };
    return { calls, fetch: fetchImpl as typeof fetch };
  }

  it("sends init's body for a Request whose own body was read already, as fetch does", async () => {
    const { calls, fetch: fetchImpl } = recordingFetch();
    const authorized = createAuthorizedFetch(new FakeTokenSource('SECRET'), { origins: [ALLOWED], fetch: fetchImpl });
    const request = new Request(`${ALLOWED}/cards`, { method: 'POST', body: 'read' });
    await request.text();

    expect((await authorized(request, { body: 'card=1' })).status).toBe(200);
    expect(calls).toEqual([{ url: `${ALLOWED}/cards`, auth: 'Bearer SECRET-0', body: 'card=1' }]);
  });

  it('judges the url of a Request from another fetch implementation (known by its tag), not what it stringifies to', async () => {
    const calls: { input: unknown; auth: string | null }[] = [];
    const fetchImpl = async (input: unknown, init?: RequestInit): Promise<Response> => {
      calls.push({ input, auth: new Headers(init?.headers).get('authorization') });
      return new Response('ok');
    };
    const authorized = createAuthorizedFetch(new FakeTokenSource('SECRET'), {
      origins: [ALLOWED],
      fetch: fetchImpl as typeof fetch,
    });
    // e.g. a Request of a second undici copy: not an instance of this realm's Request
    const foreign = {
      [Symbol.toStringTag]: 'Request',
      url: `${ALLOWED}/cards`,
      method: 'GET',
      headers: new Headers(),
      redirect: 'manual',
      signal: new AbortController().signal,
      body: null,
      bodyUsed: false,
      toString: () => 'https://elsewhere.example/cards',
    };

    await authorized(foreign as unknown as Request);

    expect(calls).toEqual([{ input: foreign, auth: 'Bearer SECRET-0' }]);
  });
});

describe('createAuthorizedFetch() installed as the global fetch', () => {
  it('sends each call once, with one bearer, when the wrapper itself becomes globalThis.fetch', async () => {
    const api = await startLocalApi();
    const original = globalThis.fetch;
    const source = new FakeTokenSource('SECRET');
    let tokenReads = 0;
    const read = source.getAccessToken.bind(source);
    source.getAccessToken = async () => {
      tokenReads += 1;
      // A guard so that a recursion ends instead of running forever.
      if (tokenReads > 20) throw new Error('recursion');
      return read();
    };
    const authorized = createAuthorizedFetch(source, { origins: [api.origin] });
    globalThis.fetch = authorized as typeof fetch;
    const outcome = await fetch(`${api.origin}/echo`).then(
      (response) => response.status,
      (error: unknown) => String(error),
    );
    globalThis.fetch = original;
    await api.close();
    expect(outcome).toBe(200);
    expect(tokenReads).toBe(1);
    expect(api.seen).toEqual([{ path: '/echo', auth: 'Bearer SECRET-0' }]);
  });

  it('sends each call once when a second wrapper is installed over the first (two accounts, two origins)', async () => {
    const [one, two] = await Promise.all([startLocalApi(), startLocalApi()]);
    const original = globalThis.fetch;
    let tokenReads = 0;
    const guarded = (prefix: string): FakeTokenSource => {
      const source = new FakeTokenSource(prefix);
      const read = source.getAccessToken.bind(source);
      source.getAccessToken = async () => {
        // A guard so that a recursion ends instead of running forever.
        if ((tokenReads += 1) > 20) throw new Error('recursion');
        return read();
      };
      return source;
    };
    globalThis.fetch = createAuthorizedFetch(guarded('ONE'), { origins: [one.origin] }) as typeof fetch;
    globalThis.fetch = createAuthorizedFetch(guarded('TWO'), { origins: [two.origin] }) as typeof fetch;
    const outcomes = await Promise.all(
      [one, two].map((api) =>
        fetch(`${api.origin}/echo`).then(
          (r) => r.status,
          (error: unknown) => String(error),
        ),
      ),
    );
    globalThis.fetch = original;
    await Promise.all([one.close(), two.close()]);
    expect(outcomes).toEqual([200, 200]);
    expect(tokenReads).toBe(2);
    expect([...one.seen, ...two.seen]).toEqual([
      { path: '/echo', auth: 'Bearer ONE-0' },
      { path: '/echo', auth: 'Bearer TWO-0' },
    ]);
  });
});

describe('createAuthorizedFetch() with a fetch whose bodies are Node streams (node-fetch)', () => {
  it("destroys the rejected answer's body and replays once with the fresh token", async () => {
    const source = new FakeTokenSource('SECRET');
    const rejectedBody = Readable.from(['unread']);
    const sent: string[] = [];
    const nodeFetch = async (_input: unknown, init?: RequestInit): Promise<Response> => {
      sent.push(new Headers(init?.headers).get('authorization') ?? '');
      const body = sent.length === 1 ? rejectedBody : Readable.from(['ok']);
      return { status: sent.length === 1 ? 401 : 200, body } as unknown as Response;
    };
    const authorized = createAuthorizedFetch(source, {
      origins: ['https://api.example'],
      fetch: nodeFetch as typeof fetch,
    });
    const response = await authorized('https://api.example/cards');
    expect(response.status).toBe(200);
    expect(sent).toEqual(['Bearer SECRET-0', 'Bearer SECRET-1']);
    expect(rejectedBody.destroyed).toBe(true);
  });
});
