import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { setUnrefTimeout, sleep, systemClock, withTimeout } from '../clock';

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
}

/** Called with each message published on a channel listened to. */
type ChannelListener = (message: string) => void;

/** How long after a failed detection of the mode it is asked again, ms. */
const REDETECT_AFTER_MS = 1_000;

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
  /** Per channel listened to, its listeners and what settles when its SUBSCRIBE was answered (either way). */
  readonly #channels = new Map<string, { listeners: Set<ChannelListener>; subscribed: Promise<void> }>();
  #mode: Promise<PubSubMode | undefined> | undefined;
  /** After a failed detection: not asked again before this (system clock, epoch ms). */
  #detectAfter = 0;
  /** Whether the last PUBLISH / SUBSCRIBE failed: warn once per outage, not per write or wait. */
  readonly #failing = { publish: false, subscribe: false };
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
    this.#mode ??= this.#detectMode().then((mode) => {
      if (mode !== undefined) this.log.debug({ event: 'pubsub-mode', mode }, `notifications use ${mode} pub/sub`);
      else [this.#mode, this.#detectAfter] = [undefined, systemClock.now() + REDETECT_AFTER_MS];
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
    for (const { listeners } of [...this.#channels.values()]) for (const listener of [...listeners]) listener('closed');
    this.#channels.clear();
    this.#subscriber?.disconnect();
    this.#subscriber = undefined;
  }

  /**
   * Calls `listener` with every message on `channel` until the returned function is called; the
   * last listener to leave a channel unsubscribes it at once (the connection stays, for the next).
   */
  listen(channel: string, listener: ChannelListener): () => void {
    if (this.#closed) return () => undefined;
    let entry = this.#channels.get(channel);
    if (entry === undefined) {
      // #subscribe reads the map only after asking the mode: the entry is in it by then.
      this.#channels.set(channel, (entry = { listeners: new Set(), subscribed: this.#subscribe(channel) }));
    }
    const { listeners } = entry;
    // A set holds each function once: wrap, so one function may listen twice.
    const own: ChannelListener = (message) => listener(message);
    listeners.add(own);
    return () => {
      if (!listeners.delete(own) || listeners.size > 0 || this.#closed) return;
      this.#channels.delete(channel);
      // Chained on the mode like a SUBSCRIBE: one that follows for the channel is sent after this.
      void this.mode()
        .then((mode) => this.#subscriber?.[mode === 'sharded' ? 'sunsubscribe' : 'unsubscribe'](channel))
        .catch(() => undefined);
    };
  }

  /**
   * A lock wait on `channel`, woken by any message on it. Resolves once the channel's SUBSCRIBE
   * was answered (or failed), or after `timeoutMs`: a read after that cannot miss a notification
   * published later.
   */
  async watch(channel: string, timeoutMs: number): Promise<Watch> {
    let heard = false;
    let wake = (): void => undefined;
    const stop = this.listen(channel, () => {
      heard = true;
      wake();
    });
    const next = async (delayMs: number, signal: AbortSignal): Promise<void> => {
      // One sleep, cut short by a message, close() or the caller's signal (whose reason is then thrown).
      const woken = new AbortController();
      wake = () => woken.abort();
      if (heard || this.#closed || signal.aborted) woken.abort();
      signal.addEventListener('abort', () => woken.abort(), { once: true, signal: woken.signal });
      await sleep(systemClock, delayMs, woken.signal).catch(() => signal.throwIfAborted());
      woken.abort();
      heard = false;
    };
    const subscribed = this.#channels.get(channel)?.subscribed ?? Promise.resolve();
    await withTimeout(subscribed, systemClock, timeoutMs, () => new Error('not yet')).catch(() => undefined);
    return { next, stop };
  }

  async #subscribe(channel: string): Promise<void> {
    const mode = await this.mode();
    if (mode === undefined) {
      // Not known yet: try again shortly (the waiters poll, the managers' timers stay armed).
      const retry = (): void => {
        const entry = this.#closed ? undefined : this.#channels.get(channel);
        if (entry !== undefined) entry.subscribed = this.#subscribe(channel);
      };
      setUnrefTimeout(systemClock, retry, REDETECT_AFTER_MS);
      return;
    }
    // Unlistened (or closed) while the mode was asked: nothing to subscribe.
    if (this.#closed || !this.#channels.has(channel)) return;
    try {
      await this.#subscriberFor(mode)[mode === 'sharded' ? 'ssubscribe' : 'subscribe'](channel);
      this.#failing.subscribe = false;
    } catch (error) {
      const text = 'redis subscribe failed; waiters poll instead (check the ACL allows SUBSCRIBE on this channel)';
      this.#failed('subscribe', { event: 'subscribe-failed', channel, err: error }, text);
    }
  }

  /**
   * Logs a notification a store's script could not publish on `channel` (`error`: Redis's refusal,
   * or '' when it went out); never throws (waiters poll).
   */
  published(key: string, channel: string, error: unknown): void {
    if (typeof error !== 'string' || error === '') {
      this.#failing.publish = false;
      return;
    }
    const text = 'pub/sub notification failed; waiters fall back to polling (check the ACL allows PUBLISH on this';
    this.#failed('publish', { event: 'store-publish-failed', key, channel, err: new Error(error) }, `${text} channel)`);
  }

  /** Logs a failure at warn the first time in an outage, at debug while it lasts. */
  #failed(kind: 'publish' | 'subscribe', fields: object, text: string): void {
    this.log[this.#failing[kind] ? 'debug' : 'warn'](fields, text);
    this.#failing[kind] = true;
  }

  #subscriberFor(mode: PubSubMode): Redis | Cluster {
    if (this.#subscriber !== undefined) return this.#subscriber;
    // A subscribed connection can run no other command, hence the duplicate; its offline
    // queue holds the SUBSCRIBE until it connects, and ioredis re-subscribes after a
    // reconnect. Polling covers the moments before it is subscribed and any time it is down.
    // On a cluster, sharded: one subscriber per master, each SSUBSCRIBEd to the channels of its
    // own slots; classic: PUBLISH reaches every node, so one connection to any node hears all.
    const options = { enableOfflineQueue: true, ...(mode === 'sharded' ? { shardedSubscribers: true } : {}) };
    const subscriber = this.client.isCluster
      ? (this.client as Cluster).duplicate([], options as never)
      : (this.client as Redis).duplicate({ enableOfflineQueue: true });
    subscriber.on('error', (error: unknown) => {
      this.log.debug({ event: 'subscriber-error', err: error }, 'redis subscriber connection error; polling instead');
    });
    subscriber.on(mode === 'sharded' ? 'smessage' : 'message', (channel: string, message: string) => {
      for (const listener of [...(this.#channels.get(channel)?.listeners ?? [])]) listener(message);
    });
    return (this.#subscriber = subscriber);
  }

  /**
   * Redis ≥ 7 on a cluster, and an ioredis that routes SSUBSCRIBE per shard: sharded; else
   * classic; undefined when Redis could not be asked.
   */
  async #detectMode(): Promise<PubSubMode | undefined> {
    const { client } = this;
    if (!client.isCluster || !('shardedSubscribers' in (client as Cluster).options)) return 'classic';
    const info = await this.info().catch(() => undefined);
    if (info === undefined) return undefined;
    return Number(/redis_version:(\d+)/.exec(info)?.[1] ?? '0') >= 7 ? 'sharded' : 'classic';
  }
}
