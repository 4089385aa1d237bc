/**
 * Scenario 11, fleets (issue 14): K replica processes (this bundle forked as `--child
 * fleet-replica`, see fleet-replica.ts), each a `TokenManagerPool` over a `RedisTokenStore`
 * on a local Redis Cluster, all signing their users in at ONE sandbox in this process.
 *
 * - A, steady load: the same N users in every replica, each user looped in every replica
 *   (token, `GET /api/v2/cards` naming the user, a pause) across a few token lifetimes.
 *   Counted at the sandbox: auth calls per used session per lifetime, 401s.
 * - B, auth outage: the sandbox answers every auth call 503 for a while, then recovers.
 *   Counted: auth calls that reached it meanwhile, callers' latency with and without a valid
 *   token, and how soon auth works again.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_AUTH_BREAKER_OPTIONS } from '../../src/stores/memory-breaker';
import type { RedisAuthBreakerOptions } from '../../src/redis';
import { generatePartnerKeyPair, startAlixSandbox } from '../../src/sandbox/index';
import type { AlixSandbox, SandboxAuthCallEvent } from '../../src/sandbox/index';
import { LocalRedisCluster, redisClusterAvailable } from '../../scripts/redis-cluster';
import { withTimeout } from '../lib/processes';
import { quantile } from '../lib/stats';
import type {
  FleetOutagePhase,
  FleetOutageReport,
  FleetPrepared,
  FleetReplicaConfig,
  FleetRequestCounts,
  FleetSteadyReport,
  FleetStep,
} from './fleet-replica';
import { FleetWorker } from './fleet-worker';

export interface FleetParams {
  /** Replica processes (K). */
  replicas: number;
  /** Masters of the local Redis Cluster (no replicas: nothing is failed over here). */
  masters: number;
  /** Access-token lifetime the sandbox issues (it rounds expiries up to whole seconds). */
  ttlMs: number;
  refreshBeforeExpiryMs: number;
  expirySkewMs: number;
  /** `http: false`: loops only ask for tokens (no resource request), for runs larger than the machine could load. */
  steady: { users: number; lifetimes: number; thinkMinMs: number; thinkMaxMs: number; http?: boolean };
  outage: {
    users: number;
    beforeMs: number;
    outageMs: number;
    afterMs: number;
    thinkMinMs: number;
    thinkMaxMs: number;
    /** The store's breaker options (its defaults where left out). */
    breaker: Omit<RedisAuthBreakerOptions, 'key' | 'now'>;
  };
}

/** Latency figures of one set of calls, ms. */
export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export interface FleetSteadyRun {
  /** From the first `prepare` until every replica held a token for every user, ms. */
  startupMs: number;
  startupFailures: number;
  /** Sign-ins (and refreshes) at the sandbox while the replicas prepared. */
  startupSignIns: number;
  startupRefreshes: number;
  /** Users the sandbox saw sign in more than once at start-up. */
  usersSignedInTwice: number;
  durationMs: number;
  /** Mean lifetime of the tokens obtained during the run, at arrival, ms. */
  meanLifetimeMs: number;
  /** The refresh window: min(refreshBeforeExpiryMs, lifetime / 2). */
  windowMs: number;
  /** Lifetimes of the run: duration / (mean lifetime − window). */
  lifetimes: number;
  /** Auth calls that reached the sandbox during the run (start-up sign-ins excluded). */
  authCalls: number;
  authCallsPerSessionPerLifetime: number;
  /** Median time between two token sets of one user (any replica), ms: the service period as it ran. */
  medianIntervalMs: number;
  /** Auth calls for a user less than half a service period after the previous one (any replica). */
  duplicates: number;
  /** Fewest and most auth calls one user cost during the run. */
  perUserMin: number;
  perUserMax: number;
  requests: number;
  requestsPerSecond: number;
  /** 401s counted by the sandbox. */
  server401s: number;
  counts: FleetRequestCounts;
  tokenLatency: LatencySummary;
  /** Callers that waited for a token (the slow path), and the longest wait, ms. */
  waits: number;
  longestWaitMs: number;
  /** Refresh runs that adopted another replica's session instead of calling the auth server. */
  adopted: number;
  lockOutcomes: Record<'acquired' | 'published' | 'unavailable', number>;
  storeFailures: number;
  /** Commands the cluster processed during the run (a script's own calls included). */
  redisCommands: number;
  /** Commands the replicas sent during the run (their own counters), by name, and in all. */
  clientCommands: Record<string, number>;
  clientCommandsTotal: number;
  /** Bytes between the cluster and its clients during the run (in + out, every node). */
  netBytes: number;
  /** Refresh runs the replicas started, and sessions they adopted without one (a hand-over heard). */
  refreshRuns: number;
  handOvers: number;
  /** CPU the replicas used during the run, in cores (1.0: one core busy throughout). */
  replicaCores: number;
  /** The worst replica's event-loop delay during the run: p99 and max, ms. */
  eventLoopDelayP99Ms: number;
  eventLoopDelayMaxMs: number;
}

/** One phase of part B, all replicas together. */
export interface FleetOutagePhaseRun {
  counts: FleetRequestCounts;
  served: LatencySummary;
  failed: LatencySummary;
  /** Auth calls that reached the sandbox in this phase. */
  authCalls: number;
  /** Auth calls the replicas started (lifecycle), for comparison. */
  authCallsStarted: number;
  /** Refresh runs' waits for the session's cross-replica lock, ms. */
  lockWaits: LatencySummary;
}

export interface FleetOutageRun {
  breaker: { failureThreshold: number; windowMs: number; openMs: number };
  /** The goal's bound: failureThreshold + ceil(outage / openMs). */
  authCallBound: number;
  /** How late the outage began and ended against the plan, ms. */
  startLateMs: number;
  endLateMs: number;
  /** False if the injected 503s ran out before the outage's end (then it was shorter). */
  outageHeld: boolean;
  before: FleetOutagePhaseRun;
  during: FleetOutagePhaseRun;
  after: FleetOutagePhaseRun;
  /** When each auth call of the outage reached the sandbox, ms after the outage began. */
  callsAtMs: number[];
  /** When the replicas' breakers admitted an auth call during the outage, ms after it began. */
  admittedAtMs: number[];
  /** From the outage's start until a replica first saw the breaker open, ms. */
  openedAfterMs: number | null;
  /** From the outage's end to the first successful auth call, ms. */
  authBackAfterMs: number | null;
  /** From the outage's end until each session (a user in a replica) was served a token again: median and last, ms. */
  servedAgainMedianMs: number | null;
  servedAgainLastMs: number | null;
  /** Sessions (a user in a replica) not served a token after the outage at all. */
  neverServedAgain: number;
  requestsPerSecond: number;
}

export interface FleetResult {
  /** Why the scenario did not run (no redis-server / redis-cli), or null. */
  skipped: string | null;
  params: FleetParams;
  /** From forking the replicas (while the cluster started) until all were connected to it, ms. */
  connectMs: number | null;
  steady: FleetSteadyRun | null;
  outage: FleetOutageRun | null;
}

/** 503s queued for the outage: far more auth calls than even a breaker-less fleet would make. */
const OUTAGE_FAULTS = 100_000;

export function summarizeLatency(samples: readonly number[]): LatencySummary {
  // A loop, not Math.max(...samples): a million samples would overflow the stack.
  const max = samples.reduce((a, b) => (b > a ? b : a), Number.NEGATIVE_INFINITY);
  return {
    count: samples.length,
    p50: quantile(samples, 0.5),
    p99: quantile(samples, 0.99),
    max: samples.length === 0 ? Number.NaN : max,
  };
}

const seconds = (ms: number): string => `${ms / 1000} s`;
const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);

function addCounts(all: readonly FleetRequestCounts[]): FleetRequestCounts {
  const total: FleetRequestCounts = {
    requests: 0,
    ok: 0,
    unauthorized: 0,
    wrongUser: 0,
    httpFailures: 0,
    httpFailureKinds: {},
    tokenFailures: {},
  };
  for (const counts of all) {
    total.requests += counts.requests;
    total.ok += counts.ok;
    total.unauthorized += counts.unauthorized;
    total.wrongUser += counts.wrongUser;
    total.httpFailures += counts.httpFailures;
    for (const [code, count] of Object.entries(counts.tokenFailures))
      total.tokenFailures[code] = (total.tokenFailures[code] ?? 0) + count;
    for (const [kind, count] of Object.entries(counts.httpFailureKinds))
      total.httpFailureKinds[kind] = (total.httpFailureKinds[kind] ?? 0) + count;
  }
  return total;
}

/** Runs both parts; `entry` is this bundle. Skips (with a loud line) when redis-server or redis-cli is missing. */
export async function runFleet(
  params: FleetParams,
  entry: string,
  progress: (message: string) => void,
): Promise<FleetResult> {
  if (!redisClusterAvailable()) {
    const reason = 'redis-server or redis-cli is not on PATH';
    process.stderr.write(
      `\n!!! SKIPPING SCENARIO 11 (fleets on a Redis Cluster): ${reason}. Install redis-server and redis-tools to run it. !!!\n\n`,
    );
    return { skipped: reason, params, connectMs: null, steady: null, outage: null };
  }
  const cluster = new LocalRedisCluster({ masters: params.masters });
  const workers: FleetWorker[] = [];
  let sandbox: AlixSandbox | undefined;
  let completed = false;
  try {
    // The replicas load the bundle while the cluster starts.
    const forkedAt = performance.now();
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
    await withTimeout(
      Promise.all(workers.map((worker) => worker.ready.promise)),
      60_000,
      `${params.replicas} fleet replicas did not all connect`,
    );
    const connectMs = performance.now() - forkedAt;
    const fleet: Fleet = { params, workers, sandbox, cluster, authCalls };
    progress(
      `11 fleets: A, users arrive over ${seconds(rampOf(params))} in every replica, then ${params.steady.lifetimes} lifetimes of steady load`,
    );
    const steady = await runSteady(fleet);
    progress(
      `11 fleets: B, ${seconds(params.outage.beforeMs)} of load, a ${seconds(params.outage.outageMs)} auth outage, ${seconds(params.outage.afterMs)} after it`,
    );
    const outage = await runOutage(fleet);
    completed = true;
    return { skipped: null, params, connectMs, steady, outage };
  } finally {
    // Replicas exit when told; after a failure they are killed at once.
    await Promise.all(workers.map((worker) => worker.stop(completed ? 5_000 : 0)));
    await sandbox?.close();
    await cluster.close();
  }
}

/** What both parts run on. */
export interface Fleet {
  params: FleetParams;
  workers: readonly FleetWorker[];
  sandbox: AlixSandbox;
  cluster: LocalRedisCluster;
  /** Every auth call the sandbox answered, in order. */
  authCalls: readonly SandboxAuthCallEvent[];
}

/** Users arrive over one service period (lifetime − window), so refresh points are spread as in a fleet that has run a while. */
const rampOf = (params: FleetParams): number => params.ttlMs - params.refreshBeforeExpiryMs;

/** Every replica prepares `part` (every user gets a token); resolves with the slowest replica's time. */
export async function prepareAll(
  fleet: Fleet,
  part: 'steady' | 'outage',
  users: number,
  breaker: RedisAuthBreakerOptions,
): Promise<{ startupMs: number; failures: number }> {
  const startAt = Date.now() + 300;
  const rampMs = rampOf(fleet.params);
  const prepared = await Promise.all(
    fleet.workers.map((worker) =>
      worker.step<FleetPrepared>({ op: 'prepare', part, users, breaker, startAt, rampMs }, rampMs + 90_000),
    ),
  );
  return { startupMs: Math.max(...prepared.map((p) => p.startupMs)), failures: sum(prepared.map((p) => p.failures)) };
}

export async function runSteady(fleet: Fleet): Promise<FleetSteadyRun> {
  const { params, workers, sandbox, cluster, authCalls } = fleet;
  const { users, lifetimes, thinkMinMs, thinkMaxMs, http } = params.steady;
  sandbox.resetCounters();
  const { startupMs, failures } = await prepareAll(fleet, 'steady', users, { key: 'alix-bench:fleet-steady:breaker' });
  const startup = sandbox.counters();
  const usersSignedInTwice = [...sandbox.userCounters().byUser.values()].filter(
    (calls) => calls.authenticate > 1,
  ).length;

  sandbox.resetCounters();
  const commandsBefore = await cluster.commandsProcessed();
  const bytesBefore = await cluster.clientTrafficBytes();
  const startAt = Date.now() + 300;
  const endAt = startAt + lifetimes * params.ttlMs;
  const step: FleetStep = { op: 'steady', startAt, endAt, thinkMinMs, thinkMaxMs, ...(http === false ? { http } : {}) };
  const timeoutMs = endAt - Date.now() + 30_000;
  const reports = await Promise.all(workers.map((worker) => worker.step<FleetSteadyReport>(step, timeoutMs)));
  const redisCommands = (await cluster.commandsProcessed()) - commandsBefore;
  const netBytes = (await cluster.clientTrafficBytes()) - bytesBefore;
  const clientCommands: Record<string, number> = {};
  for (const report of reports) {
    for (const [name, count] of Object.entries(report.redisCommands))
      clientCommands[name] = (clientCommands[name] ?? 0) + count;
  }
  const adopted = sum(reports.map((report) => report.adopted));
  const counters = sandbox.counters();
  const byUser = [...sandbox.userCounters().byUser.values()].map((calls) => calls.authenticate + calls.refresh);

  const durationMs = endAt - startAt;
  const obtained = reports.flatMap((report) => report.obtained);
  const meanLifetimeMs =
    obtained.length === 0 ? params.ttlMs + 500 : sum(obtained.map(([, , lifetimeMs]) => lifetimeMs)) / obtained.length;
  // As in scenarios 7 and 10: a token serves from its arrival until the next one's refresh
  // window opens. Jitter adds nothing here: the replicas that adopt a session refresh it
  // without jitter, and one of them always reaches the refresh point first.
  const windowMs = Math.min(params.refreshBeforeExpiryMs, meanLifetimeMs / 2);
  const servicePeriodMs = meanLifetimeMs - windowMs;
  const periods = durationMs / servicePeriodMs;
  const inRun = authCalls.filter((event) => event.at >= startAt && event.at < endAt).length;
  const intervals = tokenIntervals(obtained);
  const waits = reports.flatMap((report) => report.waitedMs);
  const counts = addCounts(reports.map((report) => report.counts));
  return {
    startupMs,
    startupFailures: failures,
    startupSignIns: startup.authenticate,
    startupRefreshes: startup.refresh,
    usersSignedInTwice,
    durationMs,
    meanLifetimeMs,
    windowMs,
    lifetimes: periods,
    medianIntervalMs: quantile(intervals, 0.5),
    authCalls: inRun,
    authCallsPerSessionPerLifetime: inRun / (users * periods),
    duplicates: intervals.filter((intervalMs) => intervalMs < servicePeriodMs / 2).length,
    perUserMin: byUser.length < users ? 0 : byUser.reduce((a, b) => (b < a ? b : a), Number.POSITIVE_INFINITY),
    perUserMax: byUser.reduce((a, b) => (b > a ? b : a), 0),
    requests: counts.requests,
    requestsPerSecond: counts.requests / (durationMs / 1000),
    server401s: counters.resource401s,
    counts,
    tokenLatency: summarizeLatency(reports.flatMap((report) => report.tokenLatenciesMs)),
    waits: waits.length,
    longestWaitMs: waits.reduce((a, b) => (b > a ? b : a), 0),
    adopted,
    lockOutcomes: {
      acquired: sum(reports.map((report) => report.lockOutcomes.acquired)),
      published: sum(reports.map((report) => report.lockOutcomes.published)),
      unavailable: sum(reports.map((report) => report.lockOutcomes.unavailable)),
    },
    storeFailures: sum(reports.map((report) => report.storeFailures)),
    redisCommands,
    clientCommands,
    clientCommandsTotal: sum(Object.values(clientCommands)),
    netBytes,
    refreshRuns: sum(reports.map((report) => report.refreshRuns)),
    handOvers: sum(reports.map((report) => report.adoptedEvents)) - adopted,
    replicaCores: sum(reports.map((report) => report.cpuMs)) / durationMs,
    eventLoopDelayP99Ms: Math.max(...reports.map((report) => report.eventLoopDelayP99Ms)),
    eventLoopDelayMaxMs: Math.max(...reports.map((report) => report.eventLoopDelayMaxMs)),
  };
}

/** Per user, the time between consecutive token sets obtained by any replica, ms. */
function tokenIntervals(obtained: ReadonlyArray<readonly [number, number, number]>): number[] {
  const byUser = new Map<number, number[]>();
  for (const [user, at] of obtained) {
    const times = byUser.get(user) ?? [];
    times.push(at);
    byUser.set(user, times);
  }
  const intervals: number[] = [];
  for (const times of byUser.values()) {
    times.sort((a, b) => a - b);
    for (let index = 1; index < times.length; index += 1)
      intervals.push((times[index] as number) - (times[index - 1] as number));
  }
  return intervals;
}

async function runOutage(fleet: Fleet): Promise<FleetOutageRun> {
  const { params, workers, sandbox, authCalls } = fleet;
  const { users, beforeMs, outageMs, afterMs, thinkMinMs, thinkMaxMs } = params.outage;
  const resolved = { ...DEFAULT_AUTH_BREAKER_OPTIONS, ...params.outage.breaker };
  await prepareAll(fleet, 'outage', users, { ...params.outage.breaker, key: 'alix-bench:fleet-outage:breaker' });

  sandbox.resetCounters();
  const startAt = Date.now() + 300;
  const outageStartAt = startAt + beforeMs;
  const outageEndAt = outageStartAt + outageMs;
  const endAt = outageEndAt + afterMs;
  const stop = new AbortController();
  const actual = { startedAt: Number.NaN, endedAt: Number.NaN, faultsLeft: 0 };
  // The outage itself: every auth call answers 503 from its start to its end.
  const switchOutage = async (): Promise<void> => {
    await sleep(Math.max(0, outageStartAt - Date.now()), undefined, { signal: stop.signal });
    sandbox.injectFaults(OUTAGE_FAULTS, { type: 'status', status: 503 });
    actual.startedAt = Date.now();
    await sleep(Math.max(0, outageEndAt - Date.now()), undefined, { signal: stop.signal });
    actual.faultsLeft = sandbox.pendingFaults();
    sandbox.clearFaults();
    actual.endedAt = Date.now();
  };
  const step: FleetStep = { op: 'outage', startAt, outageStartAt, outageEndAt, endAt, thinkMinMs, thinkMaxMs };
  let reports: FleetOutageReport[];
  try {
    [reports] = await Promise.all([
      Promise.all(workers.map((worker) => worker.step<FleetOutageReport>(step, endAt - Date.now() + 30_000))),
      switchOutage(),
    ]);
  } finally {
    stop.abort();
    sandbox.clearFaults();
  }
  const { startedAt, endedAt } = actual;
  const inRun = authCalls.filter((event) => event.at >= startAt);
  const phase = (
    pick: (report: FleetOutageReport) => FleetOutagePhase,
    from: number,
    to: number,
  ): FleetOutagePhaseRun => {
    const phases = reports.map(pick);
    return {
      counts: addCounts(phases.map((p) => p.counts)),
      served: summarizeLatency(phases.flatMap((p) => p.servedMs)),
      failed: summarizeLatency(phases.flatMap((p) => p.failedMs)),
      authCalls: inRun.filter((event) => event.at >= from && event.at < to).length,
      authCallsStarted: sum(phases.map((p) => p.authCallsStarted)),
      lockWaits: summarizeLatency(phases.flatMap((p) => p.lockWaitsMs)),
    };
  };
  const opened = reports
    .flatMap((report) => report.breakerChanges)
    .filter(([at, state]) => state === 'open' && at >= startedAt);
  const authBack = inRun.find((event) => event.outcome === 'success' && event.at >= endedAt);
  // Per session: each replica's session of each user, served its first token after the outage.
  const servedSorted = reports.flatMap((report) => report.firstServedAfterEndMs).sort((a, b) => a - b);
  const requests = sum(
    reports.map(
      (report) => report.before.counts.requests + report.during.counts.requests + report.after.counts.requests,
    ),
  );
  return {
    breaker: { failureThreshold: resolved.failureThreshold, windowMs: resolved.windowMs, openMs: resolved.openMs },
    authCallBound: resolved.failureThreshold + Math.ceil(outageMs / resolved.openMs),
    startLateMs: startedAt - outageStartAt,
    endLateMs: endedAt - outageEndAt,
    outageHeld: actual.faultsLeft > 0,
    before: phase((report) => report.before, startAt, startedAt),
    during: phase((report) => report.during, startedAt, endedAt + 1),
    after: phase((report) => report.after, endedAt + 1, Number.POSITIVE_INFINITY),
    callsAtMs: inRun
      .filter((event) => event.at >= startedAt && event.at <= endedAt)
      .map((event) => event.at - startedAt),
    admittedAtMs: reports
      .flatMap((report) => report.admittedDuringAt.map((at) => at - startedAt))
      .sort((a, b) => a - b),
    openedAfterMs: opened.length === 0 ? null : Math.min(...opened.map(([at]) => at)) - startedAt,
    authBackAfterMs: authBack === undefined ? null : authBack.at - endedAt,
    servedAgainMedianMs: servedSorted.length === 0 ? null : quantile(servedSorted, 0.5),
    servedAgainLastMs: servedSorted.length === 0 ? null : (servedSorted[servedSorted.length - 1] as number),
    neverServedAgain: sum(reports.map((report) => report.neverServedAfterEnd)),
    requestsPerSecond: requests / ((endAt - startAt) / 1000),
  };
}
