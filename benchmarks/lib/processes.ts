/** Child-process plumbing shared by the multi-process scenarios (replicas, fleets): bounds, messages, exits. */
import type { ChildProcess } from 'node:child_process';

/** Rejects with "`what` within N s" when `promise` has not settled after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** In a child: the next IPC message from the orchestrator, or a rejection after `timeoutMs`. */
export function nextMessage<T>(timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: unknown): void => {
      clearTimeout(timer);
      resolve(message as T);
    };
    const timer = setTimeout(() => {
      process.off('message', onMessage);
      reject(new Error(`child: no message from the orchestrator within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    process.once('message', onMessage);
  });
}

/** A promise with its settle functions; a rejection nobody awaits is not reported as unhandled. */
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: Error) => void } {
  let resolve: (value: T) => void = () => undefined;
  let reject: (error: Error) => void = () => undefined;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Either of a child's promises may be left unawaited when the other fails first.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** Resolves once `child` exited; SIGKILLs it after `ms` (0: at once). */
export function exited(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve();
    }, ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** An error's stack (or message), for sending over IPC. */
export function describeError(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
