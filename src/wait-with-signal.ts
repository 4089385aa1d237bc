import { AbortedError } from './errors';

/**
 * One 'abort' listener per signal, however many waits share it: 10,000 callers passing the
 * same `AbortSignal` must not add 10,000 listeners (and a MaxListenersExceededWarning).
 */
const waitersBySignal = new WeakMap<AbortSignal, Set<() => void>>();

/** Calls `callback` once when `signal` aborts; the returned function cancels that. */
export function onAbort(signal: AbortSignal, callback: () => void): () => void {
  const waiters = waitersBySignal.get(signal) ?? new Set<() => void>();
  if (!waitersBySignal.has(signal)) {
    waitersBySignal.set(signal, waiters);
    signal.addEventListener('abort', () => waiters.forEach((waiter) => waiter()), { once: true });
  }
  waiters.add(callback);
  return () => void waiters.delete(callback);
}

/**
 * Waits for a promise on behalf of one caller: the caller's signal abandons only this
 * wait (rejecting with `onAbortError()`), never the work behind the promise, which others
 * may share.
 */
export function waitWithSignal<T>(
  shared: Promise<T>,
  signal: AbortSignal | undefined,
  onAbortError: () => Error = () => new AbortedError(),
): Promise<T> {
  if (signal === undefined) return shared;
  if (signal.aborted) {
    // Nobody else may be waiting on the work: its late failure must not go unhandled.
    shared.catch(() => undefined);
    return Promise.reject(onAbortError());
  }
  return new Promise<T>((resolve, reject) => {
    const cancel = onAbort(signal, () => reject(onAbortError()));
    // A late abort after the work settled rejects a settled promise: a no-op.
    void shared.then(resolve, reject).finally(cancel);
  });
}
