import { createHash, randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { MAX_TIMER_DELAY_MS, setUnrefInterval, systemClock } from '../clock';
import { assertPositiveMs, definedOnly } from '../defaults';
import { ErrorCodes, TokenStoreError, assertConfig } from '../errors';
import { createLogger } from '../logger';
import { waitWithSignal } from '../wait-with-signal';
import {
  assertStorable,
  EXTEND_LOCK_SCRIPT,
  FENCED_SET_SCRIPT,
  RELEASE_LOCK_SCRIPT,
  decodeSession,
  encodeSession,
} from './redis-scripts';
import type { DecodedSession } from './redis-scripts';
import { UnreadableSessionError, openStored, resolveTokenEncryption, sealSession } from './encryption';
import type { TokenEncryptionOptions } from './encryption';
import { resolveAuthBreakerOptions, setRecent } from './memory-breaker';
import type { AuthBreakerOptions } from './memory-breaker';
import { RedisAuthBreaker } from './redis-breaker';
import { RedisCommands } from './redis-commands';
import { RedisNotifications } from './redis-notifications';
import type { PubSubMode, Watch } from './redis-notifications';
import type {
  AcquireRefreshLockOptions,
  AuthBreaker,
  RefreshLock,
  RefreshLockResult,
  StoredSession,
  TokenStore,
} from './types';

/** Options of the fleet-wide breaker a {@link RedisTokenStoreOptions} store keeps in Redis. */
export interface RedisAuthBreakerOptions extends AuthBreakerOptions {
  /**
   * The prefix of the breaker's keys: `{<key>}:tripped`, `{<key>}:open`, `{<key>}:probe`,
   * `{<key>}:failures` (one hash tag: one cluster slot). Replicas that share it share the breaker.
   * @default 'alix-token-manager:breaker'
   */
  key?: string | undefined;
}

/** Options of {@link RedisTokenStore}. */
export interface RedisTokenStoreOptions {
  /**
   * An ioredis client: standalone, Sentinel (`new Redis({ sentinels, name })`) or Cluster
   * (`new Redis.Cluster(nodes)`). You own it: the store never quits it, and
   * connects it only when it was created with `lazyConnect: true` and has not connected yet
   * (as ioredis itself would on the first command). Give it `enableOfflineQueue: false` and
   * a small `maxRetriesPerRequest`, so a command fails at once while Redis is down instead
   * of waiting in a queue.
   *
   * The store holds any number of sessions: the manager names each one's key `<key>` (by
   * default `alix-token-manager:session:<identity id>`); in Redis the session is `{<key>}`, its
   * lock `{<key>}:lock` and its notification channel `{<key>}:published` (hash-tagged, so one
   * cluster slot; a key that already has a hash tag is used as it is, and may not be another key's name: `{k}` (the
   * session of `k`), a lock (`…:lock`) or the breaker's keys; nor may a key start with `}`, which cannot be tagged).
   */
  client: Redis | Cluster;
  /**
   * The breaker shared by every replica on this Redis (see `TokenManagerOptions.breaker`);
   * `false` for none (managers then use no breaker unless given one).
   * @default DEFAULT_AUTH_BREAKER_OPTIONS, key 'alix-token-manager:breaker'
   */
  breaker?: RedisAuthBreakerOptions | false | undefined;
  /**
   * How long the refresh lock lives if its holder never releases it (a crashed process), in
   * ms. Keep it above the longest refresh, retries included.
   * @default 30_000
   */
  lockTtlMs?: number | undefined;
  /**
   * The longest a process waits for another's refresh before it gives up and refreshes on
   * its own, in ms. Must exceed `lockTtlMs`, so that a crashed holder's lock can expire and
   * be taken over within the wait.
   * @default 45_000
   */
  lockWaitMs?: number | undefined;
  /**
   * While waiting, the store and the lock are re-checked this often in case a pub/sub
   * notification was missed (or the holder died), in ms.
   * @default 500
   */
  pollIntervalMs?: number | undefined;
  /**
   * Each Redis command is given up after this long, in ms, so an unreachable Redis never
   * holds a refresh up for long.
   * @default 1_000
   */
  commandTimeoutMs?: number | undefined;
  /**
   * While the client is still connecting (a store used straight after `new Redis(…)`), a
   * command waits this long for the connection to become ready, in ms, before it fails.
   * A connection attempt that fails ends the wait at once.
   * @default 2_000
   */
  connectTimeoutMs?: number | undefined;
  /**
   * Encrypts every session at rest (AES-256-GCM; the store key and identity are authenticated
   * with it): `{ keys: { [keyId]: key }, current: keyId }` with 32-byte keys (Buffers or
   * base64), or `{ cipher }` for a KMS. A value that does not open counts as no stored session, and
   * so does a plaintext one, unless `readPlaintext: true` (the migration switch: read once, re-written
   * sealed; it lets anyone who can write to Redis plant a session). See docs/security.md.
   * @default no encryption
   */
  encryption?: TokenEncryptionOptions | undefined;
  /**
   * A pino logger; the store logs through a child of it with secrets redacted.
   * @default a silent logger
   */
  logger?: Logger | undefined;
  /**
   * The clock token expiries are measured against (for the key's TTL), epoch ms. Use the
   * manager's `now`.
   * @default the system clock
   */
  now?: (() => number) | undefined;
}

/** Defaults of {@link RedisTokenStoreOptions}. */
export const DEFAULT_REDIS_TOKEN_STORE_OPTIONS = Object.freeze({
  lockTtlMs: 30_000,
  lockWaitMs: 45_000,
  pollIntervalMs: 500,
  commandTimeoutMs: 1_000,
  connectTimeoutMs: 2_000,
  now: (): number => systemClock.now(),
  breakerKey: 'alix-token-manager:breaker',
});

/** The methods a client must have: a Redis, a Sentinel-configured Redis and a Cluster all have these. */
const CLIENT_METHODS = ['getBuffer', 'set', 'del', 'eval', 'publish', 'duplicate', 'connect', 'once', 'off'] as const;
const DURATIONS = ['lockTtlMs', 'lockWaitMs', 'pollIntervalMs', 'commandTimeoutMs', 'connectTimeoutMs'] as const;

/**
 * Merges the defaults and validates; bad options throw at construction. The result has every default
 * applied and `encryption` resolved (undefined without); the logger and breaker are resolved apart.
 */
function resolveRedisTokenStoreOptions(options: RedisTokenStoreOptions) {
  assertConfig(typeof options === 'object' && options !== null, 'RedisTokenStore needs an options object');
  const client = options.client as Partial<Redis> | undefined;
  const isClient = CLIENT_METHODS.every((method) => typeof client?.[method] === 'function');
  assertConfig(isClient, 'RedisTokenStore option client must be an ioredis client');
  // Version 1 took one key per store; JavaScript callers would otherwise pass it unnoticed.
  const why = 'one store holds every session, and the manager names each key (its storeKey option)';
  assertConfig(!('key' in options), `RedisTokenStore option key was removed in version 2: ${why}`);
  // The key material stays with the cipher alone.
  const { logger: _logger, breaker: _breaker, encryption: option, ...rest } = options;
  const encryption = resolveTokenEncryption(option, 'RedisTokenStore');
  const resolved = { ...DEFAULT_REDIS_TOKEN_STORE_OPTIONS, ...definedOnly(rest), encryption };
  for (const name of DURATIONS) assertPositiveMs(`RedisTokenStore option ${name}`, resolved[name]);
  const { lockWaitMs, lockTtlMs } = resolved;
  const exceeds = `RedisTokenStore option lockWaitMs (${lockWaitMs}) must exceed lockTtlMs (${lockTtlMs})`;
  assertConfig(lockWaitMs > lockTtlMs, `${exceeds} so a crashed holder's lock can be taken over`);
  assertConfig(typeof resolved.now === 'function', 'RedisTokenStore option now must be a function');
  return resolved;
}

/**
 * The Redis names a {@link RedisTokenStore} uses for one session key `<key>`: `{<key>}`,
 * `{<key>}:lock`, `{<key>}:published`. The hash tag puts all three in one cluster slot; a
 * key that already holds a hash tag (`a{b}c`) is used as it is, with `:lock` and
 * `:published` appended.
 */
export interface RedisTokenStoreKeys {
  /** Holds the session as JSON `{ version, identity, tokens }` (`sealed` when encrypted), expiring with it. */
  readonly session: string;
  /** Held (`SET NX PX`) by the process that is refreshing this session. */
  readonly lock: string;
  /** Pub/sub channel: a new version was written, or the lock was released. */
  readonly channel: string;
}

/** A Redis Cluster hash tag: the first `{`, then something, then the first `}` after it. */
const HASH_TAG = /^[^{]*\{[^}]+\}/;

/**
 * How many session versions a store remembers, least recently used dropped first (a pool may touch any number of
 * sessions). A key whose lock the store holds keeps its base in the hold, so a refresh's write never loses it to
 * other keys' reads; a forgotten key's write without the lock is refused as stale, never written over a newer one
 * (the manager re-reads the key, and writes again unless the stored session is newer).
 */
const MAX_TRACKED_VERSIONS = 10_000;

/** What a fenced write is based on: the version last read or written, and the digest of that value ('' for none). */
type WriteBase = { readonly version: number; readonly digest: string };

/** The base of a key this store has not read: absent. */
const ABSENT: WriteBase = Object.freeze({ version: 0, digest: '' });

/** The longest a session key lives, in ms (about 285 000 years): "never" in a PX that Redis accepts. */
const MAX_TTL_MS = Number.MAX_SAFE_INTEGER;

/** How much earlier than `Date.now()` says a timer of ours may fire, in ms. */
const TIMER_SLACK_MS = 5;

/** The scripts that may publish on a session's channel: how errors name each, and the key it runs on besides. */
const FENCED_SET = { operation: 'EVAL fenced-set', script: FENCED_SET_SCRIPT, first: 'session' } as const;
const RELEASE = { operation: 'EVAL release', script: RELEASE_LOCK_SCRIPT, first: 'lock' } as const;
type PublishingScript = typeof FENCED_SET | typeof RELEASE;

/**
 * A {@link TokenStore} in Redis, shared by every replica of a service: they serve each
 * session and refresh it once between them, not once each. One store holds any number of
 * sessions, each under the key its manager names.
 *
 * - A session is JSON under its key, expiring with the refresh token. A value that does
 *   not decode to a session (including one written by version 1, which has no identity) is
 *   logged and treated as absent. With `encryption`, the tokens are sealed (AES-256-GCM,
 *   bound to the key and identity); a value that does not open is reported and treated as absent.
 * - `acquireRefreshLock(key)` serialises refreshes of one session across processes
 *   (`SET NX PX` on `<key>:lock` with a random owner, released only by its owner); a waiter
 *   returns as soon as the holder publishes a new session, or takes the lock over when the
 *   holder released it or died. All waits share one subscriber connection.
 * - Writes are fenced per key: `set(key)` writes only if the stored version is still the
 *   one this store's last `get(key)` saw, so a writer that lost the lock never overwrites a
 *   newer session.
 * - A client still connecting is waited for (up to `connectTimeoutMs`); a notification
 *   that cannot be published (an ACL without channel permission) is logged, and waiters
 *   fall back to polling: the write itself still succeeds.
 *
 * Use one store per process (or per client); within it, one manager per key, since the
 * store remembers the version each key's manager last read. The protocol, the keys and the
 * ACL the store needs are in docs/scaling.md.
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
 * const store = new RedisTokenStore({ client: redis });
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
  /**
   * The auth breaker every replica on this Redis shares (managers on this store use it by
   * default); undefined with `breaker: false`.
   */
  readonly breaker: AuthBreaker | undefined;
  readonly #options: ReturnType<typeof resolveRedisTokenStoreOptions>;
  readonly #log: Logger;
  readonly #commands: RedisCommands;
  readonly #notifications: RedisNotifications;
  /**
   * Per key, the version the last `get()` read and the digest of that value (a version number alone
   * recurs once a key is deleted and written again): the base of the next fenced `set()`. Least
   * recently used first.
   */
  readonly #versions = new Map<string, WriteBase>();
  /** Per key, the version this store is writing now: Redis may deliver its notification before the write's reply. */
  readonly #writing = new Map<string, number>();
  /**
   * Per key, the lock this store holds on it now (while its watchdog runs): whether a write published during the hold,
   * and its write base.
   */
  readonly #holds = new Map<string, { published: boolean; base?: WriteBase }>();
  /** The stop functions of the lock watchdogs running now (close() stops them). */
  readonly #watchdogs = new Set<() => void>();
  /** How the breaker's keys start (no session key may). */
  readonly #breakerTag: string;
  #closed = false;

  /** @throws ConfigurationError when an option is invalid. */
  constructor(options: RedisTokenStoreOptions) {
    const resolved = (this.#options = resolveRedisTokenStoreOptions(options));
    this.#log = createLogger(options.logger, 'alix-token-manager/redis');
    const commands = (this.#commands = new RedisCommands(options.client, resolved, this.#log));
    const info = (): Promise<string> => commands.run('INFO', 'server', () => commands.client.info('server'));
    this.#notifications = new RedisNotifications(options.client, this.#log, info);
    const { key = DEFAULT_REDIS_TOKEN_STORE_OPTIONS.breakerKey, ...breaker } = options.breaker || {};
    this.#breakerTag = `{${key}:`;
    if (options.breaker === false) return;
    const keyProblem = 'RedisTokenStore option breaker.key must be a non-empty string';
    assertConfig(typeof key === 'string' && key !== '', keyProblem);
    const now = breaker.now ?? resolved.now;
    const breakerOptions = resolveAuthBreakerOptions({ ...breaker, now }, 'RedisTokenStore breaker');
    this.breaker = new RedisAuthBreaker(commands, { ...breakerOptions, key }, this.#log);
  }

  /** The Redis key, lock key and channel used for the session stored under `key` (see {@link RedisTokenStoreKeys}). */
  keysFor(key: string): RedisTokenStoreKeys {
    const session = HASH_TAG.test(key) ? key : `{${key}}`;
    return { session, lock: `${session}:lock`, channel: `${session}:published` };
  }

  /**
   * Reads the session under `key` and remembers its version as the base of the next
   * `set(key)`. With encryption, opens it (a plaintext value is refused, or with `readPlaintext` re-written sealed).
   * @throws TokenStoreError when Redis fails or does not answer within `commandTimeoutMs`;
   *   {@link UnreadableSessionError} when the value does not open or is in plaintext (the manager treats it as
   *   absent).
   */
  async get(key: string): Promise<StoredSession | undefined> {
    const { version, session, problem, digest } = await this.#read(assertKey(key, this.#breakerTag));
    this.#track(key, { version, digest });
    const malformed = 'stored session is malformed; treating it as absent';
    if (problem !== undefined) this.#log.warn({ event: 'store-value-invalid', key, problem }, malformed);
    const opening = openStored(this.#options.encryption, key, session, async (plain) => {
      const text = 'a stored session is in plaintext; re-writing it encrypted';
      this.#commands.warnOnce('store-value-plaintext', { key }, text);
      await this.#write(key, plain, false).catch((error: unknown) => {
        const text = 'could not re-write the plaintext session; the next refresh will';
        this.#log.debug({ event: 'store-value-plaintext', key, err: error }, text);
      });
    });
    return opening.catch((error: unknown) => {
      const text = 'a stored session does not decrypt (altered, moved, in plaintext, or under an unlisted key)';
      if (error instanceof UnreadableSessionError)
        this.#commands.warnOnce('store-value-unreadable', { key }, `${text}; treated as absent`);
      throw error;
    });
  }

  /**
   * Writes the session under `key`, expiring with its refresh token (or, without one, its
   * access token), then notifies waiting processes. Fenced: the write happens only if
   * nobody wrote since this store's last `get(key)`. A notification that fails is logged
   * (`store-publish-failed`), not thrown: the session is written and waiters poll.
   * @throws TokenStoreError on a stale write (another process wrote a newer session, or this store forgot its read;
   *   code `ERR_ALIX_STORE_STALE_WRITE`), a malformed session, or a Redis failure of the write itself.
   */
  async set(key: string, session: StoredSession): Promise<void> {
    assertStorable(assertKey(key, this.#breakerTag), session);
    await this.#write(key, session, true);
  }

  /**
   * The fenced write of `set()`; with `notify`, the same script publishes the new version on the
   * key's channel (one command).
   */
  async #write(key: string, session: StoredSession, notify: boolean): Promise<void> {
    const { encryption, now } = this.#options;
    const { version: base, digest } = this.#versions.get(key) ?? this.#holds.get(key)?.base ?? ABSENT;
    const expiresAt = session.tokens.refreshTokenExpiresAt ?? session.tokens.accessTokenExpiresAt;
    // Capped: Redis refuses a PX it cannot add to its clock (and `String()` writes 1e+21 and up in exponent form).
    const ttlMs = Math.min(MAX_TTL_MS, Math.max(1, Math.ceil(expiresAt - now())));
    const sealed = encryption === undefined ? session : await sealSession(encryption.cipher, key, session);
    const value = encodeSession(sealed, base + 1);
    const args = [String(base), value, String(ttlMs), digest];
    this.#writing.set(key, base + 1);
    const fencedSet = (): Promise<unknown[]> => this.#evalPublishing(FENCED_SET, key, args, notify);
    // Tried twice: a write lost to one failed command would leave the fleet the spent refresh token (the
    // script sees its own value already written as a success, so a retry after a lost reply is no stale write).
    const writing = fencedSet().catch(fencedSet);
    const reply = await writing.finally(() => this.#writing.delete(key));
    const [written, version] = reply.slice(0, 2).map(Number);
    if (written !== 1 || version === undefined) {
      const stale = `the session at ${key} is at version ${String(version)}, this write was based on version ${base}`;
      // A code of its own: the manager re-reads and writes again, which for a store that is down would only add waits.
      throw Object.assign(new TokenStoreError(`stale write refused: ${stale}`), { code: ErrorCodes.STORE_STALE_WRITE });
    }
    this.#track(key, { version, digest: sha1(value) });
    this.#log.debug({ event: 'store-written', key, version, ttlMs }, 'session written to redis');
    const hold = this.#holds.get(key);
    if (notify && hold !== undefined) hold.published = true;
  }

  /**
   * Deletes the session under `key` (unfenced); the next write creates it afresh.
   * @throws TokenStoreError when Redis fails.
   */
  async delete(key: string): Promise<void> {
    const { session } = this.keysFor(assertKey(key, this.#breakerTag));
    await this.#commands.run('DEL', key, () => this.#commands.client.del(session));
    this.#track(key, ABSENT);
  }

  /**
   * Takes the cross-process refresh lock of the session under `key`, or waits until the
   * holder publishes a new session (resolving `{ acquired: false }`: re-read the store). A
   * lock freed without a new session, or expired with its holder, is taken over.
   * @throws TokenStoreError when Redis fails, the store is closed, or `lockWaitMs` passes;
   *   the signal's reason when it aborts.
   */
  async acquireRefreshLock(key: string, { signal }: AcquireRefreshLockOptions): Promise<RefreshLockResult> {
    const { lock, channel } = this.keysFor(assertKey(key, this.#breakerTag));
    const { lockWaitMs, lockTtlMs, pollIntervalMs } = this.#options;
    const owner = randomUUID();
    const setLock = (): Promise<string | null> => this.#commands.client.set(lock, owner, 'PX', px(lockTtlMs), 'NX');
    const deadline = systemClock.now() + lockWaitMs;
    // The signal ends this caller's wait for a command, not the command (a late SET is undone below).
    const untilAbort = <T>(command: Promise<T>): Promise<T> => waitWithSignal(command, signal, () => signal.reason);
    const readVersion = async (): Promise<number> =>
      (await untilAbort(this.#read(key, this.#commands.timeoutBefore(deadline)))).version;
    let baseline = this.#versions.get(key)?.version;
    let watch: Watch | undefined;
    const stillHeld = (): TokenStoreError =>
      new TokenStoreError(`refresh lock ${lock} still held after waiting ${lockWaitMs} ms`);
    try {
      for (;;) {
        if (this.#closed) throw new TokenStoreError('the redis token store is closed');
        if (signal.aborted) throw signal.reason;
        if (systemClock.now() >= deadline) throw stillHeld();
        let version: number | undefined;
        try {
          // After a wait, the version first: a waiter woken by a hand-over reads it and is done, with no SET.
          if (watch !== undefined) version = await readVersion();
          if (version === undefined || version === baseline) {
            const setting = this.#commands.run('SET NX', key, setLock, this.#commands.timeoutBefore(deadline));
            const reply = await untilAbort(setting).catch((error: unknown) => {
              // A SET given up on here may still run on the server; the release sent once it settled
              // (queued behind it on the same connection), undoes it, so no lock is left without an owner.
              void setting.finally(() => this.#release(key, owner, true)).catch(() => undefined);
              throw error;
            });
            if (reply === 'OK') {
              this.#log.debug({ event: 'lock-acquired', key: lock }, 'refresh lock acquired');
              return { acquired: true, lock: this.#hold(key, owner) };
            }
          }
          // Subscribed before reading the version: a session published after the read wakes this wait.
          const subscribeMs = Math.min(pollIntervalMs, Math.max(1, deadline - systemClock.now()));
          if (watch === undefined) {
            const watching = this.#notifications.watch(channel, subscribeMs);
            // An abort ends the wait for the subscription at once; the watch, once made, is stopped.
            watch = await untilAbort(watching).catch((error: unknown) => {
              void watching.then((late) => late.stop());
              throw error;
            });
          }
          version ??= await readVersion();
        } catch (error) {
          // A command cut short by the end of the wait is the wait running out, not Redis failing. Its timer may
          // fire a little before Date.now() reaches the deadline (Node times timers on its own loop clock).
          if (systemClock.now() >= deadline - TIMER_SLACK_MS) throw stillHeld();
          this.#commands.warnIfRefused('lock', error);
          throw error;
        }
        baseline ??= version;
        if (version !== baseline) {
          this.#log.debug({ event: 'lock-wait-published', key, version }, 'another process published a new session');
          return { acquired: false };
        }
        // A wait that runs out here ends at the deadline check above.
        await watch.next(Math.min(pollIntervalMs, deadline - systemClock.now()), signal);
      }
    } finally {
      watch?.stop();
    }
  }

  /**
   * Calls `onPublished` whenever another process publishes a new session under `key` (a version
   * this store has not read or written yet), until the returned function is called. The
   * manager holding the session re-reads it then (one `GET`) instead of running a refresh of
   * its own. All of a store's keys share its one subscriber connection.
   */
  watch(key: string, onPublished: () => void): () => void {
    return this.#notifications.listen(this.keysFor(assertKey(key, this.#breakerTag)).channel, (message) => {
      if (!/^\d+$/.test(message)) return;
      const known = this.#versions.get(key)?.version;
      const version = Number(message);
      if (version !== this.#writing.get(key) && (known === undefined || known < version)) onPublished();
    });
  }

  /**
   * How this store's notifications travel: `sharded` (`SPUBLISH`/`SSUBSCRIBE`, on a cluster of
   * Redis ≥ 7) or `classic` (`PUBLISH`/`SUBSCRIBE`). Asked of Redis once (`INFO server`);
   * `unknown` while it cannot be asked (the store then publishes both ways).
   */
  async pubSubMode(): Promise<PubSubMode | 'unknown'> {
    return (await this.#notifications.mode()) ?? 'unknown';
  }

  /**
   * Ends pending lock waits (they reject) and the subscriber connection; later waits
   * reject, so a manager refreshes on its own; lock watchdogs stop. The client you passed
   * stays open: quit it yourself.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const stop of [...this.#watchdogs]) stop();
    this.#notifications.close();
    this.#commands.close();
  }

  /**
   * The lock `owner` now holds on `key`, kept by a watchdog: while the lock is held, it extends it
   * (owner-checked) every third of `lockTtlMs`, so a refresh slower than `lockTtlMs` keeps it and no
   * second process gets in; a holder that dies (or closes its store) stops extending, and its lock
   * expires `lockTtlMs` later. It extends for at most `lockWaitMs` (waiters give up by then anyway)
   * and stops once the lock is lost.
   */
  #hold(key: string, owner: string): RefreshLock {
    const { lockTtlMs, lockWaitMs } = this.#options;
    const { lock } = this.keysFor(key);
    const hold = { published: false };
    this.#holds.set(key, hold);
    const until = systemClock.now() + lockWaitMs;
    const ttlMs = px(lockTtlMs);
    let released = false;
    const extend = async (): Promise<void> => {
      if (systemClock.now() >= until) return stop();
      try {
        const reply = await this.#commands.eval('EVAL extend-lock', key, EXTEND_LOCK_SCRIPT, [lock], owner, ttlMs);
        if (Number(reply) === 1 || !this.#watchdogs.has(stop)) return;
        const text = 'the refresh lock was lost while held (it expired, or Redis failed over); fencing still protects';
        this.#log.warn({ event: 'lock-lost', key: lock, lockTtlMs }, `${text} the session`);
        stop();
      } catch (error) {
        // One failed extension is not a lost lock: try again at the next tick.
        const fields = { event: 'lock-extend-failed', key: lock, err: error };
        this.#log.debug(fields, 'could not extend the refresh lock; retrying');
      }
    };
    // Capped: Node fires a longer interval every millisecond. None once closed (a SET that answered after close()).
    const delayMs = Math.min(lockTtlMs / 3, MAX_TIMER_DELAY_MS);
    const clear = this.#closed ? () => undefined : setUnrefInterval(() => void extend(), delayMs);
    // A hold no watchdog keeps (lost, past lockWaitMs, closed) no longer guards the write: a direct caller of
    // acquireRefreshLock() that never releases would otherwise leave it here for good.
    const stop = (): void => {
      clear();
      this.#watchdogs.delete(stop);
      if (this.#holds.get(key) === hold) this.#holds.delete(key);
    };
    this.#watchdogs.add(stop);
    return {
      release: async () => {
        if (released) return;
        released = true;
        stop();
        // A write during the hold told the waiters already; otherwise tell them the lock is free.
        if (await this.#release(key, owner, !hold.published)) return;
        const fields = { event: 'lock-expired', key: lock, lockTtlMs };
        this.#log.warn(fields, 'the refresh lock expired before its holder released it; consider a longer lockTtlMs');
      },
    };
  }

  /** Remembers `base` as what the next write of `key` is based on, in the hold too while this store holds its lock. */
  #track(key: string, base: WriteBase): void {
    setRecent(this.#versions, key, base, MAX_TRACKED_VERSIONS);
    const hold = this.#holds.get(key);
    if (hold !== undefined) hold.base = base;
  }

  /** Reads and decodes the value stored under `key`, with its digest ('' when absent). */
  async #read(key: string, timeoutMs?: number): Promise<DecodedSession & { digest: string }> {
    const { session } = this.keysFor(key);
    // Bytes, not text: a string would turn bytes that are not UTF-8 into U+FFFD, and its digest would never match the
    // script's, leaving the key unwritable for as long as it lives.
    const raw = await this.#commands.run('GET', key, () => this.#commands.client.getBuffer(session), timeoutMs);
    return { ...decodeSession(raw?.toString() ?? null), digest: raw === null ? '' : sha1(raw) };
  }

  /** Deletes the lock if `owner` still holds it, and with `notify` tells waiters it is free (one script). */
  async #release(key: string, owner: string, notify: boolean): Promise<boolean> {
    const reply = await this.#evalPublishing(RELEASE, key, [owner], notify);
    return Number(reply[0]) === 1;
  }

  /**
   * Runs a script that publishes on `key`'s `first` key and its channel; its last argument is the publish command
   * ('' without `notify`, or when it published nothing); a notification Redis refused in a reply `{1, …, refusal}` is
   * logged.
   */
  async #evalPublishing(run: PublishingScript, key: string, args: string[], notify: boolean): Promise<unknown[]> {
    const { operation, script, first } = run;
    const keys = this.keysFor(key);
    const publish = notify ? await this.#notifications.publishCommand() : '';
    const reply = await this.#commands.eval(operation, key, script, [keys[first], keys.channel], ...args, publish);
    const fields = reply as unknown[];
    if (notify && Number(fields[0]) === 1) this.#notifications.published(key, keys.channel, fields.at(-1));
    return fields;
  }
}

/** A PX argument: whole ms, capped at {@link MAX_TTL_MS} (Redis refuses a longer one). */
function px(ms: number): string {
  return String(Math.min(MAX_TTL_MS, Math.ceil(ms)));
}

/** The SHA-1 of a stored value, as Lua's `redis.sha1hex` computes it. */
function sha1(value: string | Buffer): string {
  return createHash('sha1').update(value).digest('hex');
}

/** @throws TokenStoreError unless `key` is a non-empty string whose Redis names are its own, not the breaker's. */
function assertKey(key: string, breakerTag: string): string {
  if (typeof key !== 'string' || key === '') throw new TokenStoreError('a store key must be a non-empty string');
  // Wrapped, `}x` would be `{}x}`, whose empty tag Redis ignores: its lock would hash to another cluster slot.
  if (key.startsWith('}')) throw new TokenStoreError(`store key ${key} starts with '}' and so cannot be hash-tagged`);
  if (!HASH_TAG.test(key)) return key;
  // A hash-tagged key is its own Redis name: `{bob}` is bob's session, `{app}:bob:lock` the lock of `{app}:bob`.
  const inner = key.slice(1, -1);
  const names = (what: string): TokenStoreError => new TokenStoreError(`store key ${key} names ${what}`);
  if (key === `{${inner}}` && !HASH_TAG.test(inner)) throw names(`the session of key ${inner}`);
  if (key.endsWith(':lock')) throw names("another key's lock");
  if (key.startsWith(breakerTag)) throw names("the breaker's keys");
  return key;
}
