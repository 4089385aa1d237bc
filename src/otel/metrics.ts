/**
 * Lifecycle events → OpenTelemetry metrics: counters and histograms recorded as events
 * arrive, and one observable gauge read from `status()` at collection time.
 */
import type { Attributes, Meter, ObservableResult } from '@opentelemetry/api';
import { ATTRIBUTES, METRIC_NAMES } from './names';
import { otelApi } from './peer';
import type { InstrumentedLifecycleEvent, LifecycleRecorder } from './types';

/**
 * Bucket bounds for durations in seconds: the OpenTelemetry HTTP semantic conventions' set,
 * extended to 30 s and 60 s because a foreground wait can span several backed-off retries.
 * (The SDK's default buckets are meant for milliseconds and would put every auth call in one.)
 */
export const DURATION_BUCKETS_S: readonly number[] = Object.freeze([
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60,
]);

/** Standard HTTP methods keep their name; anything else is `_OTHER` (semantic conventions). */
const KNOWN_METHODS = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE']);

/** Normalizes an HTTP method for an attribute, bounding its cardinality. */
export function normalizeMethod(method: string): string {
  const upper = method.toUpperCase();
  return KNOWN_METHODS.has(upper) ? upper : '_OTHER';
}

/** The remaining lifetime in seconds from a status, or undefined when it holds no token. */
function remainingLifetimeS(status: unknown, nowMs: number): number | undefined {
  if (typeof status !== 'object' || status === null) return undefined;
  const expiresAt = (status as { accessTokenExpiresAt?: unknown }).accessTokenExpiresAt;
  if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) return undefined;
  return Math.max(0, expiresAt - nowMs) / 1000;
}

/** Creates the instruments on `meter` and returns a recorder that feeds them. */
export function createMetricsRecorder(
  meter: Meter,
  readStatus: () => unknown,
  now: () => number,
  base: Attributes,
): LifecycleRecorder {
  const { ValueType } = otelApi();
  const seconds = (description: string) => ({
    description,
    unit: 's',
    valueType: ValueType.DOUBLE,
    advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_S] },
  });
  const count = (description: string, unit: string) => ({ description, unit, valueType: ValueType.INT });

  const authRequests = meter.createCounter(
    METRIC_NAMES.authRequests,
    count('Auth calls made to the Alix auth server', '{request}'),
  );
  const authDuration = meter.createHistogram(
    METRIC_NAMES.authDuration,
    seconds('Duration of auth calls to the Alix auth server'),
  );
  const refreshes = meter.createCounter(
    METRIC_NAMES.refreshes,
    count('Refresh runs (one per single flight), by reason and outcome', '{refresh}'),
  );
  const retries = meter.createCounter(
    METRIC_NAMES.retries,
    count('Failed auth calls scheduled for another attempt', '{retry}'),
  );
  const tokenWait = meter.createHistogram(
    METRIC_NAMES.tokenWaitDuration,
    seconds('Time callers without a usable token waited for one'),
  );
  const invalidations = meter.createCounter(
    METRIC_NAMES.invalidations,
    count('invalidate() reports, by what they caused', '{invalidation}'),
  );
  const replays = meter.createCounter(
    METRIC_NAMES.replays,
    count('Requests replayed after their token was rejected', '{request}'),
  );
  const storeErrors = meter.createCounter(
    METRIC_NAMES.storeErrors,
    count('Token store operations that failed', '{error}'),
  );
  const lockWait = meter.createHistogram(
    METRIC_NAMES.lockWaitDuration,
    seconds("Waits for the store's cross-process refresh lock"),
  );
  const remainingLifetime = meter.createObservableGauge(METRIC_NAMES.tokenRemainingLifetime, {
    description: 'Lifetime left on the held access token',
    unit: 's',
    valueType: ValueType.DOUBLE,
  });

  const observeLifetime = (result: ObservableResult): void => {
    // A collection must not fail because one source's status() threw: report no point instead.
    let status: unknown;
    try {
      status = readStatus();
    } catch {
      return;
    }
    const remaining = remainingLifetimeS(status, now());
    if (remaining !== undefined) result.observe(remaining, base);
  };
  remainingLifetime.addCallback(observeLifetime);

  const withError = (attributes: Attributes, errorCode: string | undefined): Attributes =>
    errorCode === undefined
      ? { ...base, ...attributes }
      : { ...base, ...attributes, [ATTRIBUTES.errorType]: errorCode };

  return {
    record(event: InstrumentedLifecycleEvent): void {
      switch (event.type) {
        case 'auth-call-ended': {
          const attributes = withError(
            { [ATTRIBUTES.authOperation]: event.operation, [ATTRIBUTES.authOutcome]: event.outcome },
            event.outcome === 'failure' ? (event.errorCode ?? 'UNKNOWN') : undefined,
          );
          authRequests.add(1, attributes);
          authDuration.record(event.durationMs / 1000, attributes);
          return;
        }
        case 'refresh-ended':
          refreshes.add(
            1,
            withError(
              { [ATTRIBUTES.refreshReason]: event.reason, [ATTRIBUTES.refreshOutcome]: event.outcome },
              event.errorCode,
            ),
          );
          return;
        case 'retry-scheduled':
          retries.add(
            1,
            withError(
              { [ATTRIBUTES.authOperation]: event.operation, [ATTRIBUTES.retryBackground]: event.background },
              event.errorCode,
            ),
          );
          return;
        case 'token-waited':
          tokenWait.record(
            event.durationMs / 1000,
            withError(
              { [ATTRIBUTES.tokenWaitOutcome]: event.outcome },
              event.outcome === 'failure' ? (event.errorCode ?? 'UNKNOWN') : undefined,
            ),
          );
          return;
        case 'invalidated':
          invalidations.add(1, { ...base, [ATTRIBUTES.invalidateResult]: event.result });
          return;
        case 'replayed':
          replays.add(1, {
            ...base,
            [ATTRIBUTES.replayAdapter]: event.adapter,
            [ATTRIBUTES.httpStatusCode]: event.status,
            [ATTRIBUTES.httpMethod]: normalizeMethod(event.method),
          });
          return;
        case 'store-failed':
          storeErrors.add(1, withError({ [ATTRIBUTES.storeOperation]: event.operation }, event.errorCode));
          return;
        case 'lock-waited':
          lockWait.record(event.durationMs / 1000, { ...base, [ATTRIBUTES.lockOutcome]: event.outcome });
          return;
        default:
          return;
      }
    },
    dispose(): void {
      remainingLifetime.removeCallback(observeLifetime);
    },
  };
}
