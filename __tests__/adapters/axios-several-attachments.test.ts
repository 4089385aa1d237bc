import axios from 'axios';
import { attachTokenManager } from '../../src/adapters/axios';
import { FakeTokenSource } from '../helpers/fake-token-source';
import { useLocalApiPair } from './support/local-api';

const apis = useLocalApiPair();

describe('two attachments on one axios instance', () => {
  /** One instance, token manager `first` for the allowed origin and `second` for the other one. */
  function attachTwo() {
    const first = new FakeTokenSource('first');
    const second = new FakeTokenSource('second');
    const api = axios.create();
    attachTokenManager(api, first, { origins: [apis.allowed.origin] });
    const detachSecond = attachTokenManager(api, second, { origins: [apis.other.origin] });
    return { first, second, api, detachSecond };
  }

  it('each token manager sends its bearer to its own origin only', async () => {
    const { api } = attachTwo();

    await api.get(`${apis.allowed.origin}/a`);
    await api.get(`${apis.other.origin}/b`);

    expect(apis.allowed.seen).toEqual([{ path: '/a', auth: 'Bearer first-0' }]);
    expect(apis.other.seen).toEqual([{ path: '/b', auth: 'Bearer second-0' }]);
  });

  it("a 401 from the second origin invalidates the second manager's token and is replayed once", async () => {
    const { first, second, api } = attachTwo();

    const error = await api.get(`${apis.other.origin}/always-401`).catch((e: unknown) => e);

    expect(axios.isAxiosError(error) && error.response?.status).toBe(401);
    expect(apis.other.seen.map((r) => r.auth)).toEqual(['Bearer second-0', 'Bearer second-1']);
    expect(apis.allowed.seen).toEqual([]);
    expect(second.invalidated).toEqual(['second-0']);
    expect(first.invalidated).toEqual([]);
  });

  it('a session pool and a token manager on one instance route by origin', async () => {
    const pool = { get: (key: string) => new FakeTokenSource(key) };
    const single = new FakeTokenSource('single');
    const api = axios.create();
    attachTokenManager(api, pool, { origins: [apis.allowed.origin] });
    attachTokenManager(api, single, { origins: [apis.other.origin] });

    await api.get(`${apis.allowed.origin}/a`, { alixSession: 'user' });
    await api.get(`${apis.other.origin}/b`);

    expect(apis.allowed.seen).toEqual([{ path: '/a', auth: 'Bearer user-0' }]);
    expect(apis.other.seen).toEqual([{ path: '/b', auth: 'Bearer single-0' }]);
  });

  it('with the same origin, one bearer goes out and a 401 is replayed once, not once per attachment', async () => {
    const first = new FakeTokenSource('first');
    const second = new FakeTokenSource('second');
    const api = axios.create({ baseURL: apis.allowed.origin });
    attachTokenManager(api, first);
    attachTokenManager(api, second);

    await api.get('/always-401').catch(() => undefined);

    expect(apis.allowed.seen.map((r) => r.auth)).toEqual(['Bearer first-0', 'Bearer first-1']);
    expect(second.invalidated).toEqual([]);
  });

  it('a config re-sent (error.config) goes through each attachment once', async () => {
    const { api } = attachTwo();
    const error = await api.get(`${apis.other.origin}/always-401`).catch((e: unknown) => e);
    apis.other.seen.length = 0;

    await api.request({ ...(error as { config: object }).config, url: `${apis.other.origin}/b` });

    expect(apis.other.seen).toEqual([{ path: '/b', auth: 'Bearer second-1' }]);
  });

  it('detaching the second leaves the first working', async () => {
    const { api, detachSecond } = attachTwo();
    detachSecond();

    await api.get(`${apis.allowed.origin}/a`);
    await api.get(`${apis.other.origin}/b`);

    expect(apis.allowed.seen).toEqual([{ path: '/a', auth: 'Bearer first-0' }]);
    expect(apis.other.seen).toEqual([{ path: '/b', auth: null }]);
  });
});
