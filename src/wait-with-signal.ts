import { AbortedError } from './errors';

/**
 * Waits for a promise on behalf of one caller: the caller's signal abandons only this
 * wait (rejecting with `onAbort()`), never the work behind the promise, which others may
 * share.
 */
export function waitWithSignal<T>(
  shared: Promise<T>,
  signal: AbortSignal | undefined,
  onAbort: () => Error = () => new AbortedError(),
): Promise<T> {
  if (signal === undefined) return shared;
  if (signal.aborted) return Promise.reject(onAbort());
  return new Promise<T>((resolve, reject) => {
    const abandon = (): void => reject(onAbort());
    signal.addEventListener('abort', abandon, { once: true });
    shared.then(
      (value) => {
        signal.removeEventListener('abort', abandon);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', abandon);
        reject(error);
      },
    );
  });
}
