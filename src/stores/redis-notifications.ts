import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { setUnrefTimeout, systemClock, withTimeout } from '../clock';
import type { TimerHandle } from '../clock';
import { sanitizeCause } from '../redaction';
import { waitWithSignal } from '../wait-with-signal';

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
}

/** Called with each message published on a channel listened to. */
export type ChannelListener = (message: string) => void;

/**
 * The pub/sub side of a {@link RedisTokenStore}: ONE subscriber connection for everything the
 * store listens to (lock waits, and the hand-overs of the sessions its managers hold), created
 * on first use and kept until `close()` (made again once the client is ready, if its retryStrategy
 * gave up); on a cluster with sharded pub/sub, one per shard (an ioredis `Cluster` with
 * `shardedSubscribers`). A channel is subscribed while something listens on it. A subscription
 * that fails (an ACL without channel permission, a down Redis) only costs promptness: waiters
 * poll, and a manager's own refresh timer stays armed.
 */
export class RedisNotifications {
  #subscriber: Redis | Cluster | undefined;
  /** Resolves when the subscriber connection is next ready; undefined while it is (see #whenReady). */
  #ready: Promise<void> | undefined;
  /** Per channel, the listeners on it. */
  readonly #listeners = new Map<string, Set<ChannelListener>>();
  /** Per channel, settles when its SUBSCRIBE was answered (either way). */
  readonly #subscriptions = new Map<string, Promise<void>>();
  /** Per channel without listeners, the timer that unsubscribes it. */
  readonly #leaving = new Map<string, TimerHandle>();
  /** The timers that subscribe channels again: once the mode may be known, or the client is back (close() clears). */
  readonly #retrying = new Set<TimerHandle>();
  /** Subscribes again once the client is ready (close() takes it off: the client is the user's). */
  #onClientReady: (() => void) | undefined;
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
    this.#mode ??= detectMode(this.client, this.info).then((mode) => {
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
    for (const timer of [...this.#leaving.values(), ...this.#retrying]) systemClock.clearTimeout(timer);
    for (const listeners of [...this.#listeners.values()]) for (const listener of [...listeners]) listener('closed');
    this.#listeners.clear();
    this.#subscriptions.clear();
    this.#subscriber?.disconnect();
    this.#subscriber = undefined;
    if (this.#onClientReady !== undefined) this.client.off('ready', this.#onClientReady);
  }

  /** Calls `listener` with every message on `channel` until the returned function is called. */
  listen(channel: string, listener: ChannelListener): () => void {
    if (this.#closed) return () => undefined;
    const leaving = this.#leaving.get(channel);
    if (leaving !== undefined) systemClock.clearTimeout(leaving);
    this.#leaving.delete(channel);
    const listeners = this.#listeners.get(channel) ?? new Set();
    if (!this.#listeners.has(channel)) {
      this.#listeners.set(channel, listeners);
      this.#subscriptions.set(channel, this.#subscribe(channel));
    }
    // A set holds each function once: wrap, so one function may listen twice.
    const own: ChannelListener = (message) => listener(message);
    listeners.add(own);
    return () => {
      if (!listeners.delete(own) || listeners.size > 0 || this.#closed) return;
      const unsubscribe = (): void => this.#unsubscribe(channel);
      this.#leaving.set(channel, setUnrefTimeout(systemClock, unsubscribe, UNSUBSCRIBE_AFTER_MS));
    };
  }

  /**
   * A lock wait on `channel`, woken by any message on it. Resolves once the channel's SUBSCRIBE
   * was answered (or failed), or after `timeoutMs`: a read after that cannot miss a notification
   * published later.
   */
  async watch(channel: string, timeoutMs: number): Promise<Watch> {
    let pending = false;
    let wake: (() => void) | undefined;
    // A message wakes the wait in progress, or else makes the next one return at once.
    const stop = this.listen(channel, () => {
      if (wake === undefined) pending = true;
      wake?.();
      wake = undefined;
    });
    const next = (delayMs: number, signal: AbortSignal): Promise<void> => {
      if (pending || this.#closed) {
        pending = false;
        return Promise.resolve();
      }
      let timer: TimerHandle | undefined;
      const woken = new Promise<void>((resolve) => {
        wake = resolve;
        timer = setUnrefTimeout(systemClock, resolve, delayMs);
      });
      // The signal ends this wait only (an already aborted one at once); the timer goes either way.
      return waitWithSignal(woken, signal, () => signal.reason).finally(() => {
        if (timer !== undefined) systemClock.clearTimeout(timer);
        wake = undefined;
      });
    };
    const subscription = this.#subscriptions.get(channel) ?? Promise.resolve();
    await withTimeout(subscription, systemClock, timeoutMs, () => new Error('not yet')).catch(() => undefined);
    return { next, stop };
  }

  #unsubscribe(channel: string): void {
    this.#leaving.delete(channel);
    this.#listeners.delete(channel);
    this.#subscriptions.delete(channel);
    // The connection stays: the next wait or hand-over needs it again.
    const subscriber = this.#subscriber;
    if (subscriber === undefined) return;
    void this.mode()
      .then(async (mode) => {
        await this.#whenReady(subscriber);
        return mode === 'sharded' ? subscriber.sunsubscribe(channel) : subscriber.unsubscribe(channel);
      })
      .catch(() => undefined);
  }

  async #subscribe(channel: string): Promise<void> {
    const mode = await this.mode();
    if (mode === undefined) {
      // Not known yet: try again shortly (the waiters poll, the managers' timers stay armed).
      return this.#later(() => {
        if (!this.#closed && this.#listeners.has(channel)) this.#subscriptions.set(channel, this.#subscribe(channel));
      });
    }
    // Unlistened (or closed) while the mode was asked: nothing to subscribe.
    if (!this.#listeners.has(channel)) return;
    const subscriber = this.#ensureSubscriber(mode);
    try {
      await this.#whenReady(subscriber);
      if (!this.#listeners.has(channel)) return;
      await (mode === 'sharded' ? subscriber.ssubscribe(channel) : subscriber.subscribe(channel));
      this.#note('subscribe');
    } catch (error) {
      const text = 'redis subscribe failed; waiters poll instead (check the ACL allows SUBSCRIBE on this channel)';
      this.#note('subscribe', [{ event: 'subscribe-failed', channel, err: sanitizeCause(error) }, text]);
    }
  }

  /** Runs `run` after {@link REDETECT_AFTER_MS}, unless closed first. */
  #later(run: () => void): void {
    const timer = setUnrefTimeout(systemClock, () => this.#retrying.delete(timer) && run(), REDETECT_AFTER_MS);
    this.#retrying.add(timer);
  }

  /**
   * Logs a notification a store's script could not publish on `channel` (`error`: Redis's refusal,
   * or '' when it went out); never throws (waiters poll).
   */
  published(key: string, channel: string, error: unknown): void {
    if (typeof error !== 'string' || error === '') return this.#note('publish');
    const text = 'pub/sub notification failed; waiters fall back to polling (check the ACL allows PUBLISH on this';
    this.#note('publish', [{ event: 'store-publish-failed', key, channel, err: new Error(error) }, `${text} channel)`]);
  }

  /** Notes how a publish or subscribe went: a failure is logged at warn the first time in an outage, at debug after. */
  #note(kind: 'publish' | 'subscribe', failure?: [fields: object, text: string]): void {
    if (failure !== undefined) this.log[this.#failing[kind] ? 'debug' : 'warn'](...failure);
    this.#failing[kind] = failure !== undefined;
  }

  /**
   * Resolves once `subscriber` is ready (at once when it is). A (un)subscribe is sent only then: ioredis writes one
   * asked during its connection handshake ahead of its ready check, whose INFO Redis refuses in subscriber mode, and
   * drops the connection with the subscriptions it held (ioredis#2037).
   */
  #whenReady(subscriber: Redis | Cluster): Promise<void> {
    if (subscriber.status === 'ready') return Promise.resolve();
    this.#ready ??= new Promise<void>((resolve) => subscriber.once('ready', resolve)).then(() => {
      this.#ready = undefined;
    });
    return this.#ready;
  }

  #ensureSubscriber(mode: PubSubMode): Redis | Cluster {
    if (this.#subscriber !== undefined) return this.#subscriber;
    // A subscribed connection can run no other command, hence the duplicate; a SUBSCRIBE waits
    // until it is ready, and ioredis re-subscribes after a reconnect. Polling covers the
    // moments before it is subscribed and any time it is down.
    // On a cluster, sharded: one subscriber per master, each SSUBSCRIBEd to the channels of its
    // own slots; classic: PUBLISH reaches every node, so one connection to any node hears all.
    const options = { enableOfflineQueue: true, ...(mode === 'sharded' ? { shardedSubscribers: true } : {}) };
    const subscriber = this.client.isCluster
      ? (this.client as Cluster).duplicate([], options as never)
      : (this.client as Redis).duplicate({ enableOfflineQueue: true });
    // ioredis hangs the failed command on its error: a refused AUTH's arguments are the password.
    subscriber.on('error', (error: unknown) => {
      const err = sanitizeCause(error);
      this.log.debug({ event: 'subscriber-error', err }, 'redis subscriber connection error; polling instead');
    });
    subscriber.on(mode === 'sharded' ? 'smessage' : 'message', (channel: string, message: string) => {
      for (const listener of [...(this.#listeners.get(channel) ?? [])]) listener(message);
    });
    // Once its retryStrategy gives up, it is made again when the client is ready again (at once if it is: after a
    // second), so notifications come back with the client.
    subscriber.once('end', () => {
      if (this.#subscriber !== subscriber) return;
      [this.#subscriber, this.#ready] = [undefined, undefined];
      const text = 'the redis subscriber connection gave up reconnecting; waiters poll until the client is ready again';
      this.log.warn({ event: 'subscriber-ended' }, text);
      const again = (): void => {
        this.#onClientReady = undefined;
        for (const channel of this.#listeners.keys()) this.#subscriptions.set(channel, this.#subscribe(channel));
      };
      // One wait for the client is enough: it subscribes every channel again.
      if (this.client.status === 'ready') this.#later(again);
      else if (this.#onClientReady === undefined) this.client.once('ready', (this.#onClientReady = again));
    });
    this.#subscriber = subscriber;
    // A lazy client's copy is lazy too, and no command is sent to it before it is ready (#whenReady).
    if (subscriber.status === 'wait') subscriber.connect().catch(() => undefined);
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
  if (!client.isCluster || !('shardedSubscribers' in (client as Cluster).options)) return 'classic';
  try {
    const major = Number(/redis_version:(\d+)/.exec(await info())?.[1]);
    return major >= 7 ? 'sharded' : 'classic';
  } catch {
    return undefined;
  }
}
