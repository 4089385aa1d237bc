/**
 * What both demos share (src/demo/runner.ts), driven by a scripted demo: the latency percentiles,
 * which requests prove the recovery from the revocation, and the axios instance left as it was.
 */
import { setTimeout as pause } from 'node:timers/promises';
import type { AxiosInstance, InternalAxiosRequestConfig } from 'axios';
import { DEMO_LATENCY_SAMPLES, DemoRun, runDemoLoops, type DemoLatency } from '../../src/demo/runner';
import type { TokenManager } from '../../src/manager/token-manager';
import type { AlixSandbox } from '../../src/sandbox/server';
import { FakeTokenSource } from '../helpers/fake-token-source';
import { collectingStream } from '../helpers/streams';

/** A run whose latencies are `samples` (no sandbox: the percentiles never touch it). */
function runWith(samples: number[]): DemoRun {
  const run = new DemoRun({} as AlixSandbox, false, () => undefined, {});
  for (const sample of samples) run.record(sample);
  return run;
}

describe('DemoRun.percentile()', () => {
  it('reports the nearest-rank percentile: the sample at rank ceil(p% of n), counted from 1', () => {
    // Unsorted, and lexical order differs from numeric order.
    const run = runWith([10, 9, 1, 8, 2, 7, 3, 6, 4, 5]);
    expect([10, 50, 51, 99, 100].map((p) => run.percentile(p))).toEqual([1, 5, 6, 10, 10]);
    expect(runWith([30, 100, 20]).percentile(50)).toBe(30);
  });

  it('reports the smallest sample for the 0th percentile, the only one of one, and 0 with none', () => {
    expect(runWith([4, 2, 3]).percentile(0)).toBe(2);
    expect(runWith([7]).percentile(99)).toBe(7);
    expect(runWith([]).percentile(50)).toBe(0);
  });

  it('sorts the samples once for the percentiles of one progress line', () => {
    const run = runWith([10, 9, 1, 8, 2, 7, 3, 6, 4, 5]);
    const sort = jest.spyOn(Array.prototype, 'sort');
    try {
      expect([run.percentile(50), run.percentile(99)]).toEqual([5, 10]);
      expect(sort).toHaveBeenCalledTimes(1);
    } finally {
      sort.mockRestore();
    }
  });

  it('reports the samples appended since the last percentile', () => {
    const run = runWith([3, 1, 2]);
    expect(run.percentile(100)).toBe(3);
    run.record(0);
    run.record(9);
    expect([0, 50, 100].map((p) => run.percentile(p))).toEqual([0, 2, 9]);
  });

  it('keeps a bounded sample of the latencies past DEMO_LATENCY_SAMPLES, and the largest of them all', () => {
    const run = runWith(Array.from({ length: DEMO_LATENCY_SAMPLES }, () => 1));
    run.random = () => 0; // each later latency replaces the first sample
    for (let more = 0; more < DEMO_LATENCY_SAMPLES; more += 1) run.record(2);
    // Every latency kept would put the 99th percentile among the 2s; the reservoir holds one of them.
    expect([run.percentile(99), run.percentile(100)]).toEqual([1, 2]);
    run.random = () => 0.5; // half of the latencies recorded: past the reservoir, dropped
    run.record(3);
    expect([run.percentile(99), run.percentile(100)]).toEqual([1, 3]);
  });
});

describe('runDemoLoops()', () => {
  /** A scripted demo on a fake token source: loop `a` revokes, loop `b` keeps sending. */
  async function scriptedRun(): Promise<{ recoveries: string[]; requestsOfB: number; api: AxiosInstance }> {
    const recoveries: string[] = [];
    let requestsOfB = 0;
    let api: AxiosInstance | undefined;
    let revoked!: () => void;
    const revocation = new Promise<void>((resolve) => (revoked = resolve));
    const source = Object.assign(new FakeTokenSource('demo'), { close: () => undefined });
    await runDemoLoops(
      { durationMs: 300, accessTokenTtlMs: 60_000, json: true, output: collectingStream().stream },
      (run) => ({
        client: source as unknown as TokenManager,
        banner: 'scripted',
        loops: ['a', 'b'],
        request: async (instance, key) => {
          api = instance;
          if (key === 'b') {
            requestsOfB += 1;
            return revocation;
          }
          // Loop b's first request is sent before the revocation and answered after it.
          await new Promise((resolve) => setImmediate(resolve));
          run.revoke('scripted');
          revoked();
          // Answered after the revocation, but sent before it; the run ends meanwhile.
          while (performance.now() < run.startedAt + 300) await pause(5);
        },
        recovered: (key) => recoveries.push(key),
        pauseMs: () => 5,
        phases: [],
        progress: () => '',
        summarize: (durationMs: number, latency: DemoLatency) => ({ durationMs, latency }),
        rows: () => [],
      }),
    );
    return { recoveries, requestsOfB, api: api as AxiosInstance };
  }

  it('counts as recovered only the requests sent after the revocation, not those answered after it', async () => {
    const { recoveries, requestsOfB } = await scriptedRun();

    expect(recoveries).toEqual(Array<string>(requestsOfB - 1).fill('b'));
  });

  it('detaches the token source from its axios instance at the end: a later request carries no bearer', async () => {
    const { api } = await scriptedRun();

    const sent: Array<string | null> = [];
    await api.get('/api/v2/cards', {
      adapter: async (config: InternalAxiosRequestConfig) => {
        sent.push((config.headers.get('Authorization') as string | undefined) ?? null);
        return { data: null, status: 200, statusText: 'OK', headers: {}, config };
      },
    });
    expect(sent).toEqual([null]);
  });
});
