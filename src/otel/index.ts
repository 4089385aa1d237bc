/**
 * `alix-token-manager/otel`: OpenTelemetry metrics and spans from a manager's (or pool's)
 * lifecycle stream. The only entry that loads `@opentelemetry/api`, an optional peer, and
 * only on first use: it imports without the peer, and `instrumentTokenManager()` then throws
 * a `MissingPeerError` (`ERR_ALIX_MISSING_PEER`) saying what to install.
 */
export { OTEL_API_PACKAGE } from './peer';
export { instrumentTokenManager } from './instrument';
export type { InstrumentableTokenSource, InstrumentTokenManagerOptions } from './instrument';
export type { TokenManagerInstrumentation } from './instrument';
export type { InstrumentedLifecycleEvent } from './recorder';
export { ATTRIBUTES, INSTRUMENTATION_SCOPE, METRIC_NAMES, SPAN_EVENT_NAMES, SPAN_NAMES } from './names';
export { DURATION_BUCKETS_S } from './metrics';
