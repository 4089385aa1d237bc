/**
 * The entry point: subscribes metrics and spans to a source's lifecycle stream.
 */
import type { Attributes, MeterProvider, TracerProvider } from '@opentelemetry/api';
import { ConfigurationError } from '../errors';
import type { InstrumentedLifecycleEvent, LifecycleRecorder } from './recorder';
import { createMetricsRecorder } from './metrics';
import { INSTRUMENTATION_SCOPE } from './names';
import { otelApi } from './peer';
import { createSpanRecorder } from './spans';

/** Options of {@link instrumentTokenManager}. */
export interface InstrumentTokenManagerOptions {
  /**
   * Where metrics go.
   * @default the global provider, `metrics.getMeterProvider()`, looked up at call time
   */
  meterProvider?: MeterProvider | undefined;
  /**
   * Where spans go.
   * @default the global provider, `trace.getTracerProvider()`, looked up at call time
   */
  tracerProvider?: TracerProvider | undefined;
  /**
   * Constant attributes added to every metric point and span, to tell instrumented managers
   * apart (e.g. `{ 'service.component': 'payments' }`). Keep them low-cardinality and never
   * put a secret in them.
   * @default {}
   */
  attributes?: Attributes | undefined;
  /**
   * The clock the remaining-lifetime gauge subtracts from `accessTokenExpiresAt`, epoch ms.
   * Pass the manager's own `now` when it runs on a custom clock.
   * @default () => Date.now()
   */
  now?: (() => number) | undefined;
}

/**
 * What can be instrumented: a `TokenManager`, a `TokenManagerPool`, or anything that emits
 * `'lifecycle'` events and has `status()`. `status()` is read on every metric collection: its
 * `accessTokenExpiresAt` (epoch ms, or null when no token is held) feeds the remaining-lifetime
 * gauge; a status without a numeric one reports no gauge point.
 */
export interface InstrumentableTokenSource {
  on(event: 'lifecycle', listener: (event: InstrumentedLifecycleEvent) => void): unknown;
  off(event: 'lifecycle', listener: (event: InstrumentedLifecycleEvent) => void): unknown;
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

function check(ok: boolean, problem: string): void {
  if (!ok) throw new ConfigurationError(`instrumentTokenManager(): ${problem}`);
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
  const { metrics, trace } = otelApi(); // first: without the peer nothing else matters
  const candidate = source as Partial<Record<'on' | 'off' | 'status', unknown>> | null;
  const missing = (['on', 'off', 'status'] as const).filter((name) => typeof candidate?.[name] !== 'function');
  const lacks = `got an object without ${missing.join(', ')}()`;
  check(missing.length === 0, `expected a TokenManager or TokenManagerPool, ${lacks}`);
  check(typeof options === 'object' && options !== null, 'options must be an object');
  const { attributes = {}, now = Date.now, meterProvider, tracerProvider } = options;
  check(typeof attributes === 'object' && attributes !== null, 'attributes must be an object of attribute values');
  check(typeof now === 'function', 'now must be a function returning epoch ms');
  // Checked here, not left to fail as a TypeError at getMeter() or, worse, at the first event.
  const has = (provider: unknown, method: string): boolean =>
    provider === undefined || typeof (provider as Record<string, unknown> | null)?.[method] === 'function';
  check(has(meterProvider, 'getMeter'), 'meterProvider must be a MeterProvider (with getMeter())');
  check(has(tracerProvider, 'getTracer'), 'tracerProvider must be a TracerProvider (with getTracer())');
  // Looked up here, not at import, so a global SDK registered after this module loads is used.
  const meter = (meterProvider ?? metrics.getMeterProvider()).getMeter(INSTRUMENTATION_SCOPE);
  const tracer = (tracerProvider ?? trace.getTracerProvider()).getTracer(INSTRUMENTATION_SCOPE);
  const recorders: LifecycleRecorder[] = [
    createMetricsRecorder(meter, () => (recorders.length > 0 ? source.status() : null), now, attributes),
    createSpanRecorder(tracer, attributes),
  ];
  /**
   * Runs `act` on each recorder. The source emits synchronously from its own code paths: telemetry must never be
   * able to change a refresh's outcome (nor fail a shutdown, nor keep one recorder from the next), so a failing
   * recorder is silenced here.
   */
  const each = (act: (recorder: LifecycleRecorder) => void): void => {
    for (const recorder of recorders) {
      try {
        act(recorder);
      } catch {
        // nothing to do: losing one data point is better than failing a caller
      }
    }
  };
  const listener = (event: InstrumentedLifecycleEvent): void => each((recorder) => recorder.record(event));
  source.on('lifecycle', listener);
  return {
    uninstrument(): void {
      source.off('lifecycle', listener);
      each((recorder) => recorder.dispose());
      // Dropped, so a second call does nothing, nor does an event in mid-emit (another of its listeners called this),
      // nor a gauge callback the SDK failed to remove (it reads no status()).
      recorders.length = 0;
    },
  };
}
