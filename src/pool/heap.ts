/**
 * One timer for any number of scheduled points: a binary min-heap of entries ordered by
 * their point on the timeline, and a single `unref()`ed timer armed for the earliest one.
 * Arming, re-arming and cancelling an entry is O(log n); the timer is re-armed only when
 * the earliest point moves earlier (a timer that fires early simply re-arms).
 */
import { setUnrefTimeout } from '../clock';
import type { Clock, TimerHandle } from '../clock';

/** Something the heap can fire: its point (`at`) and its slot are kept by the heap. */
export interface HeapEntry {
  /** The point on the timeline, or `undefined` while not scheduled. */
  at: number | undefined;
  /** Index in the heap, -1 while not scheduled. */
  heapIndex: number;
  /** Called once the point is reached (the entry is no longer scheduled then). */
  fire(now: number): void;
}

/** A min-heap of {@link HeapEntry}s on one timer. */
export class TimerHeap {
  readonly #clock: Clock;
  readonly #entries: HeapEntry[] = [];
  #timer: TimerHandle | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  #firing = false;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Entries scheduled now. */
  get size(): number {
    return this.#entries.length;
  }

  /** Timers armed now: 0 or 1. */
  get timers(): number {
    return this.#timer === undefined ? 0 : 1;
  }

  /** Schedules `entry` at `at` (replacing its previous point); `undefined` or a non-finite point cancels. */
  schedule(entry: HeapEntry, at: number | undefined): void {
    if (at === undefined || !Number.isFinite(at)) {
      this.remove(entry);
      return;
    }
    const previous = entry.at;
    entry.at = at;
    if (entry.heapIndex === -1) {
      entry.heapIndex = this.#entries.length;
      this.#entries.push(entry);
      this.#up(entry.heapIndex);
    } else if (previous === undefined || at < previous) {
      this.#up(entry.heapIndex);
    } else {
      this.#down(entry.heapIndex);
    }
    if (!this.#firing && at < this.#timerAt) this.#arm();
  }

  /** Unschedules `entry`; the timer is left to fire early and re-arm, which is cheaper. */
  remove(entry: HeapEntry): void {
    const index = entry.heapIndex;
    entry.at = undefined;
    if (index === -1) return;
    entry.heapIndex = -1;
    const last = this.#entries.pop() as HeapEntry;
    if (index < this.#entries.length) {
      this.#entries[index] = last;
      last.heapIndex = index;
      this.#up(index);
      this.#down(last.heapIndex);
    }
    if (this.#entries.length === 0) this.#disarm();
  }

  /** Cancels the timer and forgets every entry. */
  clear(): void {
    for (const entry of this.#entries) {
      entry.heapIndex = -1;
      entry.at = undefined;
    }
    this.#entries.length = 0;
    this.#disarm();
  }

  #arm(): void {
    this.#disarm();
    const top = this.#entries[0];
    if (top === undefined) return;
    const at = top.at as number;
    this.#timerAt = at;
    this.#timer = setUnrefTimeout(this.#clock, () => this.#fire(), at - this.#clock.now());
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }

  #fire(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = this.#clock.now();
    this.#firing = true;
    try {
      for (let top = this.#entries[0]; top !== undefined && (top.at as number) <= now; top = this.#entries[0]) {
        this.remove(top);
        try {
          top.fire(now);
        } catch {
          // One entry's failure must not stop the others (entries catch their own errors).
        }
      }
    } finally {
      this.#firing = false;
      this.#arm();
    }
  }

  #up(start: number): void {
    const entries = this.#entries;
    const entry = entries[start] as HeapEntry;
    const at = entry.at as number;
    let index = start;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = entries[parentIndex] as HeapEntry;
      if ((parent.at as number) <= at) break;
      entries[index] = parent;
      parent.heapIndex = index;
      index = parentIndex;
    }
    entries[index] = entry;
    entry.heapIndex = index;
  }

  #down(start: number): void {
    const entries = this.#entries;
    const length = entries.length;
    const entry = entries[start] as HeapEntry;
    const at = entry.at as number;
    let index = start;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      let child = left;
      if (right < length && ((entries[right] as HeapEntry).at as number) < ((entries[left] as HeapEntry).at as number))
        child = right;
      const childEntry = entries[child] as HeapEntry;
      if ((childEntry.at as number) >= at) break;
      entries[index] = childEntry;
      childEntry.heapIndex = index;
      index = child;
    }
    entries[index] = entry;
    entry.heapIndex = index;
  }
}
