import { assertConfig } from './errors';

/**
 * Merging user options over frozen defaults: a field the user left `undefined` must not
 * hide its default.
 */
export function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Partial<T>;
}

/**
 * Checks a duration option: a finite number of ms above zero.
 * @throws ConfigurationError `<label> must be a positive number of ms`.
 */
export function assertPositiveMs(label: string, value: unknown): void {
  assertConfig(Number.isFinite(value) && (value as number) > 0, `${label} must be a positive number of ms`);
}
