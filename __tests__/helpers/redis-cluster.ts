import { Cluster } from 'ioredis';
import type { ClusterOptions } from 'ioredis';
import { LocalRedisCluster, redisClusterAvailable } from '../../scripts/redis-cluster';
import type { ClusterNode, LocalRedisClusterOptions } from '../../scripts/redis-cluster';
import { REDIS_SKIP_MARKER, REDIS_SKIP_NOTICE, REDIS_TESTS, describeNeeding } from './redis-server';
import type { MissingRequirement, RedisTestMode } from './redis-server';

export type { ClusterNode };

/** How the cluster tests run: a local machine without redis-server/redis-cli skips them; CI fails. */
export const REDIS_CLUSTER_TESTS = Object.freeze({
  mode: (redisClusterAvailable() ? 'run' : process.env.CI === 'true' ? 'fail' : 'skip') as RedisTestMode,
});

const NO_CLUSTER: MissingRequirement = {
  test: 'has redis-server and redis-cli to build a cluster (CI requires them)',
  failure:
    'redis-server or redis-cli not found, but CI=true requires the Redis Cluster tests to run: install redis-server and redis-tools',
  // When the single-server Redis tests skip as well, their line already covers these.
  notice:
    REDIS_TESTS.mode === 'skip'
      ? REDIS_SKIP_NOTICE
      : 'Redis Cluster tests skipped: redis-server or redis-cli not found; to run them, apt-get install redis-server redis-tools',
  marker: REDIS_SKIP_MARKER,
};

/** `describe` for tests on a real local Redis Cluster (see {@link describeNeeding}). */
export function describeRedisCluster(name: string, body: () => void): void {
  describeNeeding(REDIS_CLUSTER_TESTS.mode, NO_CLUSTER, name, body);
}

/** A local Redis Cluster for one test file (the nodes and their control: scripts/redis-cluster.ts). */
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

/**
 * Call inside {@link describeRedisCluster}: in beforeAll starts a {@link LocalRedisCluster}
 * (`masters × (1 + replicas)` nodes, joined, `cluster_state:ok`); in afterAll closes every
 * client and the cluster.
 */
export function useRedisCluster(options: LocalRedisClusterOptions = {}): RedisTestCluster {
  const cluster = new LocalRedisCluster(options);
  const clients = new Set<Cluster>();

  beforeAll(() => cluster.start(), 60_000);

  afterAll(async () => {
    await Promise.all(
      [...clients].map((client) =>
        client.status === 'ready' ? client.quit().catch(() => client.disconnect()) : client.disconnect(),
      ),
    );
    clients.clear();
    await cluster.close();
  });

  return {
    nodes: cluster.nodes,
    async connect(overrides: ClusterOptions = {}) {
      const client = new Cluster(cluster.seeds().slice(0, 1), {
        ...CLUSTER_CLIENT_OPTIONS,
        lazyConnect: true,
        ...overrides,
      });
      client.on('error', () => undefined);
      clients.add(client);
      await client.connect();
      return client;
    },
    masterFor: (key) => cluster.masterFor(key),
    kill: (node) => cluster.kill(node),
    waitForFailover: (key, dead) => cluster.waitForFailover(key, dead),
  };
}
