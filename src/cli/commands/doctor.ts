import type { Command } from 'commander';
// Type only (erased): ioredis itself is loaded lazily below, and only when REDIS_URL is set.
import type * as IoRedis from 'ioredis';
import { assertConfig, isTokenManagerError } from '../../errors';
import { loadOptionalPeer } from '../../optional-peer';
import { loadPrivateKey } from '../../providers/alix/private-key';
import { AlixAuthProvider } from '../../providers/alix/provider';
import { readAlixEnvConfig, withVariableNames } from '../../standalone/env-config';
import { checkAuth, checkPrivateKey, checkRedis, messageOf, row } from '../doctor/checks';
import type { DoctorCheck, DoctorCheckStatus, DoctorRedisClient, DoctorRedisFactory } from '../doctor/checks';
import { ExitCodes, type CliIo, type RunAction } from '../io';

/** Where the doctor reads its configuration and writes its report. */
export interface DoctorOptions {
  /** ALIX_* (as `alix-token token` reads them) and REDIS_URL. @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Print JSON rather than a table. @default true unless `output` is a TTY */
  json?: boolean;
  /** @default process.stdout */
  output?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Builds the Redis client. @default ioredis, loaded only when REDIS_URL is set */
  createRedisClient?: DoctorRedisFactory;
}

/** The whole report, as printed with `--json`. */
export interface DoctorReport {
  /** True when no check failed (warnings allowed). */
  ok: boolean;
  /** The process exit code: 0 all good, 1 a check failed, 2 bad configuration. */
  exitCode: number;
  /** Names of the failed checks, in order. */
  failed: string[];
  checks: DoctorCheck[];
}

const MARKS: Readonly<Record<DoctorCheckStatus, string>> = { ok: 'ok', warn: 'warn', failed: 'FAIL', skipped: 'skip' };

/**
 * Runs every check, prints the report (a table for people, JSON for scripts) and resolves to
 * it; its `exitCode`: 0 all good, 1 a check failed, 2 bad configuration. The auth check is one
 * real sign-in (or, with ALIX_REFRESH_TOKEN, one refresh, which spends that token: refresh
 * tokens rotate).
 */
export async function runDoctor(options: DoctorOptions = {}): Promise<DoctorReport> {
  const { env = process.env, output = process.stdout, createRedisClient = createIoredisClient } = options;
  const checks: DoctorCheck[] = [];
  try {
    const config = readAlixEnvConfig(env);
    const { baseUrl, partnerCode, privateKey } = config.provider;
    const provider = withVariableNames(env, () => new AlixAuthProvider(config.provider));
    // The provider validated the key already; load it again to get the KeyObject it holds privately.
    const key = loadPrivateKey(privateKey);
    const auth = await checkAuth(provider, config.initialTokens?.refreshToken, baseUrl);
    checks.push(row('configuration', 'ok', `partner ${partnerCode} at ${baseUrl}`), checkPrivateKey(key), ...auth);
  } catch (error) {
    if (!isTokenManagerError(error, 'ERR_ALIX_CONFIGURATION')) throw error;
    checks.push(row('configuration', 'failed', messageOf(error), { errorCode: error.code }));
  }
  checks.push(...(await checkRedis(env.REDIS_URL?.trim() || undefined, createRedisClient)));

  const configurationError = checks.some((check) => check.errorCode === 'ERR_ALIX_CONFIGURATION');
  const failed = checks.filter((check) => check.status === 'failed').map((check) => check.name);
  const exitCode = configurationError ? ExitCodes.CONFIGURATION : failed.length > 0 ? ExitCodes.FAILURE : ExitCodes.OK;
  const report: DoctorReport = { ok: failed.length === 0, exitCode, failed, checks };
  if (options.json ?? output.isTTY !== true) {
    output.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    const nameWidth = Math.max(...checks.map((check) => check.name.length));
    const rows = checks.map(
      (check) => `  ${MARKS[check.status].padEnd(4)}  ${check.name.padEnd(nameWidth)}  ${check.detail}`,
    );
    const plural = failed.length === 1 ? '' : 's';
    const verdict = report.ok ? 'All checks passed.' : `${failed.length} check${plural} failed: ${failed.join(', ')}`;
    output.write(`${rows.join('\n')}\n\n${verdict}\n`);
  }
  return report;
}

/**
 * ioredis is an optional peer: loaded only here, and only when REDIS_URL is set. With `cluster` the client is a
 * `Cluster` seeded with the node at `url` (its host, port, user, password and TLS, as the plain client parses them).
 */
async function createIoredisClient(url: string, { cluster = false } = {}): Promise<DoctorRedisClient> {
  const { Redis, Cluster } = loadOptionalPeer<typeof IoRedis>({
    packageName: 'ioredis',
    entry: 'alix-token doctor with REDIS_URL',
    worksWithout: 'alix-token doctor without REDIS_URL (the Redis checks are skipped)',
  });
  // No retries and no offline queue: the doctor wants the first answer, or the first error.
  // disconnectTimeout 0: after a failed check the socket is closed at once; ioredis would
  // otherwise hold the process open for 2 s with a timer on a socket that never closes again.
  const failFast = { connectTimeout: 5_000, commandTimeout: 5_000, maxRetriesPerRequest: 0, disconnectTimeout: 0 };
  const once = { lazyConnect: true, enableOfflineQueue: false };
  let client: IoRedis.Redis | IoRedis.Cluster = new Redis(url, { ...once, ...failFast, retryStrategy: () => null });
  // ioredis reads a database that is no number (`/x`, `?db=x`) as NaN, then sends SELECT NaN ahead of every command and
  // leaves Redis's refusal unhandled: the process would die with a stack trace instead of the report.
  assertConfig(Number.isInteger(client.options.db), 'REDIS_URL names a database that is not a number');
  if (cluster) {
    const { host, port, username, password, tls } = client.options;
    const redisOptions = { ...failFast, username, password, tls };
    client = new Cluster([{ host, port }], { ...once, clusterRetryStrategy: () => null, redisOptions });
  }
  // Every failure reaches the report through the command it fails; without a listener ioredis
  // would also print each one to stderr as an "Unhandled error event" with its stack.
  // The rejected connect() says only "Connection is closed."; the event before it tells why
  // (ECONNREFUSED, ENOTFOUND, ETIMEDOUT…), which is what the report needs.
  let connectError: unknown;
  client.on('error', (error: unknown) => (connectError ??= error));
  const connect = client.connect.bind(client);
  client.connect = () => connect().catch((error: unknown) => Promise.reject(connectError ?? error));
  return client;
}

/** `alix-token doctor`: checks the key, the clock, the auth server and Redis from the environment. */
export function registerDoctorCommand(program: Command, run: RunAction, io: CliIo): void {
  program
    .command('doctor')
    .description(
      'check the ALIX_* configuration: key, clock offset, auth round trip, token lifetime, and Redis with REDIS_URL',
    )
    .option('--json', 'print JSON (the default when stdout is not a terminal)')
    .addHelpText(
      'after',
      '\nExit codes: 0 all good, 1 a check failed, 2 bad configuration.\nWith ALIX_REFRESH_TOKEN set the auth check ' +
        'refreshes, which spends that token (refresh tokens rotate).',
    )
    .action((flags: { json?: boolean }) =>
      run(async () => {
        const report = await runDoctor({ env: io.env, output: io.stdout, json: flags.json });
        if (!report.ok) io.stderr.write(`alix-token doctor: failed: ${report.failed.join(', ')}\n`);
        return report.exitCode;
      }),
    );
}
