/**
 * One timer for any number of scheduled points: a binary min-heap of entries ordered by
 * their point on the timeline, and a single `unref()`ed timer armed for the earliest one.
 * Arming, re-arming and cancelling an entry is O(log n); the timer is re-armed only when
 * the earliest point moves earlier (a timer that fires early simply re-arms). No package in
 * our dependencies keeps one timer for many points on an injected clock (node-cache's expiry
 * check is a periodic scan of every key on `Date.now()`, with a timer of its own).
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
    this.#sift(entry);
    // A timer whose point passed unfired was armed before the timeline gained on it (a suspend, a wall-clock step
    // forward): it fires as late as the gain, so it is re-armed too.
    if (at < this.#timerAt || this.#timerAt <= this.clock.now()) this.#arm();
  }

  /** Unschedules `entry`; the timer is left to fire early and re-arm, which is cheaper. */
  remove(entry: HeapEntry): void {
    const index = entry.heapIndex;
    if (index === -1) return;
    entry.heapIndex = -1;
    const last = this.#entries.pop() as HeapEntry;
    if (last !== entry) this.#sift(last, index);
    if (this.#entries.length === 0) this.#arm();
  }

  /** Re-arms the one timer for the earliest entry (none when the heap is empty). */
  #arm(): void {
    if (this.#timer !== undefined) this.clock.clearTimeout(this.#timer);
    const top = this.#entries[0];
    this.#timerAt = top?.at ?? Number.POSITIVE_INFINITY;
    this.#timer = top && setUnrefTimeout(this.clock, () => this.#fire(), top.at - this.clock.now());
  }

  #fire(): void {
    const now = this.clock.now();
    // Fired, not stale: the points the entries below schedule are armed for once, at the end.
    this.#timerAt = Number.NaN;
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

  /** Moves `entry` from slot `index` (maybe still held by another) up towards the root, or else down. */
  #sift(entry: HeapEntry, index = entry.heapIndex): void {
    const entries = this.#entries;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if ((entries[parent] as HeapEntry).at <= entry.at) break;
      this.#place(entries[parent] as HeapEntry, index);
      index = parent;
    }
    for (let child = 2 * index + 1; child < entries.length; child = 2 * index + 1) {
      const right = entries[child + 1];
      if (right !== undefined && right.at < (entries[child] as HeapEntry).at) child += 1;
      if ((entries[child] as HeapEntry).at >= entry.at) break;
      this.#place(entries[child] as HeapEntry, index);
      index = child;
    }
    this.#place(entry, index);
  }

  #place(entry: HeapEntry, index: number): void {
    this.#entries[index] = entry;
    entry.heapIndex = index;
  }
}
