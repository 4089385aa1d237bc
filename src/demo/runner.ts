/**
 * What both demos share: the embedded sandbox, one axios instance attached to the demo's
 * manager or pool, the request loops with their counts and latencies, the phase labels, the
 * progress line and the closing summary.
 */
import axios, { type AxiosInstance } from 'axios';
import { attachTokenManager } from '../adapters/axios';
import { sleep, systemClock } from '../clock';
import { definedOnly } from '../defaults';
import { assertConfig } from '../errors';
import type { TokenManagerOptions } from '../manager/options';
import type { TokenManager } from '../manager/token-manager';
import type { TokenManagerPool } from '../pool/pool';
import { startAlixSandbox, type AlixSandbox } from '../sandbox/server';

/** Options both demos take. */
export interface DemoRunOptions {
  /** How long the request loops run, in ms. @default 45_000 */
  durationMs?: number;
  /** Lifetime of the sandbox's access tokens, in ms. */
  accessTokenTtlMs?: number;
  /** Print only the JSON summary. @default false */
  json?: boolean;
  /** Where to print. @default process.stdout */
  output?: NodeJS.WriteStream | NodeJS.WritableStream;
  /**
   * The retries within a refresh, which ride out the injected 503s; fields given replace the demo's.
   * @default { minDelayMs: 200, maxDelayMs: 1_000, maxRetryTimeMs: 10_000, backgroundMinDelayMs: 500 }
   */
  retry?: TokenManagerOptions['retry'];
  /**
   * How often the progress line is redrawn (live) or printed, in ms.
   * @default 250 live, else a fifth of `durationMs` within 1_000–5_000
   */
  progressIntervalMs?: number;
}

/** The demos' retries within a refresh. */
export const DEMO_RETRY = Object.freeze({
  minDelayMs: 200,
  maxDelayMs: 1_000,
  maxRetryTimeMs: 10_000,
  backgroundMinDelayMs: 500,
});

/** The longest demo run, in ms (an hour): a phase timer past 2^31 - 1 ms would fire at once. */
export const MAX_DEMO_DURATION_MS = 3_600_000;

/**
 * How many request latencies a run keeps for its percentiles: every one up to this many (the percentiles are exact),
 * then a uniform sample of them all (an hour at full concurrency sends tens of millions).
 */
export const DEMO_LATENCY_SAMPLES = 10_000;

/** How often the demos show progress, in ms: a live line is redrawn, plain lines are printed. */
export const DEMO_PROGRESS_INTERVAL_MS = Object.freeze({ live: 250, plain: 5_000 });

/** The live label of the mid-run revocation, which both demos make. */
export const REVOCATION_NOTE = 'server revoked all access tokens';

/** Latencies of a run, in ms, rounded to a tenth. */
export type DemoLatency = { p50: number; p99: number; max: number };

/** The state a demo's loops share with its phases and its progress line. */
export class DemoRun {
  readonly counts = { requests: 0, successes: 0, failures: 0 };
  /** Requests sent and not yet answered. */
  inFlight = 0;
  /** While set, the loops wait for it before their next request. */
  hold: Promise<void> | undefined;
  /** When the sandbox revoked every access token (`performance.now()`), once it has. */
  revokedAt: number | undefined;
  /** The label of the phase under way, shown in the progress line. */
  note = '';
  readonly startedAt = performance.now();
  /** Which sample a latency past {@link DEMO_LATENCY_SAMPLES} replaces, if any: `random() * recorded`. */
  random: () => number = Math.random;
  /** A reservoir of the latencies: where a sample sits does not matter, so percentile() sorts it in place. */
  readonly #samples: number[] = [];
  #sorted = true;
  #recorded = 0;
  /** The largest latency: the reservoir may have dropped it. */
  #max = 0;

  constructor(
    readonly sandbox: AlixSandbox,
    readonly live: boolean,
    readonly say: (text: string) => void,
    /** The demo's retries, with the options' fields over {@link DEMO_RETRY}. */
    readonly retry: TokenManagerOptions['retry'],
  ) {}

  /** The provider options that sign in to the run's sandbox. */
  get partner() {
    const { url: baseUrl, partnerCode, secretKey, privateKeyPem: privateKey } = this.sandbox;
    return { baseUrl, partnerCode, secretKey, privateKey, timeoutMs: 2_000 };
  }

  elapsedMs(): number {
    return performance.now() - this.startedAt;
  }

  /** Adds one request's latency, in ms. */
  record(latencyMs: number): void {
    this.#recorded += 1;
    this.#max = Math.max(this.#max, latencyMs);
    const slot = this.#samples.length < DEMO_LATENCY_SAMPLES ? this.#samples.length : this.random() * this.#recorded;
    if (slot >= DEMO_LATENCY_SAMPLES) return;
    this.#samples[Math.floor(slot)] = latencyMs;
    this.#sorted = false;
  }

  /** The `p`-th percentile (0–100) of the latencies so far, nearest-rank (of the samples kept); 0 with none. */
  percentile(p: number): number {
    const samples = this.#samples;
    if (p >= 100 || samples.length === 0) return this.#max;
    if (!this.#sorted) samples.sort((a, b) => a - b);
    this.#sorted = true;
    return samples[Math.min(samples.length - 1, Math.max(0, Math.ceil((p / 100) * samples.length) - 1))] as number;
  }

  /** Shows `note` until {@link DemoRun.endPhase}; a plain output also gets a `>>>` line. */
  startPhase(note: string, detail: string): void {
    this.note = note;
    if (!this.live) this.say(`>>> ${note}: ${detail}`);
  }

  /** Clears the label of a phase that is over (unless a later phase replaced it). */
  endPhase(note: string, ended: string): void {
    if (this.note !== note) return;
    this.note = '';
    if (!this.live) this.say(`<<< ${ended}`);
  }

  /** Revokes every access token now and starts the revocation phase. */
  revoke(detail: string): void {
    this.sandbox.revokeAccessTokens();
    this.revokedAt = performance.now();
    this.startPhase(REVOCATION_NOTE, detail);
  }
}

/** One demo, built on a started run. */
export interface DemoScript<S> {
  client: TokenManager | TokenManagerPool;
  banner: string;
  /** One key per request loop. */
  loops: readonly string[];
  /** Sends one request of loop `key`; a failure rejects. */
  request(api: AxiosInstance, key: string): Promise<unknown>;
  /** A request of loop `key` sent after the revocation succeeded. */
  recovered(key: string): void;
  failed?(error: unknown): void;
  /** The pause after each request, ms. */
  pauseMs(): number;
  /** At which fraction of the run each phase starts; the run waits for what they return. */
  phases: Array<[number, () => unknown]>;
  /** The progress line after its elapsed time (the phase label follows it). */
  progress(): string;
  summarize(durationMs: number, latencyMs: DemoLatency): S;
  /** The summary table's rows after its first, the run's duration. */
  rows(summary: S): Array<[string, string]>;
}

/** Runs a demo to its end, prints its summary (JSON or a table) and resolves to it. */
export async function runDemoLoops<S extends { durationMs: number }>(
  options: DemoRunOptions & { durationMs: number; accessTokenTtlMs: number },
  build: (run: DemoRun) => DemoScript<S>,
): Promise<S> {
  const { durationMs } = options;
  const durationValid = Number.isFinite(durationMs) && durationMs > 0 && durationMs <= MAX_DEMO_DURATION_MS;
  assertConfig(durationValid, `demo: durationMs must be a number above 0 and at most ${MAX_DEMO_DURATION_MS}`);
  const output = options.output ?? process.stdout;
  // A terminal gets one redrawn live line, anything else periodic plain lines.
  const live = (output as NodeJS.WriteStream).isTTY === true && options.json !== true;
  const sandbox = await startAlixSandbox({ accessTokenTtlMs: options.accessTokenTtlMs });
  const say = (text: string): void => {
    if (options.json !== true) output.write(`${text}\n`);
  };
  const run = new DemoRun(sandbox, live, say, { ...DEMO_RETRY, ...definedOnly(options.retry ?? {}) });
  let demo: DemoScript<S>;
  try {
    demo = build(run);
  } catch (error) {
    await sandbox.close(); // bad options must not leave the sandbox listening
    throw error;
  }
  // Node's global agent keeps connections alive; closing the sandbox drops them.
  const api = axios.create({ baseURL: sandbox.url });
  const detach = attachTokenManager(api, demo.client);
  const deadline = run.startedAt + options.durationMs;
  say(demo.banner);

  const started: unknown[] = [];
  /**
   * A loop runs past the deadline while a phase has yet to start, a revocation is pending, or the
   * sandbox revoked and the loop has sent no request since: however late a busy machine runs the
   * phases, every loop meets each of them, and one more request (which succeeds or fails) ends it.
   */
  const loop = async (key: string): Promise<void> => {
    let metRevocation = false;
    const pending = (): boolean =>
      started.length < demo.phases.length || run.hold !== undefined || (run.revokedAt !== undefined && !metRevocation);
    while (performance.now() < deadline || pending()) {
      if (run.hold !== undefined) await run.hold;
      metRevocation = run.revokedAt !== undefined;
      const began = performance.now();
      run.counts.requests += 1;
      run.inFlight += 1;
      try {
        await demo.request(api, key);
        run.counts.successes += 1;
        // Only a request sent after the revocation proves the recovery (one it released may start in its millisecond).
        if (run.revokedAt !== undefined && began >= run.revokedAt) demo.recovered(key);
      } catch (error) {
        run.counts.failures += 1;
        demo.failed?.(error);
      } finally {
        run.inFlight -= 1;
      }
      run.record(performance.now() - began);
      await sleep(systemClock, demo.pauseMs());
    }
  };

  const timers = demo.phases.map(([at, start]) => setTimeout(() => started.push(start()), options.durationMs * at));
  const plainMs = Math.min(DEMO_PROGRESS_INTERVAL_MS.plain, Math.max(1_000, options.durationMs / 5));
  const tick = (): void => {
    const note = run.note === '' ? '' : ` · ${run.note}`;
    const line = `[${(run.elapsedMs() / 1000).toFixed(1).padStart(5)}s] ${demo.progress()}${note}`;
    // One terminal row, or the redraw would leave the wrapped rest behind.
    const width = Math.max(20, ((output as NodeJS.WriteStream).columns ?? 200) - 1);
    if (live) output.write(`\r\x1b[2K${line.slice(0, width)}`);
    else say(line);
  };
  const ticker = setInterval(tick, options.progressIntervalMs ?? (live ? DEMO_PROGRESS_INTERVAL_MS.live : plainMs));
  let summary: S;
  try {
    await Promise.all(demo.loops.map(loop));
    await Promise.all(started);
    if (live) tick(); // the final state, phases ended
    const latency = (p: number): number => Math.round(run.percentile(p) * 10) / 10;
    // The 100th percentile is the largest latency.
    summary = demo.summarize(Math.round(run.elapsedMs()), { p50: latency(50), p99: latency(99), max: latency(100) });
  } finally {
    timers.forEach(clearTimeout);
    clearInterval(ticker);
    detach();
    demo.client.close();
    await sandbox.close();
  }
  if (live) output.write('\n');
  if (options.json === true) output.write(`${JSON.stringify(summary, null, 2)}\n`);
  else say(formatTable([['duration', `${(summary.durationMs / 1000).toFixed(1)} s`], ...demo.rows(summary)]));
  return summary;
}

/** A two-column table of label/value rows; the value column is at least 24 characters wide. */
function formatTable(rows: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(...rows.map(([label]) => label.length));
  const valueWidth = Math.max(24, ...rows.map(([, value]) => value.length));
  const rule = `+${'-'.repeat(width + 2)}+${'-'.repeat(valueWidth + 2)}+`;
  const lines = rows.map(([label, value]) => `| ${label.padEnd(width)} | ${value.padEnd(valueWidth)} |`);
  return [rule, ...lines, rule].join('\n');
}

/** The latency row of both summaries. */
export function latencyRow({ p50, p99, max }: DemoLatency): [string, string] {
  return ['latency p50 / p99 / max', `${p50.toFixed(1)} / ${p99.toFixed(1)} / ${max.toFixed(1)} ms`];
}
