/**
 * Runs the example store of docs/custom-stores.md through the conformance kit under jest: the
 * block is taken from the page as it is (the docs check runs it under node:test in CI), with
 * its package imports pointed at the sources and `node:test` at jest's own describe and it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { codeBlocksOf } from '../../scripts/consumers/doc-blocks.cjs';

const root = path.resolve(__dirname, '../..');
const [example] = codeBlocksOf(root, 'docs/custom-stores.md') as Array<{ code: string }>;
const code = (example?.code ?? '')
  .replace("import { describe, it } from 'node:test';", 'const { describe, it } = globalThis;')
  .replace("from 'alix-token-manager/testing'", `from ${JSON.stringify(path.join(root, 'src/sandbox/index.ts'))}`)
  .replace("from 'alix-token-manager'", `from ${JSON.stringify(path.join(root, 'src/index.ts'))}`);

describe('docs/custom-stores.md example store', () => {
  it('is the first code block of the page, checked with node:test', () => {
    expect(example?.code).toContain("from 'node:test'");
    expect(code).not.toContain("'alix-token-manager");
  });

  const dir = mkdtempSync(path.join(os.tmpdir(), 'custom-store-example-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'table-token-store.ts');
  writeFileSync(file, code);
  // Declares the kit's tests here, at collection time, as the page's block does.
  jest.requireActual(file);
});
