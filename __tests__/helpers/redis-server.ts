import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import Redis from 'ioredis';
import type { RedisOptions } from 'ioredis';
import pino from 'pino';
import type { TokenManagerOptions } from '../../src/manager/options';
import { TokenManager } from '../../src/manager/token-manager';
import { RedisTokenStore } from '../../src/redis';
import type { RedisTokenStoreOptions } from '../../src/redis';
import { freePort, redisServerAvailable, spawnRedisServer, stopRedisServer } from '../../scripts/redis-server';
import { REDIS_SKIP_MARKER, runMarkerPath } from './run-markers';

export { freePort };

/** Real time for all but the lock watchdog's interval, which a test drives. */
export const REAL_TIME_BUT_INTERVALS = [
  'Date',
  'hrtime',
  'nextTick',
  'performance',
  'queueMicrotask',
  'setImmediate',
  'clearImmediate',
  'setTimeout',
  'clearTimeout',
] as const;

/** How the Redis test files run: against a server, skipped (locally), or failing (CI). */
export type RedisTestMode = 'run' | 'skip' | 'fail';

/** The mode for a machine: a local machine without Redis skips; CI must never skip silently. */
export function redisTestMode(machine: { serverFound: boolean; url: string | undefined; ci: boolean }): RedisTestMode {
  if (machine.serverFound || (machine.url !== undefined && machine.url !== '')) return 'run';
  return machine.ci ? 'fail' : 'skip';
}

/**
 * The one line a local run without redis-server prints. Without it the Redis Cluster tests
 * skip too, so the line covers both (see redis-cluster.ts, which shares the marker).
 */
export const REDIS_SKIP_NOTICE =
  'Redis and Redis Cluster tests skipped: redis-server not found; to run them, apt-get install redis-server redis-tools (or set REDIS_URL for all but the cluster tests)';

export { REDIS_SKIP_MARKER };

/**
 * Decided once, synchronously, when a test file loads, so jest itself can count skipped
 * tests (a test that returned early would pass with no assertion).
 */
export const REDIS_TESTS = (() => {
  const serverFound = redisServerAvailable();
  const url = process.env.REDIS_URL;
  const mode = redisTestMode({ serverFound, url, ci: process.env.CI === 'true' });
  return Object.freeze({ mode, ownServer: serverFound });
})();

/** What {@link describeNeeding} says when the test file cannot run here. */
export interface MissingRequirement {
  /** The one failing test's name under CI=true. */
  test: string;
  /** Its error message. */
  failure: string;
  /** The line printed once per jest run when skipping locally. */
  notice: string;
  /** Names the once-per-run marker file: requirements that share one print one line between them. */
  marker: string;
}

/**
 * `describe` for tests that need a server: runs them (`run`), skips them (jest reports them as
 * skipped; one line says how to run them), or, under CI (`fail`), replaces them with one
 * failing test, so a CI without the server cannot pass by skipping.
 */
export function describeNeeding(
  mode: RedisTestMode,
  missing: MissingRequirement,
  name: string,
  body: () => void,
): void {
  if (mode === 'run') {
    describe(name, body);
    return;
  }
  if (mode === 'fail') {
    describe(name, () => {
      it(missing.test, () => {
        throw new Error(missing.failure);
      });
    });
    return;
  }
  printOncePerRun(missing.marker, missing.notice);
  describe.skip(name, body);
}

const NO_REDIS: MissingRequirement = {
  test: 'has a Redis server to run against (CI requires one)',
  failure:
    'redis-server not found and REDIS_URL unset, but CI=true requires the Redis tests to run: install redis-server and redis-tools in CI',
  notice: REDIS_SKIP_NOTICE,
  marker: REDIS_SKIP_MARKER,
};

/** `describe` for tests that need Redis (see {@link describeNeeding}). */
export function describeRedis(name: string, body: () => void): void {
  describeNeeding(REDIS_TESTS.mode, NO_REDIS, name, body);
}

/** Tests that kill, restart or reconfigure the server: only with a server this helper started. */
export const itOwnServer: jest.It = REDIS_TESTS.ownServer ? it : it.skip;

/**
 * One line per jest run, not one per test file: the first file to get here leaves a marker
 * named after the run's main process (removed by the run's global teardown).
 * Written straight to stderr, so jest adds no stack frame to it.
 */
function printOncePerRun(marker: string, line: string): void {
  try {
    writeFileSync(runMarkerPath(marker), '', { flag: 'wx' });
  } catch {
    return;
  }
  process.stderr.write(`${line}\n`);
}

/** The managers and stores of a test file, each closed after the test that made it. */
export interface ClosedAfterEach {
  readonly managers: TokenManager[];
  readonly stores: RedisTokenStore[];
  /** A `RedisTokenStore`, closed after the test. */
  store(options: RedisTokenStoreOptions): RedisTokenStore;
  /** A `TokenManager`, closed after the test. */
  manager(options: TokenManagerOptions): TokenManager;
}

/**
 * The managers and stores a test file makes, closed after each test: make them with `store()`
 * and `manager()` (or push them as they are made).
 */
export function closedAfterEach(): ClosedAfterEach {
  const managers: TokenManager[] = [];
  const stores: RedisTokenStore[] = [];
  afterEach(async () => {
    for (const manager of managers.splice(0)) manager.close();
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });
  return {
    managers,
    stores,
    store: (options) => {
      const store = new RedisTokenStore(options);
      stores.push(store);
      return store;
    },
    manager: (options) => {
      const manager = new TokenManager(options);
      managers.push(manager);
      return manager;
    },
  };
}

/** A Redis server for one test file: a private `redis-server`, or the one at REDIS_URL. */
export interface RedisTestServer {
  readonly host: string;
  readonly port: number;
  /** A client that fails fast while Redis is down (no offline queue), not yet connected; closed in afterAll. */
  createClient(options?: RedisOptions): Redis;
  /** {@link createClient}, connected. */
  connect(options?: RedisOptions): Promise<Redis>;
  /** A unique key for one test, so tests never see each other's sessions. */
  uniqueKey(name: string): string;
  /** Kills the server (SIGKILL: nothing is saved, as after a crash). Only with {@link itOwnServer}. */
  kill(): Promise<void>;
  /** Starts the server again on the same port, empty. Only with {@link itOwnServer}. */
  start(): Promise<void>;
}

/** Client options for tests: fail fast when down, reconnect quickly. */
export const FAIL_FAST_CLIENT_OPTIONS: RedisOptions = Object.freeze({
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  retryStrategy: () => 50,
  connectTimeout: 1_000,
});

/**
 * Call inside {@link describeRedis}: starts one `redis-server` on a free loopback port in
 * `beforeAll` (or uses REDIS_URL when there is no `redis-server`) and stops it, and every
 * client made here, in `afterAll`.
 */
export function useRedisServer(): RedisTestServer {
  let child: ChildProcess | undefined;
  let host = '127.0.0.1';
  let port = 0;
  const clients = new Set<Redis>();

  const startServer = async (): Promise<void> => {
    child = await spawnRedisServer(port, { unref: true });
  };
  const ownServer = (): void => {
    if (!REDIS_TESTS.ownServer)
      throw new Error('this Redis server was not started by the test helper (use itOwnServer)');
  };

  beforeAll(async () => {
    if (!REDIS_TESTS.ownServer) {
      const parsed = new URL(process.env.REDIS_URL ?? '');
      host = parsed.hostname;
      port = Number(parsed.port || 6379);
      return;
    }
    for (let attempt = 1; ; attempt += 1) {
      port = await freePort();
      try {
        await startServer();
        return;
      } catch (error) {
        if (attempt >= 3) throw error;
      }
    }
  });

  afterAll(async () => {
    const open = [...clients].filter((client) => client.status !== 'end');
    await Promise.all(
      open.map((client) =>
        client.status === 'ready' ? client.quit().catch(() => client.disconnect()) : client.disconnect(),
      ),
    );
    clients.clear();
    await stopRedisServer(child);
  });

  return {
    get host() {
      return host;
    },
    get port() {
      return port;
    },
    createClient(options: RedisOptions = {}) {
      // A short disconnectTimeout: ioredis otherwise keeps a 2 s timer after closing a dead connection.
      const client = new Redis({
        host,
        port,
        lazyConnect: true,
        disconnectTimeout: 20,
        ...FAIL_FAST_CLIENT_OPTIONS,
        ...options,
      });
      client.on('error', () => undefined);
      clients.add(client);
      return client;
    },
    async connect(options: RedisOptions = {}) {
      const client = this.createClient(options);
      await client.connect();
      return client;
    },
    uniqueKey(name: string) {
      return `alix-test:${randomUUID()}:${name}`;
    },
    async kill() {
      ownServer();
      await stopRedisServer(child);
      child = undefined;
    },
    async start() {
      ownServer();
      await startServer();
    },
  };
}

/** A pino logger whose JSON lines land in `lines`, for asserting on what was logged. */
export function captureLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>>; text: () => string } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n'))
        if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines, text: () => JSON.stringify(lines) };
}

/** Polls Redis (bounded) until `channel` has `count` subscribers, so a test never races the subscription. */
export async function untilSubscribers(client: Redis, channel: string, count: number): Promise<void> {
  let subscribers = 0;
  // Up to 10 s: a loaded machine may take seconds to answer a subscription (the test's own timeout is longer).
  for (let attempt = 0; attempt < 1_000; attempt += 1) {
    subscribers = Number(((await client.pubsub('NUMSUB', channel)) as [string, number])[1]);
    if (subscribers === count) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`${channel} never had ${count} subscribers (${subscribers} at the end)`);
}
