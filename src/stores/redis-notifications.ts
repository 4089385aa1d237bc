import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { setUnrefTimeout, systemClock } from '../clock';

/** One pending lock wait: woken by a notification, a poll tick, `close()` or its signal. */
export interface Watch {
  /** Resolves on a notification (or one that came since the last call), after `delayMs`, or on close; rejects on abort. */
  next(delayMs: number, signal: AbortSignal): Promise<void>;
  /** Ends the wait: unsubscribes its channel when no other wait listens on it. */
  stop(): void;
  /**
   * Resolves once the channel's SUBSCRIBE was answered (or failed), or after `timeoutMs`: a
   * read after it cannot miss a notification published later.
   */
  subscribed(timeoutMs: number): Promise<void>;
}

/**
 * The pub/sub side of a {@link RedisTokenStore}: ONE subscriber connection for all of a
 * store's lock waits, whatever their keys. A channel is subscribed while some wait on it is
 * pending; the connection is opened for the first wait and closed when the last one ends,
 * so none is kept open between refreshes. A subscription that fails (an ACL without
 * channel permission, a down Redis) only costs promptness: waiters poll as well.
 */
export class RedisNotifications {
  #subscriber: Redis | Cluster | undefined;
  /** Per channel, the wakers of the waits listening on it. */
  readonly #waiters = new Map<string, Set<() => void>>();
  /** Per channel, settles when its SUBSCRIBE was answered (either way). */
  readonly #subscriptions = new Map<string, Promise<void>>();
  /** Whether the last SUBSCRIBE failed: warn once per outage, not per wait. */
  #subscribeFailing = false;
  #closed = false;

  constructor(
    private readonly client: Redis | Cluster,
    private readonly log: Logger,
  ) {}

  /** Wakes every pending wait (they see the store closed) and closes the connection. */
  close(): void {
    this.#closed = true;
    for (const wakers of this.#waiters.values()) for (const wake of wakers) wake();
    this.#dropSubscriber();
  }

  /** Listens on `channel` (on the shared subscriber connection) until the returned watch is stopped. */
  watch(channel: string): Watch {
    let pending = false;
    let wake: (() => void) | undefined;
    const waker = (): void => {
      pending = true;
      wake?.();
    };
    let wakers = this.#waiters.get(channel);
    if (wakers === undefined) {
      wakers = new Set();
      this.#waiters.set(channel, wakers);
      this.#subscribe(channel);
    }
    wakers.add(waker);
    return {
      next: (delayMs, signal) =>
        new Promise<void>((resolve, reject) => {
          if (pending || this.#closed) {
            pending = false;
            resolve();
            return;
          }
          const settle = (): void => {
            systemClock.clearTimeout(timer);
            signal.removeEventListener('abort', onAbort);
            wake = undefined;
            pending = false;
          };
          const onAbort = (): void => {
            settle();
            reject(signal.reason);
          };
          wake = () => {
            settle();
            resolve();
          };
          const timer = setUnrefTimeout(systemClock, wake, delayMs);
          signal.addEventListener('abort', onAbort, { once: true });
        }),
      stop: () => this.#unwatch(channel, waker),
      subscribed: (timeoutMs) =>
        new Promise<void>((resolve) => {
          const timer = setUnrefTimeout(systemClock, resolve, timeoutMs);
          void (this.#subscriptions.get(channel) ?? Promise.resolve()).then(() => {
            systemClock.clearTimeout(timer);
            resolve();
          });
        }),
    };
  }

  #unwatch(channel: string, waker: () => void): void {
    const wakers = this.#waiters.get(channel);
    if (wakers === undefined || !wakers.delete(waker) || wakers.size > 0) return;
    this.#waiters.delete(channel);
    this.#subscriptions.delete(channel);
    // No wait left at all: close the connection rather than keep one open between refreshes.
    if (this.#waiters.size === 0) this.#dropSubscriber();
    else this.#subscriber?.unsubscribe(channel).catch(() => undefined);
  }

  #subscribe(channel: string): void {
    const subscriber = this.#ensureSubscriber();
    const subscribed = subscriber?.subscribe(channel).then(
      () => {
        this.#subscribeFailing = false;
      },
      (error: unknown) => {
        const fields = { event: 'subscribe-failed', channel, err: error };
        const text = 'redis subscribe failed; waiters poll instead (check the ACL allows SUBSCRIBE on this channel)';
        if (this.#subscribeFailing) this.log.debug(fields, text);
        else this.log.warn(fields, text);
        this.#subscribeFailing = true;
      },
    );
    if (subscribed !== undefined) this.#subscriptions.set(channel, subscribed);
  }

  #ensureSubscriber(): Redis | Cluster | undefined {
    if (this.#subscriber !== undefined || this.#closed) return this.#subscriber;
    // A subscribed connection can run no other command, hence the duplicate; its offline
    // queue holds the SUBSCRIBE until it connects. Polling covers the moments before it is
    // subscribed and any time it is down.
    // On a Cluster, the duplicate subscribes through one node: a PUBLISH reaches every node.
    const client = this.client;
    const subscriber = client.isCluster ? (client as Cluster).duplicate([], { enableOfflineQueue: true }) : (client as Redis).duplicate({ enableOfflineQueue: true });
    subscriber.on('error', (error: unknown) => {
      this.log.debug({ event: 'subscriber-error', err: error }, 'redis subscriber connection error; polling instead');
    });
    subscriber.on('message', (channel: string) => {
      for (const wakeWaiter of this.#waiters.get(channel) ?? []) wakeWaiter();
    });
    this.#subscriber = subscriber;
    return subscriber;
  }

  #dropSubscriber(): void {
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    subscriber?.disconnect();
  }
}
