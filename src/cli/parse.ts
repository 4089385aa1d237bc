import { ConfigurationError } from '../errors';

/** Parses a numeric flag value, or throws a ConfigurationError naming the flag. */
export function parseNumberFlag(
  value: string,
  flag: string,
  rule: { integer?: boolean; min: number; max?: number },
): number {
  const parsed = Number(value);
  const max = rule.max ?? Infinity;
  const valid =
    value.trim() !== '' &&
    Number.isFinite(parsed) &&
    parsed >= rule.min &&
    parsed <= max &&
    (rule.integer !== true || Number.isInteger(parsed));
  if (!valid) {
    const kind = rule.integer === true ? 'a whole number' : 'a number';
    const range = rule.max === undefined ? `≥ ${rule.min}` : `from ${rule.min} to ${rule.max}`;
    throw new ConfigurationError(`${flag} must be ${kind} ${range}, got "${value}"`);
  }
  return parsed;
}
