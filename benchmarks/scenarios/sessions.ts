/**
 * Scenario 6, many sessions: 10,000 managers in one process (fake provider, one token
 * each): memory per session and timers in use, then what `close()` gives back.
 */
import { TokenManager } from '../../src/index';
import type { InternalTokenManagerOptions } from '../../src/internal';
import { CountingTimers, FakeProvider, newActiveResources, snapshotMemory } from '../lib/fakes';

export interface SessionsRun {
  sessions: number;
  gcExposed: boolean;
  heapPerSession: number;
  rssPerSession: number;
  /** Timers armed and pending (each manager's proactive refresh timer). */
  timersInUse: number;
  /** Entries of process.getActiveResourcesInfo() added while the managers live (ref'ed handles). */
  activeResourcesWhileOpen: number;
  timersAfterClose: number;
  resourcesAfterClose: number;
  /** heapUsed still held after closing and dropping every manager, per session, bytes. */
  heapLeftPerSession: number;
  createMs: number;
}

export async function runSessions(sessions: number): Promise<SessionsRun> {
  const baseline = process.getActiveResourcesInfo();
  // One provider for all: the figure is the library's own cost per session (tokens included).
  const provider = new FakeProvider({ ttlMs: 15 * 60 * 1000 });
  const timers = new CountingTimers();
  const before = await snapshotMemory();
  const started = performance.now();
  let managers: TokenManager[] = [];
  for (let i = 0; i < sessions; i += 1)
    managers.push(new TokenManager({ provider, timers } as InternalTokenManagerOptions));
  await Promise.all(managers.map((manager) => manager.getAccessToken()));
  const createMs = performance.now() - started;
  const open = await snapshotMemory();
  const timersInUse = timers.live;
  const activeResourcesWhileOpen = newActiveResources(baseline).length;
  for (const manager of managers) manager.close();
  managers = [];
  const closed = await snapshotMemory();
  return {
    sessions,
    gcExposed: before.gcExposed,
    heapPerSession: (open.heapUsed - before.heapUsed) / sessions,
    rssPerSession: (open.rss - before.rss) / sessions,
    timersInUse,
    activeResourcesWhileOpen,
    timersAfterClose: timers.live,
    resourcesAfterClose: newActiveResources(baseline).length,
    heapLeftPerSession: (closed.heapUsed - before.heapUsed) / sessions,
    createMs,
  };
}
