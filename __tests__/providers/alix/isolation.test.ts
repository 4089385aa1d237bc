/**
 * The provider's HTTP client inherits nothing from the application's global axios (issue #11
 * item 6): not its default headers, not a global baseURL with allowAbsoluteUrls:false, not
 * its interceptors. A plain node:http server in front of the sandbox core records what
 * actually arrived.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import axios, { type InternalAxiosRequestConfig } from 'axios';
import { AlixAuthProvider } from '../../../src/providers/alix';
import { AlixSandboxCore } from '../../../src/sandbox/core';
import { generatePartnerKeyPairSync } from '../../../src/sandbox/keys';

const core = new AlixSandboxCore(generatePartnerKeyPairSync());
const received: Array<{ url: string | undefined; headers: IncomingHttpHeaders }> = [];
let server: Server;
let baseUrl: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ url: req.url, headers: req.headers });
      const request = {
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers: req.headers,
        bodyText: Buffer.concat(chunks).toString('utf8'),
      };
      void core.handle(request).then((reply) => {
        if ('reset' in reply) return req.socket.destroy();
        res.writeHead(reply.status, reply.headers);
        res.end(reply.bodyText);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('the auth client with polluted axios globals', () => {
  const saved = {
    headers: { ...axios.defaults.headers.common },
    baseURL: axios.defaults.baseURL,
    allowAbsoluteUrls: axios.defaults.allowAbsoluteUrls,
    params: axios.defaults.params as unknown,
  };
  let interceptorCalls = 0;
  let interceptorId: number;

  beforeEach(() => {
    received.length = 0;
    interceptorCalls = 0;
    axios.defaults.headers.common.Authorization = 'Bearer global';
    axios.defaults.headers.common['X-Api-Key'] = 'global-api-key';
    axios.defaults.baseURL = 'http://127.0.0.2:1';
    axios.defaults.allowAbsoluteUrls = false;
    axios.defaults.params = { leaked: 'yes' };
    interceptorId = axios.interceptors.request.use((config: InternalAxiosRequestConfig) => {
      interceptorCalls += 1;
      config.headers.set('X-From-Interceptor', '1');
      return config;
    });
  });

  afterEach(() => {
    axios.interceptors.request.eject(interceptorId);
    delete axios.defaults.headers.common.Authorization;
    delete axios.defaults.headers.common['X-Api-Key'];
    Object.assign(axios.defaults.headers.common, saved.headers);
    axios.defaults.baseURL = saved.baseURL;
    axios.defaults.allowAbsoluteUrls = saved.allowAbsoluteUrls;
    axios.defaults.params = saved.params;
  });

  it('sends the sign-in to the configured host with none of them', async () => {
    // Built after the globals changed: axios.create() would copy them at this point.
    const provider = new AlixAuthProvider({
      baseUrl,
      partnerCode: core.partnerCode,
      secretKey: core.secretKey,
      privateKey: core.privateKeyPem,
    });

    const tokens = await provider.authenticate();

    expect(tokens.accessToken).toMatch(/^eyJ/);
    expect(received).toHaveLength(1);
    const [call] = received;
    expect(call?.url).toBe('/api/v2/auth/access-token');
    expect(call?.headers.authorization).toBeUndefined();
    expect(call?.headers['x-api-key']).toBeUndefined();
    expect(call?.headers['x-from-interceptor']).toBeUndefined();
    expect(call?.headers['content-type']).toBe('application/json');
    expect(interceptorCalls).toBe(0);
  });

  it('proves the pollution is real: the default axios does carry it', async () => {
    // Without this, a broken setup (globals not applied) would let the test above pass.
    await axios.post(
      `${baseUrl}/api/v2/auth/access-token`,
      {},
      { allowAbsoluteUrls: true, baseURL: undefined, validateStatus: () => true },
    );

    expect(interceptorCalls).toBe(1);
    expect(received[0]?.headers.authorization).toBe('Bearer global');
    expect(received[0]?.headers['x-api-key']).toBe('global-api-key');
    expect(received[0]?.url).toBe('/api/v2/auth/access-token?leaked=yes');
  });
});
