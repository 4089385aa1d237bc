import diagnosticsChannel from 'node:diagnostics_channel';
import { AlixAuthProvider } from '../../src/providers/alix/provider';
import { TokenManager } from '../../src/manager/token-manager';
import type { TokenManagerOptions } from '../../src/manager/options';
import type { LifecycleEvent } from '../../src/manager/types';
import type { DiagnosticsMessage } from '../../src/manager/lifecycle';
import { startAlixSandbox } from '../../src/sandbox/server';
import { MemoryTokenStore } from '../../src/stores/memory';
import type { StoredSession } from '../../src/stores/types';
import type { AlixSandbox } from '../../src/sandbox/server';

const INSTANT = { minDelayMs: 0, maxDelayMs: 0, randomize: false, retries: 2 };

/** The real provider against the sandbox; real timers, time moved only by the sandbox's clock. */
describe('TokenManager lifecycle, status and health against the sandbox', () => {
  let sandbox: AlixSandbox;
  let manager: TokenManager;
  let events: LifecycleEvent[];

  const start = (options: Partial<TokenManagerOptions> = {}): TokenManager => {
    manager = new TokenManager({
      provider: new AlixAuthProvider({
        baseUrl: sandbox.url,
        partnerCode: sandbox.partnerCode,
        secretKey: sandbox.secretKey,
        privateKey: sandbox.privateKeyPem,
      }),
      retry: INSTANT,
      ...options,
    });
    events = [];
    manager.on('lifecycle', (event) => events.push(event));
    return manager;
  };
  const types = (): string[] => events.map((event) => event.type);

  beforeAll(async () => {
    sandbox = await startAlixSandbox();
  });
  afterEach(() => {
    manager.close();
    sandbox.clearFaults();
  });
  afterAll(() => sandbox.close());

  describe('health()', () => {
    it('is ok with a fresh token and no failure', async () => {
      await start().getAccessToken();
      expect(manager.health()).toEqual({ status: 'ok', reasons: [] });
    });

    it('is degraded while background refreshes fail but a valid token is held', async () => {
      await start().getAccessToken();
      sandbox.injectFaults(10, { type: 'status', status: 503 });
      await expect(manager.getAccessToken({ forceRefresh: true })).rejects.toMatchObject({
        code: 'ERR_ALIX_AUTH_UNAVAILABLE',
      });
      expect(manager.health()).toEqual({
        status: 'degraded',
        reasons: ['background refresh failing: ERR_ALIX_AUTH_UNAVAILABLE'],
      });
      expect(await manager.getAccessToken()).toEqual(expect.any(String));
    });

    it('is degraded when the token has less than minValidityMs left', async () => {
      await start().getAccessToken();
      expect(manager.health({ minValidityMs: 60 * 60_000 }).status).toBe('degraded');
    });

    it('is degraded while the last token set could not be stored, and ok again once one is', async () => {
      let failing = true;
      class FailingStore extends MemoryTokenStore {
        override set(key: string, session: StoredSession): Promise<void> {
          return failing ? Promise.reject(new Error('READONLY replica')) : super.set(key, session);
        }
      }
      await start({ store: new FailingStore() }).getAccessToken();
      expect(manager.health()).toEqual({
        status: 'degraded',
        reasons: ['the token set is not stored: READONLY replica'],
      });
      failing = false;
      await manager.getAccessToken({ forceRefresh: true });
      expect(manager.health()).toEqual({ status: 'ok', reasons: [] });
    });

    it('is down when no valid token is held and the last sign-in failed', async () => {
      sandbox.injectFaults(1, { type: 'reject', errorCode: 12, endpoint: 'authenticate' });
      await expect(start().getAccessToken()).rejects.toMatchObject({ code: 'ERR_ALIX_AUTH_REJECTED' });
      expect(manager.health()).toEqual({
        status: 'down',
        reasons: ['no valid token; the last attempt failed: ERR_ALIX_AUTH_REJECTED'],
      });
    });
  });

  describe('status()', () => {
    it('reports integer times, the next attempt after a failure, and failure/retry/invalidation counters', async () => {
      await start().getAccessToken();
      sandbox.injectFaults(3, { type: 'status', status: 503 });
      await manager.getAccessToken({ forceRefresh: true }).catch(() => undefined);
      manager.invalidate(await manager.getAccessToken());
      await manager.getAccessToken();
      const status = manager.status();
      for (const key of ['accessTokenExpiresAt', 'refreshTokenExpiresAt', 'nextRefreshAt', 'lastRefreshAt'] as const) {
        expect(Number.isInteger(status[key])).toBe(true);
      }
      expect(status).toMatchObject({
        counts: { failures: 1, retries: 2, invalidations: 1 },
        refreshCount: 2,
        // No failure since the last success, so no next attempt planned.
        lastError: null,
      });
    });

    it('plans lastError.nextAttemptAt in the future after a failed background refresh', async () => {
      await start().getAccessToken();
      sandbox.injectFaults(3, { type: 'status', status: 503 });
      const before = Date.now();
      await manager.getAccessToken({ forceRefresh: true }).catch(() => undefined);
      const nextAttemptAt = manager.status().lastError?.nextAttemptAt;
      expect(nextAttemptAt).toBeGreaterThanOrEqual(before + 5_000);
      expect(nextAttemptAt).toBeLessThanOrEqual(Date.now() + 5_000);
    });
  });

  describe('the lifecycle stream', () => {
    it('reports a run with its reason, outcome, duration and attempts, retries, and the auth calls', async () => {
      await start().getAccessToken();
      sandbox.injectFaults(1, { type: 'status', status: 503, endpoint: 'refresh' });
      await manager.getAccessToken({ forceRefresh: true });
      const ended = events.filter((event) => event.type === 'refresh-ended');
      expect(ended).toEqual([
        expect.objectContaining({
          reason: 'initial',
          outcome: 'signed-in',
          attempts: 1,
          durationMs: expect.any(Number),
        }),
        expect.objectContaining({ reason: 'forced', outcome: 'refreshed', attempts: 2 }),
      ]);
      expect(events).toContainEqual(
        expect.objectContaining({
          type: 'retry-scheduled',
          operation: 'refresh',
          attempt: 1,
          errorCode: 'ERR_ALIX_AUTH_UNAVAILABLE',
          background: false,
        }),
      );
      expect(types().filter((type) => type === 'auth-call-ended')).toHaveLength(3);
    });

    it('reports invalidation, replay, fail-fast and close', async () => {
      const token = await start().getAccessToken();
      manager.invalidate(token);
      manager.recordReplay({ adapter: 'axios', status: 401, method: 'get', origin: sandbox.url });
      await manager.getAccessToken();
      manager.close();
      expect(types()).toEqual(expect.arrayContaining(['invalidated', 'replayed', 'closed']));
      start();
      sandbox.injectFaults(1, { type: 'reject', errorCode: 12, endpoint: 'authenticate' });
      await manager.getAccessToken().catch(() => undefined);
      expect(types()).toContain('fail-fast-entered');
    });

    it('publishes on diagnostics channels named alix-token-manager:<type>, only while subscribed', async () => {
      const seen: DiagnosticsMessage[] = [];
      const listener = (message: unknown): void => void seen.push(message as DiagnosticsMessage);
      diagnosticsChannel.subscribe('alix-token-manager:refresh-ended', listener);
      try {
        await start().getAccessToken();
      } finally {
        diagnosticsChannel.unsubscribe('alix-token-manager:refresh-ended', listener);
      }
      expect(seen).toEqual([
        { event: expect.objectContaining({ type: 'refresh-ended', outcome: 'signed-in' }), source: manager },
      ]);
      await manager.getAccessToken({ forceRefresh: true });
      expect(seen).toHaveLength(1);
    });

    it('never carries a token, signature or key', async () => {
      const published: unknown[] = [];
      const listener = (message: unknown): void => void published.push((message as DiagnosticsMessage).event);
      diagnosticsChannel.subscribe('alix-token-manager:refresh-started', listener);
      try {
        const first = await start().getAccessToken();
        manager.invalidate(first);
        const second = await manager.getAccessToken();
        const text = JSON.stringify([events, published, manager.status(), manager.health()]);
        for (const secret of [first, second, sandbox.secretKey, sandbox.privateKeyPem.split('\n')[1] as string])
          expect(text).not.toContain(secret);
      } finally {
        diagnosticsChannel.unsubscribe('alix-token-manager:refresh-started', listener);
      }
    });

    it('recovers a refresh whose answer was lost after the server spent the token: one fallback sign-in', async () => {
      await start().getAccessToken();
      sandbox.injectFaults(1, { type: 'reset', afterProcessing: true, endpoint: 'refresh' });
      expect(await manager.getAccessToken({ forceRefresh: true })).toEqual(expect.any(String));
      expect(manager.status()).toMatchObject({
        counts: { ambiguousRefreshes: 1, signIns: 2 },
        refreshTokenRejections: { current: true },
      });
    });
  });
});
