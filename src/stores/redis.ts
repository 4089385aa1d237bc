import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import type { Logger } from 'pino';
import { setUnrefTimeout, systemClock } from '../clock';
import type { TimerHandle } from '../clock';
import { TokenStoreError } from '../errors';
import { createLogger } from '../logger';
import type { TokenSet } from '../token-set';
import { FENCED_SET_SCRIPT, RELEASE_LOCK_SCRIPT, decodeSession, encodeSession, tokenSetProblem } from './redis-scripts';
import { resolveRedisTokenStoreOptions } from './redis-options';
import type { RedisTokenStoreOptions, ResolvedRedisTokenStoreOptions } from './redis-options';
import type { AcquireRefreshLockOptions, RefreshLock, RefreshLockResult, TokenStore } from './types';

/** The Redis names one {@link RedisTokenStore} uses. */
export interface RedisTokenStoreKeys {
  /** Holds the session as JSON `{ version, tokens }`, expiring with the refresh token. */
  readonly session: string;
  /** Held (`SET NX PX`) by the process that is refreshing. */
  readonly lock: string;
  /** Pub/sub channel: a new version was written, or the lock was released. */
  readonly channel: string;
}

/** Connection states in which a command could only wait in ioredis's queue. */
const DOWN_STATES: ReadonlySet<string> = new Set(['end', 'close', 'reconnecting']);

/** One pending lock wait: woken by a notification, a poll tick, `close()` or its signal. */
interface Watch {
  next(delayMs: number, signal: AbortSignal): Promise<void>;
  stop(): void;
}

/**
 * A {@link TokenStore} in Redis, shared by every replica of a service: they serve one
 * session and refresh it once between them, not once each.
 *
 * - The session is JSON under one key, expiring with the refresh token. A value that does
 *   not decode to a token set is logged and treated as absent.
 * - `acquireRefreshLock()` serialises refreshes across processes (`SET NX PX` with a random
 *   owner, released only by its owner); a waiter returns as soon as the holder publishes a
 *   new session, or takes the lock over when the holder released it or died.
 * - Writes are fenced: `set()` writes only if the stored version is still the one the last
 *   `get()` saw, so a writer that lost the lock never overwrites a newer session.
 *
 * Use one store per `TokenManager` (the store remembers the version its manager read). The
 * protocol and its failure modes are described in docs/scaling.md.
 *
 * @example
 * ```ts
 * import Redis from 'ioredis';
 * import { AlixAuthProvider, TokenManager } from 'alix-token-manager';
 * import { RedisTokenStore } from 'alix-token-manager/redis';
 *
 * const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
 *   enableOfflineQueue: false,
 *   maxRetriesPerRequest: 1,
 * });
 * const store = new RedisTokenStore({ client: redis, key: 'alix:my-partner:session' });
 * const manager = new TokenManager({
 *   provider: new AlixAuthProvider({
 *     baseUrl: 'https://api.alix.example',
 *     partnerCode: 'my-partner',
 *     secretKey: process.env.ALIX_SECRET_KEY ?? '',
 *     privateKey: '/etc/alix/partner-key.pem',
 *   }),
 *   store,
 * });
 * const token = await manager.getAccessToken();
 * // on shutdown
 * manager.close();
 * await store.close();
 * await redis.quit();
 * ```
 */
export class RedisTokenStore implements TokenStore {
  /** The Redis key, lock key and channel this store uses. */
  readonly keys: RedisTokenStoreKeys;
  readonly #client: Redis;
  readonly #options: ResolvedRedisTokenStoreOptions;
  readonly #log: Logger;
  /** The version the last `get()` read: the base of the next fenced `set()`. */
  #version: number | undefined;
  #subscriber: Redis | undefined;
  readonly #wakers = new Set<() => void>();
  #closed = false;

  /** @throws ConfigurationError when an option is invalid. */
  constructor(options: RedisTokenStoreOptions) {
    this.#options = resolveRedisTokenStoreOptions(options);
    this.#client = this.#options.client;
    this.#log = createLogger(options.logger, 'alix-token-manager/redis');
    const session = this.#options.key;
    this.keys = Object.freeze({ session, lock: `${session}:lock`, channel: `${session}:published` });
  }

  /**
   * Reads the session and remembers its version as the base of the next `set()`.
   * @throws TokenStoreError when Redis fails or does not answer within `commandTimeoutMs`.
   */
  async get(): Promise<TokenSet | undefined> {
    const stored = decodeSession(await this.#command('GET', () => this.#client.get(this.keys.session)));
    this.#version = stored.version;
    if (stored.problem !== undefined) {
      this.#log.warn(
        { event: 'store-value-invalid', key: this.keys.session, problem: stored.problem },
        'stored session is malformed; treating it as absent',
      );
    }
    return stored.tokens;
  }

  /**
   * Writes the session, expiring with its refresh token (or, without one, its access
   * token), and notifies waiting processes. Fenced: the write happens only if nobody wrote
   * since this store's last `get()`.
   * @throws TokenStoreError on a stale write (another process wrote a newer session), a
   *   malformed token set, or a Redis failure.
   */
  async set(tokens: TokenSet): Promise<void> {
    const problem = tokenSetProblem(tokens);
    if (problem !== undefined) throw new TokenStoreError(`refusing to store a malformed token set: ${problem}`);
    const base = this.#version ?? 0;
    const expiresAt = tokens.refreshTokenExpiresAt ?? tokens.accessTokenExpiresAt;
    const ttlMs = Math.max(1, Math.ceil(expiresAt - this.#options.now()));
    const reply = await this.#command('EVAL fenced-set', () =>
      this.#client.eval(FENCED_SET_SCRIPT, 1, this.keys.session, String(base), encodeSession(tokens, base + 1), String(ttlMs), this.keys.channel),
    );
    const [written, version] = Array.isArray(reply) ? (reply as unknown[]).map(Number) : [Number.NaN, Number.NaN];
    if (written !== 1) {
      throw new TokenStoreError(
        `stale write refused: the session at ${this.keys.session} is at version ${String(version)}, this write was based on version ${base}`,
      );
    }
    this.#version = version;
    this.#log.debug({ event: 'store-written', key: this.keys.session, version, ttlMs }, 'session written to redis');
  }

  /**
   * Deletes the session (unfenced).
   * @throws TokenStoreError when Redis fails.
   */
  async delete(): Promise<void> {
    await this.#command('DEL', () => this.#client.del(this.keys.session));
    this.#version = 0;
  }

  /**
   * Takes the cross-process refresh lock, or waits until the holder publishes a new
   * session (resolving `{ acquired: false }`: re-read the store). A lock freed without a
   * new session, or expired with its holder, is taken over.
   * @throws TokenStoreError when Redis fails, the store is closed, or `lockWaitMs` passes;
   *   the signal's reason when it aborts.
   */
  async acquireRefreshLock({ signal }: AcquireRefreshLockOptions): Promise<RefreshLockResult> {
    const owner = randomUUID();
    const deadline = systemClock.now() + this.#options.lockWaitMs;
    let baseline = this.#version;
    let watch: Watch | undefined;
    try {
      for (;;) {
        if (this.#closed) throw new TokenStoreError('the redis token store is closed');
        if (signal.aborted) throw signal.reason;
        if (await this.#trySetLock(owner, deadline)) {
          this.#log.debug({ event: 'lock-acquired', key: this.keys.lock }, 'refresh lock acquired');
          return { acquired: true, lock: this.#lockOwnedBy(owner) };
        }
        watch ??= this.#watch();
        const { version } = decodeSession(await this.#command('GET', () => this.#client.get(this.keys.session), this.#timeoutBefore(deadline)));
        baseline ??= version;
        if (version !== baseline) {
          this.#log.debug({ event: 'lock-wait-published', key: this.keys.session, version }, 'another process published a new session');
          return { acquired: false };
        }
        const remainingMs = deadline - systemClock.now();
        if (remainingMs <= 0) {
          throw new TokenStoreError(`refresh lock ${this.keys.lock} still held after waiting ${this.#options.lockWaitMs} ms`);
        }
        await watch.next(Math.min(this.#options.pollIntervalMs, remainingMs), signal);
      }
    } finally {
      watch?.stop();
    }
  }

  /**
   * Ends pending lock waits (they reject) and the subscriber connection; later waits
   * reject, so a manager refreshes on its own. The client you passed stays open: quit it
   * yourself.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const wake of this.#wakers) wake();
    this.#dropSubscriber();
  }

  async #trySetLock(owner: string, deadline: number): Promise<boolean> {
    try {
      const reply = await this.#command(
        'SET NX',
        () => this.#client.set(this.keys.lock, owner, 'PX', Math.ceil(this.#options.lockTtlMs), 'NX'),
        this.#timeoutBefore(deadline),
      );
      return reply === 'OK';
    } catch (error) {
      // A SET that timed out here may still run on the server; the release queued behind it
      // on the same connection undoes it, so no lock is left without an owner.
      this.#release(owner).catch(() => undefined);
      throw error;
    }
  }

  #lockOwnedBy(owner: string): RefreshLock {
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        if (!(await this.#release(owner))) {
          this.#log.warn(
            { event: 'lock-expired', key: this.keys.lock, lockTtlMs: this.#options.lockTtlMs },
            'the refresh lock expired before its holder released it; consider a longer lockTtlMs',
          );
        }
      },
    };
  }

  async #release(owner: string): Promise<boolean> {
    const reply = await this.#command('EVAL release', () =>
      this.#client.eval(RELEASE_LOCK_SCRIPT, 1, this.keys.lock, owner, this.keys.channel),
    );
    return Number(reply) === 1;
  }

  /** Subscribes (lazily, on a duplicate connection) for as long as some wait is pending. */
  #watch(): Watch {
    let pending = false;
    let wake: (() => void) | undefined;
    const waker = (): void => {
      pending = true;
      wake?.();
    };
    this.#wakers.add(waker);
    this.#ensureSubscriber();
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
      stop: () => {
        this.#wakers.delete(waker);
        if (this.#wakers.size === 0) this.#dropSubscriber();
      },
    };
  }

  #ensureSubscriber(): void {
    if (this.#subscriber !== undefined || this.#closed) return;
    // A subscribed connection can run no other command, hence the duplicate. Polling
    // covers the moments before it is subscribed and any time it is down.
    const subscriber = this.#client.duplicate({ enableOfflineQueue: true });
    subscriber.on('error', (error: unknown) => {
      this.#log.debug({ event: 'subscriber-error', err: error }, 'redis subscriber connection error; polling instead');
    });
    subscriber.on('message', (channel: string) => {
      if (channel !== this.keys.channel) return;
      for (const wakeWaiter of this.#wakers) wakeWaiter();
    });
    subscriber.subscribe(this.keys.channel).catch((error: unknown) => {
      this.#log.debug({ event: 'subscribe-failed', err: error }, 'redis subscribe failed; polling instead');
    });
    this.#subscriber = subscriber;
  }

  #dropSubscriber(): void {
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    subscriber?.disconnect();
  }

  #timeoutBefore(deadline: number): number {
    return Math.max(1, Math.min(this.#options.commandTimeoutMs, deadline - systemClock.now()));
  }

  /** Runs one command, failing fast while the client is disconnected and after `timeoutMs`. */
  async #command<T>(operation: string, run: () => Promise<T>, timeoutMs = this.#options.commandTimeoutMs): Promise<T> {
    const where = `redis ${operation} on ${this.keys.session}`;
    const status = this.#client.status;
    if (DOWN_STATES.has(status)) throw new TokenStoreError(`${where} failed: the connection is ${status}`);
    let timer: TimerHandle | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setUnrefTimeout(systemClock, () => reject(new TokenStoreError(`${where} timed out after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([run(), timeout]);
    } catch (error) {
      if (error instanceof TokenStoreError) throw error;
      throw new TokenStoreError(`${where} failed`, { cause: error });
    } finally {
      if (timer !== undefined) systemClock.clearTimeout(timer);
    }
  }
}
