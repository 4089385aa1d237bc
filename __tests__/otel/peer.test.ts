/**
 * `@opentelemetry/api` is an optional peer: the core never loads it, and the otel entry
 * fails clearly without it, in the CommonJS and the ESM build alike.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');

/** Simulates a project without the peer: requiring it throws as Node would. */
function withoutOtelApi(): { loaded: () => boolean } {
  let loaded = false;
  jest.doMock('@opentelemetry/api', () => {
    loaded = true;
    throw Object.assign(new Error("Cannot find module '@opentelemetry/api'"), { code: 'MODULE_NOT_FOUND' });
  });
  return { loaded: () => loaded };
}

/**
 * Builds the otel entry with tsup as tsup.config.ts does (both formats, splitting; the peer
 * stays external), in a child process so jest never loads the bundler.
 */
function buildOtelEntry(outDir: string): { cjs: string; esm: string } {
  const tsup = path.join(path.dirname(require.resolve('tsup/package.json')), 'dist/cli-default.js');
  const args = ['--no-config', '--format', 'esm,cjs', '--splitting', '--platform', 'node', '--target', 'node20', '--silent'];
  execFileSync(process.execPath, [tsup, 'src/otel/index.ts', ...args, '--out-dir', outDir], { cwd: root, stdio: 'ignore' });
  return { cjs: path.join(outDir, 'index.js'), esm: path.join(outDir, 'index.mjs') };
}

/** Runs `node file` with no NODE_PATH; returns its exit code and stderr. */
function runNode(file: string): { code: number; stderr: string } {
  const env = { ...process.env };
  delete env.NODE_PATH;
  try {
    execFileSync(process.execPath, [file], { env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    return { code: 0, stderr: '' };
  } catch (error) {
    const failed = error as { status: number | null; stderr: string };
    return { code: failed.status ?? -1, stderr: failed.stderr };
  }
}

describe('the @opentelemetry/api optional peer', () => {
  afterEach(() => jest.resetModules());

  it('is never loaded by the core entry', () => {
    jest.isolateModules(() => {
      const peer = withoutOtelApi();
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- loads the entry inside the isolated registry
      const core = require('../../src/index') as { TokenManager?: unknown };
      expect(typeof core.TokenManager).toBe('function');
      expect(peer.loaded()).toBe(false);
    });
  });

  it('missing makes the otel entry throw an error naming the package to install', () => {
    jest.isolateModules(() => {
      withoutOtelApi();
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- loads the entry inside the isolated registry
      expect(() => require('../../src/otel')).toThrow(/needs the optional peer dependency @opentelemetry\/api.*npm install @opentelemetry\/api/);
    });
  });

  describe('in the built entry', () => {
    const outside = mkdtempSync(path.join(os.tmpdir(), 'alix-otel-'));
    const inside = path.join(root, '.tmp', `otel-bundle-${process.pid}`);
    afterAll(() => {
      rmSync(outside, { recursive: true, force: true });
      rmSync(inside, { recursive: true, force: true });
    });

    it('missing: CommonJS throws our message, ESM fails with Node naming the package', () => {
      const bundle = buildOtelEntry(outside);
      const cjs = runNode(bundle.cjs);
      const esm = runNode(bundle.esm);
      expect(cjs.code).not.toBe(0);
      expect(cjs.stderr).toContain('alix-token-manager/otel needs the optional peer dependency @opentelemetry/api');
      expect(cjs.stderr).toContain('npm install @opentelemetry/api');
      expect(esm.code).not.toBe(0);
      expect(esm.stderr).toContain("Cannot find package '@opentelemetry/api'");
    });

    it('installed: both formats load', () => {
      mkdirSync(inside, { recursive: true });
      const bundle = buildOtelEntry(inside);
      expect(runNode(bundle.cjs)).toEqual({ code: 0, stderr: '' });
      expect(runNode(bundle.esm)).toEqual({ code: 0, stderr: '' });
    });
  });
});
