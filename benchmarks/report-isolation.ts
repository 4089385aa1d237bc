/** Scenario 12 (isolation and bounds): goal verdicts, the JSON summary and the markdown section. */
import { bytes, table } from './lib/format';
import type { Goal } from './lib/goals';
import type { IsolationResult } from './scenarios/isolation';
import type { OutageGroupRun, WaitSummary } from './scenarios/isolation-outage';

/** Callers without a token fail fast when their p99 is within this, ms (as in scenario 11 B). */
const FAIL_FAST_P99_MS = 50;
/** After close(), the heap must be back within this of the start. */
const HEAP_BACK_BYTES = 5 * 1024 * 1024;

const ms = (value: number | null): string =>
  value === null || !Number.isFinite(value) ? 'n/a' : value < 10 ? value.toFixed(2) : value.toFixed(0);
const seconds = (value: number): string => `${(value / 1000).toFixed(value % 1000 === 0 ? 0 : 1)} s`;
const count = (value: number): string => value.toLocaleString('en-US');
const listed = (kinds: Record<string, number>): string =>
  Object.entries(kinds)
    .map(([kind, n]) => `${count(n)} ${kind}`)
    .join(', ') || 'none';
const stored = (value: number | null): string => (value === null ? 'n/a' : count(value));
const signed = (value: number): string => `${value >= 0 ? '+' : '−'}${bytes(Math.abs(value))}`;

function failFastMet(group: OutageGroupRun): boolean {
  return group.opened === group.sessions && group.waits.count > 0 && group.waits.p99 <= FAIL_FAST_P99_MS;
}

function failFastResult(group: OutageGroupRun): string {
  return (
    `p99 ${ms(group.waits.p99)} ms, max ${ms(group.waits.max)} ms over ${count(group.waits.count)} failed calls; ` +
    `breaker seen open in ${group.opened}/${group.sessions} sessions; ` +
    `${group.notAuthUnavailable} failures other than ERR_ALIX_AUTH_UNAVAILABLE (${listed(group.failures)})`
  );
}

/** Goal rows of scenario 12. */
export function isolationGoals(result: IsolationResult): Goal[] {
  const { badUser, churn, outage } = result;
  const users = count(badUser.params.users);
  const heapBack = churn.heapAfterClose - churn.heapStart;
  const outageLabel = `${seconds(outage.params.outageMs)} outage, ${seconds(outage.params.tokenMs)} tokens`;
  return [
    {
      scenario: `12 One failing user in a ${users}-user pool: the others`,
      goal: `${count(badUser.others)}/${count(badUser.others)} served; 0 refused with reason breaker`,
      result:
        `${count(badUser.served)}/${count(badUser.others)} served ` +
        `(${count(badUser.servedWhileBadOpen)} after the bad user's circuit opened); ` +
        `${badUser.refusedByBreaker} refused (breaker); other failures: ${listed(badUser.otherFailures)}`,
      met: badUser.served === badUser.others && badUser.refusedByBreaker === 0,
    },
    {
      scenario: `12 One failing user in a ${users}-user pool: its sign-ins`,
      goal:
        `≤ failureThreshold + run / openMs + 1 = ${badUser.failureThreshold} + ⌊${seconds(badUser.durationMs)} / ` +
        `${seconds(badUser.openMs)}⌋ + 1 = ${badUser.badAuthCallBound}`,
      result:
        `${badUser.badAuthCalls} sign-in calls for ${count(badUser.badAsks)} asks; circuit open ` +
        `(${badUser.badLevel ?? 'never'}) after ${ms(badUser.badOpenedAfterMs)} ms`,
      met: badUser.badAuthCalls <= badUser.badAuthCallBound,
    },
    {
      scenario: `12 Churn: ${count(churn.users)} users through maxSessions ${count(churn.maxSessions)}`,
      goal: `store entries ≤ maxStoredSessions (${count(churn.maxStoredSessions)}) after churn, 0 after close()`,
      result: `${stored(churn.storedAfterChurn)} after churn, ${stored(churn.storedAfterClose)} after close()`,
      met:
        churn.storedAfterChurn !== null &&
        churn.storedAfterChurn <= churn.maxStoredSessions &&
        churn.storedAfterClose === 0 &&
        churn.failures === 0,
    },
    {
      scenario: `12 Churn: ${count(churn.users)} users through maxSessions ${count(churn.maxSessions)}`,
      goal: `heap after close() within ${bytes(HEAP_BACK_BYTES)} of the start`,
      result:
        `${signed(heapBack)} (start ${bytes(churn.heapStart)}, ` +
        `after churn ${signed(churn.heapAfterChurn - churn.heapStart)}, ` +
        `after close() ${bytes(churn.heapAfterClose)})`,
      met: churn.gcExposed ? Math.abs(heapBack) <= HEAP_BACK_BYTES : null,
    },
    {
      scenario: `12 Outage fail-fast (real timers, ${outageLabel}): ${outage.params.singles} single managers`,
      goal: `callers without a token fail within ${FAIL_FAST_P99_MS} ms p99 from the breaker's first opening`,
      result: failFastResult(outage.singles),
      met: failFastMet(outage.singles),
    },
    {
      scenario: `12 Outage fail-fast (real timers, ${outageLabel}): a ${outage.params.poolUsers}-user pool`,
      goal: `callers without a token fail within ${FAIL_FAST_P99_MS} ms p99 from the breaker's first opening`,
      result: failFastResult(outage.pool),
      met: failFastMet(outage.pool),
    },
  ];
}

/** The figures results.json keeps for scenario 12 (the raw result is kept beside them). */
export function isolationSummary(result: IsolationResult): unknown {
  const { badUser, churn, outage } = result;
  const group = (run: OutageGroupRun): unknown => ({
    opened: run.opened,
    sessions: run.sessions,
    failedP99Ms: run.waits.p99,
    failedMaxMs: run.waits.max,
    failedCounted: run.waits.count,
    levels: run.levels,
    failedBeforeOpenP99Ms: run.waitsBeforeOpen.p99,
    notAuthUnavailable: run.notAuthUnavailable,
  });
  return {
    badUser: {
      served: badUser.served,
      others: badUser.others,
      refusedByBreaker: badUser.refusedByBreaker,
      servedWhileBadOpen: badUser.servedWhileBadOpen,
      badAuthCalls: badUser.badAuthCalls,
      badAuthCallBound: badUser.badAuthCallBound,
      durationMs: badUser.durationMs,
    },
    churn: {
      heapStart: churn.heapStart,
      heapAfterChurn: churn.heapAfterChurn,
      heapAfterClose: churn.heapAfterClose,
      storedAfterChurn: churn.storedAfterChurn,
      storedAfterClose: churn.storedAfterClose,
    },
    outage: { singles: group(outage.singles), pool: group(outage.pool) },
  };
}

const waits = (summary: WaitSummary): string =>
  summary.count === 0 ? '—' : `${count(summary.count)}: ${ms(summary.p50)} / ${ms(summary.p99)} / ${ms(summary.max)}`;

function outageRow(name: string, run: OutageGroupRun): string[] {
  return [
    name,
    `${run.opened}/${run.sessions} (${listed(run.levels)})`,
    `${ms(run.firstOpenedAfterMs)}–${ms(run.lastOpenedAfterMs)} ms`,
    `${count(run.calls)} (${count(run.served)} served a token)`,
    listed(run.failures),
    waits(run.waits),
    waits(run.waitsBeforeOpen),
  ];
}

/** The markdown section of scenario 12. */
export function renderIsolation(result: IsolationResult): string[] {
  const { badUser, churn, outage } = result;
  const { params } = badUser;
  const verdict = (met: boolean | null): string => (met === null ? '—' : met ? 'met' : 'MISSED');
  const goals = isolationGoals(result).map(
    (goal) => `- **${verdict(goal.met)}** ${goal.scenario}: ${goal.goal} → ${goal.result}`,
  );
  const retry = (options: object | null): string =>
    options === null ? 'default options' : `default options but retry ${JSON.stringify(options)} (--quick)`;
  return [
    '',
    '## 12. Isolation and bounds',
    '',
    ...goals,
    '',
    `### A. One failing user in a ${count(params.users)}-user pool ` +
      `(embedded sandbox on loopback, ${retry(params.retry)})`,
    '',
    `One user's sign-in answers 500 forever; it is asked every ${params.askEveryMs} ms throughout. The other ` +
      `${count(badUser.others)} sign in in ${params.batches} batches, ` +
      `one every ${ms(params.spanMs / params.batches)} ms. ` +
      `Run: ${seconds(badUser.durationMs)}. The bad user's ${count(badUser.badAsks)} asks ended: ` +
      `${listed(badUser.badOutcomes)}; ${badUser.badAuthCalls} of its sign-ins reached the sandbox ` +
      `(bound ${badUser.badAuthCallBound}: failureThreshold ${badUser.failureThreshold}, openMs ${badUser.openMs}).`,
    '',
    `### B. Churn: ${count(churn.users)} users through maxSessions ${count(churn.maxSessions)}, ` +
      `default maxStoredSessions (${count(churn.maxStoredSessions)})`,
    '',
    table(
      ['Measure', 'start', 'after churn', 'after close()'],
      [
        ['heapUsed (after a full GC)', ...[churn.heapStart, churn.heapAfterChurn, churn.heapAfterClose].map(bytes)],
        ['private store entries', '0', stored(churn.storedAfterChurn), stored(churn.storedAfterClose)],
        ['sessions held', '0', count(churn.sessionsAfterChurn), count(churn.sessionsAfterClose)],
      ],
    ),
    '',
    `${count(churn.signIns)} sign-ins in ${ms(churn.churnMs)} ms ` +
      `(100 users at a time, an instant in-process provider), ` +
      `${churn.failures} failed. Start is measured after a 2,000-user warm-up pool was closed.`,
    '',
    `### C. Outage fail-fast with real timers (${retry(outage.params.retry)})`,
    '',
    `Each session holds a ${seconds(outage.params.tokenMs)} token ` +
      `when every auth call starts answering 503 (after ~5 ms) ` +
      `for ${seconds(outage.params.outageMs)}; a call per session every ${outage.params.callEveryMs} ms. ` +
      `The goal counts failed calls started after their session's breaker was first seen open, until the outage ` +
      `ended; calls that failed before that joined the run whose failures opened it (n: p50 / p99 / max ms). ` +
      `${count(outage.authCallsDuringOutage)} auth calls reached the server during the outage.`,
    '',
    table(
      [
        'sessions',
        'breaker seen open (level)',
        'first–last opening, after the outage began',
        'calls',
        'failures',
        'failed after the opening (the goal)',
        'failed before it',
      ],
      [
        outageRow(`${outage.params.singles} single managers`, outage.singles),
        outageRow(`a ${outage.params.poolUsers}-user pool`, outage.pool),
      ],
    ),
  ];
}
