/**
 * Scenario 1, hot path: `getAccessToken()` on a valid cached token, against the bare-async
 * limit (`async () => cachedString`), bare async plus one clock read, and
 * google-auth-library's cached `getAccessToken()`; ours once with nobody listening to the
 * lifecycle stream and once with every diagnostics channel and a `'lifecycle'` listener
 * subscribed (the stream must cost nothing on the hot path either way).
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { TokenManager } from '../../src/index';
import { FakeProvider } from '../lib/fakes';

export interface HotPathRun {
  /** calls/s */
  bare: number;
  /** Reference: bare async plus the one clock read a validity check needs. */
  bareWithClock: number;
  ours: number;
  /** Ours with every `alix-token-manager:*` diagnostics channel and a 'lifecycle' listener subscribed. */
  oursSubscribed: number;
  google: number;
  oursVsClock: number;
  oursSubscribedVsClock: number;
  oursVsBare: number;
  googleVsBare: number;
  oursVsGoogle: number;
}

export interface HotPathResult {
  runs: HotPathRun[];
  sliceMs: number;
}

const CHUNK = 10_000;

const LIFECYCLE_TYPES = [
  'refresh-started',
  'refresh-ended',
  'auth-call-started',
  'auth-call-ended',
  'retry-scheduled',
  'invalidated',
  'replayed',
  'lock-waited',
  'store-failed',
  'fail-fast-entered',
  'adopted',
  'identity-mismatch',
  'token-waited',
  'refresh-token-expiring',
  'closed',
] as const;

/** Calls `loop(CHUNK)` until `sliceMs` have passed; returns calls per second. */
export async function rate(loop: (calls: number) => Promise<number>, sliceMs: number): Promise<number> {
  const start = process.hrtime.bigint();
  const limit = BigInt(Math.round(sliceMs * 1e6));
  let calls = 0;
  let sink = 0;
  // Bounded by time; the chunk cap is a second guard.
  for (let chunk = 0; chunk < 100_000 && process.hrtime.bigint() - start < limit; chunk += 1) {
    sink += await loop(CHUNK);
    calls += CHUNK;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (sink === 0) throw new Error('hot path returned empty tokens');
  return calls / seconds;
}

export async function runHotPath(quick: boolean): Promise<HotPathResult> {
  const cached = 'x'.repeat(300);
  const bare = async (): Promise<string> => cached;
  const farFuture = Date.now() + 365 * 24 * 60 * 60 * 1000;
  const bareWithClock = async (): Promise<string> => (Date.now() < farFuture ? cached : '');

  const manager = new TokenManager({ provider: new FakeProvider({ ttlMs: 60 * 60 * 1000 }) });
  await manager.getAccessToken();
  const observed = new TokenManager({ provider: new FakeProvider({ ttlMs: 60 * 60 * 1000 }) });
  await observed.getAccessToken();
  let events = 0;
  observed.on('lifecycle', () => (events += 1));
  const channels = LIFECYCLE_TYPES.map((type) => `alix-token-manager:${type}`);
  const onMessage = (): void => void (events += 1);
  const subscribe = (): void => channels.forEach((name) => diagnosticsChannel.subscribe(name, onMessage));
  const unsubscribe = (): void => channels.forEach((name) => diagnosticsChannel.unsubscribe(name, onMessage));

  // Loaded here, not at the top: every child of the bench (replica processes too) starts without it.
  const { OAuth2Client } = await import('google-auth-library');
  const google = new OAuth2Client();
  google.setCredentials({ access_token: cached, expiry_date: Date.now() + 365 * 24 * 60 * 60 * 1000 });

  // One loop per contender, so no call site is shared (and made polymorphic) between them.
  const loops: Record<
    'bare' | 'bareWithClock' | 'ours' | 'oursSubscribed' | 'google',
    (calls: number) => Promise<number>
  > = {
    bare: async (calls) => {
      let length = 0;
      for (let i = 0; i < calls; i += 1) length += (await bare()).length;
      return length;
    },
    bareWithClock: async (calls) => {
      let length = 0;
      for (let i = 0; i < calls; i += 1) length += (await bareWithClock()).length;
      return length;
    },
    ours: async (calls) => {
      let length = 0;
      for (let i = 0; i < calls; i += 1) length += (await manager.getAccessToken()).length;
      return length;
    },
    oursSubscribed: async (calls) => {
      let length = 0;
      for (let i = 0; i < calls; i += 1) length += (await observed.getAccessToken()).length;
      return length;
    },
    google: async (calls) => {
      let length = 0;
      for (let i = 0; i < calls; i += 1) length += ((await google.getAccessToken()).token ?? '').length;
      return length;
    },
  };

  const sliceMs = quick ? 50 : 250;
  const runCount = quick ? 3 : 7;
  const order = ['bare', 'bareWithClock', 'ours', 'oursSubscribed', 'google'] as const;
  const measure = async (name: (typeof order)[number]): Promise<number> => {
    if (name !== 'oursSubscribed') return rate(loops[name], sliceMs);
    subscribe();
    try {
      return await rate(loops[name], sliceMs);
    } finally {
      unsubscribe();
    }
  };
  for (const name of order) await measure(name); // warm-up, discarded

  const runs: HotPathRun[] = [];
  for (let run = 0; run < runCount; run += 1) {
    const rates: Record<string, number> = {};
    // Rotate the order so no contender always runs first (or last) in a run.
    for (let k = 0; k < order.length; k += 1) {
      const name = order[(run + k) % order.length] as (typeof order)[number];
      rates[name] = await measure(name);
    }
    const r = rates as Record<(typeof order)[number], number>;
    runs.push({
      bare: r.bare,
      bareWithClock: r.bareWithClock,
      ours: r.ours,
      oursSubscribed: r.oursSubscribed,
      google: r.google,
      oursVsBare: r.ours / r.bare,
      googleVsBare: r.google / r.bare,
      oursVsGoogle: r.ours / r.google,
      oursVsClock: r.ours / r.bareWithClock,
      oursSubscribedVsClock: r.oursSubscribed / r.bareWithClock,
    });
  }
  manager.close();
  observed.close();
  // The hot path emits nothing: only the closing above may have reached a listener.
  if (events > 2) throw new Error(`the hot path emitted ${events} lifecycle events`);
  return { runs, sliceMs };
}
