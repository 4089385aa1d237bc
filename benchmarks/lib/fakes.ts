/** In-process stand-ins: an instant token provider, counting timers, memory snapshots. */
import { getHeapSnapshot } from 'node:v8';
import type { ProviderIdentity, TokenProvider, TokenSet } from '../../src/index';
import { systemClock } from '../../src/clock';
import type { Clock, TimerHandle } from '../../src/clock';
import { ManualClock as TestManualClock } from '../../__tests__/helpers/manual-clock';

const REFRESH_TOKEN_TTL_MS = 180 * 24 * 60 * 60 * 1000;

/** A provider that answers at once (no I/O) with a new token set living `ttlMs` on `now`. */
export class FakeProvider implements TokenProvider {
  calls = 0;
  /** Required with a store passed in; without one, only a manager's or pool's private store accepts the provider. */
  readonly identity: ProviderIdentity | undefined;
  readonly #now: () => number;
  readonly #ttlMs: number;
  readonly #prefix: string;
  readonly #padding: string;

  /** Tokens are padded to about `tokenLength` characters (Alix JWTs are a few hundred). */
  constructor(
    options: {
      now?: () => number;
      ttlMs?: number;
      prefix?: string;
      tokenLength?: number;
      identity?: ProviderIdentity;
    } = {},
  ) {
    this.identity = options.identity;
    this.#now = options.now ?? ((): number => Date.now());
    this.#ttlMs = options.ttlMs ?? 60 * 60 * 1000;
    this.#prefix = options.prefix ?? 'fake';
    this.#padding = 'x'.repeat(Math.max(0, (options.tokenLength ?? 300) - 30));
  }

  authenticate(): Promise<TokenSet> {
    return Promise.resolve(this.#issue());
  }

  refresh(): Promise<TokenSet> {
    return Promise.resolve(this.#issue());
  }

  #issue(): TokenSet {
    this.calls += 1;
    const now = this.#now();
    return {
      accessToken: `${this.#prefix}-access-${this.calls}.${this.#padding}`,
      accessTokenExpiresAt: now + this.#ttlMs,
      refreshToken: `${this.#prefix}-refresh-${this.calls}.${this.#padding}`,
      refreshTokenExpiresAt: now + REFRESH_TOKEN_TTL_MS,
    };
  }
}

/** A provider whose calls take `latencyMs` (like an auth server under load), counting calls and how many run at once. */
export class SlowProvider implements TokenProvider {
  calls = 0;
  inFlight = 0;
  peak = 0;
  constructor(
    private readonly latencyMs: number,
    private readonly options: { ttlMs?: number; prefix?: string } = {},
  ) {}

  authenticate(): Promise<TokenSet> {
    return this.#issue();
  }

  refresh(): Promise<TokenSet> {
    return this.#issue();
  }

  async #issue(): Promise<TokenSet> {
    this.calls += 1;
    const serial = this.calls;
    this.inFlight += 1;
    this.peak = Math.max(this.peak, this.inFlight);
    await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
    this.inFlight -= 1;
    const now = Date.now();
    const prefix = this.options.prefix ?? 'slow';
    return {
      accessToken: `${prefix}-access-${serial}`,
      accessTokenExpiresAt: now + (this.options.ttlMs ?? 15 * 60_000),
      refreshToken: `${prefix}-refresh-${serial}`,
      refreshTokenExpiresAt: now + 86_400_000,
    };
  }
}

/**
 * The library's real timers (its system clock's) that also count how many are armed and not yet
 * fired or cleared (`process.getActiveResourcesInfo()` does not list `unref()`ed timers).
 */
export class CountingTimers implements Pick<Clock, 'setTimeout' | 'clearTimeout'> {
  readonly #live = new Set<TimerHandle>();
  armed = 0;

  get live(): number {
    return this.#live.size;
  }

  readonly setTimeout = (callback: () => void, delayMs: number): TimerHandle => {
    this.armed += 1;
    const handle: TimerHandle = systemClock.setTimeout(() => {
      this.#live.delete(handle);
      callback();
    }, delayMs);
    this.#live.add(handle);
    return handle;
  };

  readonly clearTimeout = (handle: TimerHandle): void => {
    this.#live.delete(handle);
    systemClock.clearTimeout(handle);
  };
}

/** Heap and RSS in bytes, after a full GC when the process runs with --expose-gc. */
export interface MemorySnapshot {
  heapUsed: number;
  rss: number;
  gcExposed: boolean;
  /**
   * With `{ live: true }`: the bytes of every object still reachable, from a heap snapshot. Exact,
   * where `heapUsed` after a GC also counts memory the collector has not swept or compacted yet
   * (it moves by ±200 kB from one reading to the next with nothing kept).
   */
  liveBytes?: number;
}

/** Collects garbage (when exposed) and reads the memory figures. */
export async function snapshotMemory(options: { live?: boolean } = {}): Promise<MemorySnapshot> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let pass = 0; pass < 3 && gc !== undefined; pass += 1) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  // The last collection right before reading: what the awaits above allocated is not counted as kept.
  gc?.();
  const { heapUsed, rss } = process.memoryUsage();
  const live = options.live === true ? { liveBytes: await liveHeapBytes() } : {};
  return { heapUsed, rss, gcExposed: gc !== undefined, ...live };
}

/** The sum of every reachable object's own size, from a V8 heap snapshot (which collects garbage first). */
async function liveHeapBytes(): Promise<number> {
  const chunks: string[] = [];
  for await (const chunk of getHeapSnapshot()) chunks.push(String(chunk));
  const snapshot = JSON.parse(chunks.join('')) as {
    snapshot: { meta: { node_fields: string[] } };
    nodes: number[];
  };
  const fields = snapshot.snapshot.meta.node_fields;
  const sizeAt = fields.indexOf('self_size');
  let total = 0;
  for (let index = sizeAt; index < snapshot.nodes.length; index += fields.length) total += snapshot.nodes[index] ?? 0;
  return total;
}

/** Active resources (handles and requests keeping the loop alive) that are not in `baseline`. */
export function newActiveResources(baseline: readonly string[]): string[] {
  const left = [...baseline];
  const added: string[] = [];
  for (const resource of process.getActiveResourcesInfo()) {
    const index = left.indexOf(resource);
    if (index === -1) added.push(resource);
    else left.splice(index, 1);
  }
  return added;
}

/**
 * The tests' {@link TestManualClock}, walked in steps: `advanceBy()` fires what is due at
 * each step and lets promise chains settle in between (for scenarios that span token
 * lifetimes in a few seconds of real time).
 */
export class ManualClock extends TestManualClock {
  constructor(start = Date.now()) {
    super(start);
  }

  /** Timers armed and not yet fired or cleared. */
  get live(): number {
    return this.pending().length;
  }

  /** Moves `ms` ahead in steps of `stepMs`, firing due timers in order and settling after each step. */
  async advanceBy(ms: number, stepMs: number): Promise<void> {
    const end = this.now() + ms;
    while (this.now() < end) {
      this.advance(Math.min(stepMs, end - this.now()));
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
