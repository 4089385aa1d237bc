/**
 * A private Redis Cluster on loopback ports, without persistence: `masters × (1 + replicas)`
 * `redis-server --cluster-enabled yes` joined by `redis-cli --cluster create`. Shared by the
 * cluster tests (`__tests__/helpers/redis-cluster.ts`) and the fleet benchmark (dev only;
 * never part of the package).
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { REDIS_SERVER_BIN, freePort, redisServerAvailable, stopRedisServer } from './redis-server';

/** The client binary: `redis-cli` from PATH unless REDIS_CLI_BIN names another. */
export const REDIS_CLI_BIN = process.env.REDIS_CLI_BIN ?? 'redis-cli';

/** Whether both `redis-server` and `redis-cli` (which joins the nodes) can be run. */
export function redisClusterAvailable(): boolean {
  const cli = spawnSync(REDIS_CLI_BIN, ['--version'], { stdio: 'ignore', timeout: 5_000 });
  return redisServerAvailable() && cli.error === undefined && cli.status === 0;
}

/** One node of a local cluster; `process` is undefined once it was killed. */
export interface ClusterNode {
  readonly port: number;
  process: ChildProcess | undefined;
}

/** Options of {@link LocalRedisCluster}. */
export interface LocalRedisClusterOptions {
  /** @default 3 */
  masters?: number;
  /** Replicas per master. @default 0 */
  replicas?: number;
  /** `cluster-node-timeout`, in ms: how soon a dead master's replica takes over. @default 1_000 */
  nodeTimeoutMs?: number;
}

const DEFAULT_LOCAL_REDIS_CLUSTER_OPTIONS = Object.freeze({ masters: 3, replicas: 0, nodeTimeoutMs: 1_000 });

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs one command on one node over a short-lived connection. */
export async function nodeCommand(port: number, ...command: string[]): Promise<string> {
  // disconnectTimeout: after a refused connection ioredis would keep a 2 s timer on the dead socket. A dead node
  // refuses at once, so only a loaded machine ever waits out the long connectTimeout (500 ms failed there).
  const client = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 5_000,
    disconnectTimeout: 0,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return String(await client.call(command[0] ?? 'PING', ...command.slice(1)));
  } finally {
    client.disconnect();
  }
}

async function startNode(port: number, dir: string, nodeTimeoutMs: number): Promise<ChildProcess> {
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    path.join(dir, `nodes-${port}.conf`),
    '--cluster-node-timeout',
    String(nodeTimeoutMs),
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    '--repl-diskless-sync-delay',
    '0',
  ];
  const child = spawn(REDIS_SERVER_BIN, args, { stdio: 'ignore' });
  // The owner stops it (close()); a test runner or bench must not be kept alive by it.
  child.unref();
  for (let attempt = 0; attempt < 200; attempt += 1) {
    if (child.exitCode !== null) break;
    if ((await nodeCommand(port, 'PING').catch(() => undefined)) === 'PONG') return child;
    await sleep(25);
  }
  await stopRedisServer(child);
  throw new Error(`cluster node on 127.0.0.1:${port} did not start`);
}

/**
 * A local Redis Cluster: `start()` launches the nodes on free loopback ports, joins them and
 * resolves once every node reports `cluster_state:ok` and every replica is in sync; `close()`
 * kills every node (SIGKILL: nothing is saved) and removes the temp directory.
 *
 * @example
 * ```ts
 * const cluster = new LocalRedisCluster({ masters: 3 });
 * await cluster.start();
 * const client = new Cluster(cluster.seeds());
 * // …
 * await cluster.close();
 * ```
 */
export class LocalRedisCluster {
  /** Filled by `start()`, masters first as `redis-cli --cluster create` assigns them. */
  readonly nodes: ClusterNode[] = [];
  readonly #options: Required<LocalRedisClusterOptions>;
  #dir: string | undefined;

  constructor(options: LocalRedisClusterOptions = {}) {
    this.#options = { ...DEFAULT_LOCAL_REDIS_CLUSTER_OPTIONS, ...options };
  }

  /** Starts and joins the nodes (within about 15 s, or throws after stopping what it started). */
  async start(): Promise<void> {
    const { masters, replicas, nodeTimeoutMs } = this.#options;
    this.#dir = mkdtempSync(path.join(os.tmpdir(), 'alix-redis-cluster-'));
    try {
      for (let index = 0; index < masters * (1 + replicas); index += 1) {
        const port = await freePort();
        this.nodes.push({ port, process: await startNode(port, this.#dir, nodeTimeoutMs) });
      }
      const create = spawnSync(
        REDIS_CLI_BIN,
        [
          '--cluster',
          'create',
          ...this.nodes.map((node) => `127.0.0.1:${node.port}`),
          '--cluster-replicas',
          String(replicas),
          '--cluster-yes',
        ],
        { encoding: 'utf8', timeout: 30_000 },
      );
      if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stderr || create.stdout}`);
      await this.#waitUntilReady();
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  /** Seed addresses for an ioredis `Cluster`. */
  seeds(): Array<{ host: string; port: number }> {
    return this.nodes
      .filter((node) => node.process !== undefined)
      .map((node) => ({ host: '127.0.0.1', port: node.port }));
  }

  /** The node currently serving `key`'s slot as master. */
  async masterFor(key: string): Promise<ClusterNode> {
    const live = this.nodes.filter((node) => node.process !== undefined);
    for (const node of live) {
      const slot = Number(await nodeCommand(node.port, 'CLUSTER', 'KEYSLOT', key).catch(() => Number.NaN));
      if (!Number.isInteger(slot)) continue;
      const lines = (await nodeCommand(node.port, 'CLUSTER', 'NODES').catch(() => '')).split('\n');
      for (const line of lines) {
        const fields = line.split(' ');
        if (!(fields[2] ?? '').includes('master') || (fields[2] ?? '').includes('fail')) continue;
        const port = Number(/:(\d+)@/.exec(fields[1] ?? '')?.[1]);
        const owns = fields.slice(8).some((range) => {
          const [from, to = from] = range.split('-').map(Number);
          return from !== undefined && to !== undefined && slot >= from && slot <= to;
        });
        const match = this.nodes.find((candidate) => candidate.port === port);
        if (owns && match !== undefined) return match;
      }
    }
    throw new Error(`no live master found for ${key}`);
  }

  /** SIGKILLs a node (as a crash). */
  async kill(node: ClusterNode): Promise<void> {
    // Unref'ed while it runs; while it is being stopped, its exit must keep this process alive.
    node.process?.ref();
    await stopRedisServer(node.process);
    node.process = undefined;
  }

  /** Resolves once `cluster_state:ok` holds and `key`'s slot has a live master other than `dead` (within 15 s). */
  async waitForFailover(key: string, dead: ClusterNode): Promise<void> {
    for (let attempt = 0; attempt < 300; attempt += 1) {
      const master = await this.masterFor(key).catch(() => undefined);
      const live = this.nodes.find((node) => node.process !== undefined);
      const state = live === undefined ? '' : await nodeCommand(live.port, 'CLUSTER', 'INFO').catch(() => '');
      if (master !== undefined && master !== dead && state.includes('cluster_state:ok')) return;
      await sleep(50);
    }
    throw new Error('the cluster did not fail over within 15 s');
  }

  /** Commands the live nodes have processed since they started (`total_commands_processed`, summed; the INFO calls count too). */
  async commandsProcessed(): Promise<number> {
    const stats = await Promise.all(
      this.nodes.filter((node) => node.process !== undefined).map((node) => nodeCommand(node.port, 'INFO', 'stats')),
    );
    return stats.reduce(
      (total, text) => total + Number(/total_commands_processed:(\d+)/.exec(text)?.[1] ?? Number.NaN),
      0,
    );
  }

  /**
   * Bytes the live nodes have received from and sent to their clients since they started
   * (`total_net_input_bytes` + `total_net_output_bytes`, summed).
   */
  async clientTrafficBytes(): Promise<number> {
    const live = this.nodes.filter((node) => node.process !== undefined);
    const stats = await Promise.all(live.map((node) => nodeCommand(node.port, 'INFO', 'stats')));
    const field = (text: string, name: string): number =>
      Number(new RegExp(`${name}:(\\d+)`).exec(text)?.[1] ?? Number.NaN);
    const bytes = (text: string): number =>
      field(text, 'total_net_input_bytes') + field(text, 'total_net_output_bytes');
    return stats.reduce((total, text) => total + bytes(text), 0);
  }

  /** Kills every node and removes the temp directory. Idempotent. */
  async close(): Promise<void> {
    await Promise.all(this.nodes.map((node) => this.kill(node)));
    if (this.#dir !== undefined) rmSync(this.#dir, { recursive: true, force: true });
    this.#dir = undefined;
  }

  async #waitUntilReady(): Promise<void> {
    for (let attempt = 0; ; attempt += 1) {
      const states = await Promise.all(
        this.nodes.map((node) => nodeCommand(node.port, 'CLUSTER', 'INFO').catch(() => '')),
      );
      // A replica that never finished its first sync cannot be promoted: wait for every link too.
      const links = await Promise.all(
        this.nodes.map((node) => nodeCommand(node.port, 'INFO', 'replication').catch(() => '')),
      );
      const synced = links.every((link) => !link.includes('role:slave') || link.includes('master_link_status:up'));
      if (synced && states.every((state) => state.includes('cluster_state:ok'))) return;
      if (attempt >= 200) throw new Error('the cluster never reached cluster_state:ok with every replica in sync');
      await sleep(50);
    }
  }
}
