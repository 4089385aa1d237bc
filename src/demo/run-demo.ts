/**
 * The `npm start` demo: one session (a TokenManager) and several request loops against the
 * embedded sandbox.
 */
import { definedOnly } from '../defaults';
import { assertConfig } from '../errors';
import { TokenManager } from '../manager/token-manager';
import { AlixAuthProvider } from '../providers/alix/provider';
import { REVOCATION_NOTE, latencyRow, runDemoLoops, type DemoRunOptions } from './runner';

/** Options of {@link runDemo}. */
export interface DemoOptions extends DemoRunOptions {
  /** Concurrent request loops. @default 8 */
  concurrency?: number;
}

/** Defaults of {@link DemoOptions}. */
export const DEFAULT_DEMO_OPTIONS = Object.freeze({
  durationMs: 45_000,
  concurrency: 8,
  accessTokenTtlMs: 15_000,
});

/** What the demo measured, as printed in its summary and with `--json`. */
export type DemoSummary = Awaited<ReturnType<typeof runDemo>>;

/**
 * The most request loops the demo runs. Each loop is built up front and sends a request every
 * {@link PAUSE_BETWEEN_REQUESTS_MS}: 1,000 of them already load the sandbox as much as
 * `MAX_DEMO_USERS` users do, and `--concurrency 100000000` would exhaust memory before the first request.
 */
export const MAX_DEMO_CONCURRENCY = 1_000;

const PAUSE_BETWEEN_REQUESTS_MS = 25;
const OUTAGE_NOTE = 'auth server answers the next 3 refreshes with 503';

/**
 * The `npm start` demo: a sandbox with short-lived tokens, a TokenManager, an axios instance
 * with the interceptor, and request loops; midway the server revokes every access token
 * (one refresh recovers) and the auth server answers a burst of 503s (backoff rides it out).
 * Resolves to the summary; the process exit code is 0 only if no request failed.
 * @throws {ConfigurationError} when `concurrency` is not a whole number from 1 to {@link MAX_DEMO_CONCURRENCY}.
 */
export async function runDemo(options: DemoOptions = {}) {
  const settings = { ...DEFAULT_DEMO_OPTIONS, ...definedOnly(options) };
  const { concurrency, accessTokenTtlMs: ttlMs } = settings;
  const concurrencyValid = Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= MAX_DEMO_CONCURRENCY;
  assertConfig(concurrencyValid, `runDemo(): concurrency must be a whole number from 1 to ${MAX_DEMO_CONCURRENCY}`);
  return runDemoLoops(settings, (run) => {
    const { sandbox } = run;
    const manager = new TokenManager({
      provider: new AlixAuthProvider(run.partner),
      refreshBeforeExpiryMs: ttlMs / 3,
      expirySkewMs: 1_000,
      refreshJitterMs: 500,
      retry: run.retry,
    });
    let recovered = false;
    let endRevocation = (): void => undefined;
    // The outage waits for the revocation's recovery (on a busy machine it can outlast 60 % of the run:
    // a forced refresh would join the recovering one and miss the 503s), at the latest until the run's end.
    const revocationOver = new Promise<void>((resolve) => {
      const latest = setTimeout(resolve, settings.durationMs).unref();
      endRevocation = () => {
        clearTimeout(latest);
        resolve();
      };
    });
    manager.on('refreshed', () => {
      // The outage phase ends with the first refresh that gets through once every injected 503 is spent
      // (before the outage, endPhase() leaves the label alone: it is not the outage's).
      if (sandbox.pendingFaults() === 0)
        run.endPhase(OUTAGE_NOTE, 'the auth server answers again; the refresh went through');
    });
    manager.on('error', () => undefined); // shown through the counters; the demo keeps going
    const startOutage = (): Promise<unknown> => {
      sandbox.injectFaults(3, { type: 'status', status: 503, endpoint: 'refresh' });
      // Refresh now rather than at the next refresh point, so even a short run shows the backoff;
      // the run waits for it, so a run that ends mid-outage still reports all of it.
      const refresh = manager.getAccessToken({ forceRefresh: true }).catch(() => undefined);
      run.startPhase(OUTAGE_NOTE, 'retried with backoff while the valid token is still served');
      return refresh;
    };
    const { counts } = run;
    return {
      client: manager,
      banner:
        `Alix sandbox at ${sandbox.url} — access tokens live ${ttlMs / 1000} s; ` +
        `${concurrency} request loops for ${settings.durationMs / 1000} s`,
      loops: Array.from({ length: concurrency }, (_, index) => String(index)),
      request: (api) => api.get('/api/v2/cards'),
      recovered: () => {
        recovered = true;
        run.endPhase(REVOCATION_NOTE, 'requests sent after the revocation succeed again');
        endRevocation();
      },
      pauseMs: () => PAUSE_BETWEEN_REQUESTS_MS,
      phases: [
        [0.4, () => run.revoke('the next requests get 401; one refresh recovers them')],
        [0.6, () => revocationOver.then(startOutage)],
      ],
      progress: () => {
        const { nextRefreshAt: next, refreshCount, counts: sessionCounts } = manager.status();
        const nextText = next === null ? '—' : `${(Math.max(0, next - Date.now()) / 1000).toFixed(1)}s`;
        return (
          `requests ${counts.requests} · ok ${counts.successes} · failed ${counts.failures} · ` +
          `401s ${sandbox.counters().resource401s} · refreshes ${refreshCount} (sign-ins ${sessionCounts.signIns}) · ` +
          `p50 ${run.percentile(50).toFixed(1)}ms p99 ${run.percentile(99).toFixed(1)}ms · next refresh ${nextText}`
        );
      },
      summarize: (durationMs, latencyMs) => ({
        durationMs,
        concurrency,
        ...counts,
        server401s: sandbox.counters().resource401s, // each replayed once by the interceptor
        refreshes: manager.status().refreshCount, // token sets obtained: refreshes plus sign-ins
        signIns: manager.status().counts.signIns,
        authFailures: sandbox.counters().authFailures, // the injected 503 burst
        revocationRecovered: recovered, // requests sent after the revocation succeeded
        latencyMs,
      }),
      rows: (summary) => [
        ['concurrent loops', String(summary.concurrency)],
        ['requests', String(summary.requests)],
        ['successes', String(summary.successes)],
        ['failures', String(summary.failures)],
        ['401s answered by the server', String(summary.server401s)],
        ['token sets obtained', `${summary.refreshes} (${summary.signIns} sign-in)`],
        ['auth calls failed (injected 503s)', String(summary.authFailures)],
        ['revocation recovered', summary.revocationRecovered ? 'yes' : 'no'],
        latencyRow(summary.latencyMs),
      ],
    };
  });
}
