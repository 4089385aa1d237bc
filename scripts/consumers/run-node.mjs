/** Runs a consumer script in a child node, as both doc checks do. */
import { spawn } from 'node:child_process';

/** How long one run may take before it is killed, in ms. */
const RUN_TIMEOUT_MS = 30_000;

/** Runs `node args…` to completion (killed after RUN_TIMEOUT_MS); stdout and stderr together. */
export function runNode(args, childEnv) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}
