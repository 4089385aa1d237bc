/** What every `alix-token` command shares: its streams, its exit codes and its number flags. */
import type { Command } from 'commander';
import { ConfigurationError, ErrorCodes, errorCodeOf, isTokenManagerError } from '../errors';

/** Where `alix-token` reads its environment, writes its output and hears stop signals. */
export interface CliIo {
  /** ALIX_* variables and REDIS_URL. @default process.env */
  env: NodeJS.ProcessEnv;
  /** Tokens, reports and the demo. @default process.stdout */
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  /** Errors, warnings and progress. @default process.stderr */
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /** Emits SIGINT, SIGTERM and SIGHUP, on which `alix-token sandbox` stops. @default process */
  signals: Pick<NodeJS.EventEmitter, 'once' | 'off'>;
}

/** Runs one command's action and records its exit code (an error it throws reaches `runCli()`, which reports it). */
export type RunAction = (action: () => Promise<number>) => Promise<void>;

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

/**
 * Ends the process with `exit(ExitCodes.FAILURE)`, quietly, when `stream` turns out to be a closed pipe
 * (EPIPE: `alix-token token | head -c1`, a reader that stopped reading). Without a listener the write
 * error is an unhandled 'error' event: a stack trace on stderr, and a demo that would run on for nothing.
 * The output was not delivered, so the code says failure; other write errors are left to Node.
 */
export function exitOnClosedPipe(stream: NodeJS.WritableStream, exit: (code: number) => void): void {
  stream.on('error', (error: unknown) => {
    if (errorCodeOf(error) !== 'EPIPE') throw error;
    exit(ExitCodes.FAILURE);
  });
}

/** What a numeric flag accepts: a whole number unless `fractions` says otherwise. */
export type NumberRule = { fractions?: boolean; min: number; max?: number };

/** A numeric option: its flags, its help line, what it accepts, and its default. */
export type NumberOption = [flags: string, description: string, rule: NumberRule, defaultValue?: number];

/**
 * Adds numeric options to `command`. Each value is parsed as it is read; a bad one is a
 * ConfigurationError naming the flag, which leaves the parse and is reported like any other
 * (exit 2) before the command runs.
 */
export function addNumberOptions(command: Command, options: NumberOption[]): Command {
  for (const [flags, description, rule, defaultValue] of options) {
    const flag = flags.split(' ')[0] as string;
    command.option(flags, description, (value: string) => parseNumberFlag(value, flag, rule), defaultValue);
  }
  return command;
}

/** The number a flag's value holds, or a ConfigurationError naming the flag. */
export function parseNumberFlag(value: string, flag: string, { fractions = false, min, max }: NumberRule): number {
  const parsed = Number(value);
  const valid = value.trim() !== '' && Number.isFinite(parsed) && parsed >= min && parsed <= (max ?? Infinity);
  if (valid && (fractions || Number.isInteger(parsed))) return parsed;
  const range = max === undefined ? `≥ ${min}` : `from ${min} to ${max}`;
  throw new ConfigurationError(`${flag} must be ${fractions ? 'a number' : 'a whole number'} ${range}, got "${value}"`);
}

/** The port a URL of these schemes means when it names none. */
const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443', 'redis:': '6379', 'rediss:': '6379' };

/** `host:port` of a URL, for messages: never its user name or password; `fallback` when it is not a URL. */
export function hostAndPort(url: string | undefined, fallback: string): string {
  if (url === undefined || !URL.canParse(url)) return fallback;
  const { hostname, port, protocol } = new URL(url);
  // A URL without a host (unix:///path) or a port this table lacks would print as ":undefined".
  const shownPort = port || DEFAULT_PORTS[protocol];
  return hostname === '' || shownPort === undefined ? fallback : `${hostname}:${shownPort}`;
}
