import { rmSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { printToken } from '../../src/cli/commands/token';
import type { AlixSandbox } from '../../src/sandbox/server';
import { startSandboxWithEnv } from '../helpers/sandbox-env';

/** A stream that keeps what was written to it. */
function captured(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return { stream, text: () => text };
}

describe('alix-token token with a rejected ALIX_REFRESH_TOKEN', () => {
  let sandbox: AlixSandbox;
  let env: Record<string, string>;
  let scratch: string;
  beforeAll(async () => {
    ({ sandbox, env, scratch } = await startSandboxWithEnv());
  });
  afterAll(async () => {
    await sandbox.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('prints the token after signing in, and warns on stderr that the refresh token was rejected', async () => {
    sandbox.resetCounters();
    const stdout = captured();
    const stderr = captured();
    const code = await printToken({}, { env: { ...env, ALIX_REFRESH_TOKEN: 'stale-refresh-token' }, stdout: stdout.stream, stderr: stderr.stream });
    expect(code).toBe(0);
    expect(stdout.text().trim()).toMatch(/^[A-Za-z0-9\-._~+/]+=*$/);
    expect(sandbox.counters()).toMatchObject({ refresh: 1, authenticate: 1 });
    expect(stderr.text()).toMatch(/warning: ALIX_REFRESH_TOKEN was rejected/);
    expect(stderr.text()).not.toContain('stale-refresh-token');
  });

  it('says nothing on stderr when no refresh token was given', async () => {
    const stderr = captured();
    await expect(printToken({}, { env, stdout: captured().stream, stderr: stderr.stream })).resolves.toBe(0);
    expect(stderr.text()).toBe('');
  });
});
