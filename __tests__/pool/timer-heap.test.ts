/** The pool's one timer for many points: each entry fires at its own point, in order, whatever the arrival order. */
import { systemClock } from '../../src/clock';
import { TimerHeap, type HeapEntry } from '../../src/pool/heap';
import { T0, useFakeClock } from '../helpers/manager';

describe('TimerHeap', () => {
  beforeEach(() => useFakeClock(T0));
  afterEach(() => jest.useRealTimers());

  it('fires every entry at its point exactly, earliest first, after arrivals, moves and removals in any order', () => {
    const heap = new TimerHeap(systemClock);
    const fired: Array<{ id: number; at: number }> = [];
    const entries = Array.from({ length: 40 }, (_, id): HeapEntry => ({
      at: 0,
      heapIndex: -1,
      fire: (now) => fired.push({ id, at: now - T0 }),
    }));
    // Points 1..40 s in a scrambled order (17 is coprime with 40), then some moved and some removed.
    entries.forEach((entry, id) => heap.schedule(entry, T0 + ((id * 17) % 40) * 1_000 + 1_000));
    for (const id of [3, 11, 26]) heap.schedule(entries[id] as HeapEntry, T0 + 40_500 + id);
    for (const id of [5, 19, 33]) heap.remove(entries[id] as HeapEntry);
    expect(heap.size).toBe(37);

    jest.advanceTimersByTime(60_000);
    const expected = entries
      .map((entry, id) => ({ id, at: entry.at - T0 }))
      .filter(({ id }) => ![5, 19, 33].includes(id))
      .sort((a, b) => a.at - b.at);
    expect(fired).toEqual(expected);
    expect(heap.size).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('fires the entries due after one that throws, and keeps its timer for the later ones', () => {
    const heap = new TimerHeap(systemClock);
    const fired: number[] = [];
    const entry = (id: number, fire = (): number => fired.push(id)): HeapEntry => ({ at: 0, heapIndex: -1, fire });
    heap.schedule(
      entry(0, () => {
        throw new Error('an entry that throws');
      }),
      T0 + 1_000,
    );
    heap.schedule(entry(1), T0 + 1_000);
    heap.schedule(entry(2), T0 + 2_000);
    jest.advanceTimersByTime(2_000);
    expect(fired).toEqual([1, 2]);
  });

  it('cancels an entry scheduled at a point that is not finite', () => {
    const heap = new TimerHeap(systemClock);
    const fired: number[] = [];
    const entry: HeapEntry = { at: 0, heapIndex: -1, fire: (now) => fired.push(now) };
    for (const at of [Number.POSITIVE_INFINITY, Number.NaN, undefined]) {
      heap.schedule(entry, T0 + 1_000);
      heap.schedule(entry, at);
      expect(heap.size).toBe(0);
      expect(entry.heapIndex).toBe(-1);
    }
    jest.advanceTimersByTime(60_000);
    expect(fired).toEqual([]);
  });

  it('clears its timer as soon as its last entry is removed', () => {
    const heap = new TimerHeap(systemClock);
    const entry: HeapEntry = { at: 0, heapIndex: -1, fire: () => undefined };
    heap.schedule(entry, T0 + 60_000);
    expect(jest.getTimerCount()).toBe(1);
    heap.remove(entry);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('fires a point scheduled after the timeline gained on its timer (a suspend, a wall step forward) on time', () => {
    // The pool's timeline is the monotonic clock plus what the wall clock gained on it; its timers run on the monotonic one.
    let gainedMs = 0;
    const heap = new TimerHeap({ ...systemClock, now: () => Date.now() + gainedMs });
    const fired: string[] = [];
    const entry = (name: string): HeapEntry => ({ at: 0, heapIndex: -1, fire: () => fired.push(name) });
    const [far, later, near] = [entry('far'), entry('later'), entry('near')];
    heap.schedule(far, T0 + 10 * 60_000);
    heap.schedule(later, T0 + 60 * 60_000);
    heap.remove(far);
    gainedMs = 30 * 60_000;
    heap.schedule(near, T0 + gainedMs + 1_000);
    // Its timer, armed before the gain for the far point, would fire 10 minutes from now: the near point is re-armed.
    jest.advanceTimersByTime(1_000);
    expect(fired).toEqual(['near']);
    heap.remove(later);
  });
});
