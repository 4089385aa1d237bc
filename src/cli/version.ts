import { readFileSync } from 'node:fs';
import path from 'node:path';

/** The package whose version `alix-token --version` prints. */
export const PACKAGE_NAME = 'alix-token-manager';

/**
 * The version in this package's own package.json, read at run time (not baked in at build
 * time, so it never disagrees with the installed package). The file is found by walking up
 * from the running code: dist/cli.js in the repository and in an installed tarball sits one
 * level below it, and src/cli/ (tests) two levels.
 * @returns `undefined` when no package.json of this package is found.
 */
export function readPackageVersion(startDir: string = moduleDir()): string | undefined {
  let dir = startDir;
  for (;;) {
    const version = versionIn(path.join(dir, 'package.json'));
    if (version !== undefined) return version;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

function versionIn(file: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
  const { name, version } = (parsed ?? {}) as { name?: unknown; version?: unknown };
  return name === PACKAGE_NAME && typeof version === 'string' ? version : undefined;
}

function moduleDir(): string {
  // The CLI ships as CommonJS (bin: dist/cli.js); the ESM copy of the bundle has no
  // __dirname, and falls back to the script being run.
  return typeof __dirname === 'string' ? __dirname : path.dirname(path.resolve(process.argv[1] ?? '.'));
}
