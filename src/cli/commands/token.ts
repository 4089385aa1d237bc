import type { Command } from 'commander';
import { MAX_TIMER_DELAY_MS } from '../../clock';
import { AbortedError, ConfigurationError, assertConfig } from '../../errors';
import { createTokenManagerFromEnv, createTokenManagerPoolFromEnv } from '../../standalone/default-manager';
import { ALIX_ENV } from '../../standalone/env-config';
import { ExitCodes, addNumberOptions, hostAndPort, type CliIo, type RunAction } from '../io';

/** The flags that override the ALIX_* variable of the same name (`ALIX_ENV`), as they are typed. */
const ENV_FLAGS = {
  baseUrl: '--base-url',
  partnerCode: '--partner-code',
  userEmail: '--user-email',
  privateKeyFile: '--private-key-file',
} as const;
type EnvFlag = keyof typeof ENV_FLAGS;

/** The parsed flags; `timeout` is in ms. */
type TokenFlags = Partial<Record<EnvFlag | 'user', string>> & { status?: boolean; timeout?: number };

/** `alix-token token`: prints a valid access token (or, with --status, the session status). */
export function registerTokenCommand(program: Command, run: RunAction, io: CliIo): void {
  const userHelp = "an end user's session, from a session pool (one sign-in per user; ALIX_REFRESH_TOKEN is not used)";
  const command = program
    .command('token')
    .description('print a valid access token using ALIX_* environment variables (flags override them)')
    .option('--status', 'print the non-secret session status as JSON instead of the token')
    .option('--base-url <url>', 'Alix API base URL (ALIX_BASE_URL)')
    .option('--partner-code <code>', 'partner code (ALIX_PARTNER_CODE)')
    .option('--private-key-file <path>', 'partner RSA private key, PEM file (ALIX_PRIVATE_KEY_FILE)')
    .option('--user-email <email>', 'end-user email for sign-in (ALIX_USER_EMAIL)')
    .option('--user <email>', userHelp);
  const timeout = 'give up (exit 1) when no token arrives within this many milliseconds';
  // At most what a Node timer can wait (about 24.8 days): a longer one would fire at once (TimeoutOverflowWarning),
  // and the command would give up before it asked.
  addNumberOptions(command, [['--timeout <ms>', timeout, { min: 1, max: MAX_TIMER_DELAY_MS }]])
    .addHelpText('after', '\nThe secret key is read only from ALIX_SECRET_KEY, never from a flag (flags show in ps).')
    .action((flags: TokenFlags) => run(() => printToken(flags, io)));
}

/** Runs `alix-token token` with the given flags and streams; resolves to the exit code. */
export async function printToken(flags: TokenFlags, io: Pick<CliIo, 'env' | 'stdout' | 'stderr'>): Promise<number> {
  const env = { ...io.env };
  assertConfig(flags.user?.trim() !== '', '--user is empty');
  const given = (Object.keys(ENV_FLAGS) as EnvFlag[]).filter((flag) => flags[flag] !== undefined);
  for (const flag of given) {
    assertConfig(flags[flag]?.trim() !== '', `${ENV_FLAGS[flag]} is empty`);
    env[ALIX_ENV[flag]] = flags[flag];
  }
  // A key file named on the command line wins over a key in the environment.
  if (flags.privateKeyFile !== undefined) delete env[ALIX_ENV.privateKey];
  let pool, manager;
  try {
    pool = flags.user === undefined ? undefined : createTokenManagerPoolFromEnv(env);
    manager = pool === undefined ? createTokenManagerFromEnv(env) : pool.get(flags.user as string);
  } catch (error) {
    pool?.close(); // built before pool.get() threw (a --user that cannot be a session key)
    // The environment's errors name its variables: a value the user typed as a flag is named as that flag.
    if (!(error instanceof ConfigurationError)) throw error;
    const message = given.reduce((text, flag) => text.replaceAll(ALIX_ENV[flag], ENV_FLAGS[flag]), error.message);
    throw new ConfigurationError(pool === undefined ? message : `--user: ${message}`, { cause: error });
  }
  // A pool's sessions sign in: ALIX_REFRESH_TOKEN is used only without --user.
  const refreshing = pool === undefined && (env[ALIX_ENV.refreshToken] ?? '').trim() !== '';
  // The manager was built, so the URL is valid; the fallback only guards the message.
  const where = hostAndPort(env[ALIX_ENV.baseUrl], 'the auth server');
  // One self-erasing status line on a TTY; nothing at all elsewhere (scripts read stdout/stderr).
  const tty = io.stderr.isTTY === true;
  const signal = flags.timeout === undefined ? undefined : AbortSignal.timeout(flags.timeout);
  try {
    if (tty) io.stderr.write(`${refreshing ? 'refreshing the session at' : 'signing in to'} ${where}…`);
    const token = await manager.getAccessToken(signal && { signal }).finally(() => tty && io.stderr.write('\r\x1b[2K'));
    // A manager this new refreshes only a seeded refresh token: a rejection is always ALIX_REFRESH_TOKEN's.
    if (manager.status().refreshTokenRejections.current) {
      const rejected = `${ALIX_ENV.refreshToken} was rejected (expired or revoked); signed in with the partner key`;
      io.stderr.write(`warning: ${rejected} instead. Replace or unset it.\n`);
    }
    io.stdout.write(flags.status === true ? `${JSON.stringify(manager.status(), null, 2)}\n` : `${token}\n`);
    return ExitCodes.OK;
  } catch (error) {
    if (signal?.aborted !== true) throw error;
    const message = `no token within ${flags.timeout} ms (--timeout ${flags.timeout}) from ${where}`;
    throw new AbortedError(message, { cause: error });
  } finally {
    manager.close();
    pool?.close();
  }
}
