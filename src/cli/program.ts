import { Command, CommanderError } from 'commander';
import { ExitCodes, reportError } from './exit-codes';
import { registerDemoCommand } from './commands/demo';
import { registerDoctorCommand } from './commands/doctor';
import { registerKeygenCommand } from './commands/keygen';
import { registerSandboxCommand } from './commands/sandbox';
import { registerTokenCommand } from './commands/token';
import type { CliIo, RunAction } from './io';
import { readPackageVersion } from './version';

/** Builds the `alix-token` program on `io`; each command hands its exit code to `run`. */
export function createProgram(io: CliIo, run: RunAction): Command {
  const program = new Command('alix-token')
    // Before the commands are added: they copy the output settings when they are made.
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .description('Alix Card API tokens: print one, run the sandbox, make a key pair, watch the demo')
    .version(readPackageVersion() ?? 'unknown', '-V, --version', 'print the alix-token-manager version')
    .showHelpAfterError()
    .exitOverride();
  registerTokenCommand(program, run, io);
  registerSandboxCommand(program, run, io);
  registerKeygenCommand(program, run, io);
  registerDemoCommand(program, run, io);
  registerDoctorCommand(program, run, io);
  return program;
}

/**
 * Runs the CLI with `argv` (as `process.argv`: node, script, arguments…) on `io` and resolves
 * to the exit code; `main()` runs it on the real process.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode: number = ExitCodes.OK;
  const run: RunAction = async (action) => {
    try {
      exitCode = await action();
    } catch (error) {
      exitCode = reportError(error, io.stderr);
    }
  };
  try {
    await createProgram(io, run).parseAsync([...argv]);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCodes.OK : ExitCodes.CONFIGURATION;
    return reportError(error, io.stderr);
  }
  return exitCode;
}
