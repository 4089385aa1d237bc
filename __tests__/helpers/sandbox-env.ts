import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAlixSandbox } from '../../src/sandbox/server';
import type { AlixSandbox } from '../../src/sandbox/server';

/** A running sandbox plus the ALIX_* environment (key in a 0600 temp file) that points at it. */
export async function startSandboxWithEnv(): Promise<{ sandbox: AlixSandbox; env: Record<string, string>; scratch: string }> {
  const sandbox = await startAlixSandbox();
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'alix-test-'));
  const keyFile = path.join(scratch, 'sandbox-key.pem');
  writeFileSync(keyFile, sandbox.privateKeyPem, { mode: 0o600 });
  const env = {
    ALIX_BASE_URL: sandbox.url,
    ALIX_PARTNER_CODE: sandbox.partnerCode,
    ALIX_SECRET_KEY: sandbox.secretKey,
    ALIX_PRIVATE_KEY_FILE: keyFile,
  };
  return { sandbox, env, scratch };
}

/**
 * {@link startSandboxWithEnv} for one test file: started in `beforeAll`, closed (and its key
 * file deleted) in `afterAll`; read `sandbox` and `env` inside the tests.
 */
export function useSandboxWithEnv(): { readonly sandbox: AlixSandbox; readonly env: Record<string, string> } {
  let started: Awaited<ReturnType<typeof startSandboxWithEnv>> | undefined;
  beforeAll(async () => {
    started = await startSandboxWithEnv();
  });
  afterAll(async () => {
    if (started === undefined) return;
    await started.sandbox.close();
    rmSync(started.scratch, { recursive: true, force: true });
  });
  const current = (): NonNullable<typeof started> => {
    if (started === undefined) throw new Error('useSandboxWithEnv(): read sandbox and env inside a test');
    return started;
  };
  return {
    get sandbox() {
      return current().sandbox;
    },
    get env() {
      return current().env;
    },
  };
}
