import { PassThrough } from 'node:stream';
import { printToken } from '../../src/cli/commands/token';
import { createTokenManagerPoolFromEnv } from '../../src/standalone/default-manager';
import type { AlixSandbox } from '../../src/sandbox/server';
import { startSandboxWithEnv } from '../helpers/sandbox-env';

describe('a pool from the environment', () => {
  let sandbox: AlixSandbox;
  let env: Record<string, string>;
  beforeAll(async () => {
    ({ sandbox, env } = await startSandboxWithEnv());
  });
  afterAll(() => sandbox.close());

  it('signs each user in once against the sandbox, ignoring ALIX_USER_EMAIL', async () => {
    sandbox.resetCounters();
    const pool = createTokenManagerPoolFromEnv({ ...env, ALIX_USER_EMAIL: 'someone-else@example.com' });
    const jane = await pool.getAccessToken('jane@example.com');
    const john = await pool.getAccessToken('john@example.com');
    expect(await pool.getAccessToken('jane@example.com')).toBe(jane);
    expect(john).not.toBe(jane);
    expect(sandbox.counters().authenticate).toBe(2);
    pool.close();
  });

  it('alix-token token --user prints that user’s token', async () => {
    sandbox.resetCounters();
    const stdout = new PassThrough();
    let written = '';
    stdout.on('data', (chunk: Buffer) => {
      written += chunk.toString();
    });
    await expect(printToken({ user: 'jane@example.com' }, { env, stdout, stderr: new PassThrough() })).resolves.toBe(0);
    expect(written.trim()).toMatch(/^[A-Za-z0-9\-._~+/]+=*$/);
    expect(sandbox.counters().authenticate).toBe(1);
  });
});
