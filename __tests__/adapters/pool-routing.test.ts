/**
 * The adapters with a session pool: each request names its session (`alixSession`, or the
 * `sessionKey` option), gets that session's bearer, and a 401 invalidates and replays with that
 * session alone. A request to an allowed origin that names no session is never sent.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import axios, { AxiosError } from 'axios';
import type { AxiosAdapter, AxiosInstance, InternalAxiosRequestConfig } from 'axios';
import { attachTokenManager } from '../../src/adapters/axios';
import type { AttachTokenManagerOptions } from '../../src/adapters/axios';
import { createAuthorizedFetch } from '../../src/adapters/fetch';
import type { AccessTokenSource, SessionSource } from '../../src/adapters/types';
import { ConfigurationError, ErrorCodes } from '../../src/errors';
import type { ReplayReport } from '../../src/manager/types';
import type { TokenManagerPool } from '../../src/pool/pool';
import { FakeTokenSource } from '../helpers/fake-token-source';
import { flushUntil } from '../helpers/fake-provider';
import { T0, useFakeClock } from '../helpers/manager';
import { makePool, tokenPrefix, user as userKey } from '../pool/support';
import { startLocalApi } from './support/local-api';
import type { LocalApi } from './support/local-api';

/** One session of the fake pool: tokens `T:<key>-0`, `T:<key>-1`, …; records replays. */
class SessionFake extends FakeTokenSource {
  readonly replays: ReplayReport[] = [];

  recordReplay(report: ReplayReport): void {
    this.replays.push(report);
  }
}

/**
 * A pool shaped like TokenManagerPool: `get(key)` plus pool-level `getAccessToken(key)` and
 * `invalidate(key)`, which the adapters must never call (they throw here).
 */
class FakePool implements SessionSource {
  readonly sessions = new Map<string, SessionFake>();
  readonly lookups: string[] = [];

  get(key: string): SessionFake {
    this.lookups.push(key);
    let session = this.sessions.get(key);
    if (session === undefined) {
      session = new SessionFake(`T:${key}`);
      this.sessions.set(key, session);
    }
    return session;
  }

  getAccessToken(): Promise<string> {
    throw new Error('the adapters must go through get(key)');
  }

  invalidate(): never {
    throw new Error('the adapters must go through get(key)');
  }
}

// Type-level: the real pool goes to both adapters without a cast (tsc fails here otherwise).
export const acceptsRealPool: Array<
  (pool: TokenManagerPool) => Parameters<typeof attachTokenManager>[1] & Parameters<typeof createAuthorizedFetch>[0]
> = [(real) => real];

interface UserApi {
  origin: string;
  /** Requests received, bearer mismatches (a bearer not issued to the X-User user), tokens to answer 401. */
  state: { hits: number; mismatches: number; rejected: Set<string>; seen: { user: string; auth: string | null }[] };
  /** Answers one request (403 for a bearer not issued to `user`, 401 for a rejected one) and records it in `state`. */
  answer(user: string, auth: string | null): number;
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1 that checks each bearer belongs to the request's X-User. */
async function startUserApi(): Promise<UserApi> {
  const state: UserApi['state'] = { hits: 0, mismatches: 0, rejected: new Set(), seen: [] };
  const answer = (user: string, auth: string | null): number => {
    state.hits += 1;
    state.seen.push({ user, auth });
    if (auth !== null && auth.startsWith(`Bearer T:${user}-`)) return state.rejected.has(auth.slice(7)) ? 401 : 200;
    state.mismatches += 1;
    return 403;
  };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const auth = req.headers.authorization ?? null;
      const status = answer(String(req.headers['x-user'] ?? ''), auth);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ auth }));
    });
  });
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 2048 }, resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    state,
    answer,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const byUserHeader = (config: InternalAxiosRequestConfig): string | undefined => {
  const user = config.headers.get('x-user');
  return typeof user === 'string' ? user : undefined;
};

let api: UserApi;
let other: LocalApi;
let pool: FakePool;
const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });

beforeAll(async () => {
  [api, other] = await Promise.all([startUserApi(), startLocalApi()]);
});

afterAll(async () => {
  agent.destroy();
  await Promise.all([api.close(), other.close()]);
});

beforeEach(() => {
  Object.assign(api.state, { hits: 0, mismatches: 0 });
  api.state.rejected.clear();
  api.state.seen.length = 0;
  other.seen.length = 0;
  pool = new FakePool();
});

function pooledAxios(options: AttachTokenManagerOptions = {}): AxiosInstance {
  const instance = axios.create({ baseURL: api.origin, httpAgent: agent });
  attachTokenManager(instance, pool, options);
  return instance;
}

const asUser = (user: string): { headers: Record<string, string> } => ({ headers: { 'x-user': user } });

describe('attachTokenManager() with a session pool', () => {
  it('sends each request with the bearer of the session its alixSession names', async () => {
    const client = pooledAxios();

    const [alice, bob] = await Promise.all([
      client.get<{ auth: string }>('/x', { ...asUser('alice'), alixSession: 'alice' }),
      client.get<{ auth: string }>('/x', { ...asUser('bob'), alixSession: 'bob' }),
    ]);

    expect([alice.data.auth, bob.data.auth]).toEqual(['Bearer T:alice-0', 'Bearer T:bob-0']);
    expect(api.state.mismatches).toBe(0);
  });

  it('derives the session from the config as sent with sessionKey(config); alixSession takes precedence', async () => {
    const client = pooledAxios({ sessionKey: byUserHeader });
    client.interceptors.request.use((config) => {
      config.headers.set('x-user', 'carol'); // set after attach: sessionKey still sees it
      return config;
    });

    const derived = await client.get<{ auth: string }>('/x');
    const named = await client
      .get<{ auth: string }>('/x', { alixSession: 'dave' })
      .catch((error: AxiosError) => error.response);

    expect(derived.data.auth).toBe('Bearer T:carol-0');
    expect(named?.status).toBe(403); // dave's bearer, carol's X-User: the explicit option won
    expect(pool.lookups).toEqual(['carol', 'dave']);
  });

  it.each([
    ['no alixSession and no sessionKey option', {}, {}],
    ['a sessionKey(config) that returns undefined', { sessionKey: () => undefined }, {}],
    ['an empty alixSession', {}, { alixSession: '' }],
  ])(
    'rejects a request to an allowed origin with %s, before sending it',
    async (_case, options: AttachTokenManagerOptions, request) => {
      const client = pooledAxios(options);

      const error = await client.get('/x', { ...asUser('alice'), ...request }).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(ConfigurationError);
      expect((error as ConfigurationError).code).toBe(ErrorCodes.CONFIGURATION);
      expect((error as Error).message).toMatch(/alixSession[\s\S]*sessionKey/);
      expect(api.state.hits).toBe(0);
      expect(pool.lookups).toEqual([]);
    },
  );

  it('rejects a request whose sessionKey is async (its type forbids it), leaving no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): number => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    // @ts-expect-error sessionKey must answer the key itself
    const client = pooledAxios({ sessionKey: () => Promise.reject(new Error('lookup failed')) });

    const error = await client.get('/x').catch((e: unknown) => e);
    await new Promise((resolve) => setImmediate(resolve));
    process.off('unhandledRejection', onUnhandled);

    expect(error).toBeInstanceOf(ConfigurationError);
    expect(unhandled).toEqual([]);
    expect(api.state.hits).toBe(0);
  });

  it('rejects a non-string alixSession from untyped callers', async () => {
    const client = pooledAxios();

    // @ts-expect-error alixSession is typed as a string
    const error = await client.get('/x', { alixSession: 42 }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConfigurationError);
    expect(api.state.hits).toBe(0);
  });

  it('sends a request to another origin, or with skipAuth, untouched and with no session key', async () => {
    const client = pooledAxios();

    await client.get(`${other.origin}/public`);
    const skipped = await client
      .get('/x', { ...asUser('alice'), skipAuth: true })
      .catch((error: AxiosError) => error.response);

    expect(other.seen).toEqual([{ path: '/public', auth: null }]);
    expect(skipped?.status).toBe(403);
    expect(api.state.seen).toEqual([{ user: 'alice', auth: null }]);
    expect(pool.lookups).toEqual([]);
  });

  it("replays a rejected token with a fresh token of that request's session only", async () => {
    const client = pooledAxios();
    const bobBefore = await client.get<{ auth: string }>('/x', { ...asUser('bob'), alixSession: 'bob' });
    api.state.rejected.add('T:alice-0');

    const alice = await client.get<{ auth: string }>('/x', { ...asUser('alice'), alixSession: 'alice' });

    expect(alice.data.auth).toBe('Bearer T:alice-1');
    expect(pool.sessions.get('alice')?.invalidated).toEqual(['T:alice-0']);
    expect(pool.sessions.get('alice')?.replays).toEqual([
      expect.objectContaining({ adapter: 'axios', status: 401, origin: api.origin }),
    ]);
    expect(pool.sessions.get('bob')).toMatchObject({ refreshCount: 0, invalidated: [], replays: [] });
    expect(bobBefore.data.auth).toBe('Bearer T:bob-0');
    expect(api.state.seen.map((seen) => seen.auth)).toEqual(['Bearer T:bob-0', 'Bearer T:alice-0', 'Bearer T:alice-1']);
  });

  it('throws a ConfigurationError at attach time for a bad sessionKey or source', () => {
    const instance = axios.create({ baseURL: api.origin });
    const single: AccessTokenSource = new FakeTokenSource();

    // @ts-expect-error sessionKey must be a function
    expect(() => attachTokenManager(instance, pool, { sessionKey: 'x-user' })).toThrow(ConfigurationError);
    expect(() => attachTokenManager(instance, single, { sessionKey: byUserHeader })).toThrow(/single token manager/);
    // @ts-expect-error neither a source nor a pool
    expect(() => attachTokenManager(instance, { getAccessToken: () => Promise.resolve('t') })).toThrow(/neither/);
  });

  it('names the position of the bad source argument in each adapter', () => {
    const problem = 'argument is neither a token manager (getAccessToken()/invalidate()) nor a session pool (get(key))';
    const instance = axios.create({ baseURL: api.origin });
    expect(() => attachTokenManager(instance, {} as never)).toThrow(`attachTokenManager: the second ${problem}`);
    expect(() => createAuthorizedFetch({} as never, { origins: [api.origin] })).toThrow(
      `createAuthorizedFetch: the first ${problem}`,
    );
  });
});

describe('createAuthorizedFetch() with a session pool', () => {
  const pooledFetch = (sessionKey?: (request: Request) => string | undefined) =>
    createAuthorizedFetch(pool, { origins: [api.origin], ...(sessionKey && { sessionKey }) });
  const authOf = async (response: Response): Promise<unknown> => ((await response.json()) as { auth: unknown }).auth;

  it("sends each call with the bearer of the session its init's alixSession names", async () => {
    const alixFetch = pooledFetch();

    const [alice, bob] = await Promise.all(
      ['alice', 'bob'].map((user) => alixFetch(`${api.origin}/x`, { ...asUser(user), alixSession: user })),
    );

    expect([await authOf(alice!), await authOf(bob!)]).toEqual(['Bearer T:alice-0', 'Bearer T:bob-0']);
    expect(api.state.mismatches).toBe(0);
  });

  it('derives the session with sessionKey(request), for a URL and for a Request input', async () => {
    const alixFetch = pooledFetch((request) => request.headers.get('x-user') ?? undefined);

    const fromUrl = await alixFetch(new URL('/x', api.origin), asUser('carol'));
    const fromRequest = await alixFetch(
      new Request(`${api.origin}/x`, { method: 'POST', body: 'payload', ...asUser('dave') }),
    );

    expect([await authOf(fromUrl), await authOf(fromRequest)]).toEqual(['Bearer T:carol-0', 'Bearer T:dave-0']);
    expect(pool.lookups).toEqual(['carol', 'dave']);
  });

  it("shows sessionKey the call's method and headers as sent: init's over the Request's", async () => {
    const seen: string[] = [];
    const alixFetch = pooledFetch((request) => {
      seen.push(`${request.method} ${request.headers.get('x-user')}`);
      return request.headers.get('x-user') ?? undefined;
    });
    const posted = (user: string): Request =>
      new Request(`${api.origin}/x`, { method: 'POST', body: 'payload', ...asUser(user) });

    await alixFetch(posted('erin'), { method: 'PUT' });
    await alixFetch(posted('frank'), asUser('grace'));

    expect(seen).toEqual(['PUT erin', 'POST grace']);
    expect(pool.lookups).toEqual(['erin', 'grace']);
  });

  it('rejects a call to an allowed origin that names no session, before sending it', async () => {
    const alixFetch = pooledFetch(() => undefined);

    const error = await alixFetch(`${api.origin}/x`, asUser('alice')).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(/alixSession[\s\S]*sessionKey/);
    expect(api.state.hits).toBe(0);
    expect(pool.lookups).toEqual([]);
  });

  it('sends a call to another origin untouched, with no session key', async () => {
    const response = await pooledFetch()(`${other.origin}/public`);

    expect(response.status).toBe(200);
    expect(other.seen).toEqual([{ path: '/public', auth: null }]);
    expect(pool.lookups).toEqual([]);
  });

  it("replays a rejected token with a fresh token of that call's session only", async () => {
    const alixFetch = pooledFetch();
    api.state.rejected.add('T:alice-0');

    const [alice, bob] = await Promise.all(
      ['alice', 'bob'].map((user) => alixFetch(`${api.origin}/x`, { ...asUser(user), alixSession: user })),
    );

    expect([await authOf(alice!), await authOf(bob!)]).toEqual(['Bearer T:alice-1', 'Bearer T:bob-0']);
    expect(pool.sessions.get('alice')).toMatchObject({ refreshCount: 1, invalidated: ['T:alice-0'] });
    expect(pool.sessions.get('alice')?.replays).toEqual([expect.objectContaining({ adapter: 'fetch', status: 401 })]);
    expect(pool.sessions.get('bob')).toMatchObject({ refreshCount: 0, invalidated: [], replays: [] });
  });

  it('throws a ConfigurationError at creation for a bad sessionKey', () => {
    // @ts-expect-error sessionKey must be a function
    expect(() => createAuthorizedFetch(pool, { origins: [api.origin], sessionKey: 'x-user' })).toThrow(
      ConfigurationError,
    );
    expect(() =>
      createAuthorizedFetch(new FakeTokenSource(), { origins: [api.origin], sessionKey: () => 'alice' }),
    ).toThrow(/single token manager/);
  });
});

describe('a session pool under concurrent load', () => {
  /**
   * The user API answered in process: a thousand requests at once are about the adapters' and the pool's
   * interleaving, and that many sockets to one local server got reset on a loaded machine.
   */
  const inProcessAxios: AxiosAdapter = async (config) => {
    const auth = config.headers.get('Authorization');
    const status = api.answer(String(config.headers.get('x-user') ?? ''), typeof auth === 'string' ? auth : null);
    const response = { data: { auth }, status, statusText: '', headers: {}, config, request: {} };
    if (config.validateStatus?.(status) !== false) return response;
    throw new AxiosError(`Request failed with status code ${status}`, AxiosError.ERR_BAD_REQUEST, config, {}, response);
  };
  const inProcessFetch = async (_input: unknown, init?: RequestInit): Promise<Response> => {
    const headers = new Headers(init?.headers);
    return new Response(null, { status: api.answer(headers.get('x-user') ?? '', headers.get('authorization')) });
  };

  it('never sends one user a bearer of another across 1,000 mixed requests for 100 users', async () => {
    const users = Array.from({ length: 100 }, (_, index) => `user${index}@example.com`);
    // Every tenth user's first token is rejected: those requests go through the 401 replay.
    for (const user of users.filter((_, index) => index % 10 === 0)) api.state.rejected.add(`T:${user}-0`);
    const inProcess = (options: AttachTokenManagerOptions = {}): AxiosInstance => {
      const instance = axios.create({ baseURL: api.origin, adapter: inProcessAxios });
      attachTokenManager(instance, pool, options);
      return instance;
    };
    const named = inProcess();
    const derived = inProcess({ sessionKey: byUserHeader });
    const alixFetch = createAuthorizedFetch(pool, { origins: [api.origin], fetch: inProcessFetch as typeof fetch });

    const statuses = await Promise.all(
      Array.from({ length: 1000 }, async (_, index) => {
        const user = users[(index * 7) % users.length]!;
        if (index % 3 === 0) return (await named.get('/x', { ...asUser(user), alixSession: user })).status;
        if (index % 3 === 1) return (await derived.get('/x', asUser(user))).status;
        return (await alixFetch(`${api.origin}/x`, { ...asUser(user), alixSession: user })).status;
      }),
    );

    expect(api.state.mismatches).toBe(0);
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    expect(api.state.seen.every(({ user, auth }) => auth?.startsWith(`Bearer T:${user}-`))).toBe(true);
    const refreshed = [...pool.sessions].filter(([, session]) => session.refreshCount > 0).map(([user]) => user);
    expect(refreshed.sort()).toEqual(users.filter((_, index) => index % 10 === 0).sort());
    expect(pool.sessions.size).toBe(100);
  });
});

const POOL_ORIGIN = 'https://api.alix.example';

describe('adapters with a TokenManagerPool (maxSessions)', () => {
  beforeEach(() => useFakeClock(T0));
  afterEach(() => jest.useRealTimers());

  it("never fails one user's waiting request because another user's request pushed the pool over maxSessions", async () => {
    const { pool, providers } = makePool({ maxSessions: 1 }, { manual: true });
    const seen: Array<string | null> = [];
    const fakeFetch = async (_input: unknown, init?: RequestInit) => {
      seen.push(new Headers(init?.headers).get('authorization'));
      return new Response('{}', { status: 200 });
    };
    const authorized = createAuthorizedFetch(pool, { origins: [POOL_ORIGIN], fetch: fakeFetch as typeof fetch });
    const first = authorized(`${POOL_ORIGIN}/cards`, { alixSession: userKey(1) });
    await flushUntil(() => providers.get(userKey(1))?.calls.length === 1);
    const second = authorized(`${POOL_ORIGIN}/cards`, { alixSession: userKey(2) });
    await flushUntil(() => providers.get(userKey(2))?.calls.length === 1);
    providers.get(userKey(1))?.release();
    providers.get(userKey(2))?.release();
    const results = await Promise.allSettled([first, second]);
    pool.close();
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(seen.sort()).toEqual([
      `Bearer ${tokenPrefix(userKey(1))}access-1`,
      `Bearer ${tokenPrefix(userKey(2))}access-1`,
    ]);
  });
});
