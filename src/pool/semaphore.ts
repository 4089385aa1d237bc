/**
 * The pool's cap on concurrent auth calls: an {@link AuthGate} that lets at most `limit`
 * calls run at once and queues the rest in arrival order. A waiter whose signal aborts (its
 * run's deadline passed, or the session closed) leaves the queue at once and rejects with
 * the signal's reason.
 */
import { onAbort } from '../wait-with-signal';
import type { AuthGate } from '../manager/options';

interface Waiter {
  grant: (release: () => void) => void;
  cancel: () => void;
}

/** Counts permits and queues waiters; `gate` is what managers are given. */
export class AuthSemaphore {
  readonly limit: number;
  readonly #queue = new Set<Waiter>();
  #inFlight = 0;
  #peak = 0;
  /** The {@link AuthGate} handed to every session of the pool. */
  readonly gate: AuthGate;

  constructor(limit: number) {
    this.limit = limit;
    this.gate = (signal) => this.acquire(signal);
  }

  /** Auth calls running now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** The most auth calls that ever ran at once. */
  get peak(): number {
    return this.#peak;
  }

  /** Auth calls waiting for a permit. */
  get queued(): number {
    return this.#queue.size;
  }

  /** Resolves to a release function once a permit is free; rejects when `signal` aborts first. */
  acquire(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.#inFlight < this.limit && this.#queue.size === 0) return Promise.resolve(this.#take());
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: (release) => {
          stop();
          resolve(release);
        },
        cancel: () => {
          this.#queue.delete(waiter);
          reject(signal.reason);
        },
      };
      const stop = onAbort(signal, waiter.cancel);
      this.#queue.add(waiter);
    });
  }

  #take(): () => void {
    this.#inFlight += 1;
    if (this.#inFlight > this.#peak) this.#peak = this.#inFlight;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inFlight -= 1;
      this.#next();
    };
  }

  #next(): void {
    for (const waiter of this.#queue) {
      if (this.#inFlight >= this.limit) return;
      this.#queue.delete(waiter);
      waiter.grant(this.#take());
    }
  }
}
