/**
 * The library-integration examples of docs/testing-with-the-sandbox.md, run as written
 * (imports from src instead of the package name).
 */
import axios from 'axios';
import { setupServer } from 'msw/node';
import { AlixAuthProvider } from '../../src/providers/alix/provider';
import { TokenManager } from '../../src/manager/token-manager';
import { attachTokenManager } from '../../src/adapters/axios';
import { TokenManagerPool } from '../../src/pool/pool';
import { SANDBOX_USER_HEADER, startAlixSandbox, type AlixSandbox } from '../../src/sandbox';
import { alixHandlers } from '../../src/sandbox/msw';

describe('docs: startAlixSandbox() example', () => {
  let sandbox: AlixSandbox;
  let manager: TokenManager;
  beforeEach(async () => {
    sandbox = await startAlixSandbox({ accessTokenTtlMs: 60_000 });
    manager = new TokenManager({
      provider: new AlixAuthProvider({
        baseUrl: sandbox.baseUrl,
        partnerCode: sandbox.partnerCode,
        secretKey: sandbox.secretKey,
        privateKey: sandbox.privateKeyPem,
      }),
    });
  });
  afterEach(async () => {
    manager.close();
    await sandbox.close();
  });
  it('recovers when the API revokes its token', async () => {
    const api = axios.create({ baseURL: sandbox.baseUrl });
    attachTokenManager(api, manager);
    await api.get('/api/v2/cards');
    sandbox.revokeAccessTokens();
    const response = await api.get('/api/v2/cards');
    expect(response.status).toBe(200);
    expect(sandbox.counters()).toMatchObject({ authenticate: 1, refresh: 1, resource401s: 1 });
  });
});
describe('docs: alixHandlers() example', () => {
  const alix = alixHandlers({ baseUrl: 'https://alix.example.test' });
  const server = setupServer(...alix);
  beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
  afterAll(() => server.close());
  it('rides out a 503 from the auth server', async () => {
    const manager = new TokenManager({
      provider: new AlixAuthProvider({
        baseUrl: alix.baseUrl,
        partnerCode: alix.core.partnerCode,
        secretKey: alix.core.secretKey,
        privateKey: alix.core.privateKeyPem,
      }),
    });
    const api = axios.create({ baseURL: alix.baseUrl });
    attachTokenManager(api, manager);
    alix.core.injectFaults(1, { type: 'status', status: 503 });
    const response = await api.get('/api/v2/cards');
    expect(response.status).toBe(200);
    expect(alix.core.counters().authenticate).toBe(2);
    manager.close();
  });
});
describe('docs: per-user tokens example', () => {
  it('sends each user’s own bearer, checked by the sandbox through X-Alix-User', async () => {
    const sandbox = await startAlixSandbox({ accessTokenTtlMs: 60_000 });
    const pool = new TokenManagerPool({
      createProvider: AlixAuthProvider.forUsers({
        baseUrl: sandbox.baseUrl,
        partnerCode: sandbox.partnerCode,
        secretKey: sandbox.secretKey,
        privateKey: sandbox.privateKeyPem,
      }),
    });
    try {
      const api = axios.create({ baseURL: sandbox.baseUrl });
      attachTokenManager(api, pool);
      for (const user of ['jane@example.com', 'li@example.com']) {
        await api.get('/api/v2/cards', { alixSession: user, headers: { [SANDBOX_USER_HEADER]: user } });
      }
      expect(sandbox.authCallsFor('jane@example.com')).toEqual({ authenticate: 1, refresh: 0 });
      expect(sandbox.userCounters().resourceUserMismatches).toBe(0);
      await expect(
        api.get('/api/v2/cards', {
          alixSession: 'jane@example.com',
          headers: { [SANDBOX_USER_HEADER]: 'li@example.com' },
        }),
      ).rejects.toMatchObject({
        response: { status: 403 },
      });
    } finally {
      pool.close();
      await sandbox.close();
    }
  });
});
