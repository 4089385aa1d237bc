#!/usr/bin/env node
import { processIo } from './io';
import { runCli } from './program';

/** Runs the CLI with `argv` (as `process.argv`) on this process and sets its exit code. */
export async function main(argv: readonly string[]): Promise<void> {
  process.exitCode = await runCli(argv, processIo());
}

void main(process.argv);
