/**
 * One timer for any number of scheduled points: a binary min-heap of entries ordered by
 * their point on the timeline, and a single `unref()`ed timer armed for the earliest one.
 * Arming, re-arming and cancelling an entry is O(log n); the timer is re-armed only when
 * the earliest point moves earlier (a timer that fires early simply re-arms).
 */
import { setUnrefTimeout } from '../clock';
import type { Clock, TimerHandle } from '../clock';

/** Something the heap can fire; `at` and `heapIndex` are the heap's bookkeeping. */
export interface HeapEntry {
  /** The point on the timeline while scheduled. */
  at: number;
  /** Index in the heap, -1 while not scheduled. */
  heapIndex: number;
  /** Called once the point is reached (the entry is no longer scheduled then). */
  fire(now: number): void;
}

/** A min-heap of {@link HeapEntry}s on one timer. */
export class TimerHeap {
  readonly #entries: HeapEntry[] = [];
  #timer: TimerHandle | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  constructor(private readonly clock: Clock) {}

  /** Entries scheduled now. */
  get size(): number {
    return this.#entries.length;
  }

  /** Schedules `entry` at `at` (replacing its previous point); `undefined` or a non-finite point cancels. */
  schedule(entry: HeapEntry, at: number | undefined): void {
    if (at === undefined || !Number.isFinite(at)) return this.remove(entry);
    if (entry.heapIndex === -1) entry.heapIndex = this.#entries.push(entry) - 1;
    entry.at = at;
    this.#sift(entry.heapIndex);
    if (at < this.#timerAt) this.#arm();
  }

  /** Unschedules `entry`; the timer is left to fire early and re-arm, which is cheaper. */
  remove(entry: HeapEntry): void {
    const index = entry.heapIndex;
    if (index === -1) return;
    entry.heapIndex = -1;
    const last = this.#entries.pop() as HeapEntry;
    if (last !== entry) {
      this.#entries[index] = last;
      last.heapIndex = index;
      this.#sift(index);
    }
    if (this.#entries.length === 0) this.#disarm();
  }

  /** Cancels the timer and forgets every entry. */
  clear(): void {
    for (const entry of this.#entries.splice(0)) entry.heapIndex = -1;
    this.#disarm();
  }

  #arm(): void {
    this.#disarm();
    const top = this.#entries[0];
    if (top === undefined) return;
    this.#timerAt = top.at;
    this.#timer = setUnrefTimeout(this.clock, () => this.#fire(), top.at - this.clock.now());
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }

  #fire(): void {
    this.#disarm();
    const now = this.clock.now();
    for (let top = this.#entries[0]; top !== undefined && top.at <= now; top = this.#entries[0]) {
      this.remove(top);
      try {
        top.fire(now);
      } catch {
        // One entry's failure must not stop the others (entries catch their own errors).
      }
    }
    this.#arm();
  }

  /** Moves the entry at `start` up towards the root, or else down, to its place. */
  #sift(start: number): void {
    const entries = this.#entries;
    const entry = entries[start] as HeapEntry;
    let index = start;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = entries[parentIndex] as HeapEntry;
      if (parent.at <= entry.at) break;
      entries[index] = parent;
      parent.heapIndex = index;
      index = parentIndex;
    }
    for (let child = 2 * index + 1; child < entries.length; child = 2 * index + 1) {
      const right = entries[child + 1];
      if (right !== undefined && right.at < (entries[child] as HeapEntry).at) child += 1;
      const smaller = entries[child] as HeapEntry;
      if (smaller.at >= entry.at) break;
      entries[index] = smaller;
      smaller.heapIndex = index;
      index = child;
    }
    entries[index] = entry;
    entry.heapIndex = index;
  }
}
