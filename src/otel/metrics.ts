/**
 * Lifecycle events → OpenTelemetry metrics: counters and histograms recorded as events
 * arrive, and one observable gauge read from `status()` at collection time.
 */
import type { Attributes, Meter, ObservableResult } from '@opentelemetry/api';
import { errorTypeOf, type InstrumentedLifecycleEvent, type LifecycleRecorder } from './recorder';
import { ATTRIBUTES as A, METRIC_NAMES } from './names';
import { otelApi } from './peer';

/**
 * Bucket bounds for durations in seconds: the OpenTelemetry HTTP semantic conventions' set,
 * extended to 30 s and 60 s because a foreground wait can span several backed-off retries.
 * (The SDK's default buckets are meant for milliseconds and would put every auth call in one.)
 */
export const DURATION_BUCKETS_S: readonly number[] = Object.freeze([
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60,
]);

/** Standard HTTP methods keep their name; anything else is `_OTHER` (semantic conventions), bounding cardinality. */
const KNOWN_METHODS = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE']);

/**
 * A duration in seconds, never negative: a manager's injected `now` may step back, and a
 * histogram drops a negative (or NaN) value, losing the point its counter still counts.
 */
const toSeconds = (durationMs: number): number => (durationMs > 0 ? durationMs / 1000 : 0);

/** Creates the instruments on `meter` and returns a recorder that feeds them. */
export function createMetricsRecorder(
  meter: Meter,
  readStatus: () => unknown,
  now: () => number,
  base: Attributes,
): LifecycleRecorder {
  const { ValueType } = otelApi();
  const counter = (name: keyof typeof METRIC_NAMES, description: string, unit: string) =>
    meter.createCounter(METRIC_NAMES[name], { description, unit, valueType: ValueType.INT });
  const seconds = { unit: 's', valueType: ValueType.DOUBLE };
  const buckets = { explicitBucketBoundaries: [...DURATION_BUCKETS_S] };
  const histogram = (name: keyof typeof METRIC_NAMES, description: string) =>
    meter.createHistogram(METRIC_NAMES[name], { description, ...seconds, advice: buckets });
  const authCalls = counter('authRequests', 'Auth calls made to the Alix auth server', '{request}');
  const authTime = histogram('authDuration', 'Duration of auth calls to the Alix auth server');
  const runs = counter('refreshes', 'Refresh runs (one per single flight), by reason and outcome', '{refresh}');
  const retried = counter('retries', 'Failed auth calls scheduled for another attempt', '{retry}');
  const tokenWait = histogram('tokenWaitDuration', 'Time callers without a usable token waited for one');
  const invalidated = counter('invalidations', 'invalidate() reports, by what they caused', '{invalidation}');
  const replays = counter('replays', 'Requests replayed after their token was rejected', '{request}');
  const storeErrors = counter('storeErrors', 'Token store operations that failed', '{error}');
  const lockWait = histogram('lockWaitDuration', "Waits for the store's cross-process refresh lock");
  const lifetime = { description: 'Lifetime left on the held access token', ...seconds };
  const remainingLifetime = meter.createObservableGauge(METRIC_NAMES.tokenRemainingLifetime, lifetime);
  /** The lifetime left on the held token, in seconds; no point when none is held. */
  const observeLifetime = (result: ObservableResult): void => {
    try {
      const expiresAt = (readStatus() as { accessTokenExpiresAt?: unknown } | null)?.accessTokenExpiresAt;
      if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) return;
      result.observe(Math.max(0, expiresAt - now()) / 1000, base);
    } catch {
      // A collection must not fail because one source's status() threw: report no point instead.
    }
  };
  remainingLifetime.addCallback(observeLifetime);

  /** The base attributes, these, and the error code (the semantic conventions' `error.type`) when there is one. */
  const attrs = (attributes: Attributes, errorCode?: string): Attributes =>
    errorCode === undefined
      ? { ...base, ...attributes }
      : { ...base, ...attributes, [A.errorType]: errorTypeOf(errorCode) };

  return {
    record(event: InstrumentedLifecycleEvent): void {
      switch (event.type) {
        case 'auth-call-ended': {
          const failed = event.outcome === 'failure' ? (event.errorCode ?? 'UNKNOWN') : undefined;
          const attributes = attrs({ [A.authOperation]: event.operation, [A.authOutcome]: event.outcome }, failed);
          authCalls.add(1, attributes);
          return authTime.record(toSeconds(event.durationMs), attributes);
        }
        case 'refresh-ended': {
          const attributes = { [A.refreshReason]: event.reason, [A.refreshOutcome]: event.outcome };
          return runs.add(1, attrs(attributes, event.errorCode));
        }
        case 'retry-scheduled': {
          const attributes = { [A.authOperation]: event.operation, [A.retryBackground]: event.background };
          return retried.add(1, attrs(attributes, event.errorCode));
        }
        case 'token-waited': {
          const failed = event.outcome === 'failure' ? (event.errorCode ?? 'UNKNOWN') : undefined;
          return tokenWait.record(toSeconds(event.durationMs), attrs({ [A.tokenWaitOutcome]: event.outcome }, failed));
        }
        case 'invalidated':
          return invalidated.add(1, attrs({ [A.invalidateResult]: event.result }));
        case 'replayed': {
          const upper = event.method.toUpperCase();
          const method = KNOWN_METHODS.has(upper) ? upper : '_OTHER';
          const attributes = { [A.replayAdapter]: event.adapter, [A.httpStatusCode]: event.status };
          return replays.add(1, attrs({ ...attributes, [A.httpMethod]: method }));
        }
        case 'store-failed':
          return storeErrors.add(1, attrs({ [A.storeOperation]: event.operation }, event.errorCode));
        case 'lock-waited':
          return lockWait.record(toSeconds(event.durationMs), attrs({ [A.lockOutcome]: event.outcome }));
      }
    },
    dispose(): void {
      remainingLifetime.removeCallback(observeLifetime);
    },
  };
}
