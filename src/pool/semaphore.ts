/**
 * The pool's cap on concurrent auth calls: an {@link AuthGate} that lets at most `max` calls
 * run at once and queues the rest in arrival order, refreshes before sign-ins: a flood of new users (or of
 * keys a caller mints) must not hold back the users already served until their tokens expire. Plain priority
 * does not starve sign-ins: refreshes come from held sessions (at most `maxSessions`), each about once per token
 * lifetime, so they fill every slot only when the auth server cannot keep up with the sessions already held.
 * A waiter whose signal aborts (its run's deadline passed, or the session closed) leaves its queue at once and
 * rejects with the signal's reason. No package in our dependencies does this (node-cache holds entries,
 * p-retry runs attempts), and it is a dozen lines.
 */
import { onAbort } from '../wait-with-signal';
import type { AuthOperation } from '../errors';
import type { AuthGate } from '../manager/options';
import type { TokenManagerPoolStatus } from './types';

/** Counts permits and queues waiters; `gate` is what managers are given. */
export class AuthSemaphore {
  #inFlight = 0;
  #peak = 0;
  /** Waiters in arrival order, one queue per operation; each leaves its queue and takes its permit when called. */
  readonly #queues: Record<AuthOperation, Set<() => void>> = { refresh: new Set(), authenticate: new Set() };

  constructor(readonly max: number) {}

  /** Auth calls running, the most that ever ran at once, those waiting for a permit, and the cap. */
  status(): TokenManagerPoolStatus['auth'] {
    const { refresh, authenticate } = this.#queues;
    return { inFlight: this.#inFlight, peak: this.#peak, queued: refresh.size + authenticate.size, max: this.max };
  }

  /** Resolves to a release function (to call once) when a permit is free; rejects when `signal` aborts first. */
  readonly gate: AuthGate = (signal, operation) => {
    if (signal.aborted) return Promise.reject(signal.reason);
    // Nobody can be queued while a permit is free: a release hands its permit to the next waiter at once.
    if (this.#inFlight < this.max) return Promise.resolve(this.#take(signal));
    const queue = this.#queues[operation];
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
      const { refresh, authenticate } = this.#queues;
      const [next] = refresh.size > 0 ? refresh : authenticate;
      next?.();
    };
    const stopWatching = onAbort(signal, release);
    return release;
  }
}
