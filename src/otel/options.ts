/**
 * Options of `instrumentTokenManager()` and their defaults, merged once.
 */
import type { Attributes, MeterProvider, TracerProvider } from '@opentelemetry/api';
import { systemClock } from '../clock';

/** Options of {@link instrumentTokenManager}. */
export interface InstrumentTokenManagerOptions {
  /**
   * Where metrics go.
   * @default the global provider, `metrics.getMeterProvider()`, looked up at call time
   */
  meterProvider?: MeterProvider;
  /**
   * Where spans go.
   * @default the global provider, `trace.getTracerProvider()`, looked up at call time
   */
  tracerProvider?: TracerProvider;
  /**
   * Constant attributes added to every metric point and span, to tell instrumented managers
   * apart (e.g. `{ 'service.component': 'payments' }`). Keep them low-cardinality and never
   * put a secret in them.
   * @default {}
   */
  attributes?: Attributes;
  /**
   * The clock the remaining-lifetime gauge subtracts from `accessTokenExpiresAt`, epoch ms.
   * Pass the manager's own `now` when it runs on a custom clock.
   * @default () => Date.now()
   */
  now?: () => number;
}

/**
 * Defaults of {@link InstrumentTokenManagerOptions}. The providers have none here: they are
 * the global ones, looked up when `instrumentTokenManager()` is called, so a global SDK
 * registered after this module loads is still used.
 */
export const DEFAULT_INSTRUMENT_TOKEN_MANAGER_OPTIONS = Object.freeze({
  attributes: Object.freeze({}) as Attributes,
  now: systemClock.now,
});
