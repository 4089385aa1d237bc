/**
 * Every fenced ts/js block in README.md and docs/ is checked from the packed tarball by
 * `npm run check:consumers` (scripts/consumers/doc-snippets.mjs): type-checked, and the
 * `run` ones executed against the embedded sandbox, the `jest` ones run by Jest. This test keeps
 * the list that says which (scripts/consumers/doc-snippets.json) in step with the docs, and the
 * README's shape honest.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { codeBlocks, codeBlocksOf, listProblems, snippetChecks } from '../../scripts/consumers/doc-blocks.cjs';

const root = path.resolve(__dirname, '../..');

describe('the documentation snippet list', () => {
  it('names every ts/js block of README.md and docs/, and nothing else', () => {
    expect(listProblems(root)).toEqual([]);
  });

  it('marks NestJS blocks (decorators) for the NestJS compiler options', () => {
    const checks = snippetChecks();
    const decorated = codeBlocks(root).filter((block) => /^\s*@[A-Za-z_$][\w$]*\(/m.test(block.code));

    expect(decorated.length).toBeGreaterThan(0);
    for (const block of decorated) expect([block.id, checks[block.id]]).toEqual([block.id, 'typecheck-nestjs']);
  });

  it('imports the ioredis client by its named export (a default import fails to type-check in an .mts file)', () => {
    // The docs' blocks are ES modules; under `module: nodenext` ioredis's default export is its
    // module object, not the class, so `new Redis()` from `import Redis from 'ioredis'` does not compile.
    const defaultImports = codeBlocks(root).filter((block) => /^import\s+\w+\s+from\s+'ioredis'/m.test(block.code));
    expect(defaultImports.map((block) => block.id)).toEqual([]);
  });

  it('names only source files that exist in the present-tense column of "What moved in version 2"', () => {
    const text = readFileSync(path.join(root, 'docs/architecture.md'), 'utf8');
    const table = text.split('## What moved in version 2')[1] ?? '';
    const currentColumn = table
      .split('\n')
      .filter((line) => line.startsWith('| ') && !line.startsWith('| version') && !line.startsWith('| ---'))
      .map((line) => line.split(' | ')[1] ?? '');
    const named = currentColumn.flatMap((cell) =>
      [...cell.matchAll(/`(src\/[\w/.-]+\.ts)`/g)].map((match) => match[1] ?? ''),
    );
    expect(named.length).toBeGreaterThan(0);
    expect(named.filter((file) => !existsSync(path.join(root, file)))).toEqual([]);
  });

  it('runs the Jest examples of testing-with-the-sandbox.md under Jest, with the jest.config.cjs it gives', () => {
    // msw 2 under Jest's CommonJS mode fails to load without that config: type-checking alone missed it.
    const checks = snippetChecks();
    const kinds = codeBlocksOf(root, 'docs/testing-with-the-sandbox.md').map((block) => checks[block.id]);
    expect(kinds.slice(0, 3)).toEqual(['jest', 'jest', 'jest-config']);
  });

  it('runs the README blocks against the sandbox', () => {
    const checks = snippetChecks();
    expect(codeBlocksOf(root, 'README.md').map((block) => checks[block.id])).toEqual(['run', 'run']);
  });
});

describe('the README quick start', () => {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const [quickStart, standalone] = codeBlocksOf(root, 'README.md');

  it('is the block the consumer check runs verbatim: the first ts block under "## Quick start"', () => {
    const section = readme.slice(readme.indexOf('## Quick start'));
    expect(/```ts\n([\s\S]*?)```/.exec(section)?.[1]).toBe(quickStart?.code);
  });

  it('says it is ES module code', () => {
    const intro = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('```ts'));
    expect(intro).toMatch(/ES module/);
    expect(intro).toMatch(/CommonJS/);
  });

  it('tells a user who installed the package how to run it against the embedded sandbox', () => {
    const intro = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('```ts'));
    expect(intro).toContain('npx alix-token sandbox');
  });

  it('configures userEmail from ALIX_USER_EMAIL and keeps one session', () => {
    expect(quickStart?.code).toMatch(/userEmail: process\.env\.ALIX_USER_EMAIL \?\? '[^']+@[^']+'/);
    expect(quickStart?.code.match(/new TokenManager\(/g)).toHaveLength(1);
    expect(quickStart?.code).not.toMatch(/getAccessToken\(/);
  });

  it('shows the standalone getAccessToken() as its own example, from the ALIX_* environment', () => {
    expect(standalone?.code).toMatch(/await getAccessToken\(\)/);
    expect(standalone?.code).not.toMatch(/new TokenManager\(/);
  });

  it('builds the standalone example URL so that a trailing slash in ALIX_BASE_URL does not double it', () => {
    // `${ALIX_BASE_URL}/api/v2/cards` with ALIX_BASE_URL=https://host/ asks for //api/v2/cards: a 404.
    expect(standalone?.code).not.toMatch(/\$\{process\.env\.ALIX_BASE_URL\}\//);
    expect(standalone?.code).toMatch(/new URL\('\/api\/v2\/cards', process\.env\.ALIX_BASE_URL\)/);
  });

  it('keeps the first screen: the two set-up commands before the quick start', () => {
    const firstScreen = readme.slice(0, readme.indexOf('## Quick start'));
    expect(firstScreen).toContain('npm install && npm start');
    expect(firstScreen).toContain('npm test');
    expect(firstScreen.match(/^- \*\*/gm)).toHaveLength(3);
  });
});
