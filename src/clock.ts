/**
 * The one place that reads the wall clock and arms raw timers, so tests and users can
 * substitute simulated time.
 */
import { waitWithSignal } from './wait-with-signal';

/** A handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = { unref?: () => unknown; ref?: () => unknown } | number;

/** Time source and timers used by the library. */
export interface Clock {
  /** Current time in epoch milliseconds. */
  now(): number;
  /** Arms a timer; the library always `unref()`s it so it never keeps the process alive. */
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  /** Cancels a timer armed by {@link Clock.setTimeout}. */
  clearTimeout(handle: TimerHandle): void;
}

/** Node's timers cap a delay at 2^31−1 ms (about 24.8 days); longer ones fire at once. */
export const MAX_TIMER_DELAY_MS = 2_147_483_647;

/**
 * The real clock. It looks the globals up on every call (rather than capturing them) so
 * that jest's fake timers, installed after import, still apply.
 */
export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimeout: (callback: () => void, delayMs: number) => globalThis.setTimeout(callback, delayMs),
  clearTimeout: (handle: TimerHandle) => {
    // Ref'ed first: Node frees an emptied per-delay timer list only when a ref'ed timer leaves it
    // (lib/timers.js, unenroll), so every unref()ed timer of a new delay would leave a list behind.
    if (typeof handle === 'object') handle.ref?.();
    globalThis.clearTimeout(handle as Parameters<typeof clearTimeout>[0]);
  },
});

/** One timeline per `performance` (the real one, or fake timers' own): every manager and pool on it agree. */
const timelines = new WeakMap<object, () => number>();

/**
 * The timeline of managers and pools, in ms from an arbitrary origin: the monotonic clock, which
 * never jumps back when the wall clock is stepped, moved on by whatever the wall clock gained on it.
 * That gain is a suspend (CLOCK_MONOTONIC stands still while the machine sleeps, and a token must not
 * outlive its expiry then) or a step forward (a refresh comes early). `performance` and `Date` are
 * looked up when the first clock on a `performance` is made: fake timers installed before that apply.
 */
export function monotonicClock(): () => number {
  const { performance, Date: WallClock } = globalThis;
  let timeline = timelines.get(performance);
  if (timeline === undefined) {
    const origin = WallClock.now() - performance.now();
    let gained = 0;
    timeline = (): number => {
      const monotonic = performance.now();
      gained = Math.max(gained, WallClock.now() - origin - monotonic);
      return monotonic + gained;
    };
    timelines.set(performance, timeline);
  }
  return timeline;
}

/** Arms an `unref()`ed timer, clamping the delay to what Node supports. */
export function setUnrefTimeout(clock: Clock, callback: () => void, delayMs: number): TimerHandle {
  const handle = clock.setTimeout(callback, Math.min(Math.max(0, delayMs), MAX_TIMER_DELAY_MS));
  if (typeof handle === 'object') handle.unref?.();
  return handle;
}

/**
 * Calls `callback` every `intervalMs` until the returned function is called; the interval
 * is `unref()`ed, so it never keeps the process alive by itself.
 */
export function setUnrefInterval(callback: () => void, intervalMs: number): () => void {
  const handle = globalThis.setInterval(callback, intervalMs);
  handle.unref();
  return () => globalThis.clearInterval(handle);
}

/** Resolves after `delayMs` on the given clock, or rejects with the signal's reason (and clears the timer). */
export function sleep(clock: Clock, delayMs: number, signal?: AbortSignal): Promise<void> {
  let timer: TimerHandle | undefined;
  const slept = new Promise<void>((resolve) => {
    timer = setUnrefTimeout(clock, resolve, delayMs);
  });
  return waitWithSignal(slept, signal, () => {
    if (timer !== undefined) clock.clearTimeout(timer);
    return signal?.reason;
  });
}

/**
 * Settles like `work`, or rejects with `onTimeout()` once `timeoutMs` pass on `clock`,
 * whichever comes first. The work itself is not cancelled (pass it a signal for that); its
 * late outcome is ignored.
 */
export function withTimeout<T>(work: Promise<T>, clock: Clock, timeoutMs: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setUnrefTimeout(clock, () => reject(onTimeout()), timeoutMs);
    const clear = (): void => clock.clearTimeout(timer);
    // Registered first: the timer is cleared in the turn the work settles, before any caller hears of it.
    work.then(clear, clear);
    work.then(resolve, reject);
  });
}

/**
 * Keeps the event loop alive until the returned function is called. A caller awaiting a
 * refresh must not see its process exit mid-backoff just because every timer of ours is
 * `unref()`ed; the background work itself stays unref()ed.
 */
export function holdProcessOpen(): () => void {
  const handle = globalThis.setInterval(() => undefined, MAX_TIMER_DELAY_MS);
  return () => globalThis.clearInterval(handle);
}

/**
 * One `unref()`ed timer for a point on `clock`'s timeline, re-armed at will: `arm(at)` replaces
 * the point (`undefined`: none), `cancel()` clears it. A manager's own proactive timer.
 */
export function timerAt(clock: Clock, onDue: () => void) {
  let handle: TimerHandle | undefined;
  const cancel = (): void => {
    if (handle !== undefined) clock.clearTimeout(handle);
    handle = undefined;
  };
  const due = (): void => {
    handle = undefined;
    onDue();
  };
  const arm = (at: number | undefined): void => {
    cancel();
    if (at === undefined || !Number.isFinite(at)) return;
    // Long delays are clamped by Node; re-arm until the real point is reached.
    handle = setUnrefTimeout(clock, () => (clock.now() < at ? arm(at) : due()), at - clock.now());
  };
  return { arm, cancel };
}
