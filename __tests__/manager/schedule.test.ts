import { TokenManager } from '../../src/manager/token-manager';
import { FakeProvider } from '../helpers/fake-provider';
import { INSTANT_RETRY, T0, makeManager, minutes, useFakeClock } from '../helpers/manager';

describe('TokenManager', () => {
  afterEach(() => jest.useRealTimers());

  describe('proactive refresh', () => {
    beforeEach(() => useFakeClock());

    it('refreshes exactly at the refresh point and not 1 ms before it', async () => {
      const { manager, provider } = makeManager();
      await manager.getAccessToken();
      await jest.advanceTimersByTimeAsync(minutes(10) - 1);
      expect(provider.calls).toHaveLength(1);
      await jest.advanceTimersByTimeAsync(1);
      expect(provider.calls).toHaveLength(2);
      expect(provider.calls[1]).toMatchObject({ kind: 'refresh', refreshToken: 'refresh-1' });
      manager.close();
    });

    it('opens the window at half the lifetime for tokens shorter than twice refreshBeforeExpiryMs', async () => {
      const { manager, provider } = makeManager({}, { accessTtlMs: 60_000 });
      await manager.getAccessToken();
      await jest.advanceTimersByTimeAsync(30_000 - 1);
      expect(provider.calls).toHaveLength(1);
      await jest.advanceTimersByTimeAsync(1);
      expect(provider.calls).toHaveLength(2);
      manager.close();
    });

    it('uses each newest refresh token exactly once over 5 rotations', async () => {
      const { manager, provider } = makeManager();
      await manager.getAccessToken();
      await jest.advanceTimersByTimeAsync(minutes(10) * 5);
      expect(provider.usedRefreshTokens).toEqual(['refresh-1', 'refresh-2', 'refresh-3', 'refresh-4', 'refresh-5']);
      expect(await manager.getAccessToken()).toBe('access-6');
      manager.close();
    });

    it('refreshes once per 10 minutes for 24 simulated hours of 15-minute tokens; timers, listeners flat', async () => {
      const { manager, provider } = makeManager({ refreshBeforeExpiryMs: minutes(5) });
      let refreshed = 0;
      manager.on('refreshed', () => (refreshed += 1));
      await manager.getAccessToken();
      const timersAfterStart = jest.getTimerCount();
      const listenersAfterStart = manager.eventNames().map((name) => manager.listenerCount(name));
      await jest.advanceTimersByTimeAsync(minutes(24 * 60));
      // Each token is replaced 5 minutes before its 15 are up: 24 h / 10 min = 144 refreshes.
      expect(provider.authenticateCount).toBe(1);
      expect(provider.refreshCount).toBe(144);
      expect(refreshed).toBe(145);
      expect(jest.getTimerCount()).toBe(timersAfterStart);
      expect(manager.eventNames().map((name) => manager.listenerCount(name))).toEqual(listenersAfterStart);
      manager.close();
    });

    it('refreshes 96 times in 24 simulated hours when tokens are replaced every 15 minutes', async () => {
      const { manager, provider } = makeManager({ refreshBeforeExpiryMs: minutes(5) }, { accessTtlMs: minutes(20) });
      await manager.getAccessToken();
      await jest.advanceTimersByTimeAsync(minutes(24 * 60));
      expect(provider.authenticateCount).toBe(1);
      expect(provider.refreshCount).toBe(96);
      manager.close();
    });

    it('applies a random jitter that moves the refresh later but inside the window', async () => {
      const { manager, provider } = makeManager({ refreshJitterMs: 60_000, random: () => 0.5 });
      await manager.getAccessToken();
      await jest.advanceTimersByTimeAsync(minutes(10) + 30_000 - 1);
      expect(provider.calls).toHaveLength(1);
      await jest.advanceTimersByTimeAsync(1);
      expect(provider.calls).toHaveLength(2);
      manager.close();
    });
  });

  describe('clock skew', () => {
    afterEach(() => jest.useRealTimers());

    it.each([
      ['5 minutes fast', minutes(5)],
      ['5 minutes slow', -minutes(5)],
    ])('counts the lifetime from the server time when the local clock is %s', async (_label, offsetMs) => {
      useFakeClock();
      const serverNow = (): number => Date.now();
      const provider = new FakeProvider({ now: serverNow });
      const issue = provider.issue.bind(provider);
      provider.issue = () => ({ ...issue(), serverTime: serverNow() });
      const manager = new TokenManager({
        provider,
        now: () => Date.now() + offsetMs,
        refreshJitterMs: 0,
        retry: INSTANT_RETRY,
      });
      await manager.getAccessToken();
      expect(manager.status().accessTokenExpiresAt).toBe(T0 + offsetMs + minutes(15));
      await jest.advanceTimersByTimeAsync(minutes(10) - 1);
      expect(provider.calls).toHaveLength(1);
      await jest.advanceTimersByTimeAsync(1);
      expect(provider.calls).toHaveLength(2);
      manager.close();
    });
  });

  describe('close()', () => {
    it('clears its timers, and every timer it armed was unref()ed', async () => {
      const live = new Set<NodeJS.Timeout>();
      const armed: NodeJS.Timeout[] = [];
      const timers = {
        setTimeout: (callback: () => void, delayMs: number) => {
          const handle = setTimeout(() => {
            live.delete(handle);
            callback();
          }, delayMs);
          live.add(handle);
          armed.push(handle);
          return handle;
        },
        clearTimeout: (handle: unknown) => {
          live.delete(handle as NodeJS.Timeout);
          clearTimeout(handle as NodeJS.Timeout);
        },
      };
      const { manager } = makeManager({ timers }, { now: () => Date.now() });
      await manager.getAccessToken();
      expect(live.size).toBe(1);
      manager.close();
      expect(live.size).toBe(0);
      expect(armed.every((handle) => !handle.hasRef())).toBe(true);
    });

    it('rejects later calls with a typed closed error', async () => {
      const { manager } = makeManager();
      manager.close();
      await expect(manager.getAccessToken()).rejects.toMatchObject({ code: 'ERR_ALIX_MANAGER_CLOSED' });
      expect(manager.status().state).toBe('closed');
    });

    it('stops serving the held token once closed', async () => {
      const { manager } = makeManager();
      await manager.getAccessToken();
      manager.close();
      await expect(manager.getAccessToken()).rejects.toMatchObject({ code: 'ERR_ALIX_MANAGER_CLOSED' });
    });

    it('rejects callers waiting on a refresh it cancels', async () => {
      useFakeClock();
      const { manager } = makeManager({}, { manual: true });
      const waiting = manager.getAccessToken();
      await Promise.resolve();
      manager.close();
      await expect(waiting).rejects.toMatchObject({ name: 'TokenManagerClosedError' });
    });
  });
});
