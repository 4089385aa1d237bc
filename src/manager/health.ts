/** `health()`: a readiness verdict from a status snapshot. Pure. */
import { assertConfig } from '../errors';
import type { SessionStats } from './status';
import type { HealthOptions, TokenManagerHealth, TokenManagerStatus } from './types';

/** Defaults of `health()` options. */
export const DEFAULT_HEALTH_OPTIONS = Object.freeze({ minValidityMs: 60_000 });

/** What the verdict is judged against. */
export interface HealthInput {
  status: TokenManagerStatus;
  /** Wall clock, epoch ms. */
  now: number;
  /** The caller's options; defaults from {@link DEFAULT_HEALTH_OPTIONS}. */
  options: HealthOptions;
  /** A refresh token with less than this left is "expiring soon". */
  refreshTokenWarningMs: number;
  /** Why the store's refresh lock could not be used at the last try, why the last token set is not stored. */
  stats: Pick<SessionStats, 'lockUnavailable' | 'writeFailing'>;
}

/**
 * - `ok`: a valid token with at least `minValidityMs` left and no failing refresh.
 * - `degraded`: a valid token, but background refreshes fail, the token is close to expiry,
 *   the refresh token expires soon, the store's breaker or lock cannot be used (an ACL
 *   refusing them, say), or the last token set could not be written to the store; also a
 *   manager that holds no token yet and has not failed.
 * - `down`: no valid token and the last acquisition failed (or the manager is closed).
 */
export function assessHealth(input: HealthInput): TokenManagerHealth {
  const { status, now } = input;
  const minValidityMs = input.options.minValidityMs ?? DEFAULT_HEALTH_OPTIONS.minValidityMs;
  const known = Number.isFinite(minValidityMs) && minValidityMs >= 0;
  assertConfig(known, 'health() option minValidityMs must be a number of ms ≥ 0');
  const reasons: string[] = [];
  if (status.state === 'closed') return { status: 'down', reasons: ['the token manager is closed'] };
  const valid =
    status.state === 'valid' ||
    (status.state === 'refreshing' && status.accessTokenExpiresAt !== null && status.accessTokenExpiresAt > now);
  if (!valid && status.lastError !== null)
    return { status: 'down', reasons: [`no valid token; the last attempt failed: ${status.lastError.code}`] };
  if (!valid && status.state === 'idle')
    return { status: 'degraded', reasons: ['no token held yet; the first call signs in'] };
  if (!valid) return { status: 'degraded', reasons: ['no valid token held; the next call refreshes'] };
  if (status.lastError !== null) reasons.push(`background refresh failing: ${status.lastError.code}`);
  // Protection lost quietly is still lost: say so while a valid token hides it.
  if (status.breaker?.unavailable !== undefined)
    reasons.push(`auth breaker unavailable: ${status.breaker.unavailable}`);
  const { lockUnavailable, writeFailing } = input.stats;
  if (lockUnavailable !== undefined) reasons.push(`refresh lock unavailable: ${lockUnavailable}`);
  if (writeFailing !== undefined) reasons.push(`the token set is not stored: ${writeFailing}`);
  const remainingMs = (status.accessTokenExpiresAt ?? now) - now;
  if (remainingMs < minValidityMs)
    reasons.push(`access token expires in ${Math.max(0, Math.round(remainingMs / 1000))} s`);
  if (status.refreshTokenExpiresAt !== null && status.refreshTokenExpiresAt - now < input.refreshTokenWarningMs)
    reasons.push('refresh token expires soon; a full sign-in will follow');
  return { status: reasons.length === 0 ? 'ok' : 'degraded', reasons };
}
