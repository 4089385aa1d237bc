/**
 * The public surface stays small (issue 19): at most 30 runtime exports from the package root,
 * none of them a defaults object (docs/configuration.md lists the defaults), and a `status()`
 * of at most 10 top-level fields.
 */
import * as api from '../../src/index';
import { makeManager } from '../helpers/manager';

describe('the package root', () => {
  it('exports at most 30 runtime values, and no DEFAULT_* object', () => {
    const names = Object.keys(api);
    expect(names.length).toBeLessThanOrEqual(30);
    expect(names.filter((name) => name.startsWith('DEFAULT_'))).toEqual([]);
  });
});

describe('TokenManager.status()', () => {
  it('has at most 10 top-level fields', async () => {
    const { manager } = makeManager();
    await manager.getAccessToken();
    expect(Object.keys(manager.status()).length).toBeLessThanOrEqual(10);
    manager.close();
  });
});
