import { flushUntil } from '../helpers/fake-provider';
import { makeManager, useFakeClock } from '../helpers/manager';

describe('TokenManager', () => {
  beforeEach(() => useFakeClock());
  afterEach(() => jest.useRealTimers());

  describe('invalidate()', () => {
    it('turns 1,000 reports of the same rejected token into one refresh', async () => {
      const { manager, provider } = makeManager();
      const rejected = await manager.getAccessToken();
      for (let index = 0; index < 1000; index += 1) manager.invalidate(rejected);
      const tokens = await Promise.all(Array.from({ length: 1000 }, () => manager.getAccessToken()));
      expect(provider.refreshCount).toBe(1);
      expect(new Set(tokens)).toEqual(new Set(['access-2']));
      manager.close();
    });

    it('ignores a late report of a token that was already replaced', async () => {
      const { manager, provider } = makeManager();
      const old = await manager.getAccessToken();
      await manager.getAccessToken({ forceRefresh: true });
      const started: string[] = [];
      manager.on('lifecycle', (event) => started.push(event.type));
      expect(manager.invalidate(old)).toBe('stale');
      expect(started).not.toContain('refresh-started');
      expect(provider.refreshCount).toBe(1);
      expect(await manager.getAccessToken()).toBe('access-2');
      manager.close();
    });

    it('stops serving the rejected token: callers wait for the new one', async () => {
      const { manager, provider } = makeManager();
      const rejected = await manager.getAccessToken();
      provider.options.manual = true;
      manager.invalidate(rejected);
      let received: string | undefined;
      const caller = manager.getAccessToken().then((token) => (received = token));
      // The provider holds the refresh until released, so nothing but the rejected token could be served now.
      await flushUntil(() => provider.calls.length === 2);
      expect(received).toBeUndefined();
      provider.release();
      await caller;
      expect(received).toBe('access-2');
      manager.close();
    });

    it('invalidates whatever is held when called without a token', async () => {
      const { manager, provider } = makeManager();
      await manager.getAccessToken();
      manager.invalidate();
      expect(await manager.getAccessToken()).toBe('access-2');
      expect(provider.refreshCount).toBe(1);
      manager.close();
    });
  });
});
