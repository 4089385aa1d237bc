import { assertPositiveMs } from '../src/defaults';
import { ConfigurationError } from '../src/errors';

describe('assertPositiveMs()', () => {
  it('refuses 0, a negative, a non-finite and a non-number duration, and takes a positive one', () => {
    for (const value of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '5']) {
      expect(() => assertPositiveMs('timeoutMs', value)).toThrow(ConfigurationError);
    }
    expect(() => assertPositiveMs('timeoutMs', 0.5)).not.toThrow();
  });
});
