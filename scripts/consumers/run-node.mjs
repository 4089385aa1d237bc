/** Runs consumer code in a child node against a fresh sandbox, as both doc checks do. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAlixSandbox } from 'alix-token-manager/testing';

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

/**
 * A fresh embedded sandbox, its partner key in a scratch folder, and the environment a child
 * reads its settings from (`ALIX_*` pointing there; no proxy or `ALIX_*` setting of the caller's,
 * such as npm_config_https_proxy, may interfere). `close()` stops it and removes the folder.
 */
export async function sandboxForChild(prefix) {
  const scratch = mkdtempSync(path.join(os.tmpdir(), prefix));
  const sandbox = await startAlixSandbox();
  const keyFile = path.join(scratch, 'partner-key.pem');
  writeFileSync(keyFile, sandbox.privateKeyPem, { mode: 0o600 });
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/proxy/i.test(name) && !name.startsWith('ALIX_')),
  );
  Object.assign(env, {
    ALIX_BASE_URL: sandbox.baseUrl,
    ALIX_PARTNER_CODE: sandbox.partnerCode,
    ALIX_SECRET_KEY: sandbox.secretKey,
    ALIX_PRIVATE_KEY_FILE: keyFile,
    ALIX_USER_EMAIL: 'reader@example.com',
  });
  const close = async () => {
    await sandbox.close();
    rmSync(scratch, { recursive: true, force: true });
  };
  return { sandbox, env, close };
}
