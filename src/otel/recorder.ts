/** What the metrics and the spans both read: the instrumented event, and the recorder each one is. */
import type { LifecycleEvent } from '../manager/types';

/**
 * A lifecycle event as an instrumented source emits it. A pool adds the `session` it belongs
 * to; the instrumentation uses it only to tell concurrent runs apart and never reports it
 * (it is an end user's email, and unbounded).
 */
export type InstrumentedLifecycleEvent = LifecycleEvent & { session?: string };

/** Turns lifecycle events into one kind of telemetry. */
export interface LifecycleRecorder {
  record(event: InstrumentedLifecycleEvent): void;
  /** Releases callbacks and open spans. */
  dispose(): void;
}
