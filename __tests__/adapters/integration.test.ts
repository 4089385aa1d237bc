import http from 'node:http';
import axios from 'axios';
import { attachTokenManager } from '../../src/adapters/axios';
import { createAuthorizedFetch } from '../../src/adapters/fetch';
import { AlixAuthProvider } from '../../src/providers/alix/provider';
import { startAlixSandbox } from '../../src/sandbox/server';
import type { AlixSandbox } from '../../src/sandbox/server';
import { TokenManager } from '../../src/manager/token-manager';

/** The real manager, provider and sandbox under the adapters: the SPEC's concurrency contract. */
describe('adapters with a real TokenManager and the sandbox', () => {
  let sandbox: AlixSandbox;
  let manager: TokenManager;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  beforeAll(async () => {
    sandbox = await startAlixSandbox();
  });
  beforeEach(() => {
    manager = new TokenManager({
      provider: new AlixAuthProvider({
        baseUrl: sandbox.url,
        partnerCode: sandbox.partnerCode,
        secretKey: sandbox.secretKey,
        privateKey: sandbox.privateKeyPem,
      }),
    });
  });
  afterEach(() => manager.close());
  afterAll(async () => {
    agent.destroy();
    await sandbox.close();
  });

  it('turns 200 concurrent 401s after a revocation into 1 refresh and 200 successes, each request sent at most twice', async () => {
    const api = axios.create({ baseURL: sandbox.url, httpAgent: agent });
    attachTokenManager(api, manager);
    await api.get('/api/v2/cards');
    sandbox.revokeAccessTokens();
    sandbox.resetCounters();

    const results = await Promise.allSettled(Array.from({ length: 200 }, () => api.get('/api/v2/cards')));

    const counters = sandbox.counters();
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(200);
    expect(counters.refresh + counters.authenticate).toBe(1);
    expect(counters.resource401s).toBeGreaterThan(0);
    expect(counters.resource401s).toBeLessThanOrEqual(200);
    expect(counters.resourceRequests).toBe(200 + counters.resource401s);
  });

  it('shares one refresh between two instances attached to the same manager', async () => {
    const first = axios.create({ baseURL: sandbox.url, httpAgent: agent });
    const second = axios.create({ baseURL: sandbox.url, httpAgent: agent });
    attachTokenManager(first, manager);
    attachTokenManager(second, manager);
    await first.get('/api/v2/cards');
    sandbox.revokeAccessTokens();
    sandbox.resetCounters();
    await Promise.all([first.get('/api/v2/cards'), second.get('/api/v2/cards'), first.get('/api/v2/cards')]);
    expect(sandbox.counters().refresh).toBe(1);
  });

  it('does the same through the fetch wrapper', async () => {
    const authorizedFetch = createAuthorizedFetch(manager, { origins: [sandbox.url] });
    await authorizedFetch(`${sandbox.url}/api/v2/cards`);
    sandbox.revokeAccessTokens();
    sandbox.resetCounters();
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => authorizedFetch(`${sandbox.url}/api/v2/cards`)),
    );
    expect(responses.map((response) => response.status)).toEqual(Array(50).fill(200));
    expect(sandbox.counters().refresh).toBe(1);
  });
});
