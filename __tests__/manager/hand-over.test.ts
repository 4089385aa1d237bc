import { AuthRejectedError } from '../../src/errors';
import { MemoryTokenStore } from '../../src/stores/memory';
import type { StoredSession } from '../../src/stores/types';
import { flushPromises, flushUntil, makeTokenSet } from '../helpers/fake-provider';
import { T0, lifecycleOf, makeManager, minutes, useFakeClock } from '../helpers/manager';

describe('TokenManager hand-overs and the wall clock', () => {
  beforeEach(() => useFakeClock());
  afterEach(() => jest.useRealTimers());

  it('drops a hand-over read that a run of its own overtook (never installs an older session over it)', async () => {
    const store = new MemoryTokenStore({ now: () => Date.now(), breaker: false });
    let announce: (() => void) | undefined;
    let held: ((session: StoredSession) => void) | undefined;
    let pending = false;
    const get = store.get.bind(store);
    Object.assign(store, {
      watch: (_key: string, onPublished: () => void) => {
        announce = onPublished;
        return () => undefined;
      },
      // Holds the next read (the hand-over's) until the test answers it.
      get: (key: string) =>
        held === undefined && announce !== undefined && pending
          ? new Promise<StoredSession>((resolve) => {
              pending = false;
              held = resolve;
            })
          : get(key),
    });
    const { manager } = makeManager({ store });
    expect(await manager.getAccessToken()).toBe('access-1');
    pending = true;
    announce?.();
    await flushUntil(() => held !== undefined);
    jest.setSystemTime(T0 + minutes(1));
    // A run of this manager ends meanwhile with access-2 (expires at 16 min).
    expect(await manager.getAccessToken({ forceRefresh: true })).toBe('access-2');
    // The hand-over's read now answers with a session newer than access-1 but older than access-2.
    const published = makeTokenSet(T0, { accessToken: 'published', expiresInMs: minutes(15) + 30_000 });
    held?.({ identity: 'unidentified', tokens: published });
    await flushPromises();
    expect(await manager.getAccessToken()).toBe('access-2');
    manager.close();
  });

  it('reports fail-fast-entered untilAt on the wall clock when the timeline differs from it', async () => {
    // No injected `now`: the manager keeps a monotonic timeline, which a wall clock stepped back does not follow.
    const { manager, provider } = makeManager({ now: undefined, rejectedBackoffMs: 30_000 });
    const events = lifecycleOf(manager);
    jest.setSystemTime(T0 - minutes(60));
    provider.script.push(new AuthRejectedError({ operation: 'authenticate', status: 400, errorCode: 32 }));
    await expect(manager.getAccessToken()).rejects.toBeInstanceOf(AuthRejectedError);
    expect(events.find((event) => event.type === 'fail-fast-entered')).toMatchObject({
      at: T0 - minutes(60),
      untilAt: T0 - minutes(60) + 30_000,
    });
    manager.close();
  });
});
