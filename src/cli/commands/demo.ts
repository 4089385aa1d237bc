import type { Command } from 'commander';
import { runDemo } from '../../demo/run-demo';
import { ExitCodes } from '../exit-codes';
import { parseNumberFlag } from '../parse';

interface DemoFlags {
  duration: string;
  concurrency: string;
  json?: boolean;
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
          durationMs: parseNumberFlag(flags.duration, '--duration', { min: 1 }) * 1000,
          concurrency: parseNumberFlag(flags.concurrency, '--concurrency', { integer: true, min: 1 }),
          json: flags.json === true,
        });
        return summary.failures === 0 ? ExitCodes.OK : ExitCodes.FAILURE;
      }),
    );
}
