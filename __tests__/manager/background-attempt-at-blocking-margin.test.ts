import { AuthRejectedError, AuthUnavailableError } from '../../src/errors';
import type { LifecycleEventOf } from '../../src/manager/types';
import { lifecycleOf, makeManager, minutes, useFakeClock } from '../helpers/manager';

/**
 * A failed background run plans its next attempt no later than the blocking margin (blockAt) and
 * announces it with `retry-scheduled` (background: true). The attempt announced must be made.
 */
describe('TokenManager background attempt planned at the blocking margin', () => {
  beforeEach(() => useFakeClock());
  afterEach(() => jest.useRealTimers());

  const scheduled = (events: ReturnType<typeof lifecycleOf>): Array<LifecycleEventOf<'retry-scheduled'>> =>
    events.filter((event): event is LifecycleEventOf<'retry-scheduled'> => event.type === 'retry-scheduled');

  it("is made when a transient failure's backoff reaches past it", async () => {
    // A 15-minute token: refresh point at 10 min, blockAt at 15 min − 10 s; a 10-minute background backoff.
    const backoff = { retries: 0, backgroundMinDelayMs: minutes(10), backgroundMaxDelayMs: minutes(10) };
    const { manager, provider } = makeManager({ retry: backoff });
    const events = lifecycleOf(manager);
    await manager.getAccessToken();
    provider.script.push(new AuthUnavailableError({ operation: 'refresh', reason: 'http', status: 503 }));
    await jest.advanceTimersByTimeAsync(minutes(10));
    expect(provider.calls.map((call) => call.kind)).toEqual(['authenticate', 'refresh']);
    const [planned] = scheduled(events);
    expect(planned).toMatchObject({ background: true, delayMs: minutes(5) - 10_000 });
    await jest.advanceTimersByTimeAsync(minutes(5) - 10_000);
    expect(provider.calls.map((call) => call.kind)).toEqual(['authenticate', 'refresh', 'refresh']);
    manager.close();
  });

  it("is made when a rejected sign-in's fail-fast lasts past it", async () => {
    const { manager, provider } = makeManager({ rejectedBackoffMs: minutes(10) });
    const events = lifecycleOf(manager);
    await manager.getAccessToken();
    provider.script.push(
      new AuthRejectedError({ operation: 'refresh', status: 400, errorCode: 32 }),
      new AuthRejectedError({ operation: 'authenticate', status: 400, errorCode: 32 }),
    );
    await jest.advanceTimersByTimeAsync(minutes(10));
    expect(provider.calls.map((call) => call.kind)).toEqual(['authenticate', 'refresh', 'authenticate']);
    const [planned] = scheduled(events);
    expect(planned).toMatchObject({ background: true, delayMs: minutes(5) - 10_000 });
    await jest.advanceTimersByTimeAsync(minutes(5) - 10_000);
    expect(provider.calls).toHaveLength(4);
    manager.close();
  });
});
