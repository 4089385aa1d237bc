/**
 * Node frees an emptied per-delay timer list only when a ref'ed timer leaves it (lib/timers.js,
 * unenroll): a manager clearing many `unref()`ed timers of distinct delays (jittered refresh points,
 * store-call deadlines) would otherwise keep one list per delay. Bench scenario 5 measures the heap.
 */
import { setUnrefTimeout, systemClock } from '../src/clock';

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
