import type { Command } from 'commander';
import { ConfigurationError } from '../../errors';
import { runDemo } from '../../demo/run-demo';
import { ExitCodes } from '../exit-codes';

interface DemoFlags {
  duration: string;
  concurrency: string;
  json?: boolean;
}

function parsePositive(value: string, flag: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) throw new ConfigurationError(`${flag} must be a positive number, got "${value}"`);
  return parsed;
}

/** `alix-token demo` (and `npm start`): a live session against the embedded sandbox. */
export function registerDemoCommand(program: Command, run: (action: () => Promise<number>) => Promise<void>): void {
  program
    .command('demo')
    .description('run the live demo: sandbox, TokenManager, axios interceptor, revocation and 503 recovery')
    .option('--duration <seconds>', 'how long the request loops run', '45')
    .option('--concurrency <n>', 'concurrent request loops', '8')
    .option('--json', 'print only a machine-readable summary')
    .action((flags: DemoFlags) =>
      run(async () => {
        const summary = await runDemo({
          durationMs: parsePositive(flags.duration, '--duration') * 1000,
          concurrency: Math.round(parsePositive(flags.concurrency, '--concurrency')),
          json: flags.json === true,
        });
        return summary.failures === 0 ? ExitCodes.OK : ExitCodes.FAILURE;
      }),
    );
}
