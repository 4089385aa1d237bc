/**
 * `timers` drives the backoffs (docs/token-lifecycle.md, "Clocks"): every retry wait, in the
 * foreground and in the background, is armed on the injected timers and passes only when the
 * injected clock moves. Jest's timers stay real here, so a wait armed on the globals would
 * neither show up on the manual clock nor pass when it advances.
 */
import { AuthUnavailableError } from '../../src/errors';
import { TokenManager } from '../../src/manager/token-manager';
import type { InternalTokenManagerOptions } from '../../src/internal';
import type { LifecycleEvent } from '../../src/manager/types';
import { FakeProvider, flushUntil } from '../helpers/fake-provider';
import { T0, minutes } from '../helpers/manager';
import { ManualClock } from '../helpers/manual-clock';

/** Delays no other timer of the manager uses, so they are told apart on the manual clock. */
const FOREGROUND_DELAY_MS = 7_001;
const BACKGROUND_DELAY_MS = 4_321;

const unavailable = (operation: 'authenticate' | 'refresh'): AuthUnavailableError =>
  new AuthUnavailableError({ operation, reason: 'http', status: 503 });

describe('TokenManager with injected now and timers (global timers real)', () => {
  let clock: ManualClock;
  let globalSetTimeout: jest.SpyInstance;
  let manager: TokenManager | undefined;

  beforeEach(() => {
    jest.useRealTimers();
    clock = new ManualClock(T0);
    globalSetTimeout = jest.spyOn(globalThis, 'setTimeout');
  });
  afterEach(() => {
    manager?.close();
    manager = undefined;
    globalSetTimeout.mockRestore();
  });

  function start(
    provider: FakeProvider,
    overrides: Partial<InternalTokenManagerOptions>,
  ): { manager: TokenManager; events: LifecycleEvent[] } {
    const options: InternalTokenManagerOptions = {
      provider,
      now: clock.now,
      timers: clock,
      refreshJitterMs: 0,
      ...overrides,
    };
    const created = new TokenManager(options);
    const events: LifecycleEvent[] = [];
    created.on('lifecycle', (event) => events.push(event));
    manager = created;
    return { manager: created, events };
  }

  /**
   * Nothing was armed on the real global timers: not the backoff, nor any other wait. (The
   * one global timer a waiting caller holds is `holdProcessOpen()`'s keep-alive interval,
   * which waits for nothing.)
   */
  const expectNoGlobalTimer = (): void => expect(globalSetTimeout).not.toHaveBeenCalled();

  it('sleeps a foreground retry on the injected timers, resuming only when the injected clock reaches it', async () => {
    const provider = new FakeProvider({ now: clock.now });
    provider.script.push(unavailable('authenticate'));
    const { manager: subject, events } = start(provider, {
      retry: { retries: 2, minDelayMs: FOREGROUND_DELAY_MS, maxDelayMs: FOREGROUND_DELAY_MS, randomize: false },
    });

    let token: string | undefined;
    let failure: unknown;
    // Settles either way: a test that fails early must not leave a rejection unhandled.
    const caller = subject.getAccessToken().then(
      (value) => (token = value),
      (error: unknown) => (failure = error),
    );
    await flushUntil(() => events.some((event) => event.type === 'retry-scheduled'));

    expect(events.find((event) => event.type === 'retry-scheduled')).toMatchObject({
      delayMs: FOREGROUND_DELAY_MS,
      background: false,
    });
    expect(clock.pending()).toContainEqual({ at: T0 + FOREGROUND_DELAY_MS, delayMs: FOREGROUND_DELAY_MS });
    expectNoGlobalTimer();

    clock.advance(FOREGROUND_DELAY_MS - 1);
    // Nothing came due: the second attempt has not started, and the wait is still armed.
    expect(provider.calls).toHaveLength(1);
    expect(clock.pending()).toContainEqual({ at: T0 + FOREGROUND_DELAY_MS, delayMs: FOREGROUND_DELAY_MS });

    clock.advance(1);
    await caller;
    expect(failure).toBeUndefined();
    expect(token).toBe('access-1');
    expect(provider.calls).toHaveLength(2);
    expectNoGlobalTimer();
  });

  it('arms a background retry on the injected timers after a failed proactive refresh, serving the token', async () => {
    const provider = new FakeProvider({ now: clock.now });
    const { manager: subject, events } = start(provider, {
      // One attempt per run: the wait after the failure is the background one alone.
      retry: { retries: 0, randomize: false, backgroundMinDelayMs: BACKGROUND_DELAY_MS },
    });
    expect(await subject.getAccessToken()).toBe('access-1');
    // The proactive refresh is armed on the injected timers too: 15 min token, refresh 5 min early.
    expect(clock.pending()).toEqual([{ at: T0 + minutes(10), delayMs: minutes(10) }]);

    provider.script.push(unavailable('refresh'));
    clock.advance(minutes(10));
    await flushUntil(() => events.some((event) => event.type === 'retry-scheduled'));
    const failedAt = T0 + minutes(10);

    expect(provider.refreshCount).toBe(1);
    expect(events.find((event) => event.type === 'retry-scheduled')).toMatchObject({
      delayMs: BACKGROUND_DELAY_MS,
      background: true,
    });
    expect(subject.status().lastError?.nextAttemptAt).toBe(failedAt + BACKGROUND_DELAY_MS);
    expect(clock.pending()).toEqual([{ at: failedAt + BACKGROUND_DELAY_MS, delayMs: BACKGROUND_DELAY_MS }]);
    expectNoGlobalTimer();
    expect(await subject.getAccessToken()).toBe('access-1');

    clock.advance(BACKGROUND_DELAY_MS - 1);
    expect(provider.refreshCount).toBe(1);

    clock.advance(1);
    await flushUntil(() => events.some((event) => event.type === 'refresh-ended' && event.outcome === 'refreshed'));
    expect(provider.refreshCount).toBe(2);
    expect(await subject.getAccessToken()).toBe('access-2');
    expectNoGlobalTimer();
  });
});
