import { setupServer } from 'msw/node';
import { ConfigurationError } from '../../src/errors';
import { AlixSandboxCore, createAlixSignature, generatePartnerKeyPairSync, startAlixSandbox } from '../../src/sandbox';
import { alixHandlers } from '../../src/sandbox/msw';

const keys = generatePartnerKeyPairSync();
const server = setupServer();

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

async function signIn(baseUrl: string, core: AlixSandboxCore): Promise<Response> {
  return signInAt(`${baseUrl}/api/v2/auth/access-token`, core);
}

function signInAt(url: string, core: AlixSandboxCore): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      partnerCode: core.partnerCode,
      signature: createAlixSignature(keys.privateKeyPem, core.partnerCode, core.secretKey),
    }),
  });
}

describe('alixHandlers()', () => {
  it('returns spreadable handlers carrying their core and base URL', async () => {
    const alix = alixHandlers({ privateKeyPem: keys.privateKeyPem });
    server.use(...alix);
    expect(alix).toHaveLength(3);
    expect(alix.baseUrl).toBe('https://sandbox.alix.test');
    expect((await signIn(alix.baseUrl, alix.core)).status).toBe(200);
    expect(alix.core.counters().authenticate).toBe(1);
  });

  it('answers under a base URL with a path prefix', async () => {
    const alix = alixHandlers({ baseUrl: 'https://api.example.test/gateway/', privateKeyPem: keys.privateKeyPem });
    server.use(...alix);
    expect(alix.baseUrl).toBe('https://api.example.test/gateway');
    expect((await signIn('https://api.example.test/gateway', alix.core)).status).toBe(200);
  });

  it('shares a core with a running server: tokens from one work on the other', async () => {
    const core = new AlixSandboxCore({ privateKeyPem: keys.privateKeyPem });
    const alix = alixHandlers(core);
    server.use(...alix);
    const { data } = (await (await signIn(alix.baseUrl, core)).json()) as { data: { accessToken: string } };
    server.close();
    const sandbox = await startAlixSandbox({ core });
    try {
      const response = await fetch(`${sandbox.url}/api/v2/cards`, {
        headers: { Authorization: `Bearer ${data.accessToken}` },
      });
      expect(response.status).toBe(200);
      expect(core.counters()).toMatchObject({ authenticate: 1, resourceRequests: 1, requests: 2 });
    } finally {
      await sandbox.close();
      server.listen({ onUnhandledRequest: 'error' });
    }
  });

  it('refuses a bad base URL, and a core mixed with other options', () => {
    const core = new AlixSandboxCore({ privateKeyPem: keys.privateKeyPem });
    expect(() => alixHandlers({ baseUrl: 'not a url' })).toThrow(ConfigurationError);
    expect(() => alixHandlers({ baseUrl: 'https://alix.example.test/?env=1' })).toThrow(ConfigurationError);
    expect(() => alixHandlers({ baseUrl: 'https://alix.example.test/#top' })).toThrow(ConfigurationError);
    expect(() => alixHandlers({ core, accessTokenTtlMs: 1_000 })).toThrow(ConfigurationError);
  });

  it('sends no body to a HEAD request, as the node server does', async () => {
    const alix = alixHandlers({ privateKeyPem: keys.privateKeyPem });
    server.use(...alix);
    const response = await fetch(`${alix.baseUrl}/api/v2/auth/access-token`, { method: 'HEAD' });
    expect(response.status).toBe(405);
    expect(await response.text()).toBe('');
  });

  it('answers a path as the server does (404), though msw matches it ignoring case and a trailing slash', async () => {
    const alix = alixHandlers({ privateKeyPem: keys.privateKeyPem });
    server.use(...alix);
    for (const path of ['/api/v2/cards/', '/API/V2/CARDS', '/api/v2/auth/access-token/']) {
      // The server hands the core the path it was sent.
      const headers = { 'content-type': 'application/json' };
      const direct = await alix.core.handle({ method: 'POST', path, headers, bodyText: '{}' });
      expect(direct).toMatchObject({ status: 404 });
      const response = await signInAt(`${alix.baseUrl}${path}`, alix.core);
      expect({ path, status: response.status }).toEqual({ path, status: 404 });
    }
  });
});
