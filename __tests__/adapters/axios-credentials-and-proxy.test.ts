/**
 * attachTokenManager() against URL forms and transports that change who receives the bearer or
 * what a 401 means: a request that axios sends with the user's own Basic
 * credentials, and a plain-http loopback origin under an `HTTP_PROXY` from the environment. Each
 * runs on the peer axios and on second copies (`axios-other`, `axios-1.6`).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import axios from 'axios';
import type { AxiosRequestConfig, AxiosStatic } from 'axios';
import axios16 from 'axios-1.6';
import axiosOther from 'axios-other';
import { attachTokenManager } from '../../src/adapters/axios';
import { FakeTokenSource } from '../helpers/fake-token-source';
import { useLocalApiPair } from './support/local-api';

const apis = useLocalApiPair();

// The copies' typings differ in detail; the tests use the common 1.x surface through the peer's types.
const copies: Array<[string, AxiosStatic]> = [
  ['the peer axios', axios],
  ['axios-other (a second install of axios 1.21.1)', axiosOther as unknown as AxiosStatic],
  ['axios-1.6 (a second install of axios 1.6.0)', axios16 as unknown as AxiosStatic],
];

/** A plain HTTP proxy on 127.0.0.2 (another host, as far as loopback-only http goes) that records what it is sent. */
async function startProxy(): Promise<{ url: string; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method ?? ''} ${req.url ?? ''} ${req.headers.authorization ?? '-'}`);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.2', resolve));
  const url = `http://127.0.0.2:${(server.address() as AddressInfo).port}`;
  const close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { url, seen, close };
}

describe.each(copies)('attachTokenManager() with %s', (_label, copy) => {
  it.each<[string, (origin: string) => AxiosRequestConfig]>([
    ['credentials in the URL', (origin) => ({ url: origin.replace('http://', 'http://user:pw@') + '/always-401' })],
    ['the auth option', (origin) => ({ url: `${origin}/always-401`, auth: { username: 'user', password: 'pw' } })],
  ])(
    'leaves a request sent with Basic credentials (%s) to the user: a 401 to it invalidates no bearer',
    async (_case, configFor) => {
      const { allowed } = apis;
      const source = new FakeTokenSource('SECRET');
      const api = copy.create();
      attachTokenManager(api, source, { origins: [allowed.origin] });

      await expect(api.request(configFor(allowed.origin))).rejects.toMatchObject({ response: { status: 401 } });

      // axios replaces the bearer with the Basic credentials: the 401 is about them, not about the session's token.
      expect(allowed.seen.map((r) => r.auth)).toEqual(['Basic dXNlcjpwdw==']);
      expect(source.invalidated).toEqual([]);
      expect(source.refreshCount).toBe(0);
    },
  );

  // axios takes any proxy option but `false` or a proxy (`null` too) as "use the environment's".
  it.each<[string, AxiosRequestConfig]>([
    ['no proxy option', {}],
    ['proxy: null', { proxy: null as unknown as false }],
  ])(
    'never hands a plain-http loopback request with the bearer to an HTTP_PROXY from the environment (%s)',
    async (_case, config) => {
      const { allowed } = apis;
      const proxy = await startProxy();
      const saved = { HTTP_PROXY: process.env.HTTP_PROXY, http_proxy: process.env.http_proxy };
      process.env.HTTP_PROXY = proxy.url;
      delete process.env.http_proxy;
      try {
        const api = copy.create({ baseURL: allowed.origin });
        attachTokenManager(api, new FakeTokenSource('SECRET'));

        await api.get('/cards', config);

        expect(proxy.seen).toEqual([]);
        expect(allowed.seen).toEqual([{ path: '/cards', auth: 'Bearer SECRET-0' }]);
      } finally {
        for (const [name, value] of Object.entries(saved)) {
          if (value === undefined) delete process.env[name];
          else process.env[name] = value;
        }
        await proxy.close();
      }
    },
  );

  it('sends a plain-http loopback request through a proxy the request names itself: that choice is the caller’s', async () => {
    const { allowed } = apis;
    const proxy = await startProxy();
    try {
      const api = copy.create({ baseURL: allowed.origin });
      attachTokenManager(api, new FakeTokenSource('SECRET'));
      const { hostname, port } = new URL(proxy.url);

      await api.get('/cards', { proxy: { protocol: 'http', host: hostname, port: Number(port) } });

      expect(proxy.seen).toHaveLength(1);
    } finally {
      await proxy.close();
    }
  });
});
