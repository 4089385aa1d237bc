import { collectingStream } from '../helpers/streams';
import { runDemo } from '../../src/demo/run-demo';

/** The live labels the demo shows while its phases last. */
const REVOCATION_LABEL = 'server revoked all access tokens';
const OUTAGE_LABEL = 'auth server answers the next 3 refreshes with 503';
const CLEAR_LINE = '\r\x1b[2K';


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
      const durationMs = 8_000;
      const tty = collectingStream({ isTTY: true });

      const summary = await runDemo({ durationMs, concurrency: 2, output: tty.stream });

      expect(summary).toMatchObject({ failures: 0, revocationRecovered: true, authFailures: 3 });
      const frames = liveFrames(tty.text());
      expect(frames.length).toBeGreaterThan(10);
      expect(frames.every(({ elapsedS }) => Number.isFinite(elapsedS))).toBe(true);
      // No plain phase lines on a terminal: the labels live in the redrawn line only.
      expect(tty.text()).not.toMatch(/^(>>>|<<<)/m);
      const shownAt = (label: string): number[] => frames.filter(({ line }) => line.includes(label)).map(({ elapsedS }) => elapsedS);
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
});
