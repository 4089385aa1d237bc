import { ConfigurationError } from '../errors';

/** Parses a numeric flag value, or throws a ConfigurationError naming the flag. */
export function parseNumberFlag(value: string, flag: string, rule: { integer?: boolean; min: number }): number {
  const parsed = Number(value);
  const valid = Number.isFinite(parsed) && parsed >= rule.min && (rule.integer !== true || Number.isInteger(parsed));
  if (!valid) {
    const kind = rule.integer === true ? 'a whole number' : 'a number';
    throw new ConfigurationError(`${flag} must be ${kind} ≥ ${rule.min}, got "${value}"`);
  }
  return parsed;
}
