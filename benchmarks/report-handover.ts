/** Scenario 13 (the cost of a hand-over): goal verdicts, the JSON summary and the markdown section. */
import { table } from './lib/format';
import { ONE_PER_LIFETIME, type Goal } from './lib/goals';
import type { HandOverResult, HandOverRow } from './scenarios/fleet-handover';

const count = (value: number): string => value.toLocaleString('en-US');
const label = (row: HandOverRow): string => {
  const mode = row.params.steady.http === false ? ' (tokens only)' : '';
  return `K=${row.params.replicas} × ${count(row.params.steady.users)} users${mode}`;
};
const failed = (row: HandOverRow): number => Object.values(row.steady.counts.tokenFailures).reduce((a, b) => a + b, 0);
/** The commands by name, most first: `get 9.0, eval 3.0, …` per auth call. */
const breakdown = (row: HandOverRow): string =>
  Object.entries(row.steady.clientCommands)
    .sort(([, a], [, b]) => b - a)
    .map(([name, calls]) => `${name} ${(calls / Math.max(1, row.steady.authCalls)).toFixed(2)}`)
    .join(', ');

function met(row: HandOverRow): boolean {
  const { steady, params } = row;
  const perLifetime = steady.authCallsPerSessionPerLifetime;
  return (
    row.commandsPerRefresh <= params.replicas + 6 &&
    perLifetime > ONE_PER_LIFETIME.min &&
    perLifetime < ONE_PER_LIFETIME.max &&
    steady.server401s === 0 &&
    failed(row) === 0 &&
    steady.startupFailures === 0
  );
}

/** Goal rows of scenario 13: one per row. */
export function handOverGoals(result: HandOverResult): Goal[] {
  const goal = 'Redis commands per refresh ≤ K + 6; 1.0 auth call per session per lifetime; 0 401s';
  if (result.skipped !== null) {
    return [{ scenario: '13 Hand-over cost (Redis Cluster)', goal, result: `SKIPPED: ${result.skipped}`, met: null }];
  }
  return result.rows.map((row) => ({
    scenario: `13 Hand-over cost, ${label(row)}`,
    goal,
    result:
      `${row.commandsPerRefresh.toFixed(1)} commands per refresh (K + 6 = ${row.params.replicas + 6}), ` +
      `${(row.bytesPerRefresh / 1024).toFixed(1)} KiB; ` +
      `${row.steady.authCallsPerSessionPerLifetime.toFixed(2)} auth calls per session per lifetime; ` +
      `${row.steady.server401s} 401s; ${row.steady.refreshRuns} refresh runs, ` +
      `${count(row.steady.handOvers)} hand-overs`,
    met: met(row),
  }));
}

/** The JSON summary of scenario 13. */
export function handOverSummary(result: HandOverResult): unknown {
  return result.rows.map((row) => ({
    replicas: row.params.replicas,
    users: row.params.steady.users,
    ttlMs: row.params.ttlMs,
    http: row.params.steady.http !== false,
    commandsPerRefresh: row.commandsPerRefresh,
    serverCommandsPerRefresh: row.serverCommandsPerRefresh,
    bytesPerRefresh: row.bytesPerRefresh,
    authCallsPerSessionPerLifetime: row.steady.authCallsPerSessionPerLifetime,
    server401s: row.steady.server401s,
  }));
}

/** The markdown section of scenario 13. */
export function renderHandOver(result: HandOverResult): string[] {
  const out = ['', '### 13. Hand-over cost (Redis Cluster)', ''];
  if (result.skipped !== null) return [...out, `Skipped: ${result.skipped}.`];
  out.push(
    'K replica processes, each a `TokenManagerPool` over a `RedisTokenStore` on a local 3-master Redis Cluster, ' +
      'hold the same users; part A of scenario 11 runs on them. Per auth call: the commands the replicas sent ' +
      "(their own counters; a script counts once), the commands the cluster processed (a script's inner calls " +
      'included), the bytes between the cluster and its clients.',
    '',
  );
  const rows = result.rows.map((row) => [
    label(row),
    `${row.params.ttlMs / 1000} s`,
    row.steady.lifetimes.toFixed(2),
    count(row.steady.authCalls),
    row.commandsPerRefresh.toFixed(1),
    String(row.params.replicas + 6),
    row.serverCommandsPerRefresh.toFixed(1),
    (row.bytesPerRefresh / 1024).toFixed(1),
    row.steady.authCallsPerSessionPerLifetime.toFixed(2),
    `${row.steady.refreshRuns} / ${count(row.steady.handOvers)}`,
    String(row.steady.server401s),
    row.steady.replicaCores.toFixed(2),
  ]);
  const header = ['fleet', 'token', 'lifetimes', 'auth calls', 'commands / refresh', 'K + 6'];
  header.push('server commands / refresh');
  header.push('KiB / refresh', 'auth calls / session / lifetime', 'runs / hand-overs', '401s', 'replica cores');
  out.push(table(header, rows));
  out.push('', 'Commands per refresh by name:', '');
  for (const row of result.rows) out.push(`- ${label(row)}: ${breakdown(row)}`);
  return out;
}
