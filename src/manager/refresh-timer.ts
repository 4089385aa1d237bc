/** The one proactive timer of a manager: fires at a point on the timeline, `unref()`ed. */
import { setUnrefTimeout } from '../clock';
import type { Clock, TimerHandle } from '../clock';

/** Arms, re-arms and cancels a single timer for a point in time. */
export class RefreshTimer {
  #handle: TimerHandle | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly onDue: () => void,
  ) {}

  /** Fires `onDue` at `at` (timeline); replaces any armed point; `undefined` just cancels. */
  arm(at: number | undefined): void {
    this.cancel();
    if (at === undefined || !Number.isFinite(at)) return;
    this.#handle = setUnrefTimeout(this.clock, () => this.#fire(at), at - this.clock.now());
  }

  cancel(): void {
    if (this.#handle === undefined) return;
    this.clock.clearTimeout(this.#handle);
    this.#handle = undefined;
  }

  #fire(at: number): void {
    this.#handle = undefined;
    // Long delays are clamped by Node; re-arm until the real point is reached.
    if (this.clock.now() < at) {
      this.arm(at);
      return;
    }
    this.onDue();
  }
}
