/**
 * The entry point: subscribes metrics and spans to a source's lifecycle stream.
 */
import { definedOnly } from '../defaults';
import { ConfigurationError } from '../errors';
import { createMetricsRecorder } from './metrics';
import { INSTRUMENTATION_SCOPE } from './names';
import { DEFAULT_INSTRUMENT_TOKEN_MANAGER_OPTIONS } from './options';
import type { InstrumentTokenManagerOptions } from './options';
import { otelApi } from './peer';
import { createSpanRecorder } from './spans';
import type {
  InstrumentableTokenSource,
  InstrumentedLifecycleEvent,
  LifecycleRecorder,
  TokenManagerInstrumentation,
} from './types';

function assertSource(source: unknown): asserts source is InstrumentableTokenSource {
  const candidate = source as Partial<Record<'on' | 'off' | 'status', unknown>> | null;
  const missing = (['on', 'off', 'status'] as const).filter((name) => typeof candidate?.[name] !== 'function');
  if (missing.length > 0) {
    throw new ConfigurationError(
      `instrumentTokenManager(): expected a TokenManager or TokenManagerPool, got an object without ` +
        `${missing.join(', ')}()`,
    );
  }
}

/** Merges the options over their defaults once, and validates them. */
function resolveOptions(options: InstrumentTokenManagerOptions): Required<InstrumentTokenManagerOptions> {
  const merged = { ...DEFAULT_INSTRUMENT_TOKEN_MANAGER_OPTIONS, ...definedOnly(options) };
  if (typeof merged.attributes !== 'object' || merged.attributes === null) {
    throw new ConfigurationError('instrumentTokenManager(): attributes must be an object of attribute values');
  }
  if (typeof merged.now !== 'function')
    throw new ConfigurationError('instrumentTokenManager(): now must be a function returning epoch ms');
  const { metrics, trace } = otelApi();
  return {
    ...merged,
    // Looked up here, not at import, so a global SDK registered after this module loads is used.
    meterProvider: merged.meterProvider ?? metrics.getMeterProvider(),
    tracerProvider: merged.tracerProvider ?? trace.getTracerProvider(),
  };
}

/**
 * Reports a `TokenManager`'s (or a `TokenManagerPool`'s) lifecycle to OpenTelemetry over
 * `@opentelemetry/api` (an optional peer): auth call counts and
 * durations, refresh runs, retries, caller waits, the held token's remaining lifetime, 401
 * replays, store errors and lock waits as metrics; each refresh run as a span with its auth
 * calls as child spans. Attributes hold codes, enums and numbers only: never a token,
 * signature, key, error message or a pool's session key.
 *
 * It uses only the source's public `on('lifecycle')`, `off()` and `status()`, so it adds
 * nothing to the hot path: a cached `getAccessToken()` emits no event.
 *
 * @param source - the manager or pool to observe.
 * @param options - providers (the global ones by default) and constant attributes.
 * @returns a handle whose `uninstrument()` stops all reporting.
 * @throws MissingPeerError (`ERR_ALIX_MISSING_PEER`) when `@opentelemetry/api` is not installed.
 * @throws ConfigurationError when `source` lacks `on`, `off` or `status`, or an option has the wrong type.
 *
 * @example
 * ```ts
 * import { MeterProvider } from '@opentelemetry/sdk-metrics';
 * import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
 * import { instrumentTokenManager } from 'alix-token-manager/otel';
 *
 * const meterProvider = new MeterProvider({ readers: [new PrometheusExporter({ port: 9464 })] });
 * const instrumentation = instrumentTokenManager(manager, { meterProvider });
 * // on shutdown:
 * instrumentation.uninstrument();
 * ```
 */
export function instrumentTokenManager(
  source: InstrumentableTokenSource,
  options: InstrumentTokenManagerOptions = {},
): TokenManagerInstrumentation {
  otelApi(); // first: without the peer nothing else matters
  assertSource(source);
  const { attributes, now, meterProvider, tracerProvider } = resolveOptions(options);

  const recorders: LifecycleRecorder[] = [
    createMetricsRecorder(meterProvider.getMeter(INSTRUMENTATION_SCOPE), () => source.status(), now, attributes),
    createSpanRecorder(tracerProvider.getTracer(INSTRUMENTATION_SCOPE), attributes),
  ];
  const listener = (event: InstrumentedLifecycleEvent): void => {
    for (const recorder of recorders) {
      // The source emits synchronously from its own code paths: telemetry must never be
      // able to change a refresh's outcome, so a failing recorder is silenced here.
      try {
        recorder.record(event);
      } catch {
        // nothing to do: losing one data point is better than failing a caller
      }
    }
  };
  source.on('lifecycle', listener);

  let active = true;
  return {
    uninstrument(): void {
      if (!active) return;
      active = false;
      source.off('lifecycle', listener);
      for (const recorder of recorders) recorder.dispose();
    },
  };
}
