import { spawn } from 'node:child_process';
import path from 'node:path';

/** The repository root; child processes run the built package from `dist/`. */
export const ROOT = path.resolve(__dirname, '../..');
export const DIST_INDEX = path.join(ROOT, 'dist', 'index.js');
export const DIST_INDEX_ESM = path.join(ROOT, 'dist', 'index.mjs');
export const CLI = path.join(ROOT, 'dist', 'cli.js');

/** What a finished child process left. */
export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node args…` to completion (killed after `timeoutMs`), with `env` added to a clean ALIX-free environment. */
export function runNode(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<ChildResult> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('ALIX_')));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { ...base, ...env }, cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
