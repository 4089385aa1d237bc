import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { setUnrefTimeout, systemClock } from '../clock';
import type { TimerHandle } from '../clock';

/**
 * How long a channel stays subscribed after its last listener left: a lock wait that ends as
 * its manager starts to watch the session (the usual hand-over at start-up) keeps one
 * subscription instead of an UNSUBSCRIBE racing a new SUBSCRIBE.
 */
const UNSUBSCRIBE_AFTER_MS = 1_000;

/**
 * How a store's notifications travel: `sharded` (`SPUBLISH` / `SSUBSCRIBE`, Redis ≥ 7 on a
 * cluster: a message stays on the shard that owns its channel) or `classic` (`PUBLISH` /
 * `SUBSCRIBE`: on a cluster, broadcast to every node over the cluster bus).
 */
export type PubSubMode = 'sharded' | 'classic';

/** One pending lock wait: woken by a notification, a poll tick, `close()` or its signal. */
export interface Watch {
  /** Resolves on a notification (or one since the last call), after `delayMs`, or on close; rejects on abort. */
  next(delayMs: number, signal: AbortSignal): Promise<void>;
  /** Ends the wait: unsubscribes its channel when nothing else listens on it. */
  stop(): void;
  /**
   * Resolves once the channel's SUBSCRIBE was answered (or failed), or after `timeoutMs`: a
   * read after it cannot miss a notification published later.
   */
  subscribed(timeoutMs: number): Promise<void>;
}

/** Called with each message published on a channel listened to. */
export type ChannelListener = (message: string) => void;

/**
 * The pub/sub side of a {@link RedisTokenStore}: ONE subscriber connection for everything the
 * store listens to (lock waits, and the hand-overs of the sessions its managers hold), created
 * on first use and kept until `close()`; on a cluster with sharded pub/sub, one per shard (an
 * ioredis `Cluster` with `shardedSubscribers`). A channel is subscribed while something
 * listens on it. A subscription that fails (an ACL without channel permission, a down Redis)
 * only costs promptness: waiters poll, and a manager's own refresh timer stays armed.
 */
export class RedisNotifications {
  #subscriber: Redis | Cluster | undefined;
  /** Per channel, the listeners on it. */
  readonly #listeners = new Map<string, Set<ChannelListener>>();
  /** Per channel, settles when its SUBSCRIBE was answered (either way). */
  readonly #subscriptions = new Map<string, Promise<void>>();
  /** Per channel without listeners, the timer that unsubscribes it. */
  readonly #leaving = new Map<string, TimerHandle>();
  #mode: Promise<PubSubMode | undefined> | undefined;
  /** After a failed detection: not asked again before this (system clock, epoch ms). */
  #detectAfter = 0;
  /** Whether the last SUBSCRIBE failed: warn once per outage, not per wait. */
  #subscribeFailing = false;
  #closed = false;

  /** `info` runs `INFO server` with the store's connection wait and timeout (for {@link mode}). */
  constructor(
    private readonly client: Redis | Cluster,
    private readonly log: Logger,
    private readonly info: () => Promise<string>,
  ) {}

  /**
   * Sharded pub/sub on a cluster whose servers (Redis ≥ 7, one `INFO server`) and ioredis
   * (`shardedSubscribers`) support it, classic pub/sub otherwise. Asked once, on first use;
   * undefined while it cannot be asked (Redis down or too slow), and asked again a second later:
   * a replica that guessed would not hear the others.
   */
  mode(): Promise<PubSubMode | undefined> {
    if (this.#mode === undefined && systemClock.now() < this.#detectAfter) return Promise.resolve(undefined);
    this.#mode ??= detectMode(this.client, this.info).then((mode) => {
      if (mode === undefined) {
        this.#mode = undefined;
        this.#detectAfter = systemClock.now() + REDETECT_AFTER_MS;
        return undefined;
      }
      this.log.debug({ event: 'pubsub-mode', mode }, `notifications use ${mode} pub/sub`);
      return mode;
    });
    return this.#mode;
  }

  /** The command that publishes in this store's mode; both while the mode is not known yet. */
  async publishCommand(): Promise<'SPUBLISH' | 'PUBLISH' | 'BOTH'> {
    const mode = await this.mode();
    return mode === undefined ? 'BOTH' : mode === 'sharded' ? 'SPUBLISH' : 'PUBLISH';
  }

  /** Wakes every pending wait (they see the store closed) and closes the connection. */
  close(): void {
    this.#closed = true;
    for (const timer of this.#leaving.values()) systemClock.clearTimeout(timer);
    this.#leaving.clear();
    for (const listeners of [...this.#listeners.values()]) for (const listener of [...listeners]) listener('closed');
    this.#listeners.clear();
    this.#subscriptions.clear();
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    subscriber?.disconnect();
  }

  /** Calls `listener` with every message on `channel` until the returned function is called. */
  listen(channel: string, listener: ChannelListener): () => void {
    if (this.#closed) return () => undefined;
    const leaving = this.#leaving.get(channel);
    if (leaving !== undefined) systemClock.clearTimeout(leaving);
    this.#leaving.delete(channel);
    let listeners = this.#listeners.get(channel);
    if (listeners === undefined) {
      listeners = new Set();
      this.#listeners.set(channel, listeners);
      this.#subscriptions.set(channel, this.#subscribe(channel));
    }
    // A set holds each function once: wrap, so one function may listen twice.
    const own: ChannelListener = (message) => listener(message);
    listeners.add(own);
    return () => this.#unlisten(channel, own);
  }

  /** Settles once `channel`'s SUBSCRIBE was answered (either way), or after `timeoutMs`. */
  subscribed(channel: string, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setUnrefTimeout(systemClock, resolve, timeoutMs);
      void (this.#subscriptions.get(channel) ?? Promise.resolve()).then(() => {
        systemClock.clearTimeout(timer);
        resolve();
      });
    });
  }

  /** A lock wait on `channel`: woken by any message on it. */
  watch(channel: string): Watch {
    let pending = false;
    let wake: (() => void) | undefined;
    const stop = this.listen(channel, () => {
      pending = true;
      wake?.();
    });
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
      stop,
      subscribed: (timeoutMs) => this.subscribed(channel, timeoutMs),
    };
  }

  #unlisten(channel: string, listener: ChannelListener): void {
    const listeners = this.#listeners.get(channel);
    if (listeners === undefined || !listeners.delete(listener) || listeners.size > 0 || this.#closed) return;
    this.#leaving.set(
      channel,
      setUnrefTimeout(systemClock, () => this.#unsubscribe(channel), UNSUBSCRIBE_AFTER_MS),
    );
  }

  #unsubscribe(channel: string): void {
    this.#leaving.delete(channel);
    if ((this.#listeners.get(channel)?.size ?? 0) > 0) return;
    this.#listeners.delete(channel);
    this.#subscriptions.delete(channel);
    // The connection stays: the next wait or hand-over needs it again.
    const subscriber = this.#subscriber;
    if (subscriber === undefined) return;
    const unsubscribe = (mode: PubSubMode | undefined): Promise<unknown> =>
      mode === 'sharded' ? subscriber.sunsubscribe(channel) : subscriber.unsubscribe(channel);
    void this.mode()
      .then(unsubscribe)
      .catch(() => undefined);
  }

  async #subscribe(channel: string): Promise<void> {
    const mode = await this.mode();
    if (mode === undefined) {
      // Not known yet: try again shortly (the waiters poll, the managers' timers stay armed).
      setUnrefTimeout(systemClock, () => this.#resubscribe(channel), REDETECT_AFTER_MS);
      return;
    }
    const subscriber = this.#ensureSubscriber(mode);
    // Unlistened (or closed) while the mode was asked: nothing to subscribe.
    if (subscriber === undefined || !this.#listeners.has(channel)) return;
    try {
      await (mode === 'sharded' ? subscriber.ssubscribe(channel) : subscriber.subscribe(channel));
      this.#subscribeFailing = false;
    } catch (error) {
      const fields = { event: 'subscribe-failed', channel, err: error };
      const text = 'redis subscribe failed; waiters poll instead (check the ACL allows SUBSCRIBE on this channel)';
      if (this.#subscribeFailing) this.log.debug(fields, text);
      else this.log.warn(fields, text);
      this.#subscribeFailing = true;
    }
  }

  /** Subscribes `channel` again if it is still listened to (after the mode could not be asked). */
  #resubscribe(channel: string): void {
    if (this.#closed || !this.#listeners.has(channel)) return;
    this.#subscriptions.set(channel, this.#subscribe(channel));
  }

  #ensureSubscriber(mode: PubSubMode): Redis | Cluster | undefined {
    if (this.#subscriber !== undefined || this.#closed) return this.#subscriber;
    // A subscribed connection can run no other command, hence the duplicate; its offline
    // queue holds the SUBSCRIBE until it connects, and ioredis re-subscribes after a
    // reconnect. Polling covers the moments before it is subscribed and any time it is down.
    const client = this.client;
    let subscriber: Redis | Cluster;
    if (!client.isCluster) subscriber = (client as Redis).duplicate({ enableOfflineQueue: true });
    else if (mode === 'sharded') {
      // One subscriber per master, each SSUBSCRIBEd to the channels of its own slots.
      subscriber = (client as Cluster).duplicate([], { enableOfflineQueue: true, shardedSubscribers: true } as never);
    } else {
      // Classic PUBLISH reaches every node of a cluster: one connection to any node hears all.
      subscriber = (client as Cluster).duplicate([], { enableOfflineQueue: true });
    }
    subscriber.on('error', (error: unknown) => {
      this.log.debug({ event: 'subscriber-error', err: error }, 'redis subscriber connection error; polling instead');
    });
    const deliver = (channel: string, message: string): void => {
      for (const listener of [...(this.#listeners.get(channel) ?? [])]) listener(message);
    };
    subscriber.on(mode === 'sharded' ? 'smessage' : 'message', deliver);
    this.#subscriber = subscriber;
    return subscriber;
  }
}

/** How long after a failed detection of the mode it is asked again, ms. */
const REDETECT_AFTER_MS = 1_000;

/**
 * Redis ≥ 7 on a cluster, and an ioredis that routes SSUBSCRIBE per shard: sharded; else
 * classic; undefined when Redis could not be asked.
 */
async function detectMode(client: Redis | Cluster, info: () => Promise<string>): Promise<PubSubMode | undefined> {
  if (!client.isCluster) return 'classic';
  const options = (client as Cluster).options as { shardedSubscribers?: unknown };
  if (!('shardedSubscribers' in options)) return 'classic';
  try {
    const major = Number(/redis_version:(\d+)/.exec(await info())?.[1] ?? '0');
    return major >= 7 ? 'sharded' : 'classic';
  } catch {
    return undefined;
  }
}
