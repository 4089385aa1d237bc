import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Cluster } from 'ioredis';
import type { ClusterOptions } from 'ioredis';
import Redis from 'ioredis';
import { REDIS_SERVER_BIN, freePort, redisServerAvailable, stopRedisServer } from '../../scripts/redis-server';

/** How the cluster tests run: a local machine without redis-server/redis-cli skips them; CI fails. */
export const REDIS_CLUSTER_TESTS = (() => {
  const cli = spawnSync('redis-cli', ['--version'], { stdio: 'ignore', timeout: 5_000 });
  const available = redisServerAvailable() && cli.error === undefined && cli.status === 0;
  const mode: 'run' | 'skip' | 'fail' = available ? 'run' : process.env.CI === 'true' ? 'fail' : 'skip';
  return Object.freeze({ mode });
})();

/**
 * `describe` for tests on a real local Redis Cluster: runs them; skips them (one line says
 * why) when redis-server or redis-cli is missing outside CI; under CI=true fails instead.
 */
export function describeRedisCluster(name: string, body: () => void): void {
  if (REDIS_CLUSTER_TESTS.mode === 'run') {
    describe(name, body);
    return;
  }
  if (REDIS_CLUSTER_TESTS.mode === 'fail') {
    describe(name, () => {
      it('has redis-server and redis-cli to build a cluster (CI requires them)', () => {
        throw new Error('redis-server or redis-cli not found, but CI=true requires the Redis Cluster tests to run: install redis-server and redis-tools');
      });
    });
    return;
  }
  const marker = path.join(os.tmpdir(), `alix-redis-cluster-skip-notice-${process.env.JEST_WORKER_ID === undefined ? process.pid : process.ppid}`);
  try {
    writeFileSync(marker, '', { flag: 'wx' });
    process.stderr.write('Redis Cluster tests skipped: redis-server or redis-cli not found (apt-get install redis-server redis-tools)\n');
  } catch {
    // Already said once in this run.
  }
  describe.skip(name, body);
}

/** One node of a test cluster. */
export interface ClusterNode {
  readonly port: number;
  process: ChildProcess | undefined;
}

/** A local Redis Cluster for one test file. */
export interface RedisTestCluster {
  readonly nodes: readonly ClusterNode[];
  /** A cluster client that fails fast while a slot is down; closed in afterAll. */
  connect(options?: ClusterOptions): Promise<Cluster>;
  /** The node currently serving `key`'s slot as master. */
  masterFor(key: string): Promise<ClusterNode>;
  /** SIGKILLs a node (as a crash). */
  kill(node: ClusterNode): Promise<void>;
  /** Resolves once `cluster_state:ok` holds and `key`'s slot has a live master other than `dead` (bounded). */
  waitForFailover(key: string, dead: ClusterNode): Promise<void>;
}

/** Client options for tests: no offline queue, short retries, quick slot refresh after a failover. */
export const CLUSTER_CLIENT_OPTIONS: ClusterOptions = Object.freeze({
  enableOfflineQueue: false,
  clusterRetryStrategy: () => 100,
  retryDelayOnFailover: 100,
  retryDelayOnClusterDown: 100,
  retryDelayOnTryAgain: 100,
  slotsRefreshTimeout: 500,
  redisOptions: { maxRetriesPerRequest: 1, connectTimeout: 500, retryStrategy: () => 100, disconnectTimeout: 20 },
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function startNode(port: number, dir: string, nodeTimeoutMs: number): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', String(nodeTimeoutMs), '--save', '', '--appendonly', 'no', '--dir', dir, '--repl-diskless-sync-delay', '0'];
  const child = spawn(REDIS_SERVER_BIN, args, { stdio: 'ignore' });
  child.unref();
  for (let attempt = 0; attempt < 200; attempt += 1) {
    if (child.exitCode !== null) break;
    const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined);
    const pong = await client.connect().then(() => client.ping(), () => undefined);
    client.disconnect();
    if (pong === 'PONG') return child;
    await sleep(25);
  }
  await stopRedisServer(child);
  throw new Error(`cluster node on 127.0.0.1:${port} did not start`);
}

async function info(port: number, ...command: string[]): Promise<string> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return String(await client.call(command[0] ?? 'PING', ...command.slice(1)));
  } finally {
    client.disconnect();
  }
}

/**
 * Call inside {@link describeRedisCluster}: in beforeAll starts `masters × (1 + replicas)`
 * `redis-server --cluster-enabled yes` on free loopback ports, joins them with
 * `redis-cli --cluster create`, and waits for `cluster_state:ok`; in afterAll closes every
 * client, kills every node and removes the temp directory.
 */
export function useRedisCluster(options: { masters?: number; replicas?: number; nodeTimeoutMs?: number } = {}): RedisTestCluster {
  const { masters = 3, replicas = 0, nodeTimeoutMs = 1_000 } = options;
  const nodes: ClusterNode[] = [];
  const clients = new Set<Cluster>();
  let dir: string | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'alix-redis-cluster-'));
    for (let index = 0; index < masters * (1 + replicas); index += 1) {
      const port = await freePort();
      nodes.push({ port, process: await startNode(port, dir, nodeTimeoutMs) });
    }
    const create = spawnSync('redis-cli', ['--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'], { encoding: 'utf8', timeout: 30_000 });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stderr || create.stdout}`);
    for (let attempt = 0; ; attempt += 1) {
      const states = await Promise.all(nodes.map((node) => info(node.port, 'CLUSTER', 'INFO').catch(() => '')));
      // A replica that never finished its first sync cannot be promoted: wait for every link too.
      const links = await Promise.all(nodes.map((node) => info(node.port, 'INFO', 'replication').catch(() => '')));
      const synced = links.every((link) => !link.includes('role:slave') || link.includes('master_link_status:up'));
      if (synced && states.every((state) => state.includes('cluster_state:ok'))) break;
      if (attempt >= 200) throw new Error('the test cluster never reached cluster_state:ok with every replica in sync');
      await sleep(50);
    }
  }, 60_000);

  afterAll(async () => {
    await Promise.all([...clients].map((client) => (client.status === 'ready' ? client.quit().catch(() => client.disconnect()) : client.disconnect())));
    clients.clear();
    await Promise.all(nodes.map((node) => stopRedisServer(node.process)));
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  const masterFor = async (key: string): Promise<ClusterNode> => {
    const live = nodes.filter((node) => node.process !== undefined);
    for (const node of live) {
      const slot = Number(await info(node.port, 'CLUSTER', 'KEYSLOT', key).catch(() => Number.NaN));
      if (!Number.isInteger(slot)) continue;
      const lines = (await info(node.port, 'CLUSTER', 'NODES').catch(() => '')).split('\n');
      for (const line of lines) {
        const fields = line.split(' ');
        if (!(fields[2] ?? '').includes('master') || (fields[2] ?? '').includes('fail')) continue;
        const port = Number(/:(\d+)@/.exec(fields[1] ?? '')?.[1]);
        const owns = fields.slice(8).some((range) => {
          const [from, to = from] = range.split('-').map(Number);
          return from !== undefined && to !== undefined && slot >= from && slot <= to;
        });
        const match = nodes.find((candidate) => candidate.port === port);
        if (owns && match !== undefined) return match;
      }
    }
    throw new Error(`no live master found for ${key}`);
  };

  return {
    nodes,
    async connect(overrides: ClusterOptions = {}) {
      const client = new Cluster([{ host: '127.0.0.1', port: nodes[0]?.port ?? 0 }], { ...CLUSTER_CLIENT_OPTIONS, lazyConnect: true, ...overrides });
      client.on('error', () => undefined);
      clients.add(client);
      await client.connect();
      return client;
    },
    masterFor,
    async kill(node) {
      await stopRedisServer(node.process);
      node.process = undefined;
    },
    async waitForFailover(key, dead) {
      for (let attempt = 0; attempt < 300; attempt += 1) {
        const master = await masterFor(key).catch(() => undefined);
        const live = nodes.find((node) => node.process !== undefined);
        const state = live === undefined ? '' : await info(live.port, 'CLUSTER', 'INFO').catch(() => '');
        if (master !== undefined && master !== dead && state.includes('cluster_state:ok')) return;
        await sleep(50);
      }
      throw new Error('the cluster did not fail over within 15 s');
    },
  };
}
