/**
 * The library's internal entry: what its own parts (a pool) and its tests pass to a manager
 * beyond the public options. Not a package entry: package.json "exports" and tsup.config.ts do
 * not list it, so nothing here is public API.
 */
export type { AuthGate, InternalTokenManagerOptions, RefreshScheduler, ScheduledRefresh } from './manager/options';
export type { InternalTokenManagerPoolOptions } from './pool/options';
