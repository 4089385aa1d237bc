/**
 * A local Sentinel set-up for one test file: a master, one replica and one sentinel
 * (`redis-server --sentinel`), all on free loopback ports, nothing persisted.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { REDIS_SERVER_BIN, freePort, spawnRedisServer, stopRedisServer } from '../../scripts/redis-server';

/** The master's name the sentinel monitors. */
export const SENTINEL_MASTER_NAME = 'alix-test-master';

/** A running Sentinel set-up. */
export interface RedisTestSentinel {
  /** A client that finds the master through the sentinel (as a Sentinel user configures ioredis); closed in afterAll. */
  connect(options?: RedisOptions): Redis;
  /** The port of the current master, as the sentinel reports it. */
  masterPort(): Promise<number>;
  /** SIGKILLs the current master (a crash). */
  killMaster(): Promise<void>;
  /** Resolves once the sentinel names a master other than `port` and that master takes writes (bounded). */
  waitForFailover(port: number): Promise<void>;
  /** Resolves once the replica holds `key` (replication is asynchronous). */
  waitForReplica(key: string): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** ioredis keeps a 2 s timer (disconnectTimeout) on a socket that is already dead when it is disconnected. */
const QUICK_CLOSE = Object.freeze({ disconnectTimeout: 20 });

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`Sentinel test set-up: ${what} not reached within ${timeoutMs} ms`);
}

/** Starts the set-up in beforeAll and stops it (and every client it made) in afterAll. */
export function useRedisSentinel(): RedisTestSentinel {
  const servers = new Map<number, ChildProcess>();
  let sentinelProcess: ChildProcess | undefined;
  let sentinelPort = 0;
  let dir = '';
  const clients: Redis[] = [];
  let admin: Redis | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'alix-sentinel-'));
    const masterPort = await freePort();
    servers.set(masterPort, await spawnRedisServer(masterPort, { unref: true, dir }));
    const replicaPort = await freePort();
    const replica = await spawnRedisServer(replicaPort, { unref: true, dir });
    servers.set(replicaPort, replica);
    const replicaClient = new Redis({ port: replicaPort, lazyConnect: true, ...QUICK_CLOSE });
    await replicaClient.replicaof('127.0.0.1', masterPort);
    await until('replica in sync', async () =>
      (await replicaClient.info('replication')).includes('master_link_status:up'),
    );
    replicaClient.disconnect();

    sentinelPort = await freePort();
    const config = path.join(dir, 'sentinel.conf');
    writeFileSync(
      config,
      [
        `port ${sentinelPort}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${SENTINEL_MASTER_NAME} 127.0.0.1 ${masterPort} 1`,
        `sentinel down-after-milliseconds ${SENTINEL_MASTER_NAME} 1000`,
        `sentinel failover-timeout ${SENTINEL_MASTER_NAME} 10000`,
        '',
      ].join('\n'),
    );
    sentinelProcess = spawn(REDIS_SERVER_BIN, [config, '--sentinel'], { stdio: 'ignore' });
    sentinelProcess.unref();
    admin = new Redis({ port: sentinelPort, ...QUICK_CLOSE });
    await until('sentinel sees the replica', async () => {
      const replicas = (await admin?.call('SENTINEL', 'REPLICAS', SENTINEL_MASTER_NAME)) as unknown[];
      return Array.isArray(replicas) && replicas.length === 1;
    });
  }, 30_000);

  afterAll(async () => {
    for (const client of clients.splice(0)) client.disconnect();
    admin?.disconnect();
    await stopRedisServer(sentinelProcess);
    await Promise.all([...servers.values()].map((server) => stopRedisServer(server)));
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  const masterPort = async (): Promise<number> => {
    const [, port] = (await admin?.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SENTINEL_MASTER_NAME)) as [
      string,
      string,
    ];
    return Number(port);
  };

  return {
    connect(options = {}) {
      const client = new Redis({
        sentinels: [{ host: '127.0.0.1', port: sentinelPort }],
        name: SENTINEL_MASTER_NAME,
        maxRetriesPerRequest: 1,
        connectTimeout: 500,
        sentinelRetryStrategy: () => 100,
        retryStrategy: () => 100,
        disconnectTimeout: 20,
        ...options,
      });
      // Reconnection noise during a failover is expected; the tests assert on outcomes.
      client.on('error', () => undefined);
      clients.push(client);
      return client;
    },
    masterPort,
    async killMaster() {
      const port = await masterPort();
      await stopRedisServer(servers.get(port));
      servers.delete(port);
    },
    async waitForFailover(port) {
      await until('failover', async () => {
        const current = await masterPort();
        if (current === port) return false;
        const probe = new Redis({ port: current, lazyConnect: true, maxRetriesPerRequest: 0, ...QUICK_CLOSE });
        try {
          return (await probe.set('alix-failover-probe', '1')) === 'OK';
        } finally {
          probe.disconnect();
        }
      });
    },
    async waitForReplica(key) {
      const current = await masterPort();
      const replicaPort = [...servers.keys()].find((port) => port !== current);
      const replica = new Redis({ port: replicaPort, lazyConnect: true, ...QUICK_CLOSE });
      try {
        await until('replicated', async () => (await replica.exists(key)) === 1, 5_000);
      } finally {
        replica.disconnect();
      }
    },
  };
}
