/**
 * Merging user options over frozen defaults: a field the user left `undefined` must not
 * hide its default.
 */
export function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Partial<T>;
}
