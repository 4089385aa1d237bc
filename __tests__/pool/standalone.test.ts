import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { printToken } from '../../src/cli/commands/token';
import { closeDefaultTokenManager, getAccessToken } from '../../src/standalone/default-manager';
import { createTokenManagerFromEnv, createTokenManagerPoolFromEnv } from '../../src/standalone/default-manager';
import { TokenManagerPool } from '../../src/pool/pool';
import { AesGcmTokenCipher } from '../../src/stores/encryption';
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

  it("builds every session's provider from the environment, even when a JS caller passes createProvider", async () => {
    const createProvider = jest.fn();
    const pool = createTokenManagerPoolFromEnv(env, { createProvider } as never);
    await expect(pool.getAccessToken('jane@example.com')).resolves.toEqual(expect.any(String));
    expect(createProvider).not.toHaveBeenCalled();
    await pool.close();
  });

  it('keeps the sessions sealed with ALIX_TOKEN_ENCRYPTION_KEYS, as a single manager from the environment does', async () => {
    const withKeys = { ...env, ALIX_TOKEN_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}` };
    const seal = jest.spyOn(AesGcmTokenCipher.prototype, 'seal');
    try {
      const manager = createTokenManagerFromEnv(withKeys);
      await manager.getAccessToken();
      manager.close();
      expect(seal).toHaveBeenCalledTimes(1);
      const pool = createTokenManagerPoolFromEnv(withKeys);
      await pool.getAccessToken('jane@example.com');
      expect(seal).toHaveBeenCalledTimes(2);
      // Still the pool's own store: bounded by maxStoredSessions, emptied by close().
      expect(pool.status().sessions.stored).toBe(1);
      await pool.close();
    } finally {
      seal.mockRestore();
    }
  });

  it('keeps the sessions sealed when an option is passed as undefined, as a single manager from the environment does', async () => {
    const withKeys = { ...env, ALIX_TOKEN_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}` };
    const seal = jest.spyOn(AesGcmTokenCipher.prototype, 'seal');
    try {
      // A config object's unset field (`encryption: config.encryption`) must not switch off what the environment sets.
      const pool = createTokenManagerPoolFromEnv(withKeys, { encryption: undefined, maxSessions: undefined } as never);
      await pool.getAccessToken('jane@example.com');
      expect(seal).toHaveBeenCalledTimes(1);
      await pool.close();
    } finally {
      seal.mockRestore();
    }
  });

  it('standalone getAccessToken({ userEmail }) asks the pool with no options, so its hot path can serve', async () => {
    const saved = process.env;
    process.env = { ...saved, ...env };
    const ask = jest.spyOn(TokenManagerPool.prototype, 'getAccessToken');
    try {
      const token = await getAccessToken({ userEmail: 'jane@example.com' });
      expect(await getAccessToken({ userEmail: 'jane@example.com' })).toBe(token);
      expect(ask).toHaveBeenLastCalledWith('jane@example.com', undefined);
      await getAccessToken({ userEmail: 'jane@example.com', forceRefresh: true });
      expect(ask).toHaveBeenLastCalledWith('jane@example.com', { forceRefresh: true });
    } finally {
      ask.mockRestore();
      closeDefaultTokenManager();
      process.env = saved;
    }
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
