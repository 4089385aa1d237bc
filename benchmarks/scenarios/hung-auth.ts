/**
 * Scenario 9, hung auth server: the auth server accepts connections and never answers. The
 * first `getAccessToken()` must end in a typed error by `acquireTimeoutMs` (default 20 s),
 * naming the server; measured: how long that took, and what the error said.
 */
import net from 'node:net';
import { AlixAuthProvider, TokenManager, isTokenManagerError } from '../../src/index';

/** What the scenario measured. */
export interface HungAuthResult {
  acquireTimeoutMs: number;
  /** Time until the first caller's typed error, ms. */
  errorAfterMs: number;
  code: string;
  stage: string | null;
  attempts: number | null;
  message: string;
}

export async function runHungAuth(quick: boolean): Promise<HungAuthResult> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const { generateKeyPairSync } = await import('node:crypto');
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  // --quick checks the scenario works; the full run uses the defaults users get.
  const acquireTimeoutMs = quick ? 2_000 : 20_000;
  const manager = new TokenManager({
    provider: new AlixAuthProvider({
      baseUrl: `http://127.0.0.1:${port}`,
      partnerCode: 'bench',
      secretKey: 'bench-secret',
      privateKey,
      ...(quick ? { timeoutMs: 1_000 } : {}),
    }),
    acquireTimeoutMs,
  });
  const start = performance.now();
  try {
    await manager.getAccessToken();
    throw new Error('a hung auth server produced a token');
  } catch (error) {
    const errorAfterMs = performance.now() - start;
    if (!isTokenManagerError(error)) throw error;
    const details = error as { stage?: string; attempts?: number };
    return {
      acquireTimeoutMs,
      errorAfterMs,
      code: error.code,
      stage: details.stage ?? null,
      attempts: details.attempts ?? null,
      message: error.message,
    };
  } finally {
    manager.close();
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
