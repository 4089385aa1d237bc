/**
 * Revocations vs 401 storms, through both adapters and a real TokenManager: a 401 for a token
 * the server revoked is replayed once with a new token, every time; a target that rejects a
 * token minted after its request started is in a storm, and only its 401s stop refreshing.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import axios from 'axios';
import type { AxiosError } from 'axios';
import { attachTokenManager } from '../../src/adapters/axios';
import { createAuthorizedFetch } from '../../src/adapters/fetch';
import { TokenManager } from '../../src/manager/token-manager';
import { FakeProvider } from '../helpers/fake-provider';
import { INSTANT_RETRY } from '../helpers/manager';

/** An API that accepts every token the test has not revoked; `/always-401` accepts none. */
interface RevokingApi {
  origin: string;
  revoked: Set<string>;
  /** Requests received. */
  requests: number;
  close(): Promise<void>;
}

async function startRevokingApi(): Promise<RevokingApi> {
  const revoked = new Set<string>();
  const api = { requests: 0 };
  const server: Server = createServer((req, res) => {
    api.requests += 1;
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const rejected = req.url === '/always-401' || token === '' || revoked.has(token);
    res.writeHead(rejected ? 401 : 200, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(api, {
    origin: `http://127.0.0.1:${port}`,
    revoked,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

let api: RevokingApi;
beforeAll(async () => {
  api = await startRevokingApi();
});
afterAll(() => api.close());
beforeEach(() => api.revoked.clear());

const clients = {
  axios: (manager: TokenManager) => {
    const instance = axios.create({ baseURL: api.origin });
    attachTokenManager(instance, manager);
    return async (path: string): Promise<number> => {
      const error = (await instance.get(path).catch((e: unknown) => e)) as AxiosError | { status: number };
      return 'response' in error ? (error.response?.status ?? 0) : 200;
    };
  },
  fetch: (manager: TokenManager) => {
    const authorizedFetch = createAuthorizedFetch(manager, { origins: [api.origin] });
    return async (path: string): Promise<number> => (await authorizedFetch(`${api.origin}${path}`)).status;
  },
};

describe.each(Object.entries(clients))('the %s adapter: revocations and 401 storms', (_adapter, makeClient) => {
  const start = (): { manager: TokenManager; provider: FakeProvider; get: (path: string) => Promise<number> } => {
    const provider = new FakeProvider({ now: Date.now });
    const manager = new TokenManager({ provider, retry: INSTANT_RETRY, refreshJitterMs: 0 });
    return { manager, provider, get: makeClient(manager) };
  };
  /** The server revokes the token the session holds now. */
  const revokeHeld = async (manager: TokenManager): Promise<void> => {
    api.revoked.add(await manager.getAccessToken());
  };

  it('replays every one of 30 rounds of "the server revokes, the request gets 401", one refresh each', async () => {
    const { manager, provider, get } = start();
    await manager.getAccessToken();
    const statuses: number[] = [];
    for (let round = 0; round < 30; round += 1) {
      await revokeHeld(manager);
      statuses.push(await get('/cards'));
    }
    expect(statuses).toEqual(Array<number>(30).fill(200));
    expect(provider.calls).toHaveLength(31);
    manager.close();
  });

  it('surfaces no 401 to 10 concurrent loops while the server revokes the session 20 times; auth calls = revocations', async () => {
    const { manager, provider, get } = start();
    await manager.getAccessToken();
    const statuses: number[] = [];
    for (let round = 0; round < 20; round += 1) {
      await revokeHeld(manager);
      statuses.push(...(await Promise.all(Array.from({ length: 10 }, () => get('/cards')))));
    }
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    expect(provider.calls).toHaveLength(1 + 20);
    manager.close();
  });

  it('costs one refresh per cooldown for an always-401 endpoint, and a healthy endpoint still replays a revocation', async () => {
    const { manager, provider, get } = start();
    await manager.getAccessToken();
    const stormed: number[] = [];
    for (let i = 0; i < 100; i += 1) stormed.push(await get('/always-401'));
    expect(stormed.every((status) => status === 401)).toBe(true);
    expect(provider.calls).toHaveLength(2);
    // Another target: a revocation there is replayed with a new token, the storm notwithstanding.
    await revokeHeld(manager);
    expect(await get('/cards')).toBe(200);
    expect(provider.calls).toHaveLength(3);
    expect(await get('/always-401')).toBe(401);
    expect(provider.calls).toHaveLength(3);
    manager.close();
  });
});

describe('TokenManager.invalidate() with a target', () => {
  it('keeps a target in a storm for invalidateCooldownMs after a rejected replay, then refreshes for it again', async () => {
    let time = 1_000_000;
    const provider = new FakeProvider({ now: () => time });
    const manager = new TokenManager({
      provider,
      now: () => time,
      retry: INSTANT_RETRY,
      refreshJitterMs: 0,
      invalidateCooldownMs: 30_000,
    });
    const first = await manager.getAccessToken();
    expect(manager.invalidate(first, { target: 'GET /x' })).toBe('refreshing');
    const second = await manager.getAccessToken();
    expect(manager.invalidate(second, { target: 'GET /x', replay: true })).toBe('cooldown');
    time += 29_999;
    expect(manager.invalidate(second, { target: 'GET /x' })).toBe('cooldown');
    expect(manager.invalidate(second, { target: 'GET /y' })).toBe('refreshing');
    const third = await manager.getAccessToken();
    time += 1;
    expect(manager.invalidate(third, { target: 'GET /x' })).toBe('refreshing');
    expect(provider.calls).toHaveLength(3);
    manager.close();
  });
});

describe('alixSession on a single token manager', () => {
  const managerFor = (user: string | undefined): TokenManager =>
    new TokenManager({
      provider: new FakeProvider({
        now: Date.now,
        identity: { id: `id-${user ?? 'none'}`, ...(user === undefined ? {} : { user }) },
      }),
      retry: INSTANT_RETRY,
    });

  it.each(Object.entries(clients))(
    '%s: refuses, unsent, a request that names another user than the manager acts for',
    async (adapter) => {
      const manager = managerFor('a@example.com');
      const before = api.requests;
      const names = async (alixSession: string): Promise<unknown> => {
        if (adapter === 'axios') {
          const instance = axios.create({ baseURL: api.origin });
          attachTokenManager(instance, manager);
          return instance.get('/cards', { alixSession }).then(
            (response) => response.status,
            (error: unknown) => error,
          );
        }
        const authorizedFetch = createAuthorizedFetch(manager, { origins: [api.origin] });
        return authorizedFetch(`${api.origin}/cards`, { alixSession }).then(
          (response) => response.status,
          (error: unknown) => error,
        );
      };
      await expect(names('b@example.com')).resolves.toMatchObject({
        code: 'ERR_ALIX_CONFIGURATION',
        message: expect.stringMatching(/not sent/),
      });
      expect(api.requests).toBe(before);
      await expect(names('a@example.com')).resolves.toBe(200);
      expect(api.requests).toBe(before + 1);
      manager.close();
    },
  );
});
