/**
 * Every ```ts block in README.md and docs/ is type-checked against the sources, with the
 * package's import paths mapped onto them, so the examples cannot rot.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const root = path.resolve(__dirname, '../..');
const outDir = path.join(root, '.tmp', 'snippets');

/** The options every snippet is checked with. */
const SNIPPET_COMPILER_OPTIONS: ts.CompilerOptions = {
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
};

/** What a NestJS project's tsconfig (from `nest new`) adds: Nest's decorators are the legacy ones. */
const NEST_COMPILER_OPTIONS: ts.CompilerOptions = { experimentalDecorators: true, emitDecoratorMetadata: true };

interface Snippet {
  name: string;
  code: string;
}

function documents(): string[] {
  const docs = readdirSync(path.join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => path.join('docs', name));
  return ['README.md', ...docs];
}

function snippetsOf(document: string): Snippet[] {
  const text = readFileSync(path.join(root, document), 'utf8');
  const blocks = [...text.matchAll(/^```ts\n([\s\S]*?)^```/gm)].map((match) => match[1] ?? '');
  return blocks.map((code, index) => ({ name: `${document.replace(/[/.]/g, '_')}_${index + 1}.ts`, code: `${code}\nexport {};\n` }));
}

/** Whether a snippet decorates a class or member (`@Injectable()`, `@Module({…})`), as NestJS code does. */
function usesDecorators(snippet: Snippet): boolean {
  return /^\s*@[A-Za-z_$][\w$]*\(/m.test(snippet.code);
}

/** The last program built: the next one reuses its parsed files (the library sources and types). */
let previousProgram: ts.Program | undefined;

/** The compiler's complaints about `snippets`, one line each, naming the snippet file. */
function typeCheck(snippets: readonly Snippet[], options: ts.CompilerOptions): string[] {
  const program = ts.createProgram({
    rootNames: snippets.map((snippet) => path.join(outDir, snippet.name)),
    options,
    ...(previousProgram === undefined ? {} : { oldProgram: previousProgram }),
  });
  previousProgram = program;
  return ts
    .getPreEmitDiagnostics(program)
    .filter((diagnostic) => diagnostic.file?.fileName.startsWith(outDir) ?? true)
    .map((diagnostic) => {
      const where = diagnostic.file === undefined ? '' : `${path.basename(diagnostic.file.fileName)}: `;
      return `${where}${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`;
    });
}

describe('documentation examples', () => {
  let snippets: Snippet[];

  beforeAll(() => {
    rmSync(outDir, { recursive: true, force: true });
    mkdirSync(outDir, { recursive: true });
    snippets = documents().flatMap(snippetsOf);
    for (const snippet of snippets) writeFileSync(path.join(outDir, snippet.name), snippet.code);
  });

  it('type-check against the library sources', () => {
    const plain = snippets.filter((snippet) => !usesDecorators(snippet));
    expect(plain.length).toBeGreaterThan(5);
    expect(typeCheck(plain, SNIPPET_COMPILER_OPTIONS)).toEqual([]);
  });

  it('type-check with NestJS compiler options where they use decorators', () => {
    const decorated = snippets.filter(usesDecorators);
    expect(decorated.map((snippet) => snippet.name)).toContain('docs_existing-services_md_1.ts');
    expect(typeCheck(decorated, { ...SNIPPET_COMPILER_OPTIONS, ...NEST_COMPILER_OPTIONS })).toEqual([]);
  });
});
