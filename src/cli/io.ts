/** Where `alix-token` reads its environment, writes its output and hears stop signals. */
export interface CliIo {
  /** ALIX_* variables and REDIS_URL. @default process.env */
  env: NodeJS.ProcessEnv;
  /** Tokens, reports and the demo. @default process.stdout */
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Errors, warnings and progress. @default process.stderr */
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Emits SIGINT, SIGTERM and SIGHUP, on which `alix-token sandbox` stops. @default process */
  signals: Pick<NodeJS.EventEmitter, 'once' | 'off'>;
}

/** The real process's environment, streams and signals. */
export function processIo(): CliIo {
  return { env: process.env, stdout: process.stdout, stderr: process.stderr, signals: process };
}

/** Runs one command's action and records its exit code (an error is reported, and decides it). */
export type RunAction = (action: () => Promise<number>) => Promise<void>;
