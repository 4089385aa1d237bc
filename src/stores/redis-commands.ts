/**
 * How a {@link RedisTokenStore} runs one Redis command: it waits for a connection still being
 * set up (never for a down one's reconnect backoff), fails fast while the client is
 * disconnected, gives up after a timeout, and reports every failure as a `TokenStoreError`
 * naming the operation and key.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { systemClock, withTimeout } from '../clock';
import { ErrorCodes, TokenStoreError, isTokenManagerError } from '../errors';

/** Connection states in which a command could only wait in ioredis's queue. */
const DOWN_STATES: ReadonlySet<string> = new Set(['end', 'close', 'reconnecting']);
/** Connection states on the way to `ready`: a command waits for the attempt's outcome. */
const CONNECTING_STATES: ReadonlySet<string> = new Set(['wait', 'connecting', 'connect']);

/**
 * What a refused command says: an ACL without the key or command, or a disabled script. Redis 7.0 refuses a command a
 * script calls with "ERR The user executing the script can't run this command…", without NOPERM.
 */
const REFUSED = /NOPERM|NOSCRIPT|no permissions|unknown command|can't run this command/i;

/** Runs a store's commands on its client, within their deadlines. */
export class RedisCommands {
  /** The one pending wait for the client's connection, shared by every command meanwhile. */
  #connecting: Promise<void> | undefined;
  /** Ends that wait (close()): its listeners are on the user's client. */
  #stopConnecting: (() => void) | undefined;
  /** The events this store warned about already: each store (another Redis, another tenant's key) warns of its own. */
  readonly #warned = new Set<string>();

  constructor(
    readonly client: Redis | Cluster,
    private readonly options: { readonly commandTimeoutMs: number; readonly connectTimeoutMs: number },
    private readonly log: Logger,
  ) {}

  /**
   * Logs `event` at warn the first time for this store, at debug after that: a refusal lasts, and
   * a fleet of sessions that fail the same way says so once.
   */
  warnOnce(event: string, fields: object, message: string): void {
    this.log[this.#warned.has(event) ? 'debug' : 'warn']({ event, ...fields }, message);
    this.#warned.add(event);
  }

  /**
   * Whether Redis refused a command for this user (it will refuse it again), as opposed to failing to answer;
   * a refusal is warned about once per store: the store `use`'s protection is gone until the ACL is fixed.
   */
  warnIfRefused(use: 'lock' | 'breaker', error: unknown): boolean {
    const cause = (error as { cause?: unknown } | null)?.cause;
    const message = error instanceof Error ? error.message : String(error);
    if (!REFUSED.test(`${message} ${cause instanceof Error ? cause.message : ''}`)) return false;
    const text = `Redis refuses the ${use} commands for this user; the ${use} is off until its ACL allows them`;
    this.warnOnce(`${use}-refused`, { err: error }, `${text} (see docs/scaling.md)`);
    return true;
  }

  /** Ends a pending wait for the connection: its commands reject, and the client loses the listeners it added. */
  close(): void {
    this.#stopConnecting?.();
  }

  /** A command timeout that ends no later than `deadline` (system clock, epoch ms). */
  timeoutBefore(deadline: number): number {
    return Math.max(1, Math.min(this.options.commandTimeoutMs, deadline - systemClock.now()));
  }

  /**
   * Runs one command: after waiting for a connection still being set up (at most `timeoutMs`
   * when given, else `connectTimeoutMs`), failing fast while the client is disconnected, and
   * giving up after `timeoutMs` (default `commandTimeoutMs`).
   */
  async run<T>(operation: string, key: string, command: () => Promise<T>, timeoutMs?: number): Promise<T> {
    const where = `redis ${operation} on ${key}`;
    const limitMs = timeoutMs ?? this.options.commandTimeoutMs;
    const timedOut = (): Error => new TokenStoreError(`${where} timed out after ${limitMs} ms`);
    try {
      const connected = this.#whenConnected(where);
      // A caller's own timeout (a lock wait's deadline) must not be outlasted by the connection wait.
      await (timeoutMs === undefined ? connected : withTimeout(connected, systemClock, timeoutMs, timedOut));
      return await withTimeout(command(), systemClock, limitMs, timedOut);
    } catch (error) {
      if (isTokenManagerError(error, ErrorCodes.STORE)) throw error;
      throw new TokenStoreError(`${where} failed`, { cause: error });
    }
  }

  /** Runs a Lua script on `keys` as one command (see {@link run}); `operation` and `key` name it in errors. */
  eval(operation: string, key: string, script: string, keys: string[], ...args: string[]): Promise<unknown> {
    return this.run(operation, key, () => this.client.eval(script, keys.length, ...keys, ...args));
  }

  /**
   * With `enableOfflineQueue: false`, ioredis rejects every command until the connection
   * is ready; a store used straight after `new Redis(…)` would fail its first reads, locks
   * and writes, and every replica would sign in on its own. So a command waits for the
   * connection attempt in progress (never a down one's reconnect backoff).
   */
  async #whenConnected(where: string): Promise<void> {
    const { client } = this;
    if (DOWN_STATES.has(client.status))
      throw new TokenStoreError(`${where} failed: the connection is ${client.status}`);
    if (!CONNECTING_STATES.has(client.status)) return;
    this.#connecting ??= this.#waitForReady().finally(() => (this.#connecting = undefined));
    await this.#connecting.catch((error: Error) => {
      throw new TokenStoreError(`${where} failed: ${error.message}`);
    });
  }

  #waitForReady(): Promise<void> {
    const { client } = this;
    const { connectTimeoutMs } = this.options;
    let settle!: () => void;
    const ready = new Promise<void>((resolve, reject) => {
      settle = () =>
        client.status === 'ready' ? resolve() : reject(new Error('the connection closed before it was ready'));
      this.#stopConnecting = () => reject(new Error('the store was closed'));
    });
    client.once('ready', settle).once('close', settle).once('end', settle);
    // A lazyConnect client that never connected: ioredis would connect on the first
    // command anyway (and, without an offline queue, fail that command). Its failure
    // surfaces as 'close' above.
    if (client.status === 'wait') client.connect().catch(() => undefined);
    const notReady = (): Error =>
      new Error(`the connection was not ready after ${connectTimeoutMs} ms (${client.status})`);
    return withTimeout(ready, systemClock, connectTimeoutMs, notReady).finally(() => {
      client.off('ready', settle).off('close', settle).off('end', settle);
    });
  }
}
