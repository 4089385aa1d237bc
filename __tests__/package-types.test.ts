/**
 * A TypeScript consumer finds the types of every subpath the package exports, including under
 * `moduleResolution` node10 (what `"module": "commonjs"` implies, as in many NestJS services), which
 * ignores `exports`. Resolved from a virtual consumer whose node_modules/alix-token-manager is this checkout.
 */
import path from 'node:path';
import ts from 'typescript';
import pkg from '../package.json';

const root = path.resolve(__dirname, '..');
const installed = '/consumer/node_modules/alix-token-manager';
const onDisk = (file: string): string =>
  file === installed || file.startsWith(`${installed}/`) ? path.join(root, file.slice(installed.length)) : file;
const host: ts.ModuleResolutionHost = {
  fileExists: (file) => ts.sys.fileExists(onDisk(file)),
  readFile: (file) => ts.sys.readFile(onDisk(file)),
  directoryExists: (dir) =>
    ['/consumer', '/consumer/node_modules'].includes(dir) || ts.sys.directoryExists(onDisk(dir)),
};

// The root ('' here) resolves through `types`: it shows the virtual install resolves at all.
const subpaths = Object.entries(pkg.exports).flatMap(([subpath, target]) =>
  typeof target === 'string' ? [] : [[subpath.slice(1), target.require.types] as const],
);

describe('the types of each subpath export', () => {
  it.each(subpaths)('alix-token-manager%s resolves to %s under moduleResolution node10', (subpath, types) => {
    const options = { module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10 };
    const { resolvedModule } = ts.resolveModuleName(`alix-token-manager${subpath}`, '/consumer/a.ts', options, host);

    expect(resolvedModule?.resolvedFileName).toBe(path.posix.join(installed, types));
  });
});

// `tsc --init` (TypeScript 5.9 and later) turns exactOptionalPropertyTypes on: an optional member
// that the library's own stores, or a wrapper forwarding it, set to undefined must admit undefined.
it('a consumer under exactOptionalPropertyTypes passes the shipped stores and forwards a provider', () => {
  const consumer = path.join(root, '__consumer-exact-optional.ts');
  const source = `
    import { MemoryTokenStore, type TokenProvider, type TokenStore } from ${JSON.stringify(path.join(root, 'dist/index.js'))};
    import type { RedisTokenStore } from ${JSON.stringify(path.join(root, 'dist/redis.js'))};
    declare const redisStore: RedisTokenStore;
    declare const inner: TokenProvider;
    export const stores: TokenStore[] = [redisStore, new MemoryTokenStore()];
    export const forwarding: TokenProvider = { ...inner, identity: inner.identity };
  `;
  const options: ts.CompilerOptions = {
    strict: true,
    exactOptionalPropertyTypes: true,
    skipLibCheck: true,
    noEmit: true,
    module: ts.ModuleKind.NodeNext,
    target: ts.ScriptTarget.ESNext,
    types: ['node'],
  };
  const compilerHost = ts.createCompilerHost(options);
  const readFile = compilerHost.readFile.bind(compilerHost);
  compilerHost.readFile = (file) => (file === consumer ? source : readFile(file));
  compilerHost.fileExists = (file) => file === consumer || ts.sys.fileExists(file);
  const program = ts.createProgram([consumer], options, compilerHost);

  const problems = ts
    .getPreEmitDiagnostics(program)
    .map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));

  expect(problems).toEqual([]);
});
