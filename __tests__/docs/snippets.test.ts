/**
 * Every ```ts block in README.md and docs/ is type-checked against the sources, with the
 * package's import paths mapped onto them, so the examples cannot rot.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const root = path.resolve(__dirname, '../..');
const outDir = path.join(root, '.tmp', 'snippets');

function documents(): string[] {
  const docs = readdirSync(path.join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => path.join('docs', name));
  return ['README.md', ...docs];
}

function snippetsOf(document: string): Array<{ name: string; code: string }> {
  const text = readFileSync(path.join(root, document), 'utf8');
  const blocks = [...text.matchAll(/^```ts\n([\s\S]*?)^```/gm)].map((match) => match[1] ?? '');
  return blocks.map((code, index) => ({ name: `${document.replace(/[/.]/g, '_')}_${index + 1}.ts`, code: `${code}\nexport {};\n` }));
}

describe('documentation examples', () => {
  it('type-check against the library sources', () => {
    rmSync(outDir, { recursive: true, force: true });
    mkdirSync(outDir, { recursive: true });
    const files = documents().flatMap(snippetsOf);
    expect(files.length).toBeGreaterThan(5);
    for (const file of files) writeFileSync(path.join(outDir, file.name), file.code);

    const program = ts.createProgram(
      files.map((file) => path.join(outDir, file.name)),
      {
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.ES2022,
        moduleResolution: ts.ModuleResolutionKind.Bundler,
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        esModuleInterop: true,
        types: ['node', 'jest'],
        typeRoots: [path.join(root, 'node_modules', '@types')],
        baseUrl: root,
        paths: {
          'alix-token-manager': ['src/index.ts'],
          'alix-token-manager/testing': ['src/sandbox/index.ts'],
          'alix-token-manager/testing/msw': ['src/sandbox/msw-entry.ts'],
          'alix-token-manager/redis': ['src/redis.ts'],
          'alix-token-manager/otel': ['src/otel/index.ts'],
        },
      },
    );
    const problems = ts
      .getPreEmitDiagnostics(program)
      .filter((diagnostic) => diagnostic.file?.fileName.startsWith(outDir) ?? true)
      .map((diagnostic) => {
        const where = diagnostic.file === undefined ? '' : `${path.basename(diagnostic.file.fileName)}: `;
        return `${where}${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`;
      });
    expect(problems).toEqual([]);
  });
});
