/**
 * `npm run bench [-- --quick]`: runs every scenario in its own child process (fresh heap,
 * fresh JIT, no leftovers between scenarios), prints a markdown report and writes
 * benchmarks/results.json. Progress goes to stderr, the report to stdout.
 *
 * The npm script bundles this file with esbuild into benchmarks/.out/bench.mjs and runs it
 * with --expose-gc; a child is the same bundle started with `--child <scenario>`.
 */
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, resolve } from 'node:path';
import { analyse, renderMarkdown, type BenchResults, type Meta } from './report';
import { runExpiry, type ExpiryParams, type ExpiryRun } from './scenarios/expiry';
import { runHotPath } from './scenarios/hot-path';
import { runInterceptor } from './scenarios/interceptor';
import { runMemory, type MemoryRun } from './scenarios/memory';
import {
  runRedisHotPath,
  runReplicaProcess,
  runReplicas,
  type RedisHotPathResult,
  type ReplicasParams,
  type ReplicasResult,
} from './scenarios/replicas';
import { runSessions, type SessionsRun } from './scenarios/sessions';
import { runStampede } from './scenarios/stampede';
import { runStorm } from './scenarios/storm';
import { runHungAuth } from './scenarios/hung-auth';
import { runEncryption } from './scenarios/encryption';
import { runPoolBurst, runPoolHot, runPoolIdle, runPoolSteady, type PoolResult } from './scenarios/pool';
import { runPoolMixed } from './scenarios/pool-mixed';
import { runFleet, type FleetParams, type FleetResult } from './scenarios/fleet';
import { runFleetReplicaProcess } from './scenarios/fleet-replica';
import { renderFleet } from './report-fleet';
import { runHandOver, type HandOverResult, type HandOverRowParams } from './scenarios/fleet-handover';
import { renderHandOver } from './report-handover';
import { renderIsolation } from './report-isolation';
import { runIsolationBadUser, runIsolationChurn } from './scenarios/isolation';
import type { BadUserParams, IsolationResult } from './scenarios/isolation';
import { runIsolationOutage, type OutageParams } from './scenarios/isolation-outage';
import { renderPool } from './report';
import type { ContenderName } from './lib/contenders';
import { redisServerAvailable, startRedisServer } from './lib/redis';

type Scenario =
  | 'hot-path'
  | 'interceptor'
  | 'stampede'
  | 'expiry'
  | 'memory'
  | 'sessions'
  | 'redis-hot-path'
  | 'storm'
  | 'hung-auth'
  | 'encryption'
  | 'pool-idle'
  | 'pool-burst'
  | 'pool-steady'
  | 'pool-hot'
  | 'pool-mixed'
  | IsolationScenario;
type IsolationScenario = 'isolation-bad-user' | 'isolation-churn' | 'isolation-outage';

/**
 * No child run by `inChild()` may run longer than this; it is killed and the bench fails. The
 * replica processes of scenarios 7 and 11 are forked by their orchestrators instead and bounded
 * per step (a fleet replica serves both parts of scenario 11, about 2.5 minutes in a full run;
 * each of its steps must end within its planned length + 30 s, or every replica is killed).
 */
const CHILD_TIMEOUT_MS = 150_000;

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
/**
 * `--only pool` / `--only fleet` / `--only isolation`: run only that group of scenarios and print
 * its section (no results file).
 */
const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : undefined;

function expiryParams(): ExpiryParams {
  return quick
    ? { ttlMs: 1_000, lifetimes: 2, loops: 8, thinkMs: 100 }
    : { ttlMs: 3_000, lifetimes: 10, loops: 8, thinkMs: 100 };
}

/**
 * Scenario 11. Full: 15 s tokens, so part A (3 lifetimes) takes about a minute and part B's
 * tokens expire well within its 60 s outage; shorter tokens saturate 2 cores with 8,000
 * sessions' refreshes (see docs/performance.md). Window and skew scale with the lifetime as in
 * scenario 10 (0.35 and 0.1); each replica's loop of a user pauses 0.4–1.2 lifetimes.
 * Quick: 8 × 50 users and 2 s tokens, a 3 s outage with openMs 1 s: proof that it runs.
 */
function fleetParams(): FleetParams {
  return quick
    ? {
        replicas: 8,
        masters: 3,
        ttlMs: 2_000,
        refreshBeforeExpiryMs: 700,
        expirySkewMs: 200,
        steady: { users: 50, lifetimes: 2, thinkMinMs: 800, thinkMaxMs: 2_400 },
        outage: {
          users: 50,
          beforeMs: 1_000,
          outageMs: 3_000,
          afterMs: 2_000,
          thinkMinMs: 500,
          thinkMaxMs: 1_500,
          breaker: { openMs: 1_000 },
        },
      }
    : {
        replicas: 8,
        masters: 3,
        ttlMs: 15_000,
        refreshBeforeExpiryMs: 5_250,
        expirySkewMs: 1_500,
        steady: { users: 1_000, lifetimes: 3, thinkMinMs: 6_000, thinkMaxMs: 18_000 },
        outage: {
          users: 100,
          beforeMs: 10_000,
          outageMs: 60_000,
          afterMs: 15_000,
          thinkMinMs: 1_000,
          thinkMaxMs: 2_000,
          breaker: {},
        },
      };
}

/**
 * Scenario 13 (hand-over cost). Full: K = 8 and 16 with scenario 11's settings (500 users, with
 * requests), then a larger fleet: 16 × 2,000 users with 60 s tokens, loops asking only for tokens
 * (16 × 10,000 saturated this 2-core machine even so: see docs/performance.md). Quick: K = 8 and
 * 16 × 30 users, 2 s tokens.
 */
function handOverParams(): HandOverRowParams[] {
  const fleet = fleetParams();
  const row = (replicas: number, users: number): HandOverRowParams => ({
    ...fleet,
    replicas,
    steady: { ...fleet.steady, users },
  });
  if (quick) return [row(8, 30), row(16, 30)];
  const big: HandOverRowParams = {
    replicas: 16,
    masters: 3,
    ttlMs: 60_000,
    refreshBeforeExpiryMs: 21_000,
    expirySkewMs: 6_000,
    steady: { users: 2_000, lifetimes: 2, thinkMinMs: 12_000, thinkMaxMs: 30_000, http: false },
  };
  return [row(8, 500), row(16, 500), big];
}

/** Scenario 13 (hand-over cost on a Redis Cluster): a fleet per row, orchestrated from this process. */
function runHandOverScenario(): Promise<HandOverResult> {
  return runHandOver(handOverParams(), process.argv[1] as string, progress);
}

function replicasParams(): ReplicasParams {
  return quick
    ? { ks: [1, 4, 8], ttlMs: 1_000, lifetimes: 3, thinkMs: 50, refreshBeforeExpiryMs: 400, expirySkewMs: 200 }
    : { ks: [1, 4, 8], ttlMs: 2_000, lifetimes: 10, thinkMs: 50, refreshBeforeExpiryMs: 700, expirySkewMs: 200 };
}

/** Runs one scenario in this (child) process and returns its raw result. */
async function runScenario(scenario: Scenario, args: readonly string[]): Promise<unknown> {
  switch (scenario) {
    case 'hot-path':
      return runHotPath(quick);
    case 'interceptor':
      return runInterceptor(quick);
    case 'stampede':
      return runStampede(quick ? [200, 500] : [200, 10_000], quick);
    case 'expiry':
      return runExpiry(args[0] as ContenderName, expiryParams());
    case 'memory':
      return runMemory(quick);
    case 'sessions':
      return runSessions(quick ? 1_000 : 10_000);
    case 'redis-hot-path':
      return runRedisHotPath(args[0] as string, quick);
    case 'storm':
      return runStorm(quick);
    case 'pool-idle':
      return runPoolIdle(quick ? 10_000 : 100_000);
    case 'pool-burst':
      return quick ? runPoolBurst(1_000, 8, 5) : runPoolBurst(10_000, 16, 5);
    case 'pool-steady':
      return quick ? runPoolSteady(100, 3, 1_000) : runPoolSteady(1_000, 5, 2_000);
    case 'pool-mixed':
      return runPoolMixed(quick ? 1_000 : 10_000);
    case 'pool-hot':
      return runPoolHot(quick ? 200_000 : 1_000_000, 1_000);
    case 'hung-auth':
      return runHungAuth(quick);
    case 'encryption':
      return runEncryption(quick);
    case 'isolation-bad-user':
      return runIsolationBadUser(isolationParams().badUser);
    case 'isolation-churn':
      return runIsolationChurn(quick ? 10_000 : 100_000);
    case 'isolation-outage':
      return runIsolationOutage(isolationParams().outage);
  }
}

/** Forks this bundle as `--child <scenario>` and resolves with what it sends back. */
function inChild<T>(scenario: Scenario, ...args: string[]): Promise<T> {
  const entry = process.argv[1] as string;
  const child = fork(entry, ['--child', scenario, ...args, ...(quick ? ['--quick'] : [])], {
    execArgv: process.execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise<T>((resolvePromise, reject) => {
    let result: { ok: true; value: T } | { ok: false; error: string } | undefined;
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`${scenario}: no result within ${CHILD_TIMEOUT_MS / 1000} s`));
    }, CHILD_TIMEOUT_MS);
    child.on('message', (message: typeof result) => {
      result = message;
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (result?.ok === true) resolvePromise(result.value);
      else
        reject(
          new Error(
            `${scenario} ${args.join(' ')}: ${result?.ok === false ? result.error : `exited with code ${String(code)}`}`,
          ),
        );
    });
  });
}

/**
 * Scenario 7: a private redis-server, the hot-path comparison in a child, then the replica
 * groups (orchestrated from this process, which also runs the sandbox).
 */
async function runReplicasScenario(): Promise<ReplicasResult> {
  const params = replicasParams();
  if (!redisServerAvailable()) {
    const reason = 'redis-server is not on PATH';
    process.stderr.write(
      `\n!!! SKIPPING SCENARIO 7 (shared session across replicas): ${reason}. Install redis-server to run it. !!!\n\n`,
    );
    return { skipped: reason, params, groups: [], hotPath: null, sandbox: null, startupMs: null };
  }
  const redis = await startRedisServer();
  try {
    const hotPath = await inChild<RedisHotPathResult>('redis-hot-path', redis.url);
    return { skipped: null, params, hotPath, ...(await runReplicas(params, redis.url, process.argv[1] as string)) };
  } finally {
    await redis.close();
  }
}

const bootedAt = performance.now();

function progress(message: string): void {
  process.stderr.write(`[bench ${((performance.now() - bootedAt) / 1000).toFixed(1)} s] ${message}\n`);
}

/** Scenario 10 (many end users, `TokenManagerPool`): one child per part. */
async function runPoolScenario(): Promise<PoolResult> {
  progress('10/14 many end users (pool): idle sessions');
  const idle = await inChild<PoolResult['idle']>('pool-idle');
  progress('10/14 many end users (pool): burst of sessions');
  const burst = await inChild<PoolResult['burst']>('pool-burst');
  progress('10/14 many end users (pool): steady load');
  const steady = await inChild<PoolResult['steady']>('pool-steady');
  progress('10/14 many end users (pool): mixed users across refreshes and evictions');
  const mixed = await inChild<PoolResult['mixed']>('pool-mixed');
  // Three fresh processes (one in --quick): a transient load from outside on this shared
  // machine then moves one ratio, not the median.
  const hotRuns: Array<PoolResult['hot']> = [];
  for (let run = 1, runs = quick ? 1 : 3; run <= runs; run += 1) {
    progress(`10/14 many end users (pool): hot path (process ${run} of ${runs})`);
    hotRuns.push(await inChild<PoolResult['hot']>('pool-hot'));
  }
  const byRatio = [...hotRuns].sort((a, b) => a.ratio - b.ratio);
  const hot = {
    ...(byRatio[Math.floor(byRatio.length / 2)] as PoolResult['hot']),
    processRatios: hotRuns.map((run) => run.ratio),
  };
  return { idle, burst, steady, hot, mixed };
}

/** Scenario 11 (fleets on a Redis Cluster): orchestrated from this process, which also runs the sandbox. */
function runFleetScenario(): Promise<FleetResult> {
  const params = fleetParams();
  progress(
    `11/14 fleets (Redis Cluster): K=${params.replicas} × ${params.steady.users.toLocaleString('en-US')} users across ${params.steady.lifetimes} lifetimes, ` +
      `then a ${params.outage.outageMs / 1000} s auth outage under K=${params.replicas} × ${params.outage.users}`,
  );
  return runFleet(params, process.argv[1] as string, progress);
}

/**
 * Scenario 12 with default options. Full: 1,000 users signing in over 30 s (the bad user's
 * first run, 5 attempts with the default backoff, takes 7.5–15 s), 100,000 users churned, a
 * 20 s outage with 4 s tokens. Quick: 100 users over 5 s, 10,000 churned, a 3 s outage with
 * 1 s tokens, and a 20 ms first retry delay so that breakers open within those few seconds.
 */
function isolationParams(): { badUser: BadUserParams; outage: OutageParams } {
  const retry = quick ? { minDelayMs: 20 } : null;
  return {
    badUser: quick
      ? { users: 100, batches: 10, spanMs: 5_000, askEveryMs: 50, retry }
      : { users: 1_000, batches: 30, spanMs: 30_000, askEveryMs: 50, retry },
    outage: quick
      ? { tokenMs: 1_000, outageMs: 3_000, callEveryMs: 50, singles: 3, poolUsers: 20, retry }
      : { tokenMs: 4_000, outageMs: 20_000, callEveryMs: 50, singles: 3, poolUsers: 20, retry },
  };
}

/**
 * Scenario 12 (isolation and bounds): one child per part. --quick runs the first two side by side
 * (their goals are counts, not latencies); the outage, which measures latencies, always runs alone.
 */
async function runIsolationScenario(): Promise<IsolationResult> {
  const label = '12/14 isolation and bounds';
  if (quick) {
    progress(`${label}: one failing user + churn (side by side, --quick only), then outage fail-fast`);
    const [badUser, churn] = await Promise.all([
      inChild<IsolationResult['badUser']>('isolation-bad-user'),
      inChild<IsolationResult['churn']>('isolation-churn'),
    ]);
    return { badUser, churn, outage: await inChild<IsolationResult['outage']>('isolation-outage') };
  }
  progress(`${label}: one failing user in a 1,000-user pool (30 s)`);
  const badUser = await inChild<IsolationResult['badUser']>('isolation-bad-user');
  progress(`${label}: 100,000 users churned through maxSessions 1,000`);
  const churn = await inChild<IsolationResult['churn']>('isolation-churn');
  progress(`${label}: outage fail-fast with real timers (20 s)`);
  const outage = await inChild<IsolationResult['outage']>('isolation-outage');
  return { badUser, churn, outage };
}

async function main(): Promise<void> {
  if (only === 'pool') {
    process.stdout.write(`${renderPool(await runPoolScenario()).join('\n')}\n`);
    return;
  }
  if (only === 'fleet') {
    process.stdout.write(`${renderFleet(await runFleetScenario()).join('\n')}\n`);
    process.stdout.write(`${renderHandOver(await runHandOverScenario()).join('\n')}\n`);
    return;
  }
  if (only === 'encryption') {
    const encryption = await inChild<NonNullable<BenchResults['encryption']>>('encryption');
    process.stdout.write(`${JSON.stringify(encryption, null, 2)}\n`);
    return;
  }
  if (only === 'isolation') {
    process.stdout.write(`${renderIsolation(await runIsolationScenario()).join('\n')}\n`);
    return;
  }
  if (only !== undefined) throw new Error(`--only ${only}: expected pool, fleet, isolation or encryption`);
  const started = performance.now();
  const gcExposed = typeof (globalThis as { gc?: unknown }).gc === 'function';
  if (!gcExposed) progress('warning: run with node --expose-gc for meaningful heap figures');
  const memoryRuns = quick ? 1 : 3;

  progress('1/14 hot path');
  const hotPath = await inChild<BenchResults['hotPath']>('hot-path');
  progress('2/14 interceptor overhead');
  const interceptor = await inChild<BenchResults['interceptor']>('interceptor');
  // Heap figures do not depend on CPU contention, so a memory and a sessions run share the two cores.
  progress('5/14 memory and handles + 6/14 many sessions (one of each at a time, side by side)');
  const memory: MemoryRun[] = [];
  const sessions: SessionsRun[] = [];
  for (let run = 0; run < memoryRuns; run += 1) {
    const [memoryRun, sessionsRun] = await Promise.all([
      inChild<MemoryRun>('memory'),
      inChild<SessionsRun>('sessions'),
    ]);
    memory.push(memoryRun);
    sessions.push(sessionsRun);
  }
  progress('3/14 stampede after revocation');
  const stampede = await inChild<BenchResults['stampede']>('stampede');
  // Paced load (a pause after each request) leaves room to run every run and contender side by side.
  progress('4/14 expiry crossing (all runs and contenders side by side, one process each)');
  const expiryRuns = quick ? 1 : 3;
  const expiryStep = Promise.all(
    Array.from({ length: expiryRuns }, () =>
      Promise.all([inChild<ExpiryRun>('expiry', 'ours'), inChild<ExpiryRun>('expiry', 'aar')]),
    ),
  ).then((runs) => runs.flat());
  // --quick only checks that the bench works: there, scenario 7 (13 processes to start, about
  // 5 s of CPU on 2 cores) runs side by side with scenario 4 to keep the whole run under 20 s.
  let replicas: ReplicasResult;
  let expiry: ExpiryRun[];
  if (quick) {
    progress('7/14 shared session across replicas (Redis), side by side with 4/14 (--quick only)');
    [expiry, replicas] = await Promise.all([expiryStep, runReplicasScenario()]);
  } else {
    expiry = await expiryStep;
    progress('7/14 shared session across replicas (Redis): hot path, then K = 1, 4, 8 replica processes side by side');
    replicas = await runReplicasScenario();
  }

  progress('8/14 401 storm beside a healthy endpoint');
  const storm = await inChild<BenchResults['storm']>('storm');
  progress('9/14 hung auth server: time to the first typed error');
  const hungAuth = await inChild<BenchResults['hungAuth']>('hung-auth');

  const pool = await runPoolScenario();
  const fleet = await runFleetScenario();
  const handOver = await runHandOverScenario();
  const isolation = await runIsolationScenario();
  progress('14/14 encryption at rest: CPU per seal and open');
  const encryption = await inChild<BenchResults['encryption']>('encryption');

  const results: BenchResults = {
    hotPath,
    interceptor,
    stampede,
    expiry: { params: expiryParams(), runs: expiry },
    memory,
    sessions,
    replicas,
    storm,
    hungAuth,
    pool,
    fleet,
    handOver,
    isolation,
    encryption,
  };
  const meta: Meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model.trim() ?? 'unknown CPU',
    cores: cpus().length,
    quick,
    gcExposed,
    totalSeconds: (performance.now() - started) / 1000,
  };
  const { goals, summaries } = analyse(results);
  const markdown = renderMarkdown(meta, results, goals);
  // A quick run (CI) checks that the bench works; it must not replace the recorded full run.
  const file = quick
    ? resolve(dirname(process.argv[1] as string), 'results-quick.json')
    : resolve(dirname(process.argv[1] as string), '..', 'results.json');
  writeFileSync(file, `${JSON.stringify({ meta, goals, summaries, raw: results }, null, 2)}\n`);
  process.stdout.write(`${markdown}\n`);
  progress(`wrote ${file}`);
}

async function child(scenario: Scenario, args: readonly string[]): Promise<void> {
  try {
    const value = await runScenario(scenario, args);
    process.send?.({ ok: true, value });
  } catch (error) {
    process.send?.({ ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
  process.disconnect?.();
}

const childAt = argv.indexOf('--child');
if (childAt === -1) {
  let finished = false;
  // An event loop that empties while a scenario is still awaited must fail the run, not end it quietly.
  process.on('exit', () => {
    if (!finished && process.exitCode === undefined) {
      console.error('bench: ended before the report was written');
      process.exitCode = 1;
    }
  });
  main().then(
    () => {
      finished = true;
    },
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
} else if (argv[childAt + 1] === 'replica') {
  runReplicaProcess();
} else if (argv[childAt + 1] === 'fleet-replica') {
  runFleetReplicaProcess();
} else {
  void child(
    argv[childAt + 1] as Scenario,
    argv.slice(childAt + 2).filter((arg) => arg !== '--quick'),
  );
}
