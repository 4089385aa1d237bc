/**
 * Scenario 14: what encryption at rest costs per refresh. A refresh seals the new session once
 * (the store write) and a replica that adopts it opens it once (the store read); the hot path
 * never touches the store, so it pays nothing. Measured in CPU time (process.cpuUsage), which
 * other load on the machine does not inflate the way it does wall time.
 */
import { randomBytes } from 'node:crypto';
import { AesGcmTokenCipher, MemoryTokenStore } from '../../src/index';
import type { StoredSession } from '../../src/index';

/** One run's figures, µs of CPU per operation. */
export interface EncryptionResult {
  operations: number;
  /** One seal and one open of a session's JSON with the bundled AES-256-GCM cipher. */
  sealOpenCpuUs: number;
  /** One `set` and one `get` through an encrypting MemoryTokenStore (encoding and validation included). */
  storeCpuUs: number;
  /** The same through a plain MemoryTokenStore, for reference. */
  plainStoreCpuUs: number;
}

/** A session as an Alix refresh returns it: two JWT-sized tokens. */
function session(): StoredSession {
  const jwt = (): string =>
    `eyJhbGciOiJIUzI1NiJ9.${randomBytes(150).toString('base64url')}.${randomBytes(32).toString('base64url')}`;
  const now = Date.now();
  return {
    identity: 'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6',
    tokens: {
      accessToken: jwt(),
      accessTokenExpiresAt: now + 900_000,
      refreshToken: jwt(),
      refreshTokenExpiresAt: now + 15_552_000_000,
    },
  };
}

/** CPU µs per iteration of `work`, after a warm-up. */
async function cpuPerOperation(operations: number, work: () => Promise<unknown>): Promise<number> {
  for (let index = 0; index < Math.min(2_000, operations); index += 1) await work();
  const before = process.cpuUsage();
  for (let index = 0; index < operations; index += 1) await work();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / operations;
}

export async function runEncryption(quick: boolean): Promise<EncryptionResult> {
  const operations = quick ? 5_000 : 50_000;
  const keys = { k1: randomBytes(32) };
  const cipher = new AesGcmTokenCipher({ keys, current: 'k1' });
  const stored = session();
  const plaintext = JSON.stringify(stored);
  const aad = 'alix-token-manager:session:a1b2c3d4\na1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6';
  const sealOpenCpuUs = await cpuPerOperation(operations, async () =>
    cipher.open(await cipher.seal(plaintext, aad), aad),
  );
  const key = 'alix-token-manager:session:bench';
  const encrypted = new MemoryTokenStore({ encryption: { keys, current: 'k1' }, breaker: false });
  const storeCpuUs = await cpuPerOperation(operations, async () => {
    await encrypted.set(key, stored);
    return encrypted.get(key);
  });
  const plain = new MemoryTokenStore({ breaker: false });
  const plainStoreCpuUs = await cpuPerOperation(operations, async () => {
    await plain.set(key, stored);
    return plain.get(key);
  });
  return { operations, sealOpenCpuUs, storeCpuUs, plainStoreCpuUs };
}
