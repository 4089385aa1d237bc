import { AuthRejectedError, TokenManagerClosedError } from '../../src/errors';
import { flushUntil } from '../helpers/fake-provider';
import { lifecycleOf, makeManager, useFakeClock } from '../helpers/manager';

describe('TokenManager close({ drainMs })', () => {
  beforeEach(() => useFakeClock());
  afterEach(() => jest.useRealTimers());

  it('resolves when the drained run fails: a deploy never sees close() reject', async () => {
    const { manager, provider } = makeManager({}, { manual: true });
    provider.script.push(new AuthRejectedError({ operation: 'authenticate', status: 400, errorCode: 32 }));
    const caller = manager.getAccessToken();
    await flushUntil(() => provider.pendingCount === 1);
    const closed = manager.close({ drainMs: 5_000 });
    provider.release();
    await expect(caller).rejects.toBeInstanceOf(AuthRejectedError);
    await expect(closed).resolves.toBeUndefined();
    expect(manager.status().state).toBe('closed');
  });

  it('resolves at drainMs when the run outlasts it, and ends the run as closed', async () => {
    const { manager, provider } = makeManager({}, { manual: true });
    const caller = manager.getAccessToken();
    caller.catch(() => undefined);
    await flushUntil(() => provider.pendingCount === 1);
    const closed = manager.close({ drainMs: 5_000 });
    await jest.advanceTimersByTimeAsync(5_000);
    await expect(closed).resolves.toBeUndefined();
    expect(manager.status().state).toBe('closed');
    await expect(caller).rejects.toBeInstanceOf(TokenManagerClosedError);
  });

  it('starts no second run when a listener of the drained run reports its token: close() follows', async () => {
    const { manager, provider } = makeManager({}, { manual: true });
    const events = lifecycleOf(manager);
    const results: string[] = [];
    manager.on('refreshed', () => results.push(manager.invalidate()));
    const caller = manager.getAccessToken();
    await flushUntil(() => provider.pendingCount === 1);
    const closed = manager.close({ drainMs: 5_000 });
    provider.release();
    await expect(caller).resolves.toEqual(expect.any(String));
    await expect(closed).resolves.toBeUndefined();
    expect(results).toEqual(['refreshing']);
    expect(events.filter((event) => event.type === 'refresh-started')).toHaveLength(1);
    expect(provider.calls).toHaveLength(1);
  });
});
