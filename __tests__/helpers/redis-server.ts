import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import Redis from 'ioredis';
import type { RedisOptions } from 'ioredis';
import pino from 'pino';
import { freePort, redisServerAvailable, spawnRedisServer, stopRedisServer } from '../../scripts/redis-server';

export { freePort };

/** A Redis server for one test file: a private `redis-server`, or the one at REDIS_URL. */
export interface RedisTestServer {
  /** False when neither `redis-server` nor REDIS_URL is available (never under CI). */
  readonly available: boolean;
  readonly host: string;
  readonly port: number;
  /** True when this helper started the server, so it can stop and restart it. */
  readonly restartable: boolean;
  /** A client that fails fast while Redis is down (no offline queue), not yet connected; closed in afterAll. */
  createClient(options?: RedisOptions): Redis;
  /** {@link createClient}, connected. */
  connect(options?: RedisOptions): Promise<Redis>;
  /** A unique key for one test, so tests never see each other's sessions. */
  uniqueKey(name: string): string;
  /** Kills the server (SIGKILL: nothing is saved, as after a crash). */
  kill(): Promise<void>;
  /** Starts the server again on the same port, empty. */
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
 * Starts one `redis-server` on a free loopback port in `beforeAll` and stops it in
 * `afterAll`. Without `redis-server` it uses REDIS_URL; without either it warns loudly and
 * `available` is false (each test then returns early) — except under CI, where it throws.
 */
export function useRedisServer(): RedisTestServer {
  let child: ChildProcess | undefined;
  let available = false;
  let restartable = false;
  let host = '127.0.0.1';
  let port = 0;
  const clients = new Set<Redis>();

  const startServer = async (): Promise<void> => {
    child = await spawnRedisServer(port, { unref: true });
  };

  beforeAll(async () => {
    if (redisServerAvailable()) {
      for (let attempt = 1; ; attempt += 1) {
        port = await freePort();
        try {
          await startServer();
          break;
        } catch (error) {
          if (attempt >= 3) throw error;
        }
      }
      restartable = true;
      available = true;
      return;
    }
    const url = process.env.REDIS_URL;
    if (url !== undefined && url !== '') {
      const parsed = new URL(url);
      host = parsed.hostname;
      port = Number(parsed.port || 6379);
      available = true;
      return;
    }
    const message = 'redis-server is not on PATH and REDIS_URL is unset: the Redis store tests cannot run';
    if (process.env.CI === 'true') throw new Error(`${message} (CI requires them)`);
    // eslint-disable-next-line no-console
    console.warn(`\n!!! SKIPPING REDIS TESTS: ${message}. Install redis-server or set REDIS_URL. !!!\n`);
  });

  afterAll(async () => {
    const open = [...clients].filter((client) => client.status !== 'end');
    await Promise.all(open.map((client) => (client.status === 'ready' ? client.quit().catch(() => client.disconnect()) : client.disconnect())));
    clients.clear();
    await stopRedisServer(child);
  });

  return {
    get available() {
      // eslint-disable-next-line no-console
      if (!available) console.warn('redis test skipped: no Redis server (see the warning above)');
      return available;
    },
    get host() {
      return host;
    },
    get port() {
      return port;
    },
    get restartable() {
      return restartable;
    },
    createClient(options: RedisOptions = {}) {
      // A short disconnectTimeout: ioredis otherwise keeps a 2 s timer after closing a dead connection.
      const client = new Redis({ host, port, lazyConnect: true, disconnectTimeout: 20, ...FAIL_FAST_CLIENT_OPTIONS, ...options });
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
      if (!restartable) throw new Error('this Redis server was not started by the test helper');
      await stopRedisServer(child);
      child = undefined;
    },
    async start() {
      if (!restartable) throw new Error('this Redis server was not started by the test helper');
      await startServer();
    },
  };
}

/** A pino logger whose JSON lines land in `lines`, for asserting on what was logged. */
export function captureLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>>; text: () => string } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines, text: () => JSON.stringify(lines) };
}
