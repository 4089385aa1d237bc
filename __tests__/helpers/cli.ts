import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { runCli } from '../../src/cli/program';

/** What one in-process `alix-token` run left. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** How {@link startAlixToken} runs the CLI. */
export interface CliRunOptions {
  /** The whole environment the CLI sees (nothing of this process's). @default {} */
  env?: Record<string, string>;
  /** Where the test emits SIGINT, SIGTERM and SIGHUP to the CLI. @default a new EventEmitter */
  signals?: EventEmitter;
  /** Whether stdout and stderr claim to be terminals. @default false */
  tty?: boolean;
}

/** A CLI run in progress. */
export interface CliRun {
  /** Settles when the command is done. */
  result: Promise<CliResult>;
  /** Resolves with the first match of `pattern` on stdout; rejects if the run ends first. */
  stdoutMatch(pattern: RegExp): Promise<RegExpExecArray>;
}

/**
 * Starts `alix-token args…` in this process through `runCli()`, the function `main()` calls,
 * with collecting streams for stdout and stderr.
 */
export function startAlixToken(args: string[], options: CliRunOptions = {}): CliRun {
  const written = new EventEmitter();
  const stdout = textStream(options.tty === true, () => written.emit('stdout'));
  const stderr = textStream(options.tty === true, () => undefined);
  const result = runCli(['node', 'alix-token', ...args], {
    env: { ...options.env },
    stdout: stdout.stream,
    stderr: stderr.stream,
    signals: options.signals ?? new EventEmitter(),
  }).then((code) => ({ code, stdout: stdout.text(), stderr: stderr.text() }));
  const stdoutMatch = (pattern: RegExp): Promise<RegExpExecArray> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const match = pattern.exec(stdout.text());
        if (match === null) return;
        written.off('stdout', check);
        resolve(match);
      };
      written.on('stdout', check);
      check();
      void result.then(
        (done) => reject(new Error(`alix-token exited (${done.code}) before ${pattern}: ${done.stdout}${done.stderr}`)),
        reject,
      );
    });
  return { result, stdoutMatch };
}

/** {@link startAlixToken}, awaited. */
export function runAlixToken(args: string[], options: CliRunOptions = {}): Promise<CliResult> {
  return startAlixToken(args, options).result;
}

function textStream(isTTY: boolean, onWrite: () => void): { stream: Writable & { isTTY: boolean }; text(): string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      onWrite();
      done();
    },
  });
  return { stream: Object.assign(stream, { isTTY }), text: () => text };
}
