import http from 'node:http';
import { performance } from 'node:perf_hooks';
import axios from 'axios';
import { attachTokenManager } from '../adapters/axios';
import { AlixAuthProvider } from '../providers/alix/provider';
import { startAlixSandbox } from '../sandbox/server';
import type { RetryOptions } from '../manager/options';
import { TokenManager } from '../manager/token-manager';
import { LatencyRecorder } from './latency';
import { formatProgress, formatSummary } from './report';
import type { DemoProgress, DemoSummary } from './report';
import { definedOnly } from '../defaults';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** @default 45_000 */
  durationMs?: number;
  /** Concurrent request loops. @default 8 */
  concurrency?: number;
  /** Lifetime of the sandbox's access tokens, in ms. @default 15_000 */
  accessTokenTtlMs?: number;
  /** Print only the JSON summary. @default false */
  json?: boolean;
  /** Where to print. @default process.stdout */
  output?: NodeJS.WriteStream | NodeJS.WritableStream;
  /** Redraw one live line (TTY) instead of periodic plain lines. @default output.isTTY */
  live?: boolean;
  /**
   * The manager's retries within a refresh, which ride out the injected 503s; fields given
   * replace the demo's.
   * @default { minTimeoutMs: 200, maxTimeoutMs: 1_000, maxRetryTimeMs: 10_000 }
   */
  retry?: RetryOptions;
  /** How often the progress line is redrawn (live) or printed, in ms. @default 250 live, else 5_000 */
  progressIntervalMs?: number;
}

/** Defaults of {@link DemoOptions}. */
export const DEFAULT_DEMO_OPTIONS = Object.freeze({
  durationMs: 45_000,
  concurrency: 8,
  accessTokenTtlMs: 15_000,
  json: false,
  retry: Object.freeze({ minTimeoutMs: 200, maxTimeoutMs: 1_000, maxRetryTimeMs: 10_000 }),
});

/** How often the demos show progress, in ms: a live line is redrawn, plain lines are printed. */
export const DEMO_PROGRESS_INTERVAL_MS = Object.freeze({ live: 250, plain: 5_000 });

const PAUSE_BETWEEN_REQUESTS_MS = 25;

/** The live labels of the demo's two phases; each clears when its phase ends. */
const REVOCATION_NOTE = 'server revoked all access tokens';
const OUTAGE_NOTE = 'auth server answers the next 3 refreshes with 503';

/**
 * The `npm start` demo: a sandbox with short-lived tokens, a TokenManager, an axios instance
 * with the interceptor, and request loops; midway the server revokes every access token
 * (one refresh recovers) and the auth server answers a burst of 503s (backoff rides it out).
 * Resolves to the summary; the process exit code is 0 only if no request failed.
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoSummary> {
  const settings = { ...DEFAULT_DEMO_OPTIONS, ...definedOnly(options) };
  const retry = { ...DEFAULT_DEMO_OPTIONS.retry, ...definedOnly(options.retry ?? {}) };
  const output = options.output ?? process.stdout;
  const live = options.live ?? ((output as NodeJS.WriteStream).isTTY === true && !settings.json);
  const say = (text: string): void => {
    if (!settings.json) output.write(`${text}\n`);
  };

  const sandbox = await startAlixSandbox({ accessTokenTtlMs: settings.accessTokenTtlMs });
  const manager = new TokenManager({
    provider: new AlixAuthProvider({
      baseUrl: sandbox.url,
      partnerCode: sandbox.partnerCode,
      secretKey: sandbox.secretKey,
      privateKey: sandbox.privateKeyPem,
      timeoutMs: 2_000,
    }),
    refreshBeforeExpiryMs: settings.accessTokenTtlMs / 3,
    expirySkewMs: 1_000,
    refreshJitterMs: 500,
    retry,
    backgroundRetryDelayMs: 500,
  });
  const agent = new http.Agent({ keepAlive: true });
  const api = axios.create({ baseURL: sandbox.url, httpAgent: agent });
  const detach = attachTokenManager(api, manager);

  let refreshes = 0;
  let signIns = 0;
  manager.on('refreshed', (event) => {
    refreshes += 1;
    if (event.signIn) signIns += 1;
    // The outage phase ends with the first refresh that gets through once every injected 503 is spent.
    if (outageStarted && sandbox.pendingFaults() === 0)
      endPhase(OUTAGE_NOTE, 'the auth server answers again; the refresh went through');
  });
  manager.on('error', () => undefined); // shown through the counters; the demo keeps going

  const latency = new LatencyRecorder();
  let maxLatency = 0;
  let requests = 0;
  let successes = 0;
  let failures = 0;
  let revokedAt: number | undefined;
  let successesAfterRevocation = 0;
  let note = '';
  let outageStarted = false;
  /** Clears the live label of a phase that is over (unless a later phase already replaced it). */
  const endPhase = (phaseNote: string, ended: string): void => {
    if (note !== phaseNote) return;
    note = '';
    if (!live) say(`<<< ${ended}`);
  };
  const startedAt = performance.now();
  const deadline = startedAt + settings.durationMs;

  say(
    `Alix sandbox at ${sandbox.url} — access tokens live ${settings.accessTokenTtlMs / 1000} s; ` +
      `${settings.concurrency} request loops for ${settings.durationMs / 1000} s`,
  );

  const loop = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const began = performance.now();
      requests += 1;
      try {
        await api.get('/api/v2/cards');
        successes += 1;
        if (revokedAt !== undefined) {
          successesAfterRevocation += 1;
          // Only a request sent after the revocation proves the recovery.
          if (began > revokedAt) endPhase(REVOCATION_NOTE, 'requests sent after the revocation succeed again');
        }
      } catch {
        failures += 1;
      }
      const took = performance.now() - began;
      latency.record(took);
      maxLatency = Math.max(maxLatency, took);
      await new Promise((resolve) => setTimeout(resolve, PAUSE_BETWEEN_REQUESTS_MS));
    }
  };

  const snapshot = (): DemoProgress => {
    const status = manager.status();
    return {
      elapsedMs: performance.now() - startedAt,
      requests,
      successes,
      failures,
      server401s: sandbox.counters().resource401s,
      refreshes,
      signIns,
      p50: latency.percentile(50),
      p99: latency.percentile(99),
      nextRefreshInMs: status.nextRefreshAt === null ? null : status.nextRefreshAt - Date.now(),
      note,
    };
  };

  const revocation = setTimeout(() => {
    revokedAt = performance.now();
    sandbox.revokeAccessTokens();
    note = REVOCATION_NOTE;
    if (!live) say(`>>> ${note}: the next requests get 401; one refresh recovers them`);
  }, settings.durationMs * 0.4);
  const outage = setTimeout(() => {
    sandbox.injectFaults(3, { type: 'status', status: 503, endpoint: 'refresh' });
    outageStarted = true;
    // Refresh now rather than at the next refresh point, so even a short run shows the backoff.
    void manager.getAccessToken({ forceRefresh: true }).catch(() => undefined);
    note = OUTAGE_NOTE;
    if (!live) say(`>>> ${note}: retried with backoff while the valid token is still served`);
  }, settings.durationMs * 0.6);
  const ticker = setInterval(
    () => {
      if (live) output.write(`\r\x1b[2K${formatProgress(snapshot())}`);
      else say(formatProgress(snapshot()));
    },
    settings.progressIntervalMs ?? (live ? DEMO_PROGRESS_INTERVAL_MS.live : DEMO_PROGRESS_INTERVAL_MS.plain),
  );

  try {
    await Promise.all(Array.from({ length: settings.concurrency }, loop));
  } finally {
    clearTimeout(revocation);
    clearTimeout(outage);
    clearInterval(ticker);
    detach();
    manager.close();
    agent.destroy();
  }
  const counters = sandbox.counters();
  await sandbox.close();
  if (live) output.write('\n');

  const summary: DemoSummary = {
    durationMs: Math.round(performance.now() - startedAt),
    concurrency: settings.concurrency,
    requests,
    successes,
    failures,
    server401s: counters.resource401s,
    refreshes,
    signIns,
    authFailures: counters.authFailures,
    revocationRecovered: revokedAt !== undefined && successesAfterRevocation > 0,
    latencyMs: {
      p50: roundTenth(latency.percentile(50)),
      p99: roundTenth(latency.percentile(99)),
      max: roundTenth(maxLatency),
    },
  };
  if (settings.json) output.write(`${JSON.stringify(summary, null, 2)}\n`);
  else say(formatSummary(summary));
  return summary;
}

const roundTenth = (ms: number): number => Math.round(ms * 10) / 10;
