/**
 * Scenario 5, memory and handles: heap and RSS around 1,000,000 cached `getAccessToken()`
 * calls and 10,000 refresh cycles (fake provider, injected clock moved past each expiry),
 * then what is left alive after `close()`.
 */
import { TokenManager } from '../../src/index';
import type { InternalTokenManagerOptions } from '../../src/internal';
import { CountingTimers, FakeProvider, newActiveResources, snapshotMemory } from '../lib/fakes';
import type { MemorySnapshot } from '../lib/fakes';

export interface MemoryRun {
  gcExposed: boolean;
  calls: number;
  refreshCycles: number;
  start: MemorySnapshot;
  afterHalfCalls: MemorySnapshot;
  afterCalls: MemorySnapshot;
  afterHalfRefreshes: MemorySnapshot;
  afterRefreshes: MemorySnapshot;
  /** heapUsed growth over the second half of the calls (the first half warms the JIT), bytes. */
  heapGrowthCallsSecondHalf: number;
  /** heapUsed growth over all the refresh cycles, bytes. */
  heapGrowthRefreshes: number;
  /** heapUsed growth over the second half of the refresh cycles, bytes. */
  heapGrowthRefreshesSecondHalf: number;
  /**
   * The same second-half growth for a manager with `refreshJitterMs: 0`. With jitter every
   * refresh timer gets a different delay, and Node keeps an empty timer list per distinct
   * delay of an unref()ed timer until that delay has passed (lib/timers.js `unenroll`).
   */
  heapGrowthRefreshesSecondHalfNoJitter: number;
  /**
   * Growth of the reachable objects (heap snapshots) over the second half of the refresh cycles of
   * a fresh manager, with jitter and with `refreshJitterMs: 0`, bytes: what the goal is judged on,
   * since `heapUsed` also moves with what the collector has not swept yet. Taken after every other
   * reading, whose RSS a snapshot would inflate.
   */
  liveGrowthRefreshesSecondHalf: number;
  liveGrowthRefreshesSecondHalfNoJitter: number;
  rssGrowthTotal: number;
  refreshCount: number;
  timersBeforeClose: number;
  timersAfterClose: number;
  /** Entries of process.getActiveResourcesInfo() the manager added and that outlive close(). */
  resourcesAfterClose: string[];
}

const TOKEN_TTL_MS = 60_000;

/** Moves the injected clock past each token's expiry, so every call waits for one refresh. */
async function refreshCycles(manager: TokenManager, advance: () => void, cycles: number): Promise<void> {
  for (let i = 0; i < cycles; i += 1) {
    advance();
    await manager.getAccessToken();
  }
}

/** How much the reachable objects grow over the second half of `cycles` refreshes, bytes. */
async function liveGrowth(manager: TokenManager, advance: () => void, cycles: number): Promise<number> {
  await refreshCycles(manager, advance, cycles / 2);
  const half = await snapshotMemory({ live: true });
  await refreshCycles(manager, advance, cycles / 2);
  const end = await snapshotMemory({ live: true });
  manager.close();
  return (end.liveBytes ?? 0) - (half.liveBytes ?? 0);
}

/** @param quick fewer calls (200k) and refresh cycles (2k), to check the scenario runs. */
export async function runMemory(quick = false): Promise<MemoryRun> {
  const baseline = process.getActiveResourcesInfo();
  let now = Date.UTC(2030, 0, 1);
  const timers = new CountingTimers();
  const manager = new TokenManager({
    provider: new FakeProvider({ now: () => now, ttlMs: TOKEN_TTL_MS }),
    now: () => now,
    timers,
  } as InternalTokenManagerOptions);
  await manager.getAccessToken();
  const calls = quick ? 200_000 : 1_000_000;
  const cycles = quick ? 2_000 : 10_000;

  const start = await snapshotMemory();
  for (let i = 0; i < calls / 2; i += 1) await manager.getAccessToken();
  const afterHalfCalls = await snapshotMemory();
  for (let i = 0; i < calls / 2; i += 1) await manager.getAccessToken();
  const afterCalls = await snapshotMemory();
  const advance = (): void => {
    now += TOKEN_TTL_MS;
  };
  await refreshCycles(manager, advance, cycles / 2);
  const afterHalfRefreshes = await snapshotMemory();
  await refreshCycles(manager, advance, cycles / 2);
  const afterRefreshes = await snapshotMemory();
  const refreshCount = manager.status().refreshCount;
  const timersBeforeClose = timers.live;
  manager.close();

  const steady = new TokenManager({
    provider: new FakeProvider({ now: () => now, ttlMs: TOKEN_TTL_MS }),
    now: () => now,
    timers,
    refreshJitterMs: 0,
  } as InternalTokenManagerOptions);
  await refreshCycles(steady, advance, cycles / 2);
  const steadyHalf = await snapshotMemory();
  await refreshCycles(steady, advance, cycles / 2);
  const steadyEnd = await snapshotMemory();
  steady.close();
  const fresh = (jitter: boolean): TokenManager =>
    new TokenManager({
      provider: new FakeProvider({ now: () => now, ttlMs: TOKEN_TTL_MS }),
      now: () => now,
      timers,
      ...(jitter ? {} : { refreshJitterMs: 0 }),
    } as InternalTokenManagerOptions);
  const liveGrowthRefreshesSecondHalf = await liveGrowth(fresh(true), advance, cycles);
  const liveGrowthRefreshesSecondHalfNoJitter = await liveGrowth(fresh(false), advance, cycles);
  await new Promise((resolve) => setImmediate(resolve));
  return {
    gcExposed: start.gcExposed,
    calls,
    refreshCycles: cycles,
    start,
    afterHalfCalls,
    afterCalls,
    afterHalfRefreshes,
    afterRefreshes,
    heapGrowthCallsSecondHalf: afterCalls.heapUsed - afterHalfCalls.heapUsed,
    heapGrowthRefreshes: afterRefreshes.heapUsed - afterCalls.heapUsed,
    heapGrowthRefreshesSecondHalf: afterRefreshes.heapUsed - afterHalfRefreshes.heapUsed,
    heapGrowthRefreshesSecondHalfNoJitter: steadyEnd.heapUsed - steadyHalf.heapUsed,
    liveGrowthRefreshesSecondHalf,
    liveGrowthRefreshesSecondHalfNoJitter,
    rssGrowthTotal: afterRefreshes.rss - start.rss,
    refreshCount,
    timersBeforeClose,
    timersAfterClose: timers.live,
    resourcesAfterClose: newActiveResources(baseline),
  };
}
