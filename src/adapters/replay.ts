/**
 * What the axios and fetch adapters share about a rejected token: the default retry statuses,
 * which bodies can be sent a second time, and whether the manager's answer to `invalidate()`
 * allows a replay at all.
 */
import type { InvalidateOptions, ReplayReport } from '../manager/types';
import type { AccessTokenSource } from './types';

/** Defaults shared by {@link AttachTokenManagerOptions} and {@link CreateAuthorizedFetchOptions}. */
export const DEFAULT_ADAPTER_OPTIONS: Readonly<{ retryStatuses: readonly number[] }> = Object.freeze({
  retryStatuses: Object.freeze([401]),
});

/**
 * Whether a request body can be sent a second time: everything held in memory (string,
 * URLSearchParams, ArrayBuffer and views, Blob, FormData, plain objects) can; a Node stream, a
 * web ReadableStream or an async iterable is consumed by the first send and cannot.
 */
export function isReplayableBody(body: unknown): boolean {
  if (body === undefined || body === null || typeof body !== 'object') return true;
  if (typeof (body as { pipe?: unknown }).pipe === 'function') return false;
  if (typeof ReadableStream !== 'undefined' && body instanceof ReadableStream) return false;
  if (ArrayBuffer.isView(body) || body instanceof ArrayBuffer || body instanceof URLSearchParams) return true;
  if (
    (typeof Blob !== 'undefined' && body instanceof Blob) ||
    (typeof FormData !== 'undefined' && body instanceof FormData)
  )
    return true;
  return !(Symbol.asyncIterator in body);
}

/**
 * Reports a rejected token to the source and says whether a fresh token can help. `cooldown`
 * (the target is in a 401 storm) and `ignored` (nothing held, or closed) mean a replay would
 * only repeat the rejection, so the caller gets the first answer. A user-written source that
 * returns nothing is treated as `refreshing`.
 */
export function invalidateAllowsReplay(
  source: AccessTokenSource,
  rejectedAccessToken: string,
  options: InvalidateOptions,
): boolean {
  const result = source.invalidate(rejectedAccessToken, options);
  return result !== 'cooldown' && result !== 'ignored';
}

/** The storm key of a request: `METHOD /path`, without the query (ids in it vary per call). */
export function requestTarget(method: string, url: URL | undefined): string {
  return `${method.toUpperCase()} ${url?.pathname ?? '/'}`;
}

/** Tells the source (when it listens) that a request was replayed; a throwing listener changes nothing. */
export function recordReplay(source: AccessTokenSource, report: ReplayReport): void {
  try {
    source.recordReplay?.(report);
  } catch {
    // Observability must never change a request's outcome.
  }
}
