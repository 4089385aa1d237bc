/** Scenario 11 (fleets on a Redis Cluster): goal verdicts, the JSON summary and the markdown section. */
import { compact, table } from './lib/format';
import { ONE_PER_LIFETIME, type Goal } from './lib/goals';
import type {
  FleetOutagePhaseRun,
  FleetOutageRun,
  FleetResult,
  FleetSteadyRun,
  LatencySummary,
} from './scenarios/fleet';
import type { FleetRequestCounts } from './scenarios/fleet-replica';

/** Callers holding a valid token count as "unchanged" during the outage within this of their p99 before: ×2, or +1 ms. */
const UNCHANGED_P99 = { factor: 2, plusMs: 1 } as const;
/** Callers without a valid token "fail fast" when their p99 is within this, ms. */
const FAIL_FAST_P99_MS = 50;
/** The code of `AuthUnavailableError`; the replica appends its reason (`…/breaker`). */
const AUTH_UNAVAILABLE = 'ERR_ALIX_AUTH_UNAVAILABLE';

const ms = (value: number | null): string =>
  value === null || !Number.isFinite(value) ? 'n/a' : value < 10 ? value.toFixed(2) : value.toFixed(0);
const seconds = (value: number): string => `${(value / 1000).toFixed(value % 1000 === 0 ? 0 : 1)} s`;
const count = (value: number): string => value.toLocaleString('en-US');
const failures = (counts: FleetRequestCounts): number => Object.values(counts.tokenFailures).reduce((a, b) => a + b, 0);
const listed = (kinds: Record<string, number>): string =>
  Object.entries(kinds)
    .map(([kind, n]) => `${count(n)} ${kind}`)
    .join(', ') || 'none';
const codes = (counts: FleetRequestCounts): string => listed(counts.tokenFailures);
const onlyAuthUnavailable = (counts: FleetRequestCounts): boolean =>
  Object.keys(counts.tokenFailures).every((code) => code.startsWith(AUTH_UNAVAILABLE));
const latency = (summary: LatencySummary): string =>
  summary.count === 0 ? '—' : `${count(summary.count)}: ${ms(summary.p50)} / ${ms(summary.p99)} / ${ms(summary.max)}`;

function steadyMet(run: FleetSteadyRun, users: number): boolean {
  const perLifetime = run.authCallsPerSessionPerLifetime;
  return (
    perLifetime > ONE_PER_LIFETIME.min &&
    perLifetime < ONE_PER_LIFETIME.max &&
    run.duplicates === 0 &&
    run.server401s === 0 &&
    run.counts.wrongUser === 0 &&
    run.counts.httpFailures === 0 &&
    failures(run.counts) === 0 &&
    run.startupSignIns === users &&
    run.startupFailures === 0
  );
}

/** Whether the p99 of callers with a valid token stayed as it was before the outage. */
function unchanged(outage: FleetOutageRun): boolean {
  const before = outage.before.served.p99;
  return outage.during.served.p99 <= Math.max(before * UNCHANGED_P99.factor, before + UNCHANGED_P99.plusMs);
}

/** Goal rows of scenario 11. */
export function fleetGoals(fleet: FleetResult): Goal[] {
  return [...steadyGoals(fleet), ...outageGoals(fleet)];
}

function steadyGoals(fleet: FleetResult): Goal[] {
  const { params, steady } = fleet;
  const scenario = `11 Fleet K=${params.replicas} × ${count(params.steady.users)} users (Redis Cluster)`;
  const goal = '1.0 auth call per used session per lifetime (first sign-ins apart: 1 per user); 0 401s';
  if (steady === null) return [{ scenario, goal, result: `SKIPPED: ${fleet.skipped ?? 'not run'}`, met: null }];
  return [
    {
      scenario,
      goal,
      result:
        `${steady.authCallsPerSessionPerLifetime.toFixed(2)} auth calls per session per lifetime (${count(steady.authCalls)} over ${steady.lifetimes.toFixed(2)} lifetimes × ${count(params.steady.users)} users, ` +
        `${steady.duplicates} duplicates); start-up: ${count(steady.startupSignIns)} sign-ins for ${count(params.steady.users)} users; ` +
        `${steady.server401s} 401s in ${compact(steady.requests)} requests; ${failures(steady.counts) + steady.counts.httpFailures + steady.counts.wrongUser} failed`,
      met: steadyMet(steady, params.steady.users),
    },
  ];
}

function outageGoals(fleet: FleetResult): Goal[] {
  const { params, outage } = fleet;
  const scenario = `11 Fleet, ${seconds(params.outage.outageMs)} auth outage, K=${params.replicas} × ${params.outage.users}`;
  if (outage === null) {
    return [
      {
        scenario,
        goal: 'auth calls ≤ threshold + outage / openMs; valid-token p99 unchanged; recovery ≤ openMs',
        result: `SKIPPED: ${fleet.skipped ?? 'not run'}`,
        met: null,
      },
    ];
  }
  const { failureThreshold, openMs } = outage.breaker;
  const { before, during, after } = outage;
  const outage401s = before.counts.unauthorized + during.counts.unauthorized + after.counts.unauthorized;
  return [
    {
      scenario: `${scenario}: auth calls`,
      goal: `≤ failureThreshold + outage / openMs = ${failureThreshold} + ${seconds(params.outage.outageMs)} / ${seconds(openMs)} = ${outage.authCallBound}`,
      result:
        `${during.authCalls} reached the auth server during the outage (${during.authCallsStarted} admitted by the breaker during it` +
        `${during.authCalls > during.authCallsStarted ? `, ${during.authCalls - during.authCallsStarted} admitted before it began and still on their way` : ''}); ` +
        `breaker open ${ms(outage.openedAfterMs)} ms after the outage began${outage.outageHeld ? '' : '; THE OUTAGE DID NOT HOLD (503s ran out)'}`,
      met: outage.outageHeld && during.authCalls <= outage.authCallBound,
    },
    {
      scenario: `${scenario}: callers with a valid token`,
      goal: `getAccessToken() p99 unchanged (≤ ${UNCHANGED_P99.factor}× or +${UNCHANGED_P99.plusMs} ms of the p99 before); 0 401s`,
      result: `p99 ${ms(during.served.p99)} ms during (n=${count(during.served.count)}) vs ${ms(before.served.p99)} ms before (n=${count(before.served.count)}); ${outage401s} 401s`,
      met: during.served.count > 0 && unchanged(outage) && outage401s === 0,
    },
    {
      scenario: `${scenario}: callers without one`,
      goal: `fail fast with AuthUnavailableError (p99 ≤ ${FAIL_FAST_P99_MS} ms)`,
      result: `${count(failures(during.counts))} failed during the outage, p99 ${ms(during.failed.p99)} ms, max ${ms(during.failed.max)} ms (${codes(during.counts)})`,
      met:
        failures(during.counts) > 0 &&
        onlyAuthUnavailable(during.counts) &&
        onlyAuthUnavailable(after.counts) &&
        during.failed.p99 <= FAIL_FAST_P99_MS,
    },
    {
      scenario: `${scenario}: recovery`,
      goal: `auth works again ≤ openMs (${seconds(openMs)}) after the outage`,
      result:
        `first successful auth call ${ms(outage.authBackAfterMs)} ms after the outage; every session served a token again within ${ms(outage.servedAgainLastMs)} ms ` +
        `(median ${ms(outage.servedAgainMedianMs)} ms${outage.neverServedAgain > 0 ? `; ${outage.neverServedAgain} never` : ''})`,
      met: outage.authBackAfterMs !== null && outage.authBackAfterMs <= openMs,
    },
  ];
}

/** The figures results.json keeps for scenario 11 (the raw result is kept beside them). */
export function fleetSummary(fleet: FleetResult): unknown {
  if (fleet.skipped !== null) return { skipped: fleet.skipped };
  const { steady, outage } = fleet;
  return {
    steady: steady && {
      authCallsPerSessionPerLifetime: steady.authCallsPerSessionPerLifetime,
      lifetimes: steady.lifetimes,
      authCalls: steady.authCalls,
      duplicates: steady.duplicates,
      startupSignIns: steady.startupSignIns,
      server401s: steady.server401s,
      requests: steady.requests,
      requestsPerSecond: steady.requestsPerSecond,
    },
    outage: outage && {
      breaker: outage.breaker,
      authCallBound: outage.authCallBound,
      authCallsDuring: outage.during.authCalls,
      servedP99Before: outage.before.served.p99,
      servedP99During: outage.during.served.p99,
      failedDuring: failures(outage.during.counts),
      failedP99During: outage.during.failed.p99,
      authBackAfterMs: outage.authBackAfterMs,
      servedAgainLastMs: outage.servedAgainLastMs,
    },
  };
}

function phaseRow(name: string, phase: FleetOutagePhaseRun): string[] {
  return [
    name,
    compact(phase.counts.requests),
    latency(phase.served),
    latency(phase.failed),
    codes(phase.counts),
    latency(phase.lockWaits),
    String(phase.authCalls),
    String(phase.authCallsStarted),
    String(phase.counts.unauthorized),
  ];
}

/** The markdown section of scenario 11. */
export function renderFleet(fleet: FleetResult): string[] {
  const { params } = fleet;
  const out: string[] = [
    '',
    `## 11. Fleets on a Redis Cluster (K = ${params.replicas} replica processes, each a TokenManagerPool on a RedisTokenStore; ${params.masters} masters; ${seconds(params.ttlMs)} tokens)`,
    '',
  ];
  if (fleet.skipped !== null) {
    out.push(`**SKIPPED: ${fleet.skipped}.** Install redis-server and redis-tools to run this scenario (CI does).`);
    return out;
  }
  out.push(
    ...fleetGoals(fleet).map(
      (goal) =>
        `- **${goal.met === null ? '—' : goal.met ? 'met' : 'MISSED'}** ${goal.scenario}: ${goal.goal} → ${goal.result}`,
    ),
  );
  if (fleet.steady !== null) out.push(...renderSteady(fleet, fleet.steady));
  if (fleet.outage !== null) out.push(...renderOutage(fleet, fleet.outage));
  return out;
}

function renderSteady(fleet: FleetResult, steady: FleetSteadyRun): string[] {
  const { params } = fleet;
  return [
    '',
    `### A. Steady load: ${count(params.steady.users)} users in every replica, ${params.steady.lifetimes} × ${seconds(params.ttlMs)}`,
    '',
    table(
      ['Measure', 'Value'],
      [
        ['replicas connected to the cluster', `${ms(fleet.connectMs)} ms after forking`],
        [
          'start-up: every user holds a token in every replica',
          `after ${ms(steady.startupMs)} ms; ${count(steady.startupSignIns)} sign-ins, ${steady.startupRefreshes} refreshes, ${steady.usersSignedInTwice} users signed in twice, ${steady.startupFailures} failed`,
        ],
        [
          'run',
          `${seconds(steady.durationMs)}, ${compact(steady.requests)} requests (${compact(steady.requestsPerSecond)}/s, a pause of ${seconds(params.steady.thinkMinMs)}–${seconds(params.steady.thinkMaxMs)} after each)`,
        ],
        [
          'token lifetime at arrival (mean) − refresh window = service period',
          `${ms(steady.meanLifetimeMs)} − ${ms(steady.windowMs)} = ${ms(steady.meanLifetimeMs - steady.windowMs)} ms → ${steady.lifetimes.toFixed(2)} lifetimes in the run`,
        ],
        [
          'auth calls at the sandbox during the run',
          `${count(steady.authCalls)} → ${steady.authCallsPerSessionPerLifetime.toFixed(3)} per session per lifetime; per user ${steady.perUserMin}–${steady.perUserMax}`,
        ],
        ['time between two tokens of one user (median, any replica)', `${ms(steady.medianIntervalMs)} ms`],
        ['duplicate auth calls (same user, < half a service period apart)', String(steady.duplicates)],
        ["refresh runs that adopted another replica's session", compact(steady.adopted)],
        [
          'lock waits: acquired / published / unavailable',
          `${compact(steady.lockOutcomes.acquired)} / ${compact(steady.lockOutcomes.published)} / ${compact(steady.lockOutcomes.unavailable)}; ${steady.storeFailures} store failures`,
        ],
        [
          'Redis commands during the run',
          `${compact(steady.redisCommands)} (${compact(steady.redisCommands / Math.max(1, steady.authCalls))} per auth call, ${compact(steady.redisCommands / (steady.durationMs / 1000))}/s)`,
        ],
        [
          'server 401s / wrong-user 403s / other failures',
          `${steady.server401s} / ${steady.counts.wrongUser} / ${steady.counts.httpFailures} (${listed(steady.counts.httpFailureKinds)}); token failures: ${codes(steady.counts)}`,
        ],
        [
          'getAccessToken() p50 / p99 / max',
          `${ms(steady.tokenLatency.p50)} / ${ms(steady.tokenLatency.p99)} / ${ms(steady.tokenLatency.max)} ms; ${count(steady.waits)} callers waited for a token, longest ${ms(steady.longestWaitMs)} ms`,
        ],
        [
          'CPU of the replicas / worst event-loop delay p99, max',
          `${steady.replicaCores.toFixed(2)} cores / ${ms(steady.eventLoopDelayP99Ms)} ms, ${ms(steady.eventLoopDelayMaxMs)} ms`,
        ],
      ],
    ),
  ];
}

function renderOutage(fleet: FleetResult, outage: FleetOutageRun): string[] {
  const { params } = fleet;
  return [
    '',
    `### B. Auth outage: the sandbox answers every auth call 503 for ${seconds(params.outage.outageMs)}, K = ${params.replicas} × ${params.outage.users} users`,
    '',
    `Breaker: failureThreshold ${outage.breaker.failureThreshold} in windowMs ${outage.breaker.windowMs}, openMs ${outage.breaker.openMs}. ` +
      `${compact(outage.requestsPerSecond)} requests/s (a pause of ${seconds(params.outage.thinkMinMs)}–${seconds(params.outage.thinkMaxMs)} after each). ` +
      `Phases by when a call started; latencies (of getAccessToken(), and of a refresh run's wait for the session's cross-replica lock) as n: p50 / p99 / max ms.`,
    '',
    table(
      [
        'phase',
        'requests',
        'served a token',
        'failed',
        'failures',
        "refresh runs' waits for the lock",
        'auth calls at the server',
        'auth calls admitted (replicas)',
        '401s',
      ],
      [
        phaseRow(`before (${seconds(params.outage.beforeMs)})`, outage.before),
        phaseRow(`outage (${seconds(params.outage.outageMs)})`, outage.during),
        phaseRow(`after (${seconds(params.outage.afterMs)})`, outage.after),
      ],
    ),
    '',
    `Auth calls at the server during the outage, ms after it began: ${outage.callsAtMs.map((at) => at.toFixed(0)).join(', ') || 'none'}; ` +
      `admitted by the replicas' breakers at: ${outage.admittedAtMs.map((at) => at.toFixed(0)).join(', ') || 'none'}.`,
    '',
    `Breaker first seen open ${ms(outage.openedAfterMs)} ms after the outage began; first successful auth call ${ms(outage.authBackAfterMs)} ms after it ended; ` +
      `every session (a user in a replica) served a token again within ${ms(outage.servedAgainLastMs)} ms (median ${ms(outage.servedAgainMedianMs)} ms). ` +
      `The outage began ${ms(outage.startLateMs)} ms and ended ${ms(outage.endLateMs)} ms after the plan.`,
  ];
}
