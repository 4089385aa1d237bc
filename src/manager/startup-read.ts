/**
 * The start-up read: a manager reads its store (or falls back to its seed) once, before its
 * first token is needed, and every caller that arrives meanwhile waits for that one read.
 */
import { holdProcessOpen } from '../clock';
import { waitWithSignal } from '../wait-with-signal';

export class StartupRead {
  #reading: Promise<void> | undefined;
  #done = false;

  /** @param read reads the store and installs what it found; never rejects. */
  constructor(private readonly read: () => Promise<void>) {}

  /** Starts the read once; resolves when it has ended. */
  start(): Promise<void> {
    this.#reading ??= this.read().finally(() => {
      this.#done = true;
    });
    return this.#reading;
  }

  /**
   * Waits for the read; the process stays alive meanwhile, as it does for any caller's wait.
   * Rejects at once for a signal that already fired.
   */
  async wait(signal: AbortSignal | undefined): Promise<void> {
    if (this.#done && signal?.aborted !== true) return;
    const release = holdProcessOpen();
    try {
      await waitWithSignal(this.start(), signal);
    } finally {
      release();
    }
  }
}
