/**
 * What the adapters do with the manager's answer to invalidate(): replay once after
 * `refreshing`/`stale` (or nothing, from a user-written source), surface the rejection after
 * `cooldown`/`ignored`, and report every replay to the source.
 */
import axios from 'axios';
import type { AxiosError } from 'axios';
import { attachTokenManager } from '../../src/adapters/axios';
import { createAuthorizedFetch } from '../../src/adapters/fetch';
import type { GetAccessTokenOptions, InvalidateOptions, InvalidateResult, ReplayReport } from '../../src/manager/types';
import { FakeTokenSource } from '../helpers/fake-token-source';
import { startLocalApi } from './support/local-api';
import type { LocalApi } from './support/local-api';

/**
 * A source that behaves like the manager's 401 cooldown: the first report of the held token
 * refreshes; a report of the token that refresh issued (rejected too) gets `cooldown`.
 */
class CooldownSource extends FakeTokenSource {
  readonly results: InvalidateResult[] = [];
  readonly replays: ReplayReport[] = [];
  fixed: InvalidateResult | undefined;

  override invalidate(rejectedAccessToken?: string, options?: InvalidateOptions): InvalidateResult {
    if (options?.replay === true) {
      super.invalidate(rejectedAccessToken, options);
      return 'cooldown';
    }
    const result = this.fixed ?? (this.refreshCount === 0 ? 'refreshing' : 'cooldown');
    if (result === 'refreshing') super.invalidate(rejectedAccessToken);
    this.results.push(result);
    return result;
  }

  recordReplay(report: ReplayReport): void {
    this.replays.push(report);
  }
}

let api: LocalApi;

beforeAll(async () => {
  api = await startLocalApi();
});

afterAll(async () => {
  await api.close();
});

beforeEach(() => {
  api.seen.length = 0;
});

const clients = {
  axios: (source: CooldownSource) => {
    const instance = axios.create({ baseURL: api.origin });
    attachTokenManager(instance, source);
    return async (path: string): Promise<number> => {
      const error = (await instance.get(path).catch((e: unknown) => e)) as AxiosError;
      return error.response?.status ?? 200;
    };
  },
  fetch: (source: CooldownSource) => {
    const authorizedFetch = createAuthorizedFetch(source, { origins: [api.origin] });
    return async (path: string): Promise<number> => (await authorizedFetch(`${api.origin}${path}`)).status;
  },
};

describe.each(Object.entries(clients))('the %s adapter and invalidate()', (adapter, makeClient) => {
  it('sends each of 100 sequential requests to an always-401 endpoint once after the first cooldown', async () => {
    const source = new CooldownSource('SECRET');
    const get = makeClient(source);
    const statuses: number[] = [];
    for (let i = 0; i < 100; i += 1) statuses.push(await get('/always-401'));
    expect(statuses.every((status) => status === 401)).toBe(true);
    expect(api.seen).toHaveLength(101);
    expect(source.refreshCount).toBe(1);
    expect(source.results).toEqual(['refreshing', ...Array<InvalidateResult>(99).fill('cooldown')]);
    expect(source.replays).toHaveLength(1);
    // The replay's 401 (a token minted after the request started) marked the target's storm.
    expect(source.storms).toEqual(['GET /always-401']);
  });

  it.each(['cooldown', 'ignored'] as const)(
    'surfaces the 401, sent once, when invalidate() answers %s',
    async (result) => {
      const source = new CooldownSource('SECRET');
      source.fixed = result;
      expect(await makeClient(source)('/always-401')).toBe(401);
      expect(api.seen.map((r) => r.auth)).toEqual(['Bearer SECRET-0']);
      expect(source.replays).toEqual([]);
    },
  );

  it.each(['refreshing', 'stale'] as const)(
    'replays once with a fresh token when invalidate() answers %s',
    async (result) => {
      const source = new CooldownSource('SECRET');
      source.fixed = result;
      expect(await makeClient(source)('/always-401')).toBe(401);
      expect(api.seen).toHaveLength(2);
    },
  );

  it('reports the replay to the source: adapter, status, method and origin only', async () => {
    const source = new CooldownSource('SECRET');
    await makeClient(source)('/always-401?card=1');
    expect(source.replays).toEqual([{ adapter, status: 401, method: 'GET', origin: api.origin }]);
  });

  it('replays after a source that returns nothing, and a throwing recordReplay changes nothing', async () => {
    const source = new FakeTokenSource('SECRET') as FakeTokenSource & { recordReplay(): void };
    source.recordReplay = () => {
      throw new Error('listener failed');
    };
    expect(await makeClient(source as unknown as CooldownSource)('/always-401')).toBe(401);
    expect(api.seen.map((r) => r.auth)).toEqual(['Bearer SECRET-0', 'Bearer SECRET-1']);
  });
});

const ALLOWED = 'https://api.alix.example';

/** Records what invalidate() is told; the held token rotates when the test says so. */
class RecordingSource extends FakeTokenSource {
  readonly reports: Array<{ token: string | undefined; options: InvalidateOptions | undefined }> = [];

  override invalidate(token?: string, options?: InvalidateOptions): void {
    this.reports.push({ token, options });
    super.invalidate(token, options);
  }
}

describe('invalidate() is told the token the request carried and its target', () => {
  it('axios: the carried token (not one a refresh issued meanwhile) and METHOD /path without the query', async () => {
    const source = new RecordingSource('SECRET');
    const sent: Array<string | null> = [];
    const api = axios.create({
      baseURL: ALLOWED,
      adapter: async (config) => {
        const auth = (config.headers.get('Authorization') as string | undefined) ?? null;
        sent.push(auth);
        if (auth === 'Bearer SECRET-0') {
          // Another request's 401 refreshed the session while this one was in flight.
          await source.refresh();
          const response = { data: null, status: 401, statusText: 'Unauthorized', headers: {}, config };
          throw new axios.AxiosError('401', 'ERR_BAD_REQUEST', config, undefined, response);
        }
        return { data: null, status: 200, statusText: 'OK', headers: {}, config };
      },
    });
    const detach = attachTokenManager(api, source);
    const response = await api.post('/v2/cards/42', { a: 1 }, { params: { q: 'jane@example.com' } });
    detach();
    expect(response.status).toBe(200);
    expect(source.reports).toEqual([{ token: 'SECRET-0', options: { target: 'POST /v2/cards/42' } }]);
    expect(sent).toEqual(['Bearer SECRET-0', 'Bearer SECRET-1']);
    expect(source.refreshCount).toBe(1);
  });

  it('fetch: the carried token (not one a refresh issued meanwhile) and METHOD /path without the query', async () => {
    const source = new RecordingSource('SECRET');
    const sent: Array<string | null> = [];
    const fakeFetch = async (_input: unknown, init?: RequestInit) => {
      const auth = new Headers(init?.headers).get('authorization');
      sent.push(auth);
      if (auth === 'Bearer SECRET-0') await source.refresh();
      return new Response('{}', { status: auth === 'Bearer SECRET-0' ? 401 : 200 });
    };
    const authorized = createAuthorizedFetch(source, { origins: [ALLOWED], fetch: fakeFetch as typeof fetch });
    const response = await authorized(`${ALLOWED}/v2/cards/42?q=jane%40example.com`, { method: 'delete' });
    expect(response.status).toBe(200);
    expect(source.reports).toEqual([{ token: 'SECRET-0', options: { target: 'DELETE /v2/cards/42' } }]);
    expect(sent).toEqual(['Bearer SECRET-0', 'Bearer SECRET-1']);
    expect(source.refreshCount).toBe(1);
  });
});

describe("the replay's wait for a fresh token", () => {
  /** Serves SECRET-0, then a fresh token only to a caller whose signal has not aborted; the 401 aborts the caller. */
  class AbortingSource {
    readonly controller = new AbortController();
    calls = 0;

    getAccessToken(options?: GetAccessTokenOptions): Promise<string> {
      this.calls += 1;
      if (this.calls === 1) return Promise.resolve('SECRET-0');
      if (options?.signal?.aborted === true) return Promise.reject(options.signal.reason as Error);
      return Promise.resolve('SECRET-1');
    }

    invalidate(): InvalidateResult {
      // The caller gives up while the session refreshes.
      this.controller.abort();
      return 'refreshing';
    }
  }

  it("axios: honours the request's signal: an aborted request is not replayed", async () => {
    const source = new AbortingSource();
    const sent: Array<string | null> = [];
    const api = axios.create({
      baseURL: ALLOWED,
      adapter: async (config) => {
        sent.push((config.headers.get('Authorization') as string | undefined) ?? null);
        const response = { data: null, status: 401, statusText: 'Unauthorized', headers: {}, config };
        throw new axios.AxiosError('401', 'ERR_BAD_REQUEST', config, undefined, response);
      },
    });
    attachTokenManager(api, source);
    await expect(api.get('/v2/cards', { signal: source.controller.signal })).rejects.toThrow();
    expect(sent).toEqual(['Bearer SECRET-0']);
  });

  it("fetch: honours the request's signal: an aborted request is not replayed", async () => {
    const source = new AbortingSource();
    const sent: Array<string | null> = [];
    const fakeFetch = async (_input: unknown, init?: RequestInit) => {
      sent.push(new Headers(init?.headers).get('authorization'));
      return new Response('{}', { status: 401 });
    };
    const authorized = createAuthorizedFetch(source, { origins: [ALLOWED], fetch: fakeFetch as typeof fetch });
    await expect(authorized(`${ALLOWED}/v2/cards`, { signal: source.controller.signal })).rejects.toThrow();
    expect(sent).toEqual(['Bearer SECRET-0']);
  });
});
