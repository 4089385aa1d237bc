/** Scenario 11's side of a fleet replica: forks it, sends its config, runs its steps over IPC. */
import { fork, type ChildProcess } from 'node:child_process';
import { deferred, exited, withTimeout } from '../lib/processes';
import type { FleetReplicaConfig, FleetReplicaReply, FleetReplicaRequest, FleetStep } from './fleet-replica';

/** One replica process, driven step by step over IPC. */
export class FleetWorker {
  readonly child: ChildProcess;
  readonly ready = deferred<void>();
  readonly #pending = new Map<number, ReturnType<typeof deferred<unknown>>>();
  #nextId = 1;

  constructor(entry: string) {
    this.child = fork(entry, ['--child', 'fleet-replica'], {
      execArgv: process.execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (message: FleetReplicaReply) => {
      if (message.type === 'ready') this.ready.resolve();
      else if (message.type === 'result') this.#pending.get(message.id)?.resolve(message.value);
      else if (message.id === null) this.#fail(new Error(`fleet replica failed: ${message.error}`));
      else this.#pending.get(message.id)?.reject(new Error(`fleet replica failed: ${message.error}`));
    });
    this.child.on('error', (error) => this.#fail(error));
    this.child.on('exit', (code, signal) =>
      this.#fail(new Error(`fleet replica exited (${signal ?? `code ${String(code)}`})`)),
    );
  }

  /** Sends the replica its config; it connects and reports ready (`ready`). */
  configure(config: FleetReplicaConfig): void {
    this.#send({ type: 'config', config });
  }

  /** Runs one step in the replica; rejects if it fails, the replica dies, or `timeoutMs` passes. */
  step<T>(step: FleetStep, timeoutMs: number): Promise<T> {
    const id = this.#nextId;
    this.#nextId += 1;
    const result = deferred<unknown>();
    this.#pending.set(id, result);
    this.#send({ type: 'step', id, step });
    return withTimeout(result.promise, timeoutMs, `a fleet replica did not finish its ${step.op} step`).finally(() =>
      this.#pending.delete(id),
    ) as Promise<T>;
  }

  /** Asks the replica to close its pool, store and client and exit; SIGKILLs it after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    if (graceMs > 0) this.#send({ type: 'exit' });
    await exited(this.child, graceMs);
  }

  #send(message: FleetReplicaRequest): void {
    if (this.child.connected) this.child.send(message);
  }

  #fail(error: Error): void {
    this.ready.reject(error);
    for (const pending of this.#pending.values()) pending.reject(error);
  }
}
