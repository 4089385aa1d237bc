/**
 * The tolerant wire reader's one warning: a response whose expiries depart from the page's
 * sample (see docs/alix-auth.md, "ambiguities").
 */
import type { Logger } from '../../logger';

/**
 * Shapes already reported. Process-wide on purpose: the auth API answers every session alike,
 * so one line tells the operator and a line per session or per refresh would bury it. Bounded
 * by the few names × formats the reader accepts.
 */
const reported = new Set<string>();

/**
 * Logs `shape` at warn level the first time this process meets it. A logger that would drop
 * the line (the default silent one) does not use up the report, so a provider given a logger
 * later still tells. Never throws.
 */
export function reportNonSampleShape(logger: Logger, shape: string): void {
  try {
    if (reported.has(shape) || !logger.isLevelEnabled('warn')) return;
    reported.add(shape);
    logger.warn(
      { event: 'auth-response-shape', shape },
      `the Alix auth API answered in a shape its published sample does not show (${shape}); read it as documented ` +
        'in docs/alix-auth.md; this is logged once per process',
    );
  } catch {
    // Logging never breaks a sign-in or refresh.
  }
}
