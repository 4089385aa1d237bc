/**
 * What `instrumentTokenManager()` reads and returns. The source is structural so that a
 * `TokenManager`, a `TokenManagerPool` or any object with the same three methods fits.
 */
import type { LifecycleEvent } from '../manager/types';

/**
 * A lifecycle event as an instrumented source emits it. A pool adds the `session` it belongs
 * to; the instrumentation uses it only to tell concurrent runs apart and never reports it
 * (it is an end user's email, and unbounded).
 */
export type InstrumentedLifecycleEvent = LifecycleEvent & { session?: string };

/** A listener of `'lifecycle'` events. */
export type LifecycleListener = (event: InstrumentedLifecycleEvent) => void;

/**
 * What can be instrumented: a `TokenManager`, a `TokenManagerPool`, or anything that emits
 * `'lifecycle'` events and has `status()`.
 */
export interface InstrumentableTokenSource {
  on(event: 'lifecycle', listener: LifecycleListener): unknown;
  off(event: 'lifecycle', listener: LifecycleListener): unknown;
  /**
   * Read on every metric collection. Its `accessTokenExpiresAt` (epoch ms, or null when no
   * token is held) feeds the remaining-lifetime gauge; a status without a numeric one
   * (a pool's aggregate, for example) reports no gauge point.
   */
  status(): unknown;
}

/** What {@link instrumentTokenManager} returns. */
export interface TokenManagerInstrumentation {
  /**
   * Stops reporting: removes the lifecycle listener and the gauge callback, and ends the
   * spans still open. Calling it again does nothing.
   */
  uninstrument(): void;
}

/** Turns lifecycle events into one kind of telemetry. */
export interface LifecycleRecorder {
  record(event: InstrumentedLifecycleEvent): void;
  /** Releases callbacks and open spans. */
  dispose(): void;
}
