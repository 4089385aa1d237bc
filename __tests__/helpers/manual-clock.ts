import type { Clock, TimerHandle } from '../../src/clock';

/** A timer armed on a {@link ManualClock}, as the test sees it. */
export interface ManualTimer {
  /** When it fires, on the clock. */
  at: number;
  /** The delay it was armed with, in ms. */
  delayMs: number;
}

/**
 * A clock whose time and timers move only when the test calls {@link ManualClock.advance}:
 * pass `now: clock.now, timers: clock` to a manager and nothing of its waits runs on the
 * global timers. Unlike jest's fake timers, it leaves the globals alone, so a test can prove
 * that a wait was armed here and not there.
 */
export class ManualClock implements Clock {
  #time: number;
  #nextId = 1;
  readonly #timers = new Map<number, ManualTimer & { callback: () => void }>();

  constructor(start: number) {
    this.#time = start;
  }

  readonly now = (): number => this.#time;

  readonly setTimeout = (callback: () => void, delayMs: number): TimerHandle => {
    const id = this.#nextId;
    this.#nextId += 1;
    const delay = Math.max(0, delayMs);
    this.#timers.set(id, { at: this.#time + delay, delayMs: delay, callback });
    return id;
  };

  readonly clearTimeout = (handle: TimerHandle): void => {
    if (typeof handle === 'number') this.#timers.delete(handle);
  };

  /** The timers armed and not yet fired or cleared, soonest first. */
  pending(): ManualTimer[] {
    return [...this.#timers.values()].sort((a, b) => a.at - b.at).map(({ at, delayMs }) => ({ at, delayMs }));
  }

  /**
   * Moves time forward by `ms`, firing every timer that comes due on the way (in order, with
   * `now()` at its due time), also those armed by a callback meanwhile.
   */
  advance(ms: number): void {
    const target = this.#time + ms;
    for (;;) {
      let next: [number, ManualTimer & { callback: () => void }] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].at <= target && (next === undefined || entry[1].at < next[1].at)) next = entry;
      }
      if (next === undefined) break;
      this.#timers.delete(next[0]);
      this.#time = Math.max(this.#time, next[1].at);
      next[1].callback();
    }
    this.#time = target;
  }
}
