/**
 * Node frees an emptied per-delay timer list only when a ref'ed timer leaves it (lib/timers.js,
 * unenroll): a manager clearing many `unref()`ed timers of distinct delays (jittered refresh points,
 * store-call deadlines) would otherwise keep one list per delay. Bench scenario 5 measures the heap.
 */
import { monotonicClock, setUnrefInterval, setUnrefTimeout, sleep, systemClock, timerAt } from '../src/clock';

describe('systemClock.clearTimeout', () => {
  beforeEach(() => jest.useRealTimers());

  it('re-refs an unref()ed timer as it clears it, and leaves nothing active', () => {
    const timeouts = (): number => process.getActiveResourcesInfo().filter((type) => type === 'Timeout').length;
    const before = timeouts();
    const handle = setUnrefTimeout(systemClock, () => undefined, 123_457) as NodeJS.Timeout;
    expect(handle.hasRef()).toBe(false);
    const ref = jest.spyOn(handle, 'ref');
    systemClock.clearTimeout(handle);
    expect(ref).toHaveBeenCalledTimes(1);
    expect(timeouts()).toBe(before);
  });

  it('clears a plain numeric handle too', () => {
    expect(() => systemClock.clearTimeout(0)).not.toThrow();
  });
});

describe('monotonicClock()', () => {
  afterEach(() => jest.useRealTimers());

  it('gives every manager and pool on one performance the same timeline, across a wall-clock step, forward or back', () => {
    jest.useFakeTimers({ now: 1_700_000_000_000 });
    const first = monotonicClock();
    const start = first();
    jest.setSystemTime(Date.now() + 60_000);
    const second = monotonicClock();

    expect(second()).toBe(first());
    expect(first() - start).toBe(60_000);
    // Never back, when the wall clock is stepped back.
    jest.setSystemTime(Date.now() - 120_000);
    expect(first() - start).toBe(60_000);
  });
});

describe('timers on a clock', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_700_000_000_000 }));
  afterEach(() => jest.useRealTimers());

  it("sleep() clears its timer when the caller's signal aborts", async () => {
    const controller = new AbortController();
    const slept = sleep(systemClock, 60_000, controller.signal);
    expect(jest.getTimerCount()).toBe(1);

    controller.abort(new Error('stop'));

    await expect(slept).rejects.toThrow('stop');
    expect(jest.getTimerCount()).toBe(0);
  });

  it('timerAt() waits for a point past what one Node timer can wait (24.8 days), then fires once', () => {
    const onDue = jest.fn();
    const dayMs = 86_400_000;
    timerAt(systemClock, onDue).arm(Date.now() + 30 * dayMs);

    jest.advanceTimersByTime(25 * dayMs);
    expect(onDue).not.toHaveBeenCalled();
    jest.advanceTimersByTime(5 * dayMs);
    expect(onDue).toHaveBeenCalledTimes(1);
  });

  it('timerAt() re-armed keeps only the newest point', () => {
    const onDue = jest.fn();
    const timer = timerAt(systemClock, onDue);
    timer.arm(Date.now() + 10_000);
    timer.arm(Date.now() + 20_000);

    jest.advanceTimersByTime(10_000);
    expect(onDue).not.toHaveBeenCalled();
    jest.advanceTimersByTime(10_000);
    expect(onDue).toHaveBeenCalledTimes(1);
  });
});

describe('clock edges', () => {
  afterEach(() => jest.useRealTimers());

  it('setUnrefTimeout() arms a negative delay as 0 on an injected clock', () => {
    const clock = { now: () => 0, setTimeout: jest.fn(() => 1), clearTimeout: jest.fn() };
    setUnrefTimeout(clock, () => undefined, -5);
    expect(clock.setTimeout).toHaveBeenCalledWith(expect.any(Function), 0);
  });

  it('setUnrefInterval() leaves the process free to exit', () => {
    const setInterval = jest.spyOn(globalThis, 'setInterval');
    const stop = setUnrefInterval(() => undefined, 60_000);
    const handle = setInterval.mock.results[0]?.value as NodeJS.Timeout;
    expect(handle.hasRef()).toBe(false);
    stop();
    setInterval.mockRestore();
  });

  it('timerAt() arms nothing for a point that is not a finite number', () => {
    jest.useFakeTimers({ now: 1_700_000_000_000 });
    const onDue = jest.fn();
    const timer = timerAt(systemClock, onDue);
    timer.arm(Number.NaN);
    jest.advanceTimersByTime(10);
    expect(onDue).not.toHaveBeenCalled();
  });
});
