/**
 * A private redis-server on a loopback port, without persistence: shared by the Redis
 * store's tests and the replicas benchmark (dev only; never part of the package).
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';

/** The server binary: `redis-server` from PATH unless REDIS_SERVER_BIN names another. */
export const REDIS_SERVER_BIN = process.env.REDIS_SERVER_BIN ?? 'redis-server';

/** Whether `redis-server` can be started. */
export function redisServerAvailable(): boolean {
  const probe = spawnSync(REDIS_SERVER_BIN, ['--version'], { stdio: 'ignore', timeout: 5_000 });
  return probe.error === undefined && probe.status === 0;
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/**
 * Starts redis-server on `port` and resolves once it answers PING (within 5 s), or kills it
 * and throws. With `unref`, the server does not keep this process alive (test files stop it
 * in afterAll); without, it does, like any child process.
 */
export async function spawnRedisServer(
  port: number,
  options: { unref?: boolean; dir?: string } = {},
): Promise<ChildProcess> {
  // `dir`: where a replica sync (or a failover) may still write an RDB file, instead of the cwd.
  const dirArgs = options.dir === undefined ? [] : ['--dir', options.dir];
  const child = spawn(
    REDIS_SERVER_BIN,
    ['--save', '', '--appendonly', 'no', '--bind', '127.0.0.1', '--port', String(port), ...dirArgs],
    { stdio: 'ignore' },
  );
  if (options.unref === true) child.unref();
  let spawnError: Error | undefined;
  child.on('error', (error) => {
    spawnError = error;
  });
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline && spawnError === undefined && child.exitCode === null) {
    if (await ping(port)) return child;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  await stopRedisServer(child);
  throw new Error(
    `redis-server did not answer on 127.0.0.1:${port}${spawnError === undefined ? '' : `: ${spawnError.message}`}`,
  );
}

/** Kills the server (SIGKILL: nothing is saved, as after a crash) and waits for it to exit. */
export async function stopRedisServer(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}
