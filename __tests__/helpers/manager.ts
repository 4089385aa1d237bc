import { TokenManager } from '../../src/manager/token-manager';
import type { InternalTokenManagerOptions } from '../../src/internal';
import type { LifecycleEvent } from '../../src/manager/types';
import { FakeProvider } from './fake-provider';
import type { FakeProviderOptions } from './fake-provider';

/** The start of every simulated day in these tests. */
export const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

/** Fake Date and timers only: msw and promise plumbing keep their real ticks. */
export function useFakeClock(now = T0): void {
  jest.useFakeTimers({ now, doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
}

/** Retries without delays, so failure tests need no timer advancing. */
export const INSTANT_RETRY = Object.freeze({ minDelayMs: 0, maxDelayMs: 0, randomize: false });

/**
 * A manager on the fake clock with deterministic windows (no jitter, instant retries). Its
 * clock is the (fake) wall clock, so `jest.setSystemTime()` moves the manager's time too;
 * without `now`, a manager tracks held tokens on the monotonic clock, which a wall-clock
 * step does not move (see the clock tests).
 */
export function makeManager(
  overrides: Partial<InternalTokenManagerOptions> = {},
  providerOptions: Partial<FakeProviderOptions> = {},
): { manager: TokenManager; provider: FakeProvider } {
  // An identity, so the manager may use a store the test passes in; its id keeps the default
  // store key `alix-token-manager:session:unidentified` the tests write sessions under.
  const provider =
    (overrides.provider as FakeProvider | undefined) ??
    new FakeProvider({ now: () => Date.now(), identity: { id: 'unidentified' }, ...providerOptions });
  const manager = new TokenManager({
    now: () => Date.now(),
    refreshJitterMs: 0,
    retry: INSTANT_RETRY,
    ...overrides,
    provider,
  });
  return { manager, provider };
}

/** Minutes as ms, for readable schedules. */
export const minutes = (count: number): number => count * 60_000;

/** Records every lifecycle event `manager` emits from now on. */
export function lifecycleOf(manager: TokenManager): LifecycleEvent[] {
  const events: LifecycleEvent[] = [];
  manager.on('lifecycle', (event) => events.push(event));
  return events;
}
