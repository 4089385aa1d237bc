import type { Command } from 'commander';
import { MAX_DEMO_CONCURRENCY, runDemo } from '../../demo/run-demo';
import { MAX_DEMO_USERS, runUsersDemo } from '../../demo/run-users-demo';
import { MAX_DEMO_DURATION_MS } from '../../demo/runner';
import { assertConfig } from '../../errors';
import { ExitCodes, addNumberOptions, type CliIo, type RunAction } from '../io';

type DemoFlags = { duration: number; concurrency: number; users?: number; maxConcurrentAuth: number; json?: boolean };

/** `alix-token demo` (and `npm start`): a live session against the embedded sandbox; `--users N` for many end users. */
export function registerDemoCommand(program: Command, run: RunAction, io: CliIo): void {
  const command = program
    .command('demo')
    .description('run the live demo: sandbox, TokenManager, axios interceptor, revocation and 503 recovery');
  addNumberOptions(command, [
    ['--duration <seconds>', 'how long the request loops run', { fractions: true, min: 1 }, 45],
    ['--concurrency <n>', 'concurrent request loops (single-session demo)', { min: 1 }, 8],
    [
      '--users <n>',
      'many end users instead: a TokenManagerPool with one session per user, each user a request loop',
      { min: 1, max: MAX_DEMO_USERS },
    ],
    ['--max-concurrent-auth <n>', "with --users: the pool's cap on auth calls at once", { min: 1 }, 4],
  ])
    .option('--json', 'print only a machine-readable summary')
    .action((flags: DemoFlags) =>
      run(async () => {
        const { users, concurrency, maxConcurrentAuth } = flags;
        // Checked here rather than in the flags' rules, which keep their messages for a value below 1.
        const maxSeconds = MAX_DEMO_DURATION_MS / 1000;
        assertConfig(flags.duration <= maxSeconds, `--duration must be at most ${maxSeconds}, got "${flags.duration}"`);
        const tooMany = `--concurrency must be at most ${MAX_DEMO_CONCURRENCY}, got "${concurrency}"`;
        assertConfig(concurrency <= MAX_DEMO_CONCURRENCY, tooMany);
        // A flag the chosen demo ignores would go unnoticed: the other demo's flags are refused by name.
        const given = (name: string): boolean => command.getOptionValueSource(name) === 'cli';
        const single = 'is for the single-session demo; --users runs a loop per user';
        assertConfig(users === undefined || !given('concurrency'), `--concurrency ${single}`);
        assertConfig(users !== undefined || !given('maxConcurrentAuth'), '--max-concurrent-auth needs --users');
        const options = { durationMs: flags.duration * 1000, json: flags.json === true, output: io.stdout };
        const ok =
          users === undefined
            ? (await runDemo({ ...options, concurrency })).failures === 0
            : (await runUsersDemo({ ...options, users, maxConcurrentAuth })).ok;
        return ok ? ExitCodes.OK : ExitCodes.FAILURE;
      }),
    );
}
