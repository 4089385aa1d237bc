/**
 * `@opentelemetry/api`, the optional peer of `alix-token-manager/otel`, loaded on first use:
 * the entry imports without it, and `instrumentTokenManager()` throws a typed
 * `MissingPeerError` (`ERR_ALIX_MISSING_PEER`) when it is not installed.
 */
import type * as OpenTelemetryApi from '@opentelemetry/api';
import { loadOptionalPeer } from '../optional-peer';

/** The package `alix-token-manager/otel` needs beside it. */
export const OTEL_API_PACKAGE = '@opentelemetry/api';

/**
 * The `@opentelemetry/api` module, loaded once.
 * @throws {MissingPeerError} when `@opentelemetry/api` is not installed.
 */
export function otelApi(): typeof OpenTelemetryApi {
  return loadOptionalPeer<typeof OpenTelemetryApi>({
    packageName: OTEL_API_PACKAGE,
    entry: 'alix-token-manager/otel',
    worksWithout: "the manager's lifecycle events and diagnostics channels (alix-token-manager)",
  });
}
