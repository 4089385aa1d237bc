import { AuthRejectedError, TokenManagerClosedError } from '../../src/errors';
import { flushUntil } from '../helpers/fake-provider';
import { makeManager, useFakeClock } from '../helpers/manager';

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
});
