import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { registerDemoCommand } from './commands/demo';
import { registerDoctorCommand } from './commands/doctor';
import { registerKeygenCommand } from './commands/keygen';
import { registerSandboxCommand } from './commands/sandbox';
import { registerTokenCommand } from './commands/token';
import { ExitCodes, reportError, type CliIo, type RunAction } from './io';

/** The package whose version `alix-token --version` prints. */
export const PACKAGE_NAME = 'alix-token-manager';

/**
 * The version in this package's own package.json, read at run time (not baked in at build
 * time, so it never disagrees with the installed package). The file is found by walking up
 * from the running code: dist/cli.js in the repository and in an installed tarball sits one
 * level below it, and src/cli/ (tests) two levels. The ESM copy of the bundle has `__dirname`
 * too: tsup's `shims` define it from `import.meta.url`.
 * @returns `undefined` when no package.json of this package is found.
 */
export function readPackageVersion(): string | undefined {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    try {
      const text = readFileSync(path.join(dir, 'package.json'), 'utf8');
      const { name, version } = JSON.parse(text) as Record<string, unknown>;
      if (name === PACKAGE_NAME && typeof version === 'string') return version;
    } catch {
      // No package.json here, or not JSON: look further up.
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

/**
 * Runs the CLI with `argv` (as `process.argv`: node, script, arguments…) on `io` and resolves
 * to the exit code; main.ts runs it on the real process. Each command hands its exit code to
 * `run`; an error (a bad flag, or one a command throws) is reported, and decides it.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode: number = ExitCodes.OK;
  const run: RunAction = async (action) => {
    exitCode = await action();
  };
  const program = new Command('alix-token')
    // Before the commands are added: they copy the output settings when they are made.
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) })
    .description('Alix Card API tokens: print one, run the sandbox, make a key pair, watch the demo')
    .version(readPackageVersion() ?? 'unknown', '-V, --version', 'print the alix-token-manager version')
    .showHelpAfterError()
    .exitOverride();
  registerTokenCommand(program, run, io);
  registerSandboxCommand(program, run, io);
  registerKeygenCommand(program, run, io);
  registerDemoCommand(program, run, io);
  registerDoctorCommand(program, run, io);
  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCodes.OK : ExitCodes.CONFIGURATION;
    return reportError(error, io.stderr);
  }
  return exitCode;
}
