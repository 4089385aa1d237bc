/**
 * The manager's contract with the Alix auth API (SPEC §2, §4), run with the real TokenManager
 * and AlixAuthProvider against the sandbox as the page's sample reads and as each of its tables
 * reads (the `strict` modes), over both front ends: whichever reading Alix enforces, a session
 * signs in once, refreshes with its user, follows rotation, corrects skew and falls back.
 */
import { setupServer } from 'msw/node';
import { TokenManager } from '../../src/manager/token-manager';
import { AlixAuthProvider } from '../../src/providers/alix/provider';
import {
  generatePartnerKeyPairSync,
  SANDBOX_USER_HEADER,
  startAlixSandbox,
  type AlixSandboxControl,
  type AlixSandboxOptions,
} from '../../src/sandbox';
import { alixHandlers } from '../../src/sandbox/msw';

const USER = 'jane@example.com';
const TTL_MS = 15 * 60_000;
const keys = generatePartnerKeyPairSync();

interface Harness {
  baseUrl: string;
  control: AlixSandboxControl;
  partnerCode: string;
  secretKey: string;
}
type Start = (options: AlixSandboxOptions) => Promise<Harness>;

function overHttp(): Start {
  const running: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((sandbox) => sandbox.close()));
  });
  return async (options) => {
    const sandbox = await startAlixSandbox(options);
    running.push(sandbox);
    const { baseUrl, partnerCode, secretKey } = sandbox;
    return { baseUrl, control: sandbox, partnerCode, secretKey };
  };
}

function overMsw(): Start {
  const server = setupServer();
  beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
  afterEach(() => server.resetHandlers());
  afterAll(() => server.close());
  return async (options) => {
    const alix = alixHandlers({ baseUrl: 'https://alix.contract.test', ...options });
    server.use(...alix);
    const { partnerCode, secretKey } = alix.core;
    return { baseUrl: alix.baseUrl, control: alix.core, partnerCode, secretKey };
  };
}

describe.each([
  { transport: 'node:http server', setup: overHttp },
  { transport: 'msw handlers', setup: overMsw },
])('TokenManager + AlixAuthProvider over the sandbox ($transport)', ({ setup }) => {
  const start = setup();
  const managers: TokenManager[] = [];
  afterEach(() => {
    for (const manager of managers.splice(0)) manager.close();
  });

  describe.each([
    { reading: 'the sample (default)', strict: {} },
    { reading: 'the refresh field table (strict.refreshUserEmail)', strict: { refreshUserEmail: true } },
    { reading: 'the response table (strict.datetimeExpiries)', strict: { datetimeExpiries: true } },
    { reading: 'both tables', strict: { refreshUserEmail: true, datetimeExpiries: true } },
  ])('as $reading reads the page', ({ strict }) => {
    async function begin(options: AlixSandboxOptions = {}): Promise<{ h: Harness; manager: TokenManager }> {
      const h = await start({ privateKeyPem: keys.privateKeyPem, accessTokenTtlMs: TTL_MS, strict, ...options });
      const provider = new AlixAuthProvider({
        baseUrl: h.baseUrl,
        partnerCode: h.partnerCode,
        secretKey: h.secretKey,
        privateKey: keys.privateKeyPem,
        userEmail: USER,
      });
      const manager = new TokenManager({ provider });
      managers.push(manager);
      return { h, manager };
    }

    async function cardsStatus(h: Harness, token: string): Promise<number> {
      const response = await fetch(`${h.baseUrl}/api/v2/cards`, {
        headers: { Authorization: `Bearer ${token}`, [SANDBOX_USER_HEADER]: USER },
      });
      await response.arrayBuffer();
      return response.status;
    }

    it("signs in once for the user and serves a token the API accepts as the user's", async () => {
      const { h, manager } = await begin();

      const tokens = await Promise.all(Array.from({ length: 10 }, () => manager.getAccessToken()));

      expect(new Set(tokens).size).toBe(1);
      expect(h.control.authCallsFor(USER)).toEqual({ authenticate: 1, refresh: 0 });
      expect(await cardsStatus(h, tokens[0] ?? '')).toBe(200);
    });

    it('refreshes with the refresh token and the user, without signing in again', async () => {
      const { h, manager } = await begin();
      const first = await manager.getAccessToken();

      const second = await manager.getAccessToken({ forceRefresh: true });

      expect(second).not.toBe(first);
      expect(h.control.authCallsFor(USER)).toEqual({ authenticate: 1, refresh: 1 });
      expect(h.control.counters().authFailures).toBe(0);
      expect(await cardsStatus(h, second)).toBe(200);
    });

    it('follows refresh-token rotation: each refresh spends the newest refresh token', async () => {
      const { h, manager } = await begin();
      await manager.getAccessToken();

      for (let i = 0; i < 3; i += 1) await manager.getAccessToken({ forceRefresh: true });

      expect(h.control.authCallsFor(USER)).toEqual({ authenticate: 1, refresh: 3 });
      expect(h.control.counters().authFailures).toBe(0);
    });

    it("places the expiry on the local clock when the server's clock runs 10 minutes ahead", async () => {
      const { manager } = await begin({ now: () => Date.now() + 10 * 60_000 });
      const before = Date.now();

      await manager.getAccessToken();
      const expiresAt = manager.status().accessTokenExpiresAt ?? 0;

      expect(expiresAt).toBeGreaterThanOrEqual(before + TTL_MS - 2_000);
      expect(expiresAt).toBeLessThanOrEqual(Date.now() + TTL_MS + 2_000);
    });

    it('falls back to one sign-in when the API rejects the refresh token', async () => {
      const { h, manager } = await begin();
      await manager.getAccessToken();
      h.control.revokeRefreshTokens(USER);

      const token = await manager.getAccessToken({ forceRefresh: true });

      expect(h.control.authCallsFor(USER)).toEqual({ authenticate: 2, refresh: 1 });
      expect(await cardsStatus(h, token)).toBe(200);
    });
  });
});
