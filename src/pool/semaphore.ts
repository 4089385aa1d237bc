/**
 * The pool's cap on concurrent auth calls: an {@link AuthGate} that lets at most `max` calls
 * run at once and queues the rest in arrival order, those of held sessions before those of new ones: a flood of
 * new users (or of keys a caller mints) must not hold back the users already served until their tokens expire,
 * whether they refresh or, their refresh token refused, sign in again. Plain priority does not starve new
 * sessions: held sessions (at most `maxSessions`) run one refresh run at a time, about once per token lifetime,
 * and sign in again only when a refresh token is refused, once per refusal (retries back off, and the breaker
 * bounds repeated failures); so they fill every slot only when the auth server cannot keep up with them.
 * A waiter whose signal aborts (its run's deadline passed, or the session closed) leaves its queue at once and
 * rejects with the signal's reason. No package in our dependencies does this (node-cache holds entries,
 * p-retry runs attempts), and it is a dozen lines.
 */
import { onAbort } from '../wait-with-signal';
import type { AuthGate } from '../manager/options';
import type { TokenManagerPoolStatus } from './types';

/** Counts permits and queues waiters; `gate` is what managers are given. */
export class AuthSemaphore {
  #inFlight = 0;
  #peak = 0;
  /** Waiters of held and of new sessions, in arrival order; each leaves its queue and takes its permit when called. */
  readonly #heldQueue = new Set<() => void>();
  readonly #newQueue = new Set<() => void>();

  constructor(readonly max: number) {}

  /** Auth calls running, the most that ever ran at once, those waiting for a permit, and the cap. */
  status(): TokenManagerPoolStatus['auth'] {
    const queued = this.#heldQueue.size + this.#newQueue.size;
    return { inFlight: this.#inFlight, peak: this.#peak, queued, max: this.max };
  }

  /** Resolves to a release function (to call once) when a permit is free; rejects when `signal` aborts first. */
  readonly gate: AuthGate = (signal, held) => {
    if (signal.aborted) return Promise.reject(signal.reason);
    // Nobody can be queued while a permit is free: a release hands its permit to the next waiter at once.
    if (this.#inFlight < this.max) return Promise.resolve(this.#take(signal));
    const queue = held ? this.#heldQueue : this.#newQueue;
    return new Promise((resolve, reject) => {
      const granted = (): void => {
        queue.delete(granted);
        stop();
        resolve(this.#take(signal));
      };
      const stop = onAbort(signal, () => {
        queue.delete(granted);
        reject(signal.reason);
      });
      queue.add(granted);
    });
  };

  /**
   * Takes a permit; its release hands it straight to the next waiter, so no later arrival can take it first.
   * It is released once, at the latest when `signal` aborts: a run abandoned (its deadline passed, or its
   * session closed) under a provider that ignores its signal must not hold the permit from every other session.
   */
  #take(signal: AbortSignal): () => void {
    this.#inFlight += 1;
    this.#peak = Math.max(this.#peak, this.#inFlight);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      stopWatching();
      this.#inFlight -= 1;
      const [next] = this.#heldQueue.size > 0 ? this.#heldQueue : this.#newQueue;
      next?.();
    };
    const stopWatching = onAbort(signal, release);
    return release;
  }
}
