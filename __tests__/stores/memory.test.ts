import NodeCache from 'node-cache';
import { MemoryTokenStore } from '../../src/stores/memory';
import { makeTokenSet } from '../helpers/fake-provider';
import { T0, useFakeClock } from '../helpers/manager';

describe('MemoryTokenStore', () => {
  beforeEach(() => useFakeClock());
  afterEach(() => jest.useRealTimers());

  it('returns what was set and forgets it on delete', async () => {
    const store = new MemoryTokenStore();
    const tokens = makeTokenSet(T0);
    await store.set(tokens);
    expect(await store.get()).toEqual(tokens);
    await store.delete();
    expect(await store.get()).toBeUndefined();
  });

  it('drops the session when the refresh token expires', async () => {
    const store = new MemoryTokenStore();
    await store.set(makeTokenSet(T0, { refreshTokenExpiresAt: T0 + 10_000 }));
    jest.setSystemTime(T0 + 9_000);
    expect(await store.get()).toBeDefined();
    jest.setSystemTime(T0 + 10_001);
    expect(await store.get()).toBeUndefined();
  });

  it('keeps sessions apart by key in a shared cache and arms no timer of its own', async () => {
    const cache = new NodeCache({ useClones: false, checkperiod: 0 });
    const timersBefore = jest.getTimerCount();
    const first = new MemoryTokenStore({ cache, key: 'a' });
    const second = new MemoryTokenStore({ cache, key: 'b' });
    await first.set(makeTokenSet(T0, { accessToken: 'first' }));
    expect(await second.get()).toBeUndefined();
    expect((await first.get())?.accessToken).toBe('first');
    expect(jest.getTimerCount()).toBe(timersBefore);
  });
});
