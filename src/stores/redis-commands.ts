/**
 * How a {@link RedisTokenStore} runs one Redis command: it waits for a connection still being
 * set up (never for a down one's reconnect backoff), fails fast while the client is
 * disconnected, gives up after a timeout, and reports every failure as a `TokenStoreError`
 * naming the operation and key.
 */
import type { Cluster, Redis } from 'ioredis';
import { setUnrefTimeout, systemClock } from '../clock';
import type { TimerHandle } from '../clock';
import { ErrorCodes, TokenStoreError, isTokenManagerError } from '../errors';
import type { Logger } from 'pino';

/** Connection states in which a command could only wait in ioredis's queue. */
const DOWN_STATES: ReadonlySet<string> = new Set(['end', 'close', 'reconnecting']);
/** Connection states on the way to `ready`: a command waits for the attempt's outcome. */
const CONNECTING_STATES: ReadonlySet<string> = new Set(['wait', 'connecting', 'connect']);

/** Runs a store's commands on its client, within their deadlines. */
export class RedisCommands {
  readonly #client: Redis | Cluster;
  readonly #options: { readonly commandTimeoutMs: number; readonly connectTimeoutMs: number };
  /** The one pending wait for the client's connection, shared by every command meanwhile. */
  #connecting: Promise<void> | undefined;

  constructor(
    client: Redis | Cluster,
    options: { readonly commandTimeoutMs: number; readonly connectTimeoutMs: number },
  ) {
    this.#client = client;
    this.#options = options;
  }

  /** A command timeout that ends no later than `deadline` (system clock, epoch ms). */
  timeoutBefore(deadline: number): number {
    return Math.max(1, Math.min(this.#options.commandTimeoutMs, deadline - systemClock.now()));
  }

  /**
   * Runs one command: after waiting for a connection still being set up, failing fast
   * while the client is disconnected, and giving up after `timeoutMs`.
   */
  async run<T>(
    operation: string,
    key: string,
    command: () => Promise<T>,
    timeoutMs = this.#options.commandTimeoutMs,
  ): Promise<T> {
    const where = `redis ${operation} on ${key}`;
    await this.#whenConnected(where);
    let timer: TimerHandle | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setUnrefTimeout(
        systemClock,
        () => reject(new TokenStoreError(`${where} timed out after ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([command(), timeout]);
    } catch (error) {
      if (isTokenManagerError(error, ErrorCodes.STORE)) throw error;
      throw new TokenStoreError(`${where} failed`, { cause: error });
    } finally {
      if (timer !== undefined) systemClock.clearTimeout(timer);
    }
  }

  /**
   * With `enableOfflineQueue: false`, ioredis rejects every command until the connection
   * is ready; a store used straight after `new Redis(…)` would fail its first reads, locks
   * and writes, and every replica would sign in on its own. So a command waits for the
   * connection attempt in progress (never a down one's reconnect backoff).
   */
  async #whenConnected(where: string): Promise<void> {
    const status = this.#client.status;
    if (status === 'ready') return;
    if (DOWN_STATES.has(status)) throw new TokenStoreError(`${where} failed: the connection is ${status}`);
    if (!CONNECTING_STATES.has(status)) return;
    this.#connecting ??= this.#waitForReady().finally(() => {
      this.#connecting = undefined;
    });
    try {
      await this.#connecting;
    } catch (error) {
      throw new TokenStoreError(`${where} failed: ${(error as Error).message}`);
    }
  }

  #waitForReady(): Promise<void> {
    const client = this.#client;
    const timeoutMs = this.#options.connectTimeoutMs;
    return new Promise<void>((resolve, reject) => {
      const finish = (error?: Error): void => {
        systemClock.clearTimeout(timer);
        client.off('ready', onReady);
        client.off('close', onClose);
        client.off('end', onClose);
        if (error === undefined) resolve();
        else reject(error);
      };
      const onReady = (): void => finish();
      const onClose = (): void => finish(new Error('the connection closed before it was ready'));
      const timer = setUnrefTimeout(
        systemClock,
        () => finish(new Error(`the connection was not ready after ${timeoutMs} ms (${client.status})`)),
        timeoutMs,
      );
      client.once('ready', onReady);
      client.once('close', onClose);
      client.once('end', onClose);
      // A lazyConnect client that never connected: ioredis would connect on the first
      // command anyway (and, without an offline queue, fail that command). Its failure
      // surfaces as 'close' above.
      if (client.status === 'wait') client.connect().catch(() => undefined);
    });
  }
}

/** What a refused command says: an ACL without the key or command, or a disabled script. */
const REFUSED = /NOPERM|NOSCRIPT|no permissions|unknown command/i;

/** Whether Redis refused a command for this user (it will refuse it again), as opposed to failing to answer. */
export function isRefusal(error: unknown): boolean {
  const cause = (error as { cause?: unknown } | null)?.cause;
  return REFUSED.test(
    `${error instanceof Error ? error.message : String(error)} ${cause instanceof Error ? cause.message : ''}`,
  );
}

/** The uses of Redis already warned about in this process. */
const warnedRefusals = new Set<string>();

/**
 * Warns once per process that Redis refuses the store `use` (`lock`, `breaker`): the protection
 * it gives is gone until the ACL is fixed, and a refusal lasts, so repeating it would only be noise.
 */
export function warnRefusedOnce(log: Logger, use: 'lock' | 'breaker', error: unknown): void {
  if (warnedRefusals.has(use)) return;
  warnedRefusals.add(use);
  log.warn(
    { event: `${use}-refused`, err: error },
    `Redis refuses the ${use} commands for this user; the ${use} is off until its ACL allows them (see ` +
      `docs/scaling.md)`,
  );
}
