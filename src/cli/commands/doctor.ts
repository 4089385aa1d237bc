import type { Command } from 'commander';
// Type only (erased): ioredis itself is loaded lazily below, and only when REDIS_URL is set.
import type { Redis as IoRedis } from 'ioredis';
import { ConfigurationError, errorCodeOf, isTokenManagerError } from '../../errors';
import { loadPrivateKey } from '../../providers/alix/private-key';
import { AlixAuthProvider } from '../../providers/alix/provider';
import { readAlixEnvConfig } from '../../standalone/env-config';
import { ExitCodes } from '../exit-codes';
import type { CliIo, RunAction } from '../io';
import {
  checkAuth,
  checkPrivateKey,
  checkRedis,
  messageOf,
  type DoctorCheck,
  type DoctorRedisClient,
  type DoctorRedisFactory,
} from '../doctor/checks';
import { formatDoctorJson, formatDoctorTable, type DoctorReport } from '../doctor/report';

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

/**
 * Runs every check, prints the report and resolves to the exit code: 0 all good, 1 a check
 * failed, 2 bad configuration. The auth check is one real sign-in (or, with
 * ALIX_REFRESH_TOKEN, one refresh, which spends that token: refresh tokens rotate).
 */
export async function runDoctor(options: DoctorOptions = {}): Promise<DoctorReport> {
  const env = options.env ?? process.env;
  const output = options.output ?? process.stdout;
  const json = options.json ?? output.isTTY !== true;
  const checks: DoctorCheck[] = [];
  let configurationError = false;

  let probe:
    | {
        provider: AlixAuthProvider;
        refreshToken: string | undefined;
        baseUrl: string;
        key: ReturnType<typeof loadPrivateKey> | undefined;
      }
    | undefined;
  try {
    const config = readAlixEnvConfig(env);
    const provider = new AlixAuthProvider(config.provider);
    // The provider validated the key already; load it again to get the KeyObject it holds privately.
    const key = config.provider.privateKey === undefined ? undefined : loadPrivateKey(config.provider.privateKey);
    probe = { provider, refreshToken: config.initialTokens?.refreshToken, baseUrl: config.provider.baseUrl, key };
    checks.push({
      name: 'configuration',
      status: 'ok',
      detail: `partner ${config.provider.partnerCode} at ${config.provider.baseUrl}`,
    });
  } catch (error) {
    if (!isTokenManagerError(error, 'ERR_ALIX_CONFIGURATION')) throw error;
    configurationError = true;
    checks.push({ name: 'configuration', status: 'failed', detail: messageOf(error), errorCode: error.code });
  }

  if (probe !== undefined) {
    checks.push(checkPrivateKey(probe.key));
    const auth = await checkAuth(probe);
    configurationError ||= auth.configurationError;
    checks.push(...auth.checks);
  }
  checks.push(...(await checkRedis(nonEmpty(env.REDIS_URL), options.createRedisClient ?? createIoredisClient)));

  const failed = checks.filter((check) => check.status === 'failed').map((check) => check.name);
  const exitCode = configurationError ? ExitCodes.CONFIGURATION : failed.length > 0 ? ExitCodes.FAILURE : ExitCodes.OK;
  const report: DoctorReport = { ok: failed.length === 0, exitCode, failed, checks };
  output.write(json ? formatDoctorJson(report) : formatDoctorTable(report));
  return report;
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === '' ? undefined : trimmed;
}

/** ioredis is an optional peer: loaded only here, and only when REDIS_URL is set. */
async function createIoredisClient(url: string): Promise<DoctorRedisClient> {
  let Redis: typeof IoRedis;
  try {
    ({ Redis } = await import('ioredis'));
  } catch (error) {
    const code = errorCodeOf(error);
    if (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') {
      throw new ConfigurationError(
        'ioredis not installed: REDIS_URL is set, so run `npm install ioredis` to check Redis',
      );
    }
    throw error;
  }
  // No retries and no offline queue: the doctor wants the first answer, or the first error.
  // disconnectTimeout 0: after a failed check the socket is closed at once; ioredis would
  // otherwise hold the process open for 2 s with a timer on a socket that never closes again.
  return new Redis(url, {
    lazyConnect: true,
    connectTimeout: 5_000,
    commandTimeout: 5_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    disconnectTimeout: 0,
  });
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
        const json = flags.json === true ? { json: true } : {};
        const report = await runDoctor({ env: io.env, output: io.stdout, ...json });
        if (!report.ok) io.stderr.write(`alix-token doctor: failed: ${report.failed.join(', ')}\n`);
        return report.exitCode;
      }),
    );
}
