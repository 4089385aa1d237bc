import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAlixSandbox } from '../../src/sandbox/server';
import type { AlixSandbox } from '../../src/sandbox/server';

/**
 * A running sandbox plus the ALIX_* environment (key in a 0600 file in the temp folder
 * `scratch`) that points at it. `sandbox.close()` also removes `scratch`, so the afterAll that
 * closes the sandbox leaves nothing in the temp directory, whether the tests passed or not.
 */
export async function startSandboxWithEnv(): Promise<{
  sandbox: AlixSandbox;
  env: Record<string, string>;
  scratch: string;
}> {
  const sandbox = await startAlixSandbox();
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'alix-test-'));
  const closeSandbox = sandbox.close;
  sandbox.close = async () => {
    try {
      await closeSandbox();
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  };
  const keyFile = path.join(scratch, 'sandbox-key.pem');
  try {
    writeFileSync(keyFile, sandbox.privateKeyPem, { mode: 0o600 });
  } catch (error) {
    await sandbox.close();
    throw error;
  }
  const env = {
    ALIX_BASE_URL: sandbox.url,
    ALIX_PARTNER_CODE: sandbox.partnerCode,
    ALIX_SECRET_KEY: sandbox.secretKey,
    ALIX_PRIVATE_KEY_FILE: keyFile,
  };
  return { sandbox, env, scratch };
}

/**
 * {@link startSandboxWithEnv} for one test file: started in `beforeAll`, closed (and its scratch
 * folder deleted) in `afterAll`; read `sandbox` and `env` inside the tests.
 */
export function useSandboxWithEnv(): {
  readonly sandbox: AlixSandbox;
  readonly env: Record<string, string>;
  /** A temp folder for the test file's own files, removed with the sandbox. */
  readonly scratch: string;
} {
  let started: Awaited<ReturnType<typeof startSandboxWithEnv>> | undefined;
  beforeAll(async () => {
    started = await startSandboxWithEnv();
  });
  afterAll(async () => {
    await started?.sandbox.close();
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
    get scratch() {
      return current().scratch;
    },
  };
}
