/**
 * The pool's cap on concurrent auth calls: an {@link AuthGate} that lets at most `limit`
 * calls run at once and queues the rest in arrival order. A waiter whose signal aborts (its
 * run's deadline passed, or the session closed) leaves the queue at once and rejects with
 * the signal's reason.
 */
import { onAbort } from '../wait-with-signal';
import type { AuthGate } from '../manager/options';

/** Counts permits and queues waiters; `gate` is what managers are given. */
export class AuthSemaphore {
  /** Auth calls running now. */
  inFlight = 0;
  /** The most auth calls that ever ran at once. */
  peak = 0;
  /** Waiters in arrival order; each takes its permit when called. */
  readonly #queue = new Set<() => void>();

  constructor(readonly limit: number) {}

  /** Auth calls waiting for a permit. */
  get queued(): number {
    return this.#queue.size;
  }

  /** Resolves to a release function once a permit is free; rejects when `signal` aborts first. */
  readonly gate: AuthGate = (signal) => {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.inFlight < this.limit && this.#queue.size === 0) return Promise.resolve(this.#take());
    return new Promise((resolve, reject) => {
      const granted = (): void => {
        stop();
        resolve(this.#take());
      };
      const stop = onAbort(signal, () => {
        this.#queue.delete(granted);
        reject(signal.reason);
      });
      this.#queue.add(granted);
    });
  };

  /** Takes a permit (handed over at once, so no later arrival can take it first). */
  #take(): () => void {
    this.inFlight += 1;
    this.peak = Math.max(this.peak, this.inFlight);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inFlight -= 1;
      for (const granted of this.#queue) {
        if (this.inFlight >= this.limit) return;
        this.#queue.delete(granted);
        granted();
      }
    };
  }
}
