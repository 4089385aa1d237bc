#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { ExitCodes, reportError } from './exit-codes';
import { registerDemoCommand } from './commands/demo';
import { registerDoctorCommand } from './commands/doctor';
import { registerKeygenCommand } from './commands/keygen';
import { registerSandboxCommand } from './commands/sandbox';
import { registerTokenCommand } from './commands/token';
import { readPackageVersion } from './version';

/** Builds the `alix-token` program; each command sets `process.exitCode`. */
export function createProgram(): Command {
  const program = new Command('alix-token')
    .description('Alix Card API tokens: print one, run the sandbox, make a key pair, watch the demo')
    .version(readPackageVersion() ?? 'unknown', '-V, --version', 'print the alix-token-manager version')
    .showHelpAfterError()
    .exitOverride();
  const run = async (action: () => Promise<number>): Promise<void> => {
    try {
      process.exitCode = await action();
    } catch (error) {
      process.exitCode = reportError(error);
    }
  };
  registerTokenCommand(program, run);
  registerSandboxCommand(program, run);
  registerKeygenCommand(program, run);
  registerDemoCommand(program, run);
  registerDoctorCommand(program, run);
  return program;
}

/** Runs the CLI with `argv` (as `process.argv`). */
export async function main(argv: readonly string[]): Promise<void> {
  try {
    await createProgram().parseAsync([...argv]);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? ExitCodes.OK : ExitCodes.CONFIGURATION;
      return;
    }
    process.exitCode = reportError(error);
  }
}

void main(process.argv);
