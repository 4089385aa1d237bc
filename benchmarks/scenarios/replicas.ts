/**
 * Scenario 7, a shared session across replicas (Redis). Groups of K = 1, 4 and 8 replica
 * processes (this bundle forked as `--child replica`) each run a TokenManager on a
 * RedisTokenStore, one session key per group, against ONE sandbox in the orchestrating
 * process with short-lived tokens. Every replica loops getAccessToken() + GET /api/v2/cards
 * with a short pause. Each group reaches the sandbox through its own counting proxy, so auth
 * calls and 401s are counted per group while all groups share the auth server.
 *
 * Also here: the hot path with a RedisTokenStore against a MemoryTokenStore in one process
 * (`--child redis-hot-path <url>`), and how many Redis commands it sent (none expected).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import Redis from 'ioredis';
import { AlixAuthProvider, MemoryTokenStore, TokenManager } from '../../src/index';
import { RedisTokenStore } from '../../src/redis';
import { generatePartnerKeyPair, startAlixSandbox } from '../../src/sandbox/index';
import { FakeProvider } from '../lib/fakes';
import { createClient } from '../lib/http';
import { startCountingProxy, type CountingProxy, type ProxyCounts } from '../lib/proxy';
import { deferred, exited, nextMessage, withTimeout } from '../lib/processes';
import { commandsProcessed } from '../lib/redis';
import { rate } from './hot-path';

export interface ReplicasParams {
  /** Replica counts, one group each; the groups run side by side. */
  ks: number[];
  /** Access-token lifetime the sandbox issues (it rounds expiries up to whole seconds). */
  ttlMs: number;
  /** The replicas loop for lifetimes × ttlMs. */
  lifetimes: number;
  /** Pause after each request of a replica's loop. */
  thinkMs: number;
  refreshBeforeExpiryMs: number;
  expirySkewMs: number;
}

/** Store options scaled down to second-long tokens (the defaults suit 15-minute tokens). */
export const REPLICA_STORE_OPTIONS = Object.freeze({
  lockTtlMs: 2_000,
  lockWaitMs: 3_000,
  pollIntervalMs: 100,
  commandTimeoutMs: 1_000,
});

/** What one replica process reports after its loop. */
export interface ReplicaReport {
  durationMs: number;
  requests: number;
  failures: number;
  /** 401s this replica received (the proxy counts them at the server side too). */
  client401s: number;
  /** getAccessToken() calls that rejected. */
  tokenFailures: number;
  maxTokenWaitMs: number;
  tokenWaitsOver1Ms: number;
  /** Short hashes of the access tokens this replica used, to count distinct tokens per group. */
  tokenIds: string[];
  /** Auth calls this replica's manager made during the loop (refreshes + sign-ins). */
  authCalls: number;
  signIns: number;
  /** Lifetime of each token this replica obtained, measured at arrival, ms. */
  lifetimesMs: number[];
  /** 'error' events of the manager (failed refreshes, failed store writes). */
  errorEvents: number;
}

export interface ReplicaGroupRun {
  k: number;
  /** Proxy counts while the K replicas started (each got its first token). */
  startup: ProxyCounts;
  /** Proxy counts during the measured loop. */
  counts: ProxyCounts;
  durationMs: number;
  meanLifetimeMs: number;
  /** Tokens' service periods in the window: duration / (lifetime − refresh window). */
  lifetimes: number;
  authCalls: number;
  authPerLifetime: number;
  requests: number;
  failures: number;
  server401s: number;
  distinctTokens: number;
  maxTokenWaitMs: number;
  tokenWaitsOver1Ms: number;
  errorEvents: number;
  /** Auth calls made by each replica of the group. */
  authCallsByReplica: number[];
}

export interface RedisHotPathRun {
  /** calls/s */
  memory: number;
  redis: number;
  ratio: number;
}

export interface RedisHotPathResult {
  runs: RedisHotPathRun[];
  sliceMs: number;
  /** getAccessToken() calls made on the Redis-backed manager while commands were counted. */
  redisCalls: number;
  /** Commands the Redis server processed meanwhile (INFO stats), INFO itself excluded. */
  redisCommands: number;
}

export interface ReplicasResult {
  /** Why the scenario did not run (no redis-server), or null. */
  skipped: string | null;
  params: ReplicasParams;
  groups: ReplicaGroupRun[];
  hotPath: RedisHotPathResult | null;
  /** The sandbox's own counters over the measured loop, all groups together. */
  sandbox: { authenticate: number; refresh: number; resource401s: number; resourceRequests: number } | null;
  /** From forking the replicas until all held their first token, ms. */
  startupMs: number | null;
}

interface ReplicaConfig {
  type: 'config';
  redisUrl: string;
  key: string;
  baseUrl: string;
  partnerCode: string;
  secretKey: string;
  privateKeyPem: string;
  params: ReplicasParams;
}

type ReplicaMessage = { type: 'ready' } | { type: 'done'; report: ReplicaReport } | { type: 'failed'; error: string };

function connectRedis(url: string): Promise<Redis> {
  // Fail fast while disconnected, as docs/scaling.md recommends.
  const client = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    lazyConnect: true,
    connectTimeout: 2_000,
    disconnectTimeout: 20,
  });
  client.on('error', () => undefined);
  return client.connect().then(() => client);
}

// ---------------------------------------------------------------- replica process

const tokenId = (token: string): string => createHash('sha256').update(token).digest('hex').slice(0, 16);

async function replicaMain(config: ReplicaConfig): Promise<void> {
  const { params } = config;
  const client = await connectRedis(config.redisUrl);
  const store = new RedisTokenStore({ client, ...REPLICA_STORE_OPTIONS });
  const provider = new AlixAuthProvider({
    baseUrl: config.baseUrl,
    partnerCode: config.partnerCode,
    secretKey: config.secretKey,
    privateKey: config.privateKeyPem,
  });
  // No jitter: every replica's refresh window opens at the same instant, the worst case for the lock.
  // Every group signs in as the same sandbox partner: its own storeKey keeps each group's session apart.
  const manager = new TokenManager({
    provider,
    store,
    storeKey: config.key,
    refreshBeforeExpiryMs: params.refreshBeforeExpiryMs,
    expirySkewMs: params.expirySkewMs,
    refreshJitterMs: 0,
  });
  const lifetimesMs: number[] = [];
  let errorEvents = 0;
  manager.on('refreshed', (event) => lifetimesMs.push(event.accessTokenExpiresAt - Date.now()));
  manager.on('error', () => {
    errorEvents += 1;
  });
  const { api, agent } = createClient(config.baseUrl, 1);
  try {
    await manager.getAccessToken({ signal: AbortSignal.timeout(15_000) });
    const startMessage = nextMessage<{ type: 'start'; durationMs: number }>(90_000);
    process.send?.({ type: 'ready' } satisfies ReplicaMessage);
    const { durationMs } = await startMessage;
    lifetimesMs.length = 0;
    errorEvents = 0;
    const before = manager.status();

    const tokens = new Set<string>();
    let requests = 0;
    let failures = 0;
    let client401s = 0;
    let tokenFailures = 0;
    let maxTokenWaitMs = 0;
    let tokenWaitsOver1Ms = 0;
    const started = performance.now();
    const deadline = started + durationMs;
    // Bounded by time; the count cap is a second guard.
    for (let i = 0; i < 1_000_000 && performance.now() < deadline; i += 1) {
      requests += 1;
      const asked = performance.now();
      let token: string;
      try {
        token = await manager.getAccessToken({ signal: AbortSignal.timeout(5_000) });
      } catch {
        tokenFailures += 1;
        failures += 1;
        await sleep(params.thinkMs);
        continue;
      }
      const waitedMs = performance.now() - asked;
      maxTokenWaitMs = Math.max(maxTokenWaitMs, waitedMs);
      if (waitedMs > 1) tokenWaitsOver1Ms += 1;
      tokens.add(token);
      try {
        const response = await api.get('/api/v2/cards', {
          headers: { Authorization: `Bearer ${token}` },
          timeout: 5_000,
          validateStatus: () => true,
        });
        if (response.status === 401) {
          client401s += 1;
          manager.invalidate(token);
        }
        if (response.status !== 200) failures += 1;
      } catch {
        failures += 1;
      }
      await sleep(params.thinkMs);
    }
    const after = manager.status();
    const report: ReplicaReport = {
      durationMs: performance.now() - started,
      requests,
      failures,
      client401s,
      tokenFailures,
      maxTokenWaitMs,
      tokenWaitsOver1Ms,
      tokenIds: [...tokens].map(tokenId),
      authCalls: after.refreshCount - before.refreshCount,
      signIns: after.counts.signIns - before.counts.signIns,
      lifetimesMs,
      errorEvents,
    };
    process.send?.({ type: 'done', report } satisfies ReplicaMessage);
  } finally {
    manager.close();
    await store.close();
    await client.quit().catch(() => client.disconnect());
    agent.destroy();
  }
}

/** The `--child replica` role: waits for its config, gets a token, reports ready, loops on `start`. */
export function runReplicaProcess(): void {
  nextMessage<ReplicaConfig>(30_000)
    .then(replicaMain)
    .catch((error: unknown) => {
      process.send?.({
        type: 'failed',
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      } satisfies ReplicaMessage);
    })
    .finally(() => process.disconnect?.());
}

// ---------------------------------------------------------------- orchestrator

interface ReplicaHandle {
  child: ChildProcess;
  ready: Promise<void>;
  done: Promise<ReplicaReport>;
}

function forkReplica(entry: string, config: ReplicaConfig): ReplicaHandle {
  const child = fork(entry, ['--child', 'replica'], {
    execArgv: process.execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = deferred<void>();
  const done = deferred<ReplicaReport>();
  const fail = (error: Error): void => {
    ready.reject(error);
    done.reject(error);
  };
  child.on('message', (message: ReplicaMessage) => {
    if (message.type === 'ready') ready.resolve();
    else if (message.type === 'done') done.resolve(message.report);
    else fail(new Error(`replica failed: ${message.error}`));
  });
  child.on('error', (error) => fail(error));
  child.on('exit', (code, signal) =>
    fail(new Error(`replica exited (${signal ?? `code ${String(code)}`}) before reporting`)),
  );
  child.send(config);
  return { child, ready: ready.promise, done: done.promise };
}

const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);

/** Runs every group side by side against one sandbox; `entry` is this bundle. */
export async function runReplicas(
  params: ReplicasParams,
  redisUrl: string,
  entry: string,
): Promise<Pick<ReplicasResult, 'groups' | 'sandbox' | 'startupMs'>> {
  const { privateKeyPem } = await generatePartnerKeyPair();
  const sandbox = await startAlixSandbox({ privateKeyPem, accessTokenTtlMs: params.ttlMs });
  const groups: Array<{ k: number; proxy: CountingProxy; replicas: ReplicaHandle[] }> = [];
  let completed = false;
  const forkedAt = performance.now();
  try {
    for (const k of params.ks) {
      const proxy = await startCountingProxy(sandbox.url);
      const key = `alix-bench:${randomUUID()}:k${k}`;
      const config: ReplicaConfig = {
        type: 'config',
        redisUrl,
        key,
        baseUrl: proxy.url,
        partnerCode: sandbox.partnerCode,
        secretKey: sandbox.secretKey,
        privateKeyPem,
        params,
      };
      groups.push({ k, proxy, replicas: Array.from({ length: k }, () => forkReplica(entry, config)) });
    }
    const all = groups.flatMap((group) => group.replicas);
    await withTimeout(
      Promise.all(all.map((replica) => replica.ready)),
      60_000,
      `${all.length} replicas did not all start`,
    );

    const startupMs = performance.now() - forkedAt;
    const startup = groups.map((group) => group.proxy.counts());
    for (const group of groups) group.proxy.reset();
    sandbox.resetCounters();
    const durationMs = params.lifetimes * params.ttlMs;
    const started = performance.now();
    for (const replica of all) replica.child.send({ type: 'start', durationMs });
    const finished = await withTimeout(
      Promise.all(
        groups.map(async (group) => {
          const reports = await Promise.all(group.replicas.map((replica) => replica.done));
          return { reports, endedAt: performance.now(), counts: group.proxy.counts() };
        }),
      ),
      durationMs + 30_000,
      'the replicas did not all report',
    );
    const totals = sandbox.counters();

    const runs = groups.map((group, index): ReplicaGroupRun => {
      const { reports, endedAt, counts } = finished[index] as (typeof finished)[number];
      const elapsedMs = endedAt - started;
      const lifetimesMs = reports.flatMap((report) => report.lifetimesMs);
      const meanLifetimeMs = lifetimesMs.length === 0 ? params.ttlMs + 500 : sum(lifetimesMs) / lifetimesMs.length;
      // A token is served from its arrival until the refresh window of the next one opens.
      const windowMs = Math.min(params.refreshBeforeExpiryMs, meanLifetimeMs / 2);
      const lifetimes = elapsedMs / (meanLifetimeMs - windowMs);
      const authCalls = counts.authenticate + counts.refresh;
      return {
        k: group.k,
        startup: startup[index] as ProxyCounts,
        counts,
        durationMs: elapsedMs,
        meanLifetimeMs,
        lifetimes,
        authCalls,
        authPerLifetime: authCalls / lifetimes,
        requests: sum(reports.map((r) => r.requests)),
        failures: sum(reports.map((r) => r.failures)) + counts.proxyErrors,
        server401s: counts.resource401s,
        distinctTokens: new Set(reports.flatMap((r) => r.tokenIds)).size,
        maxTokenWaitMs: Math.max(...reports.map((r) => r.maxTokenWaitMs)),
        tokenWaitsOver1Ms: sum(reports.map((r) => r.tokenWaitsOver1Ms)),
        errorEvents: sum(reports.map((r) => r.errorEvents)),
        authCallsByReplica: reports.map((r) => r.authCalls),
      };
    });
    completed = true;
    return {
      startupMs,
      groups: runs,
      sandbox: {
        authenticate: totals.authenticate,
        refresh: totals.refresh,
        resource401s: totals.resource401s,
        resourceRequests: totals.resourceRequests,
      },
    };
  } finally {
    const children = groups.flatMap((group) => group.replicas.map((replica) => replica.child));
    // Replicas exit by themselves after reporting; after a failure they are killed at once.
    await Promise.all(children.map((child) => exited(child, completed ? 3_000 : 0)));
    await Promise.all(groups.map((group) => group.proxy.close()));
    await sandbox.close();
  }
}

// ---------------------------------------------------------------- hot path, Redis vs memory

export async function runRedisHotPath(redisUrl: string, quick: boolean): Promise<RedisHotPathResult> {
  const client = await connectRedis(redisUrl);
  const store = new RedisTokenStore({ client });
  // A store passed in needs a provider with an identity.
  const identity = { id: `alix-bench:${randomUUID()}`, scope: 'alix-bench' };
  const viaRedis = new TokenManager({
    provider: new FakeProvider({ ttlMs: 60 * 60 * 1000, identity }),
    store,
    storeKey: `alix-bench:${randomUUID()}:hot-path`,
  });
  const inMemory = new TokenManager({
    provider: new FakeProvider({ ttlMs: 60 * 60 * 1000, identity }),
    store: new MemoryTokenStore(),
  });
  try {
    await viaRedis.getAccessToken();
    await inMemory.getAccessToken();
    // One loop per contender, so no call site is shared between them.
    const loops: Record<'memory' | 'redis', (calls: number) => Promise<number>> = {
      memory: async (calls) => {
        let length = 0;
        for (let i = 0; i < calls; i += 1) length += (await inMemory.getAccessToken()).length;
        return length;
      },
      redis: async (calls) => {
        let length = 0;
        for (let i = 0; i < calls; i += 1) length += (await viaRedis.getAccessToken()).length;
        return length;
      },
    };
    const sliceMs = quick ? 50 : 200;
    const runCount = quick ? 3 : 5;
    await rate(loops.memory, sliceMs); // warm-up, discarded
    await rate(loops.redis, sliceMs);
    const before = await commandsProcessed(client);
    const runs: RedisHotPathRun[] = [];
    for (let run = 0; run < runCount; run += 1) {
      // Alternate which goes first.
      const first = run % 2 === 0 ? 'memory' : 'redis';
      const second = first === 'memory' ? 'redis' : 'memory';
      const rates = {
        [first]: await rate(loops[first], sliceMs),
        [second]: await rate(loops[second], sliceMs),
      } as Record<'memory' | 'redis', number>;
      runs.push({ memory: rates.memory, redis: rates.redis, ratio: rates.redis / rates.memory });
    }
    const after = await commandsProcessed(client);
    return {
      runs,
      sliceMs,
      redisCalls: Math.round(sum(runs.map((r) => r.redis)) * (sliceMs / 1000)),
      redisCommands: after - before - 1,
    };
  } finally {
    viaRedis.close();
    inMemory.close();
    await store.close();
    await client.quit().catch(() => client.disconnect());
  }
}
