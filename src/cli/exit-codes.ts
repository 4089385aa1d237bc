import { ErrorCodes, isTokenManagerError } from '../errors';

/** Exit codes of `alix-token`. */
export const ExitCodes = Object.freeze({
  OK: 0,
  /** The API or the network failed, or a demo request failed. */
  FAILURE: 1,
  /** Configuration (flags, environment, key) is wrong. */
  CONFIGURATION: 2,
});

/** Prints one line on `stderr` for `error` and returns the exit code it deserves. */
export function reportError(error: unknown, stderr: NodeJS.WritableStream): number {
  const message = error instanceof Error ? error.message : String(error);
  const code = isTokenManagerError(error) ? ` [${error.code}]` : '';
  stderr.write(`alix-token: ${message}${code}\n`);
  return isTokenManagerError(error, ErrorCodes.CONFIGURATION) ? ExitCodes.CONFIGURATION : ExitCodes.FAILURE;
}
