/**
 * The public surface stays small (issue 19): at most 30 runtime exports from the package root,
 * none of them a defaults object (docs/configuration.md lists the defaults), and a `status()`
 * of at most 10 top-level fields.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
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

describe('the package root types', () => {
  // A user who implements an exported interface, writes an option's callback or listens to an event names these.
  const needed = [
    'BreakerCall', // AuthBreaker.admit(call)
    'ReplayReport', // SessionSource.recordReplay(report)
    'AlixAuthPaths', // AlixAuthProviderOptions.paths
    'AlixAuthenticateBodyContext', // AlixAuthProviderOptions.buildAuthenticateBody(context)
    'AlixRefreshBodyContext', // AlixAuthProviderOptions.buildRefreshBody(context)
    'PoolEvictedEvent', // TokenManagerPool's 'evicted' listener
  ];

  it('exports every type an exported interface, option callback or event names', () => {
    // Named re-exports only (no `export *`, see STYLE.md): the file itself lists them.
    const file = path.resolve(__dirname, '../../src/index.ts');
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022);
    const exported = source.statements.flatMap((statement) =>
      ts.isExportDeclaration(statement) && statement.exportClause && ts.isNamedExports(statement.exportClause)
        ? statement.exportClause.elements.map((element) => element.name.text)
        : [],
    );

    expect(needed.filter((name) => !exported.includes(name))).toEqual([]);
  });
});
