// Copied into a scratch project that installed the packed tarball and every optional peer:
// checks every fenced ts/js block of the README.md and docs/ the tarball ships, as
// doc-snippets.json says: all are type-checked (strict) against the installed package, and
// the `run` ones are then executed, each against a fresh embedded sandbox that the ALIX_*
// variables point at. argv: the library's checkout (its compiler, @types, and the
// third-party packages some examples import, e.g. express or @nestjs/common).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { runNode, sandboxForChild } from './run-node.mjs';

const [root] = process.argv.slice(2);
assert.ok(root, 'usage: node doc-snippets.mjs <library checkout>');
const require = createRequire(import.meta.url);
const { codeBlocks, listProblems, snippetChecks } = require('./doc-blocks.cjs');

const packageDir = path.dirname(require.resolve('alix-token-manager/package.json'));
const problems = listProblems(packageDir);
assert.deepEqual(problems, [], `the doc snippet list does not match the docs:\n${problems.join('\n')}`);
const checks = snippetChecks();
const blocks = codeBlocks(packageDir).map((block) => ({ ...block, check: checks[block.id], file: fileName(block) }));

const sourceDir = path.resolve('doc-snippets');
const outDir = path.resolve('doc-snippets-out');
mkdirSync(sourceDir, { recursive: true });
for (const block of blocks) writeFileSync(path.join(sourceDir, block.file), `${block.code}\nexport {};\n`);
linkThirdPartyPackages(blocks);

const plain = blocks.filter((block) => block.check !== 'typecheck-nestjs');
const nestjs = blocks.filter((block) => block.check === 'typecheck-nestjs');
// exactOptionalPropertyTypes as `tsc --init` writes it (a NestJS project's defaults leave it off).
typeCheck('tsconfig.doc-snippets.json', plain, {
  outDir,
  rootDir: sourceDir,
  noEmitOnError: true,
  exactOptionalPropertyTypes: true,
});
typeCheck('tsconfig.doc-snippets-nestjs.json', nestjs, {
  noEmit: true,
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
});
console.log(
  `doc snippets: ${blocks.length} blocks type-check against the packed package (${nestjs.length} with NestJS options)`,
);

const runnable = blocks.filter((block) => block.check === 'run');
for (const block of runnable) await runAgainstSandbox(block);
console.log(
  `doc snippets: ${runnable.length} ran against the embedded sandbox: ${runnable.map((block) => block.id).join(', ')}`,
);

const jestTests = blocks.filter((block) => block.check === 'jest');
await runUnderJest(
  jestTests,
  blocks.filter((block) => block.check === 'jest-config'),
);
console.log(`doc snippets: ${jestTests.length} passed under Jest: ${jestTests.map((block) => block.id).join(', ')}`);

/** `docs/x.md#2` → `docs_x_md_2.mts` (`.mjs` for a JavaScript block). */
function fileName(block) {
  const javascript = ['js', 'javascript', 'mjs', 'jsx'].includes(block.language);
  return `${block.id.replace(/[^A-Za-z0-9]+/g, '_')}${javascript ? '.mjs' : '.mts'}`;
}

/**
 * Makes the packages the examples import beside the library (express, @nestjs/common…)
 * resolvable here by linking the checkout's copies, with their @types; the library and its
 * peers come from the tarball's install, never from the checkout.
 */
function linkThirdPartyPackages(list) {
  const names = new Set();
  for (const { code } of list) {
    for (const match of code.matchAll(/(?:from|import)\s+'([^'.][^']*)'/g)) {
      const specifier = match[1];
      if (specifier.startsWith('node:')) continue;
      const parts = specifier.split('/');
      names.add(specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]);
    }
  }
  for (const name of names) {
    const types = name.startsWith('@') ? undefined : `@types/${name}`;
    for (const candidate of [name, types]) {
      if (candidate === undefined) continue;
      const here = path.resolve('node_modules', candidate);
      const there = path.join(root, 'node_modules', candidate);
      if (existsSync(here) || !existsSync(there)) continue;
      mkdirSync(path.dirname(here), { recursive: true });
      symlinkSync(there, here, 'dir');
    }
  }
}

/** Type-checks `list` in one program; fails with the compiler's output naming each block. */
function typeCheck(configName, list, extraOptions) {
  if (list.length === 0) return;
  const config = {
    compilerOptions: {
      target: 'es2022',
      module: 'esnext',
      moduleResolution: 'bundler',
      strict: true,
      skipLibCheck: true,
      esModuleInterop: true,
      allowJs: true,
      checkJs: true,
      types: ['node', 'jest'],
      typeRoots: [path.join(root, 'node_modules', '@types')],
      ...extraOptions,
    },
    files: list.map((block) => path.join(sourceDir, block.file)),
  };
  writeFileSync(configName, JSON.stringify(config, null, 2));
  const tsc = spawnSync(
    process.execPath,
    [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', configName, '--pretty', 'false'],
    {
      encoding: 'utf8',
    },
  );
  const byFile = new Map(list.map((block) => [block.file, `${block.id} (line ${block.line})`]));
  const output = `${tsc.stdout}${tsc.stderr}`.replace(
    /doc-snippets\/([\w.]+)/g,
    (whole, file) => byFile.get(file) ?? whole,
  );
  assert.equal(tsc.status, 0, `doc snippets do not type-check (${configName}):\n${output}`);
}

/** Runs one compiled block with the ALIX_* variables pointing at a fresh sandbox. */
async function runAgainstSandbox(block) {
  const { sandbox, env, close } = await sandboxForChild('doc-snippet-');
  try {
    const compiled = path.join(outDir, block.file.replace(/\.mts$/, '.mjs'));
    const run = await runNode([compiled], env);
    assert.equal(run.code, 0, `${block.id} (line ${block.line}) exited ${run.code ?? run.signal}:\n${run.output}`);
    if (block.code.includes('ALIX_')) {
      assert.ok(
        sandbox.counters().authenticate >= 1,
        `${block.id} reads the ALIX_* variables but did not sign in at the sandbox`,
      );
    }
  } finally {
    await close();
  }
}

/**
 * Runs the `jest` blocks as test files, as a user pastes them, under the one `jest-config` block their
 * page gives (its jest.config.cjs, which names @swc/jest: linked from the checkout with Jest itself).
 */
async function runUnderJest(tests, configs) {
  if (tests.length === 0) return;
  assert.equal(configs.length, 1, 'the jest blocks need exactly one jest-config block (their jest.config.cjs)');
  const dir = path.resolve('doc-jest');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'jest.config.cjs'), configs[0].code);
  for (const block of tests) writeFileSync(path.join(dir, `${block.file.replace(/\.mts$/, '')}.test.ts`), block.code);
  for (const name of ['@swc/jest', '@swc/core']) {
    const here = path.resolve('node_modules', name);
    if (existsSync(here)) continue;
    mkdirSync(path.dirname(here), { recursive: true });
    symlinkSync(path.join(root, 'node_modules', name), here, 'dir');
  }
  const { env, close } = await sandboxForChild('doc-jest-');
  try {
    const jest = path.join(root, 'node_modules/jest/bin/jest.js');
    const run = await runNode([jest, '--ci', '--config', path.join(dir, 'jest.config.cjs')], env);
    assert.equal(run.code, 0, `${tests.map((block) => block.id).join(', ')} failed under Jest:\n${run.output}`);
  } finally {
    await close();
  }
}
