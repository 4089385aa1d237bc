import type { Command } from 'commander';
import { runDemo } from '../../demo/run-demo';
import { MAX_DEMO_USERS, runUsersDemo } from '../../demo/run-users-demo';
import { ExitCodes } from '../exit-codes';
import type { CliIo, RunAction } from '../io';
import { parseNumberFlag } from '../parse';

interface DemoFlags {
  duration: string;
  concurrency: string;
  users?: string;
  maxConcurrentAuth: string;
  json?: boolean;
}

/** `alix-token demo` (and `npm start`): a live session against the embedded sandbox; `--users N` for many end users. */
export function registerDemoCommand(program: Command, run: RunAction, io: CliIo): void {
  program
    .command('demo')
    .description('run the live demo: sandbox, TokenManager, axios interceptor, revocation and 503 recovery')
    .option('--duration <seconds>', 'how long the request loops run', '45')
    .option('--concurrency <n>', 'concurrent request loops (single-session demo)', '8')
    .option(
      '--users <n>',
      'many end users instead: a TokenManagerPool with one session per user, each user a request loop',
    )
    .option('--max-concurrent-auth <n>', "with --users: the pool's cap on auth calls at once", '4')
    .option('--json', 'print only a machine-readable summary')
    .action((flags: DemoFlags) =>
      run(async () => {
        const durationMs = parseNumberFlag(flags.duration, '--duration', { min: 1 }) * 1000;
        const json = flags.json === true;
        if (flags.users !== undefined) {
          const summary = await runUsersDemo({
            users: parseNumberFlag(flags.users, '--users', { integer: true, min: 1, max: MAX_DEMO_USERS }),
            maxConcurrentAuth: parseNumberFlag(flags.maxConcurrentAuth, '--max-concurrent-auth', {
              integer: true,
              min: 1,
            }),
            durationMs,
            json,
            output: io.stdout,
          });
          return summary.ok ? ExitCodes.OK : ExitCodes.FAILURE;
        }
        const summary = await runDemo({
          durationMs,
          concurrency: parseNumberFlag(flags.concurrency, '--concurrency', { integer: true, min: 1 }),
          json,
          output: io.stdout,
        });
        return summary.failures === 0 ? ExitCodes.OK : ExitCodes.FAILURE;
      }),
    );
}
