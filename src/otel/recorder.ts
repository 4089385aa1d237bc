/** What the metrics and the spans both read: the instrumented event, and the recorder each one is. */
import { ErrorCodes } from '../errors';
import type { LifecycleEvent } from '../manager/types';

/** The codes the library itself sets on errors and events: the values `error.type` reports as they are. */
const LIBRARY_ERROR_TYPES: ReadonlySet<string> = new Set([...Object.values(ErrorCodes), 'UNKNOWN']);

/**
 * The `error.type` of an event's error code: the library's own codes as they are, any other code (a
 * custom provider's or store's, which may differ per error) the semantic conventions' `_OTHER`, so
 * it cannot grow a metric's series without bound.
 */
export function errorTypeOf(errorCode: string): string {
  return LIBRARY_ERROR_TYPES.has(errorCode) ? errorCode : '_OTHER';
}

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
