/**
 * Scenario 13, the cost of a hand-over (issue 22): what one refresh of one session costs a
 * fleet of K replicas in Redis. Per row, a fresh local Redis Cluster, K replica processes (as
 * in scenario 11: each a `TokenManagerPool` over a `RedisTokenStore`) holding the same N users,
 * and one sandbox; part A of scenario 11 runs on it. Counted per auth call: the commands the
 * replicas sent (their own counters, so a script's inner calls are not counted as commands),
 * the commands the cluster processed (inner calls included), and the bytes between the
 * cluster and its clients; per session and lifetime: auth calls.
 */
import { generatePartnerKeyPair, startAlixSandbox } from '../../src/sandbox/index';
import type { AlixSandbox, SandboxAuthCallEvent } from '../../src/sandbox/index';
import { LocalRedisCluster, redisClusterAvailable } from '../../scripts/redis-cluster';
import { withTimeout } from '../lib/processes';
import { runSteady } from './fleet';
import type { Fleet, FleetParams, FleetSteadyRun } from './fleet';
import type { FleetReplicaConfig } from './fleet-replica';
import { FleetWorker } from './fleet-worker';

/** One row: K replicas × N users, with scenario 11's steady-load settings. */
export interface HandOverRowParams {
  replicas: number;
  masters: number;
  ttlMs: number;
  refreshBeforeExpiryMs: number;
  expirySkewMs: number;
  steady: FleetParams['steady'];
}

export interface HandOverRow {
  params: HandOverRowParams;
  steady: FleetSteadyRun;
  /** Commands the replicas sent per auth call (their own counters). */
  commandsPerRefresh: number;
  /** Commands the cluster processed per auth call (a script's inner calls included). */
  serverCommandsPerRefresh: number;
  /** Bytes between the cluster and its clients per auth call. */
  bytesPerRefresh: number;
}

export interface HandOverResult {
  skipped: string | null;
  rows: HandOverRow[];
}

/** Runs each row on its own cluster and replicas; skips (with a loud line) without redis-server / redis-cli. */
export async function runHandOver(
  rows: readonly HandOverRowParams[],
  entry: string,
  progress: (message: string) => void,
): Promise<HandOverResult> {
  if (!redisClusterAvailable()) {
    const reason = 'redis-server or redis-cli is not on PATH';
    process.stderr.write(`\n!!! SKIPPING SCENARIO 13 (hand-over cost on a Redis Cluster): ${reason}. !!!\n\n`);
    return { skipped: reason, rows: [] };
  }
  const results: HandOverRow[] = [];
  for (const params of rows) {
    const mode = params.steady.http === false ? 'tokens only' : 'with requests';
    const users = params.steady.users.toLocaleString('en-US');
    progress(`13 hand-over cost: K=${params.replicas} × ${users} users, ${params.ttlMs / 1000} s tokens, ${mode}`);
    const steady = await runRow(params, entry);
    const calls = Math.max(1, steady.authCalls);
    results.push({
      params,
      steady,
      commandsPerRefresh: steady.clientCommandsTotal / calls,
      serverCommandsPerRefresh: steady.redisCommands / calls,
      bytesPerRefresh: steady.netBytes / calls,
    });
  }
  return { skipped: null, rows: results };
}

async function runRow(params: HandOverRowParams, entry: string): Promise<FleetSteadyRun> {
  const cluster = new LocalRedisCluster({ masters: params.masters });
  const workers: FleetWorker[] = [];
  let sandbox: AlixSandbox | undefined;
  let completed = false;
  try {
    for (let index = 0; index < params.replicas; index += 1) workers.push(new FleetWorker(entry));
    const [{ privateKeyPem }] = await Promise.all([generatePartnerKeyPair(), cluster.start()]);
    sandbox = await startAlixSandbox({ privateKeyPem, accessTokenTtlMs: params.ttlMs });
    const authCalls: SandboxAuthCallEvent[] = [];
    sandbox.onAuthCall((event) => authCalls.push(event));
    const config: FleetReplicaConfig = {
      seeds: cluster.seeds(),
      baseUrl: sandbox.url,
      partnerCode: sandbox.partnerCode,
      secretKey: sandbox.secretKey,
      privateKeyPem,
      refreshBeforeExpiryMs: params.refreshBeforeExpiryMs,
      expirySkewMs: params.expirySkewMs,
    };
    for (const worker of workers) worker.configure(config);
    const ready = Promise.all(workers.map((worker) => worker.ready.promise));
    await withTimeout(ready, 60_000, `${params.replicas} fleet replicas did not all connect`);
    // Only part A runs: the outage fields are never read.
    const fleetParams = { ...params, outage: undefined as never };
    const fleet: Fleet = { params: fleetParams, workers, sandbox, cluster, authCalls };
    const steady = await runSteady(fleet);
    completed = true;
    return steady;
  } finally {
    await Promise.all(workers.map((worker) => worker.stop(completed ? 5_000 : 0)));
    await sandbox?.close();
    await cluster.close();
  }
}
