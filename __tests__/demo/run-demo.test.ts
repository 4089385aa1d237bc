import { collectingStream } from '../helpers/streams';
import { ConfigurationError } from '../../src/errors';
import { runDemo } from '../../src/demo/run-demo';
import { runUsersDemo } from '../../src/demo/run-users-demo';
import type { DemoOptions } from '../../src/demo/run-demo';

/** The live labels the demo shows while its phases last. */
const REVOCATION_LABEL = 'server revoked all access tokens';
const OUTAGE_LABEL = 'auth server answers the next 3 refreshes with 503';
const CLEAR_LINE = '\r\x1b[2K';

/**
 * A demo in 1.5 s of real time: every phase (revocation at 40 %, 503 burst at 60 %) still
 * happens, with the burst's backoff in tens of ms and a progress frame every 50 ms.
 */
export const QUICK_DEMO: DemoOptions = Object.freeze({
  durationMs: 1_500,
  retry: { minDelayMs: 20, maxDelayMs: 100 },
  progressIntervalMs: 50,
});

/** The redrawn progress line's frames, each with the elapsed seconds it shows. */
function liveFrames(text: string): Array<{ elapsedS: number; line: string }> {
  return text
    .split(CLEAR_LINE)
    .slice(1)
    .map((frame) => frame.split('\n')[0] ?? '')
    .map((line) => ({ elapsedS: Number(/^\[\s*([\d.]+)s\]/.exec(line)?.[1]), line }));
}

describe('runDemo()', () => {
  describe('on a TTY', () => {
    it('redraws one line whose phase label clears when its phase ends', async () => {
      const tty = collectingStream({ isTTY: true });

      const summary = await runDemo({ ...QUICK_DEMO, concurrency: 2, output: tty.stream });

      expect(summary).toMatchObject({ failures: 0, revocationRecovered: true, authFailures: 3 });
      const frames = liveFrames(tty.text());
      expect(frames.length).toBeGreaterThan(10);
      expect(frames.every(({ elapsedS }) => Number.isFinite(elapsedS))).toBe(true);
      // No plain phase lines on a terminal: the labels live in the redrawn line only.
      expect(tty.text()).not.toMatch(/^(>>>|<<<)/m);
      // By frame, not by the rounded elapsed time two frames in a row may share.
      const shownAt = (label: string): number[] =>
        frames.flatMap(({ line }, frame) => (line.includes(label) ? [frame] : []));
      // The revocation (at 40%) is recovered by one refresh, often within one frame: if its label
      // shows at all, it is gone before the outage (at 60%) begins.
      expect(shownAt(OUTAGE_LABEL).length).toBeGreaterThan(0);
      expect(Math.max(...shownAt(REVOCATION_LABEL))).toBeLessThan(Math.min(...shownAt(OUTAGE_LABEL)));
      // The outage lasts through three 503s with backoff: shown for a while, gone by the end.
      const last = frames.at(-1)?.line ?? '';
      expect(last).not.toContain(OUTAGE_LABEL);
      expect(last).not.toContain(REVOCATION_LABEL);
    });
  });

  describe('with json', () => {
    it('runs end to end, recovers the revocation and prints only the summary', async () => {
      const output = collectingStream();

      const summary = await runDemo({ ...QUICK_DEMO, concurrency: 3, json: true, output: output.stream });

      expect(JSON.parse(output.text())).toEqual(summary);
      expect(summary).toMatchObject({ failures: 0, revocationRecovered: true, signIns: 1, concurrency: 3 });
      expect(summary.refreshes).toBeGreaterThanOrEqual(2);
      expect(summary.server401s).toBeGreaterThan(0);
      expect(summary.authFailures).toBe(3);
    });
  });

  describe('not on a TTY', () => {
    it('prints progress lines, the phases as they start and end, and a summary table', async () => {
      const output = collectingStream();

      const summary = await runDemo({ ...QUICK_DEMO, progressIntervalMs: 500, concurrency: 2, output: output.stream });

      expect(summary.failures).toBe(0);
      const text = output.text();
      expect(text).toMatch(/^\[\s*\d+\.\ds\] requests \d+ · ok \d+/m);
      expect(text).toContain('>>> server revoked all access tokens');
      // The phase's label clears once it is over.
      expect(text).toContain('<<< requests sent after the revocation succeed again');
      expect(text).toContain('<<< the auth server answers again; the refresh went through');
      expect(text).toMatch(/\| revocation recovered\s+\| yes/);
      expect(text).not.toContain(CLEAR_LINE);
    });
  });
});

describe('runDemo() with an option the manager refuses', () => {
  it('rejects and leaves no sandbox listening', async () => {
    const listening = (): number => process.getActiveResourcesInfo().filter((kind) => kind === 'TCPServerWrap').length;
    const before = listening();

    const run = runDemo({ ...QUICK_DEMO, retry: { minDelayMs: -1 }, output: collectingStream().stream });

    await expect(run).rejects.toMatchObject({ code: 'ERR_ALIX_CONFIGURATION' });
    expect(listening()).toBe(before);
  });
});

describe('runDemo() with a concurrency it cannot run', () => {
  it.each([100_000_000, 1_001, 0, -1, 1.5, Number.NaN])(
    'rejects %p with a typed error before building a loop or a sandbox',
    async (concurrency) => {
      const from = jest.spyOn(Array, 'from');
      try {
        const run = runDemo({ ...QUICK_DEMO, concurrency, output: collectingStream().stream });

        await expect(run).rejects.toMatchObject({
          code: 'ERR_ALIX_CONFIGURATION',
          message: 'runDemo(): concurrency must be a whole number from 1 to 1000',
        });
        expect(from).not.toHaveBeenCalled();
      } finally {
        from.mockRestore();
      }
    },
  );
});

describe('runDemo() and runUsersDemo() with a duration they cannot run', () => {
  it.each([[Number.NaN], [0], [-1], [Infinity], [3_600_001]])(
    'rejects durationMs %p with a ConfigurationError before starting anything',
    async (durationMs) => {
      await expect(runDemo({ durationMs, json: true })).rejects.toThrow(ConfigurationError);
      await expect(runUsersDemo({ users: 1, durationMs, json: true })).rejects.toThrow(ConfigurationError);
    },
  );
});
