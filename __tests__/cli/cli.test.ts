import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { startAlixSandbox } from '../../src/sandbox/server';
import type { AlixSandbox } from '../../src/sandbox/server';
import { CLI, ROOT, runNode } from '../helpers/child';
import { startSandboxWithEnv } from '../helpers/sandbox-env';

describe('alix-token CLI', () => {
  let sandbox: AlixSandbox;
  let env: Record<string, string>;
  let scratch: string;

  beforeAll(async () => {
    ({ sandbox, env, scratch } = await startSandboxWithEnv());
  });
  afterAll(() => sandbox.close());

  describe('token', () => {
    it('prints a valid access token', async () => {
      const result = await runNode([CLI, 'token'], env);
      expect(result).toMatchObject({ code: 0, stderr: '' });
      const response = await fetch(`${sandbox.url}/api/v2/cards`, { headers: { Authorization: `Bearer ${result.stdout.trim()}` } });
      expect(response.status).toBe(200);
    });

    it('prints the non-secret status as JSON with --status', async () => {
      const result = await runNode([CLI, 'token', '--status'], env);
      expect(result.code).toBe(0);
      const status = JSON.parse(result.stdout) as Record<string, unknown>;
      expect(status).toMatchObject({ state: 'valid', refreshCount: 1, signInCount: 1 });
      expect(result.stdout).not.toMatch(/eyJ/);
    });

    it('exits 2 with one line naming the missing variables', async () => {
      const result = await runNode([CLI, 'token'], { ALIX_SECRET_KEY: 'secret-value' });
      expect(result.code).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain('ALIX_BASE_URL');
      expect(result.stderr).not.toContain('secret-value');
    });

    it('exits 2 for an unreadable key file given by flag', async () => {
      const result = await runNode([CLI, 'token', '--private-key-file', path.join(scratch, 'missing.pem')], env);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('ERR_ALIX_CONFIGURATION');
    });

    it('exits 1 when the auth server rejects the credentials', async () => {
      const result = await runNode([CLI, 'token'], { ...env, ALIX_SECRET_KEY: 'wrong-secret' });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^alix-token: authenticate rejected: .*→ 400, errorCode 12.*\[ERR_ALIX_AUTH_REJECTED\]\n$/);
      expect(result.stderr).not.toContain('wrong-secret');
    });

    it('exits 1 when the auth server is unreachable', async () => {
      const closed = await startAlixSandbox({ privateKeyPem: sandbox.privateKeyPem });
      await closed.close();
      const result = await runNode([CLI, 'token'], { ...env, ALIX_BASE_URL: closed.url });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('ERR_ALIX_AUTH_UNAVAILABLE');
    });
  });

  describe('keygen', () => {
    it('writes a 2048-bit pair with a 0600 private key and prints the public key', async () => {
      const out = path.join(scratch, 'keys');
      const result = await runNode([CLI, 'keygen', '--out', out]);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^-----BEGIN PUBLIC KEY-----/);
      expect(statSync(path.join(out, 'alix-partner-private.pem')).mode & 0o777).toBe(0o600);
      expect(readFileSync(path.join(out, 'alix-partner-public.pem'), 'utf8')).toBe(result.stdout);
    });

    it('refuses to overwrite keys without --force', async () => {
      const out = path.join(scratch, 'twice');
      await runNode([CLI, 'keygen', '--out', out]);
      const again = await runNode([CLI, 'keygen', '--out', out]);
      expect(again.code).toBe(2);
      expect(again.stderr).toContain('--force');
      expect((await runNode([CLI, 'keygen', '--out', out, '--force'])).code).toBe(0);
    });
  });

  describe('sandbox', () => {
    it('serves until SIGTERM and prints what a client needs', async () => {
      const child = spawn(process.execPath, [CLI, 'sandbox', '--access-ttl', '30', '--key-dir', path.join(scratch, 'sandbox-keys')], { cwd: ROOT });
      let stdout = '';
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          const match = /listening on (http:\/\/\S+)/.exec(stdout);
          if (match?.[1] !== undefined) resolve(match[1]);
        });
        child.on('error', reject);
      });
      expect(stdout).toContain('export ALIX_PRIVATE_KEY_FILE=');
      const keyFile = /ALIX_PRIVATE_KEY_FILE=(\S+)/.exec(stdout)?.[1] ?? '';
      const token = await runNode([CLI, 'token'], { ...env, ALIX_BASE_URL: url, ALIX_PRIVATE_KEY_FILE: keyFile });
      expect(token.code).toBe(0);
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    });

    it('exits 2 on a bad flag value', async () => {
      const result = await runNode([CLI, 'sandbox', '--port', 'abc']);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('--port');
    });
  });

  describe('demo', () => {
    it('runs end to end, recovers the revocation and exits 0', async () => {
      const result = await runNode([CLI, 'demo', '--duration', '6', '--concurrency', '3', '--json'], {}, 60_000);
      expect(result.code).toBe(0);
      const summary = JSON.parse(result.stdout) as Record<string, unknown>;
      expect(summary).toMatchObject({ failures: 0, revocationRecovered: true, signIns: 1 });
      expect(summary.refreshes as number).toBeGreaterThanOrEqual(2);
      expect(summary.server401s as number).toBeGreaterThan(0);
      expect(summary.authFailures).toBe(3);
    });

    it('prints progress lines and a summary table when not on a TTY', async () => {
      const result = await runNode([CLI, 'demo', '--duration', '6', '--concurrency', '2'], {}, 60_000);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('server revoked all access tokens');
      expect(result.stdout).toMatch(/\| revocation recovered\s+\| yes/);
    });
  });

  describe('--help', () => {
    it.each(['token', 'sandbox', 'keygen', 'demo'])('explains %s and exits 0', async (command) => {
      const result = await runNode([CLI, command, '--help']);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`Usage: alix-token ${command}`);
    });

    it('exits 2 on an unknown command', async () => {
      expect((await runNode([CLI, 'nope'])).code).toBe(2);
    });
  });
});
